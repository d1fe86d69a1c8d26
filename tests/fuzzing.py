"""A fuzzer for the whole bot: every role in every state it can reach (the menu, each action's
answer, every question of every form, its summary and its "change an answer" list), fed random
input through the real Application: unicode text, commands with arguments, forged button data,
files. For each input it records exceptions, silent updates (a private message that got no answer)
and messages Telegram would refuse (see tests/telegram_html.py).

tests/test_fuzz.py runs a few thousand examples; bench/bench_fuzz.py runs the same with bigger
numbers. States are reached through the real conversation: /cancel, then the commands, buttons
and valid answers a person would give; an example starts by walking back into its state when the
previous one left it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import traceback
import zlib
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

import handlers.all  # noqa: F401  (registers every action, callback and form)
from bot.settings import load_settings
from bot.units_file import SAMPLE_UNITS, read_units_file
from handlers.core import ACTIONS, CALLBACKS
from handlers.forms import FORMS, Form, Kind
from handlers.programme import DEFAULT_PROGRAMME, load_programme
from locales.i18n import translator
from storage.difficulties import DifficultyStatus
from storage.models import Role
from storage.reports import ReportStatus
from tests.conftest import START
from tests.telegram_fakes import Chat, FakeClock, Harness, register
from tests.telegram_html import refusal

ROLES = ("officer", "coordinator", "leader", "admin", "stranger", "group")
GROUP_CHAT = -100900
# An obligation and an ad hoc period whose ids are long: their buttons must still fit 64 bytes.
LONG_ID = "bao-cao-chuyen-de-chuyen-doi-so-va-cai-cach-hanh-chinh-cap-xa-phuong-2026"

# ---------------------------------------------------------------------------------------------
# Random input

TRICKY_TEXTS = [
    "①", "²", "٣", "３", "𝟙", "1", "2", "0", "00", "-1", "+1", " 1 ", "1.", "1,2", "1 3", "1,①",
    "1;2", str(2**63 - 1), str(2**63), str(2**64), "9" * 30, "9" * 400, "1" * 3999, "-" + "9" * 25,
    "\u200b", "\u200b" * 3999, "\u200b\n" * 1999, " ", "\n", "\t", "\u00a0", "\u2028", "\ufeff",
    "\u200b1", "1\u200b", "<b>", "</b>", "<i>x", "&", "&amp;", "&lt;", "<script>", "a<b>c",
    "<a href='x'>", "<" * 3000, "&" * 3000, "a&b " * 900, "bỏ qua", "xong", "skip", "done", "-",
    "có", "không", "hôm nay", "31/02/2026", "5/3", "2026-03-05", "29/02/2028", "05/03/2026",
    "31/12/2099", "1.200", "1,200", "1 200", "10.000.001", "Q-LECHAN", "Lê Chân", "%", "_", "'",
    '"', "\\", "null", "NaN", "1e9", "0x10", "/", "//", "@", "ü" * 4096, "x" * 4001,
    "Xác nhận", "Sửa một câu trả lời", "Hủy", "Confirm", "Cancel", "Tiếng Việt",
]
TRICKY_CHARS = "0123456789①²٣３𝟙\u200b\u200c\u200d\ufeff\u00a0 \n\t<>&;:/#\"'-_.,%ếăđ"
VERBS = ["open", "edit", "hist", "ok", "back", "all", "ack", "ans", "rep", "ret", "res", "esc",
         "reo", "st", "cx", "rem", "miss", "year", "hour", "each", "daily", "weekly", "on", "off",
         "u", "s", "f", "vi", "en", "report", "status", "skip", "done", "chg", "cxl", "q0", "q3",
         "q99", "2026", "2026-H1", "2026-Q1", "2026-M03", "programme", "review-2025", "-plan",
         *(o.ref for o in load_programme().obligations)]
ID_TEXTS = ["1", "2", "3", "0", "-1", "01", str(2**63 - 1), str(2**63), str(2**64), "9" * 40,
            "①", "²", "٣", "３", "1\u200b", "", " 1", "1e3"]
COMMANDS = sorted({name for a in ACTIONS.values() for name in (a.name, *a.aliases)}
                  | {"start", "cancel", "huy", "menu", "unknown", "START",
                     "status@baocao_test_bot"})
PREFIXES = sorted(set(CALLBACKS) | {"f", "m", "d", "", "x"})


def bot_forms() -> list[Form]:
    """The bot's own forms (tests and benches register forms of their own)."""
    return [form for form in FORMS.values() if form.submit.__module__.startswith("handlers.")]


