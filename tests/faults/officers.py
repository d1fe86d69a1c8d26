"""Simulated people for the fault suite. They see only their chat on the fake Bot API: they read
the bot's newest message they understand, press its real inline buttons or type, and wait for an
answer like people do. An officer fills report forms with values planned in advance (so the
stored reports can be checked field by field); an admin writes a notice.

People write in English (language_code "en"), so they read the forms' English wording. They
answer the newest question they see: a question shown twice may be answered twice. With no
answer within `patience` seconds of the bot being up, they count the message as lost and act on
what they see again.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from tests.faults.fake_api import BotMessage, FakeTelegram


@dataclass(frozen=True)
class Field:
    key: str
    kind: str  # text, integer, date, choice, multi, skip
    prompt: str  # the English question, as the bot asks it


EVIDENCE = Field("evidence", "skip", "Photos or documents as evidence")
# The report kinds officers fill: the title on the kind button and atop each question.
FORMS: dict[str, tuple[str, tuple[Field, ...]]] = {
    "dissemination": ("Dissemination activity", (
        Field("channel", "choice", "In what form was it disseminated?"),
        Field("held_on", "date", "When did it take place (or start)?"),
        Field("audience", "text", "Who was it for"),
        Field("reached", "integer", "About how many people did it reach?"),
        Field("summary", "text", "What was done, in a few lines?"),
        EVIDENCE)),
    "study": ("Study or briefing session", (
        Field("held_on", "date", "When was the session held?"),
        Field("mode", "choice", "Was it held in person or online?"),
        Field("groups", "multi", "Who took part?"),
        Field("participants", "integer", "How many people took part?"),
        Field("summary", "text", "Main content of the session?"),
        EVIDENCE)),
    "inspection": ("Inspection or supervision", (
        Field("held_on", "date", "When did the inspection or supervision take place?"),
        Field("inspected", "text", "Which units were inspected or supervised?"),
        Field("findings", "text", "What did it find?"),
        Field("follow_up", "text", "What follow-up was decided?"),
        EVIDENCE)),
}
OPTIONS = {
    "channel": {"conference": "Conference or seminar", "media": "Press, radio or television",
                "online": "City portal or social media", "loudspeaker": "Grassroots loudspeakers",
                "banner": "Banners and posters", "contest": "Contest"},
    "mode": {"in_person": "In person", "online": "Online", "both": "In person and online"},
    "groups": {"officials": "Officials and civil servants", "party": "Party members",
               "members": "Members of the organisation", "citizens": "Citizens"},
}
NOTICE_HEAD = "📢 Notice from the "  # then the coordinating body's name, from the settings
_NUMBER = re.compile(r"Report (\S+) was received")


@dataclass
class PlannedReport:
    """What an officer means to report: the stored value of every field, and its unique tag."""

    kind: str
    tag: str
    answers: dict


def plan_report(rng: random.Random, tag: str, kind: str) -> PlannedReport:
    answers: dict = {}
    for spec in FORMS[kind][1]:
        if spec.kind == "text":
            answers[spec.key] = f"{tag} {spec.key}: phường Trại Cau, {rng.randint(1, 999)} hộ"
        elif spec.kind == "integer":
            answers[spec.key] = rng.randint(1, 50_000)
        elif spec.kind == "date":
            answers[spec.key] = (date(2024, 1, 1) + timedelta(days=rng.randint(0, 600))).isoformat()
        elif spec.kind == "choice":
            answers[spec.key] = rng.choice(list(OPTIONS[spec.key]))
        elif spec.kind == "multi":
            ids = list(OPTIONS[spec.key])
            picked = set(rng.sample(ids, rng.randint(1, len(ids))))
            answers[spec.key] = [i for i in ids if i in picked]
    return PlannedReport(kind, tag, answers)


def typed(spec: Field, value: object) -> str:
    """How a person types a planned value."""
    if spec.kind == "date":
        return date.fromisoformat(str(value)).strftime("%d/%m/%Y")
    return str(value)


@dataclass
class Person:
    """Someone in a private chat with the bot on the fake API."""

    fake: FakeTelegram
    user_id: int
    name: str
    patience: float  # seconds without an answer, once the bot is up, before acting again
    bot_up_since: Callable[[], float]  # when the bot last became ready (monotonic)
    rng: random.Random = field(default_factory=random.Random)
    think: tuple[float, float] = (0.2, 0.7)
    lost: int = 0  # messages that got no answer
    unanswered: list[int] = field(default_factory=list)  # their update ids
    actions: int = 0
    _update_id: int = 0
    _seen_id: int = 0
    _acted_at: float = 0.0

    def __post_init__(self) -> None:
        self.fake.add_user(self.user_id, self.name, "en")

    def understand(self, message: BotMessage) -> tuple | None:
        """What a message asks of this person, or None if it asks nothing."""
        raise NotImplementedError

    def latest(self) -> tuple[BotMessage, tuple] | None:
        """The newest message that asks something of this person."""
        for message in reversed(self.fake.messages(self.user_id)):
            meaning = self.understand(message)
            if meaning is not None:
                return message, meaning
        return None

    def _mark(self) -> None:
        messages = self.fake.messages(self.user_id)
        self._seen_id = messages[-1].message_id if messages else 0
        self._acted_at = time.monotonic()
        self.actions += 1

    def say(self, text: str) -> None:
        self._mark()
        self._update_id = self.fake.user_says(self.user_id, text)

    def press(self, message: BotMessage, label: str) -> bool:
        """Tap the button with this label on the message; False if it has none."""
        data = message.data_of(label)
        if data is None:
            return False
        self._mark()
        self._update_id = self.fake.user_presses(self.user_id, message, data)
        return True

    def choose(self, message: BotMessage, label: str) -> None:
        """Tap the option's button, or type its label when the message has no such button
        (typing an option's label always works too)."""
        if not self.press(message, label):
            self.say(label)

    def _answered(self) -> bool:
        for message in self.fake.messages(self.user_id):
            new = message.message_id > self._seen_id
            redrawn = (message.edited_at or 0) > self._acted_at and bool(message.buttons)
            if (new or redrawn) and self.understand(message) is not None:
                return True
        return False

    async def await_answer(self) -> bool:
        """Wait for a message that asks something new (then for the chat to settle)."""
        chat = self.fake.chats[self.user_id]
        while not self._answered():
            left = max(self._acted_at, self.bot_up_since()) + self.patience - time.monotonic()
            if left <= 0:
                self.lost += 1
                self.unanswered.append(self._update_id)
                return False
            await self.fake.wait_change(self.user_id, chat.version, min(left, 1.0))
        while await self.fake.wait_change(self.user_id, chat.version, 0.4):
            pass  # the rest of the answer (a message and the edit of the pressed one)
        await asyncio.sleep(self.rng.uniform(*self.think))
        return True


@dataclass
class Officer(Person):
    """An officer of a unit who registers with an invite and fills planned reports."""

    number: int = 0
    plan: list[PlannedReport] = field(default_factory=list)
    received: dict[str, str] = field(default_factory=dict)  # report number -> planned tag
    done: int = 0  # planned reports the bot said it received
    finished: bool = False
    gave_up: str = ""  # why the officer stopped before finishing
    confused: int = 0  # messages the officer could not make sense of
    # Actions on one report after which a person gives up: a form has at most 6 questions, so
    # this many means going round in circles.
    max_actions: int = 40

    @property
    def current(self) -> PlannedReport:
        while len(self.plan) <= self.done:
            kind = list(FORMS)[(self.number + len(self.plan)) % len(FORMS)]
            self.plan.append(plan_report(self.rng, f"O{self.number:04d}R{len(self.plan):02d}",
                                         kind))
        return self.plan[self.done]

    def understand(self, message: BotMessage) -> tuple | None:
        text = message.text
        found = _NUMBER.search(text)
        if found:
            return None if found.group(1) in self.received else ("received", found.group(1))
        if "please check your answers." in text:
            return ("summary",)
        for kind, (title, fields) in FORMS.items():
            if title in text:
                for spec in fields:
                    if spec.prompt in text:
                        return ("question", kind, spec)
        if "You have an unfinished" in text and "Continue it or discard it?" in text:
            return ("draft",)
        if "What would you like to report?" in text:
            return ("kinds",)
        if "What would you like to do?" in text:
            return ("menu",)
        return None

    async def register(self, code: str, within: float) -> bool:
        """/start with the invite; True once the bot greets the officer with the menu (waiting
        `within` seconds: many people registering at once wait their turn)."""
        patience, self.patience = self.patience, within
        try:
            self.say(f"/start {code}")
            return await self.await_answer()
        finally:
            self.patience = patience

    async def fill(self, more: Callable[[], bool]) -> None:
        """Fill planned reports, one after another, while `more()`. Give up after four waits in
        a row without an answer, or after `max_actions` on one report."""
        silent = 0
        found = self.latest()
        if found is None:
            self.say("/report")
        else:
            self._act(*found)
        began = self.actions
        while True:
            silent = 0 if await self.await_answer() else silent + 1
            if silent > 3:
                self.gave_up = f"no answer {silent} times in a row"
                return
            if self.actions - began > self.max_actions:
                self.gave_up = f"going round in circles on {self.current.tag}"
                return
            found = self.latest()
            if found is None:
                self.confused += 1
                self.say("/report")
                continue
            message, meaning = found
            if meaning[0] == "received":
                self.received[meaning[1]] = self.current.tag
                self.done += 1
                began = self.actions
                if not more():
                    self.finished = True
                    return
            self._act(message, meaning)

    def _act(self, message: BotMessage, meaning: tuple) -> None:
        what = meaning[0]
        plan = self.current
        if what in ("received", "menu"):
            if not (self.press(message, "Another report") or self.press(message, "New report")):
                self.say("/report")
        elif what == "kinds":
            self.choose(message, FORMS[plan.kind][0])
        elif what == "draft":
            self.choose(message, "Continue")
        elif what == "summary":
            if FORMS[plan.kind][0] not in message.text:
                self.confused += 1
                self.say("/cancel")
            else:
                self.choose(message, "Confirm")
        elif meaning[1] != plan.kind:
            self.confused += 1  # a form other than the one being filled: leave it
            self.say("/cancel")
        else:
            self._answer(message, meaning[2], plan.answers.get(meaning[2].key))

    def _answer(self, message: BotMessage, spec: Field, value: object) -> None:
        if spec.kind == "skip":
            self.choose(message, "Skip")
        elif spec.kind == "choice":
            self.choose(message, OPTIONS[spec.key][str(value)])
        elif spec.kind == "multi":
            labels = OPTIONS[spec.key]
            missing = [labels[i] for i in value if f"✓ {labels[i]}" not in message.labels()]
            if not message.buttons:
                self.say(", ".join(str(list(labels).index(i) + 1) for i in value))
            elif missing:
                self.press(message, missing[0])
            else:
                self.press(message, "Done")
        else:
            self.say(typed(spec, value))


@dataclass
class Admin(Person):
    """The admin (listed in ADMIN_IDS) who writes a notice to all units."""

    notice: str = "Họp giao ban trực tuyến lúc 14:00 thứ Sáu"
    steps: tuple = (("Write the notice.", "say", None),
                    ("A document or photo to attach?", "press", "Skip"),
                    ("Who should receive it?", "press", "All units (their officers)"),
                    ("Send it now or later?", "press", "Now"),
                    ("please check your answers.", "press", "Confirm"),
                    ("is on its way", "done", None),
                    ("What would you like to do?", "menu", None))

    def understand(self, message: BotMessage) -> tuple | None:
        return next((step for step in self.steps if step[0] in message.text), None)

    async def start(self) -> bool:
        self.say("/start")
        return await self.await_answer()

    async def broadcast(self, until: float) -> bool:
        """Write the notice and confirm it; True once the bot says it is on its way."""
        self.say("/broadcast")
        while time.monotonic() < until:
            await self.await_answer()
            found = self.latest()
            if found is None:
                continue
            message, (_prompt, how, label) = found
            if how == "done":
                return True
            if how == "say":
                self.say(self.notice)
            elif how == "menu":
                self.say("/broadcast")
            else:
                self.choose(message, label)
        return False