OPTION_IDS = sorted({oid for form in bot_forms() for q in form.questions
                     for oid, _label in q.options} | {"skip", "done", "ok", "chg", "cxl", "yes",
                                                      "no", "q0", "q1", "q5", "q18", "q99"})


@dataclass(frozen=True)
class Event:
    """One thing a person does. kind: text, press (forged data), press_real (a button the bot
    showed, by index), form (a form button with the current step and this value), photo,
    document, sticker."""

    kind: str
    value: str = ""

    def __str__(self) -> str:
        shown = self.value if len(self.value) <= 60 else f"{self.value[:57]}… ({len(self.value)})"
        return f"{self.kind}({shown!r})"


def _texts() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(TRICKY_TEXTS),
        st.text(min_size=1, max_size=40),
        st.text(alphabet=TRICKY_CHARS, min_size=1, max_size=30),
        st.integers(-2**70, 2**70).map(str),
        st.lists(st.sampled_from(TRICKY_TEXTS[:40]), min_size=2, max_size=4).map(
            lambda parts: ", ".join(p[:50] for p in parts)),
    )


def _ids() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(ID_TEXTS), st.integers(-2**66, 2**66).map(str),
                     st.text(alphabet=TRICKY_CHARS, max_size=8))


def _forged() -> st.SearchStrategy[str]:
    """Button data: mostly in the shape of real buttons ("kk:ans:12") with odd parts."""
    prefixes, verbs = st.sampled_from(PREFIXES), st.sampled_from(VERBS)
    part = st.one_of(verbs, _ids(), st.text(max_size=10))
    return st.one_of(
        st.builds(lambda p, v, i: f"{p}:{v}:{i}", prefixes, verbs, _ids()),
        st.builds(lambda p, i: f"{p}:{i}", prefixes, st.one_of(_ids(), verbs)),
        st.builds(lambda p, rest: ":".join([p, *rest]), prefixes, st.lists(part, max_size=3)),
    )


def events() -> st.SearchStrategy[Event]:
    """Any one input a person (or a forger) can send."""
    command = st.builds(lambda name, sep, args: f"/{name}{sep}{args}".rstrip("\n"),
                        st.sampled_from(COMMANDS), st.sampled_from(["", " ", "  "]),
                        st.one_of(st.just(""), _texts(), _ids()))
    return st.one_of(
        _texts().map(lambda text: Event("text", text)),
        command.map(lambda text: Event("text", text)),
        _forged().map(lambda data: Event("press", data)),
        st.integers(0, 30).map(lambda index: Event("press_real", str(index))),
        st.one_of(st.sampled_from(OPTION_IDS), _ids()).map(lambda value: Event("form", value)),
        st.just(Event("photo")),
        st.text(max_size=20).map(lambda name: Event("document", name)),
        st.just(Event("sticker")),
    )


# ---------------------------------------------------------------------------------------------
# What we look for

@dataclass(frozen=True)
class Finding:
    kind: str  # exception, silent, refused, warning
    state: str
    event: str
    detail: str


@dataclass
class Stats:
    examples: int = 0
    inputs: int = 0
    walks: int = 0
    states: set[str] = field(default_factory=set)
    unreachable: dict[str, str] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    def count(self, kind: str) -> int:
        return sum(1 for f in self.findings if f.kind == kind)

    def distinct(self) -> Counter:
        """How often each distinct problem (kind and detail) was seen."""
        return Counter((f.kind, f.detail) for f in self.findings)

    def summary(self) -> str:
        lines = [f"examples {self.examples}, inputs {self.inputs}, states covered "
                 f"{len(self.states)}, walks {self.walks}, unreachable {len(self.unreachable)}",
                 f"exceptions {self.count('exception')}, silent updates {self.count('silent')}, "
                 f"refused by Telegram {self.count('refused')}, other warnings "
                 f"{self.count('warning')}"]
        for (kind, detail), n in self.distinct().most_common():
            example = next(f for f in self.findings if (f.kind, f.detail) == (kind, detail))
            lines.append(f"  {n:5} × {kind}: {detail}\n          e.g. in {example.state} "
                         f"after {example.event}")
        for name, why in self.unreachable.items():
            lines.append(f"  unreachable: {name}: {why}")
        return "\n".join(lines)


class Records(logging.Handler):
    """Keeps every warning and error logged while the fuzzer runs."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _where(record: logging.LogRecord) -> str:
    """The exception's type and message, and the last line of our own code it passed."""
    kind, error, tb = record.exc_info
    ours = [frame for frame in traceback.extract_tb(tb)
            if any(part in frame.filename for part in ("/handlers/", "/storage/", "/bot/"))]
    place = f" at {Path(ours[-1].filename).name}:{ours[-1].lineno}" if ours else ""
    return f"{kind.__name__}: {str(error)[:80]}{place}"


# ---------------------------------------------------------------------------------------------
# States

class Unreachable(Exception):
    """The walk did not arrive where it should: a bug of the fuzzer or of the bot."""


@dataclass(frozen=True)
class State:
    role: str
    name: str
    enter: Callable[[World, Chat], Awaitable[None]]

    @property
    def label(self) -> str:
        return f"{self.role}: {self.name}"


SUMMARY, PICK = -1, -2


def _form_roles(form: Form) -> list[str]:
    return [role.value for role in (Role.OFFICER, Role.COORDINATOR, Role.LEADER, Role.ADMIN)
            if role in form.roles]


def build_states() -> list[State]:
    """Every state of every role: the menu, each action's answer, some views reached by
    buttons, every question of every form, each form's summary and its list of answers."""
    found: list[State] = [State("stranger", "new", lambda w, c: c.say("/start")),
                          State("group", "coordinators' group", lambda w, c: c.say("/help"))]
    for role in (Role.OFFICER, Role.COORDINATOR, Role.LEADER, Role.ADMIN):
        found.append(State(role.value, "menu", lambda w, c: c.say("/start")))
        for action in ACTIONS.values():
            if role in action.roles:
                found.append(State(role.value, f"/{action.name}",
                                   lambda w, c, n=action.name: w.say_into(c, f"/{n}")))
    found += [State(role, name, enter) for role, name, enter in VIEWS]
    missing = sorted({form.id for form in bot_forms()} - set(ENTRIES))
    if missing:
        raise Unreachable(f"no way into the forms {missing}: add them to ENTRIES")
    for form in bot_forms():
        for role in _form_roles(form):
            targets = list(range(len(form.questions))) + ([SUMMARY, PICK] if form.confirm
                                                          else [])
            for target in targets:
                name = {SUMMARY: "summary", PICK: "pick an answer to change"}.get(
                    target, f"q{target} {form.questions[target].key}" if target >= 0 else "")
                found.append(State(role, f"{form.id} {name}",
                                   lambda w, c, f=form, t=target: w.into_form(c, f, t)))
    return found


async def _enter_report(w: World, c: Chat, kind: str) -> None:
    await w.say_into(c, "/report")
    await w.press_into(c, f"rk:{kind}")
    if kind == "periodic" and (await w.session(c))[0] != "report_periodic":
        await w.press_prefix(c, "rp:")


ENTRIES: dict[str, dict[str, Callable[[World, Chat], Awaitable[None]]]] = {
    **{f"report_{kind}": {"officer": lambda w, c, k=kind: _enter_report(w, c, k)}
       for kind in ("plan", "dissemination", "study", "inspection", "review", "model",
                    "periodic")},
    "report_return": {role: lambda w, c: w.press_with(c, "rv:back:{}", w.need_report)
                      for role in ("coordinator", "admin")},
    "difficulty": {"officer": lambda w, c: w.say_into(c, "/difficulty")},
    "difficulty_answer": {
        "coordinator": lambda w, c: w.press_with(c, "kk:ans:{}", w.need_difficulty, "open"),
        "admin": lambda w, c: w.press_with(c, "kk:ans:{}", w.need_difficulty, "open"),
        "leader": lambda w, c: w.press_with(c, "kk:ans:{}", w.need_difficulty, "escalated")},
    "difficulty_reply": {
        "officer": lambda w, c: w.press_with(c, "kk:rep:{}", w.need_difficulty, "open")},
    "difficulty_return": {
        "leader": lambda w, c: w.press_with(c, "kk:ret:{}", w.need_difficulty, "escalated")},
    "difficulty_reopen": {
        "officer": lambda w, c: w.press_with(c, "kk:reo:{}", w.need_difficulty, "resolved")},
    "broadcast": {"admin": lambda w, c: w.say_into(c, "/broadcast")},
    "deadline_move": {"admin": lambda w, c: w.say_then_press(c, "/deadlines", "dl:")},
    "invite": {"admin": lambda w, c: w.say_into(c, "/invite")},
    "person_role": {"admin": lambda w, c: w.person_role(c)},
    "deadline_extend": {role: lambda w, c: w.deadline_extend(c) for role in ("coordinator",
                                                                              "admin")},
}

# Views reached by buttons, whose offered choices can be typed by number.
VIEWS: list[tuple[str, str, Callable[[World, Chat], Awaitable[None]]]] = [
    ("officer", "report opened", lambda w, c: w.press_with(c, "r:open:{}", w.need_report)),
    ("officer", "difficulty opened",
     lambda w, c: w.press_with(c, "kk:open:{}", w.need_difficulty, "open")),
    ("officer", "periodic: pick the period", lambda w, c: w.say_then_press(c, "/report",
                                                                          "rk:periodic")),
    ("officer", "draft offered", lambda w, c: w.draft_offered(c)),
    ("coordinator", "report opened", lambda w, c: w.press_with(c, "r:open:{}", w.need_report)),
    ("coordinator", "report with an edit history opened", lambda w, c: w.edited_report_opened(c)),
    ("coordinator", "reports of one kind", lambda w, c: w.say_then_press(c, "/reports", "rf:")),
    ("coordinator", "reports of one unit", lambda w, c: w.say_into(c, "/reports Q-LECHAN")),
    ("coordinator", "difficulty opened",
     lambda w, c: w.press_with(c, "kk:open:{}", w.need_difficulty, "open")),
    ("coordinator", "urgent difficulties", lambda w, c: w.say_then_press(c, "/difficulties",
                                                                        "kf:u")),
    ("coordinator", "status: missing units", lambda w, c: w.say_then_press(c, "/status",
                                                                          "st:miss")),
    ("coordinator", "status of a year", lambda w, c: w.say_then_press(c, "/status", "st:year")),
    ("leader", "difficulty opened",
     lambda w, c: w.press_with(c, "kk:open:{}", w.need_difficulty, "escalated")),
    ("admin", "notice opened", lambda w, c: w.press_with(c, "bc:open:{}", w.need_broadcast)),
    ("admin", "language", lambda w, c: w.say_into(c, "/language")),
]


# ---------------------------------------------------------------------------------------------
# The world: one bot, one database, a person of each role

class World:
    """The real Application and Runtime on a SQLite file, with one chat per role."""

    def __init__(self, h: Harness, chats: dict[str, Chat], records: Records):
        self.h, self.chats, self.records = h, chats, records
        self.here: dict[str, tuple[str, str]] = {}  # role -> (state label, session signature)

    @classmethod
    async def create(cls, folder: Path) -> World:
        programme = yaml.safe_load(DEFAULT_PROGRAMME.read_text(encoding="utf-8"))
        programme["adhoc_periods"].append({"id": LONG_ID, "name": {"vi": "chuyên đề", "en":
                                           "special"}, "start": "2025-12-15",
                                           "end": "2026-12-14"})
        programme["obligations"] += [
            {"id": LONG_ID, "name": {"vi": "Báo cáo chuyên đề", "en": "Special report"},
             "report": "model", "unit_kinds": ["district", "department"], "period": LONG_ID,
             "due": "2026-12-19"},
            {"id": LONG_ID + "-nam", "name": {"vi": "Báo cáo năm chuyên đề", "en": "Special "
                                              "annual report"}, "report": "periodic",
             "unit_kinds": ["district"], "period": "annual", "due_days_after_end": 10}]
        (folder / "programme.yaml").write_text(yaml.safe_dump(programme, allow_unicode=True),
                                               encoding="utf-8")
        settings = load_settings(database_path=folder / "fuzz.db", admin_ids=[1],
                                 telegram_bot_token="123:TEST", coordinator_chat_id=GROUP_CHAT,
                                 programme_file=folder / "programme.yaml")
        records = Records()
        logging.getLogger().addHandler(records)
        h = await Harness(settings, FakeClock(START)).start()
        async with h.runtime.db.transaction() as tx:
            await tx.units.upsert_many(read_units_file(SAMPLE_UNITS, translator("vi"), set()),
                                       START)
        chats = {"officer": await register(h, 501, "Trần Thị Bình"),
                 "coordinator": await register(h, 301, "Phạm Văn Điều", Role.COORDINATOR,
                                               unit="SO-TTTT"),
                 "leader": await register(h, 401, "Lê Văn Lãnh", Role.LEADER, unit=None),
                 "admin": h.chat(1, "Quản Trị"),
                 "stranger": h.chat(777, "Người Lạ"),
                 "group": h.chat(301, "Phạm Văn Điều", chat_id=GROUP_CHAT)}
        await chats["admin"].say("/start")
        await chats["leader"].press_data("lang:en")  # one person in English: both catalogs
        return cls(h, chats, records)

    async def close(self) -> None:
        logging.getLogger().removeHandler(self.records)
        await self.h.stop()

    # -- looking at the conversation ----------------------------------------------------------

    async def session(self, chat: Chat) -> tuple[str, dict]:
        async with self.h.runtime.db.read() as tx:
            contact = await tx.contacts.by_identity("telegram", str(chat.user_id))
            found = await tx.sessions.get(contact.id) if contact else None
        return (found[0], found[1]) if found else ("menu", {})

    async def signature(self, chat: Chat) -> str:
        flow, state = await self.session(chat)
        return json.dumps([flow, state], sort_keys=True, ensure_ascii=False)

    def _button_message(self, chat: Chat, data: str):
        for sent in reversed(self.h.request.sent(chat.chat_id)):
            if any(d == data for _label, d in sent.buttons):
                return sent
        return None

    # -- moving around ------------------------------------------------------------------------

    async def press(self, chat: Chat, data: str) -> None:
        """Press the newest button with this data (forged if the bot never showed it)."""
        await chat.press_data(data, self._button_message(chat, data))

    async def press_prefix(self, chat: Chat, prefix: str) -> None:
        for sent in reversed(self.h.request.sent(chat.chat_id)):
            for _label, data in sent.buttons:
                if data.startswith(prefix):
                    await chat.press_data(data, sent)
                    return
        raise Unreachable(f"no button {prefix}… shown")

    async def _discard_draft(self, chat: Chat) -> bool:
        """If the bot offers to continue a draft, discard it (True if it did)."""
        flow, state = await self.session(chat)
        drafts = [c[0] for c in state.get("offered", []) if c[0].startswith("d:-")]
        if flow == "menu" and drafts:
            await self.press(chat, drafts[0])
            return True
        return False

    async def say_into(self, chat: Chat, text: str) -> None:
        await chat.say(text)
        if await self._discard_draft(chat):
            await chat.say(text)

    async def press_into(self, chat: Chat, data: str) -> None:
        await self.press(chat, data)
        if await self._discard_draft(chat):
            await self.press(chat, data)

    async def say_then_press(self, chat: Chat, text: str, prefix: str) -> None:
        await chat.say(text)
        await self.press_prefix(chat, prefix)

    async def press_with(self, chat: Chat, pattern: str, need, *args) -> None:
        await self.press(chat, pattern.format(await need(*args)))

    async def deadline_extend(self, chat: Chat) -> None:
        """/status, the list of units that have not sent a report, then More time."""
        await self.say_then_press(chat, "/status", "st:miss:")
        extend = next(data for sent in reversed(self.h.request.sent(chat.chat_id))
                      for _label, data in sent.buttons if data.startswith("dx:"))
        await self.press_into(chat, extend)

    async def person_role(self, chat: Chat) -> None:
        """/people, someone else's card (the list starts with the admin), then Change role or
        unit."""
        await chat.say("/people")
        cards = [(sent, data) for sent in self.h.request.sent(chat.chat_id)[-2:]
                 for _label, data in sent.buttons if re.fullmatch(r"pp:\d+", data)]
        if len(cards) < 2:
            raise Unreachable("/people listed nobody else")
        await chat.press_data(cards[-1][1], cards[-1][0])
        role = next(data for sent in reversed(self.h.request.sent(chat.chat_id))
                    for _label, data in sent.buttons if data.startswith("pp:role:"))
        await self.press_into(chat, role)

    async def draft_offered(self, chat: Chat) -> None:
        await self.say_into(chat, "/report")
        await self.press_into(chat, "rk:plan")
        await chat.say("/difficulty")  # keeps the plan as a draft
        await chat.say("/cancel")
        await chat.say("/report")
        await self.press(chat, "rk:plan")

    # -- things some states need --------------------------------------------------------------

    async def need_report(self) -> int:
        """A report of the officer's unit waiting for review."""
        async with self.h.runtime.db.read() as tx:
            unit = await tx.units.by_code("Q-LECHAN")
            waiting = [r for r in await tx.reports.latest(unit_id=unit.id, limit=50)
                       if r.status is ReportStatus.RECEIVED]
        if waiting:
            return waiting[0].id
        await self.submit(self.chats["officer"], "report_plan")
        return await self.need_report()

    async def edited_report_opened(self, chat: Chat) -> None:
        """Open a report that has an edit history."""
        report_id = await self.need_report()
        officer = self.chats["officer"]
        await self.walk(officer, lambda w, c: w.press(c, f"r:edit:{report_id}"))
        await self.confirm(officer)
        await self.press(chat, f"r:open:{report_id}")

    async def need_difficulty(self, status: str) -> int:
        """A difficulty of the officer's unit that is open (not escalated or resolved),
        escalated, or resolved."""
        wanted = {"open": [DifficultyStatus.OPEN, DifficultyStatus.ACKNOWLEDGED,
                           DifficultyStatus.ANSWERED],
                  "escalated": [DifficultyStatus.ESCALATED],
                  "resolved": [DifficultyStatus.RESOLVED]}[status]
        async with self.h.runtime.db.read() as tx:
            unit = await tx.units.by_code("Q-LECHAN")
            found = await tx.difficulties.listing(statuses=wanted, unit_id=unit.id, limit=1)
        if found:
            return found[0].id
        await self.submit(self.chats["officer"], "difficulty")
        async with self.h.runtime.db.read() as tx:
            new = max(await tx.difficulties.listing(statuses=[DifficultyStatus.OPEN],
                                                    unit_id=unit.id, limit=100_000),
                      key=lambda d: d.id)
        if status == "escalated":
            await self.walk(self.chats["coordinator"], lambda w, c: w.press(
                c, f"kk:esc:{new.id}"))
        elif status == "resolved":  # resolving asks once more
            await self.walk(self.chats["coordinator"], lambda w, c: w.press(
                c, f"kk:res:{new.id}"))
            await self.press(self.chats["coordinator"], f"kk:resok:{new.id}")
        return new.id

    async def need_broadcast(self) -> int:
        async with self.h.runtime.db.read() as tx:
            recent = await tx.broadcasts.recent()
        if recent:
            return recent[0].id
        await self.submit(self.chats["admin"], "broadcast")
        return await self.need_broadcast()

    # -- forms ----------------------------------------------------------------------------------

    async def submit(self, chat: Chat, form_id: str) -> None:
        """Fill a form in with valid answers and confirm it."""
        await self.walk(chat, lambda w, c: w.into_form(c, FORMS[form_id], SUMMARY))
        await self.confirm(chat)

    async def confirm(self, chat: Chat) -> None:
        await self.press(chat, f"f:{(await self.session(chat))[1]['form']['step']}:ok")

    async def into_form(self, chat: Chat, form: Form, target: int) -> None:
        """Open the form the way a person does, and answer validly up to question `target`
        (or the summary, or the list of answers to change)."""
        role = next(r for r, c in self.chats.items() if c is chat)
        await ENTRIES[form.id][role](self, chat)
        for _ in range(3 * len(form.questions) + 6):
            flow, state = await self.session(chat)
            if flow != form.id:
                raise Unreachable(f"expected {form.id}, in {flow}; last: {chat.last().text!r}")
            current = state["form"]
            mode, step = current["mode"], current["step"]
            if mode in ("ask", "edit") and target >= 0 and current["pos"] == target:
                return
            if mode == "summary":
                if target == SUMMARY:
                    return
                await self.press(chat, f"f:{step}:chg")
            elif mode == "pick":
                if target == PICK:
                    return
                await self.press(chat, f"f:{step}:q{target}")
            else:
                await self._answer(chat, form, current, target)
        raise Unreachable(f"{form.id}: question {target} never came")

    async def _answer(self, chat: Chat, form: Form, current: dict, target: int) -> None:
        question = form.questions[current["pos"]]
        step = current["step"]
        if question.kind is Kind.CHOICE:
            await self.press(chat, f"f:{step}:{_option_towards(form, current, target)}")
        elif question.kind is Kind.YESNO:
            await self.press(chat, f"f:{step}:yes")
        elif question.kind is Kind.MULTI:
            await self.press(chat, f"f:{step}:{question.options[0][0]}")
            # A toggle redraws the question with new button ids (double taps stay harmless).
            step = (await self.session(chat))[1]["form"]["step"]
            await self.press(chat, f"f:{step}:done")
        elif question.kind is Kind.ATTACHMENT:
            await chat.send_photo("PHOTO-FUZZ")
            await self.press(chat, f"f:{step}:done")
        elif question.kind is Kind.INTEGER:
            await chat.say(str(max(question.min_value, min(question.max_value, 5))))
        elif question.kind is Kind.DATE:
            await chat.say("31/12/2029" if question.allow_future else "05/03/2026")
        elif question.kind is Kind.UNIT or question.key == "units":
            await chat.say("Q-LECHAN")
        else:
            await chat.say("Nội dung kiểm thử")

    # -- running examples ---------------------------------------------------------------------

    async def walk(self, chat: Chat, enter: Callable[[World, Chat], Awaitable[None]]) -> None:
        """From wherever the chat is, back to the menu and into a state."""
        await chat.say("/cancel")
        await enter(self, chat)

    async def example(self, state: State, inputs: list[Event], stats: Stats) -> None:
        """Walk into the state if the chat is not there, then feed it the inputs."""
        chat = self.chats[state.role]
        if self.here.get(state.role) != (state.label, await self.signature(chat)):
            self._forget_old_calls()
            calls, logged = len(self.h.request.calls), len(self.records.records)
            try:
                await self.walk(chat, state.enter)
            except Unreachable as exc:
                stats.unreachable[state.label] = str(exc)
                return
            finally:  # a bug met on the way counts too (but not as silence)
                stats.findings += self._problems(chat, state, "the walk into this state",
                                                 calls, logged, silence=False)
            stats.walks += 1
            self.here[state.role] = (state.label, await self.signature(chat))
        stats.states.add(state.label)
        stats.examples += 1
        for event in inputs:
            calls, logged = len(self.h.request.calls), len(self.records.records)
            await self.send(chat, event)
            stats.inputs += 1
            stats.findings += self._problems(chat, state, str(event), calls, logged)

    def _forget_old_calls(self) -> None:
        """Keep memory flat over long runs: only recent calls are ever looked at."""
        calls = self.h.request.calls
        if len(calls) > 600:
            del calls[:-200]
        if len(self.records.records) > 1000:
            del self.records.records[:]

    async def send(self, chat: Chat, event: Event) -> None:
        if event.kind == "text":
            await chat.say(event.value)
        elif event.kind == "press":
            await chat.press_data(event.value)
        elif event.kind == "press_real":
            shown = next((s for s in reversed(self.h.request.sent(chat.chat_id)) if s.buttons),
                         None)
            if shown is None:
                await chat.press_data("m:help")
            else:
                data = shown.buttons[int(event.value) % len(shown.buttons)][1]
                await chat.press_data(data, shown)
        elif event.kind == "form":
            _flow, state = await self.session(chat)
            step = state.get("form", {}).get("step", state.get("seq", 0))
            await chat.press_data(f"f:{step}:{event.value}")
        elif event.kind == "photo":
            await chat.send_photo("PHOTO-FUZZ")
        elif event.kind == "document":
            await chat.send_document("DOC-FUZZ", event.value or None)
        else:
            await chat.send_sticker()

    def _problems(self, chat: Chat, state: State, event: str, calls: int, logged: int,
                  silence: bool = True) -> list[Finding]:
        found = []
        for record in self.records.records[logged:]:
            if record.exc_info:
                found.append(Finding("exception", state.label, event, _where(record)))
            elif "rejected" not in record.getMessage():  # refusals are counted below
                found.append(Finding("warning", state.label, event, record.getMessage()[:120]))
        answered = False
        for call in self.h.request.calls[calls:]:
            if call.method.endswith("!400"):
                api = call.method.split("!")[0]
                found.append(Finding("refused", state.label, event,
                                     f"{api}: {refusal(api, call.params)}"))
            elif call.chat_id == str(chat.chat_id) and call.method in (
                    "sendMessage", "sendPhoto", "sendDocument", "editMessageText"):
                answered = True
        if silence and not answered and chat.chat_id > 0:  # group chatter may go unanswered
            found.append(Finding("silent", state.label, event, "no answer"))
        return found


def _option_towards(form: Form, current: dict, target: int) -> str:
    """The option of the current choice question that makes question `target` asked."""
    question = form.questions[current["pos"]]
    if target >= 0 and form.questions[target].ask_if is not None:
        for oid, _label in question.options:
            if form.questions[target].ask_if({**current["answers"], question.key: oid}):
                return oid
    return question.options[0][0]


# ---------------------------------------------------------------------------------------------
# Running it

def _fuzz_state(loop: asyncio.AbstractEventLoop, world: World, state: State, stats: Stats,
                per_state: int, inputs: st.SearchStrategy[list[Event]], base_seed: int) -> None:
    @seed(base_seed + zlib.crc32(state.label.encode()))
    @settings(max_examples=per_state, deadline=None, database=None, phases=(Phase.generate,),
              suppress_health_check=list(HealthCheck))
    @given(inputs)
    def fuzz_state(inputs: list[Event]) -> None:
        loop.run_until_complete(world.example(state, inputs, stats))

    fuzz_state()


def run(folder: Path, per_state: int, max_inputs: int = 3, base_seed: int = 0,
        roles: tuple[str, ...] = ROLES, progress: Callable[[State, Stats], None] | None = None
        ) -> Stats:
    """Fuzz every state of the given roles with `per_state` examples of 1..max_inputs inputs.
    Reproducible: each state's examples come from a seed of its own name and `base_seed`."""
    loop = asyncio.new_event_loop()
    stats = Stats()
    # One strategy for every state: Hypothesis validates a strategy on its first use only.
    inputs = st.lists(events(), min_size=1, max_size=max_inputs)
    world = loop.run_until_complete(World.create(folder))
    try:
        for state in build_states():
            if state.role not in roles:
                continue
            _fuzz_state(loop, world, state, stats, per_state, inputs, base_seed)
            if progress is not None:
                progress(state, stats)
    finally:
        loop.run_until_complete(world.close())
        loop.close()
    return stats

