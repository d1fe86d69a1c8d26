"""Offline Telegram: a recording request layer for the real Application, and chat helpers that
make a test read like a conversation."""

from __future__ import annotations

import html
import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from telegram.request import BaseRequest, RequestData

from bot.delivery import ChannelLimits
from bot.runtime import Runtime
from bot.settings import Settings
from bot.telegram import build_application, receive, start_channel
from storage.models import Role
from tests.telegram_html import refusal

BOT_USER = {"id": 999000, "is_bot": True, "first_name": "Báo cáo", "username": "baocao_test_bot",
            "can_join_groups": True, "can_read_all_group_messages": False,
            "supports_inline_queries": False}


@dataclass
class Sent:
    method: str
    params: dict
    message_id: int | None = None

    @property
    def chat_id(self) -> str:
        return str(self.params.get("chat_id"))

    @property
    def media(self) -> list[str]:
        """The file ids of an album (sendMediaGroup)."""
        media = self.params.get("media") or []
        media = json.loads(media) if isinstance(media, str) else media
        return [item["media"] for item in media]

    @property
    def text(self) -> str:
        return self.params.get("text") or self.params.get("caption", "")

    @property
    def buttons(self) -> list[tuple[str, str]]:
        markup = self.params.get("reply_markup") or {}
        if isinstance(markup, str):
            markup = json.loads(markup)
        return [(b["text"], b.get("callback_data") or b["web_app"]["url"])
                for row in markup.get("inline_keyboard", []) for b in row]


class RecordingRequest(BaseRequest):
    """Answers Bot API calls from canned results and keeps every call. Never touches the network.

    `script` holds planned failures: (method, status, description, retry_after) consumed in order
    by the next matching call. A message Telegram would refuse (markup its HTML parser cannot
    read, a blank or too long text, button data over 64 bytes) is answered with Telegram's 400.
    """

    # Whether messages are checked as Telegram would (the benches turn it off: Telegram's work).
    checks_markup = True

    def __init__(self) -> None:
        self.calls: list[Sent] = []
        self.script: list[tuple[str, int, str, int | None]] = []
        self._ids = itertools.count(1000)
        # Updates waiting on "Telegram's" side for getUpdates: kept until an offset above them.
        self.updates: list[dict] = []
        # Called with (method, params) before a call is answered (tests check invariants).
        self.before_call: Callable[[str, dict], None] | None = None
        # Files people sent, by file id: getFile and the download answer with them.
        self.files: dict[str, bytes] = {}

    @property
    def read_timeout(self) -> float | None:
        return 1.0

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         read_timeout=None, write_timeout=None, connect_timeout=None,
                         pool_timeout=None) -> tuple[int, bytes]:
        api = url.rsplit("/", 1)[-1]
        if "/file/bot" in url:  # a file's download (after getFile)
            self.calls.append(Sent("download", {"file": api}))
            return (200, self.files[api]) if api in self.files else (404, b"")
        params = dict(request_data.parameters) if request_data else {}
        if request_data is not None and request_data.contains_files:
            # Uploaded files: name -> bytes, as Telegram would receive them.
            params["_files"] = {name: value[1] for name, value in
                                request_data.multipart_data.items()}
        for index, (planned, status, description, retry_after) in enumerate(self.script):
            if planned == api:
                del self.script[index]
                self.calls.append(Sent(f"{api}!{status}", params))
                body: dict = {"ok": False, "error_code": status, "description": description}
                if retry_after is not None:
                    body["parameters"] = {"retry_after": retry_after}
                return status, json.dumps(body).encode()
        problem = refusal(api, params) if self.checks_markup else None
        if problem is not None:
            self.calls.append(Sent(f"{api}!400", params))
            return 400, json.dumps({"ok": False, "error_code": 400,
                                    "description": problem}).encode()
        result = self._result(api, params)
        message_id = result.get("message_id") if isinstance(result, dict) else None
        self.calls.append(Sent(api, params, message_id))
        if api == "editMessageText":  # the chat now shows the edited message
            for earlier in self.sent(params.get("chat_id")):
                if earlier.message_id == message_id:
                    earlier.params = {**earlier.params, "text": params.get("text", ""),
                                      "reply_markup": params.get("reply_markup")}
        return 200, json.dumps({"ok": True, "result": result}).encode()

    def _result(self, api: str, params: dict):
        if api == "getMe":
            return BOT_USER
        if api == "getFile" and params.get("file_id") in self.files:
            return {"file_id": params["file_id"], "file_unique_id": "f" + params["file_id"],
                    "file_size": len(self.files[params["file_id"]]),
                    "file_path": params["file_id"]}
        if api == "getUpdates":
            offset = int(params.get("offset") or 0)
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
            return self.updates[:int(params.get("limit") or 100)]
        if self.before_call is not None:
            self.before_call(api, params)
        if api in ("sendMessage", "sendPhoto", "sendDocument", "editMessageText"):
            chat_id = int(params.get("chat_id", 0))
            message_id = int(params["message_id"]) if api == "editMessageText" else next(self._ids)
            message = {"message_id": message_id, "date": 1_700_000_000, "from": BOT_USER,
                       "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group",
                                "title": "group" if chat_id < 0 else None},
                       "text": params.get("text", "")}
            if params.get("reply_markup"):
                message["reply_markup"] = params["reply_markup"]
            return message
        if api == "sendMediaGroup":  # an album: one message per item
            chat_id = int(params.get("chat_id", 0))
            media = params.get("media")
            media = json.loads(media) if isinstance(media, str) else media
            return [{"message_id": next(self._ids), "date": 1_700_000_000, "from": BOT_USER,
                     "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"}}
                    for _item in media]
        return True

    def next_message_id(self) -> int:
        return next(self._ids)

    def sent(self, chat_id: int | str | None = None) -> list[Sent]:
        """Messages the bot sent (not edits or other calls), to one chat if given."""
        return [c for c in self.calls if c.method in ("sendMessage", "sendPhoto", "sendDocument",
                                                      "sendMediaGroup")
                and (chat_id is None or c.chat_id == str(chat_id))]


class FakeClock:
    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


# Conversation tests are not about rate limits (tests/test_delivery.py is): let them run fast.
UNPACED = {"per_second": 10_000, "chat_per_second": 10_000, "chat_burst": 10_000,
           "group_per_minute": 600_000, "group_burst": 10_000}


@dataclass
class Harness:
    """The real Application and Runtime on a real SQLite file, driven offline."""

    settings: Settings
    clock: FakeClock
    request: RecordingRequest = field(default_factory=RecordingRequest)
    updates: itertools.count = field(default_factory=lambda: itertools.count(1))
    # People take a moment between messages; the flood test sets this to 0.
    think_seconds: float = 2.0
    # Other channels' senders (Zalo), started with the Telegram one.
    extra_senders: list = field(default_factory=list)
    limits: ChannelLimits = field(default_factory=lambda: ChannelLimits(**UNPACED))

    async def start(self) -> Harness:
        self.runtime = Runtime(self.settings, self.clock)
        self.app = build_application(self.settings, self.request)
        await start_channel(self.app, self.runtime, self.extra_senders, self.limits,
                            background=False)
        return self

    async def stop(self) -> None:
        await self.runtime.stop()
        await self.app.shutdown()

    async def restart(self) -> None:
        """Tear the program down and build it again on the same database file."""
        await self.stop()
        await self.start()

    async def drain(self) -> None:
        for worker in self.runtime.workers.values():
            await worker.drain()

    async def jobs_done(self) -> None:
        """Let the background jobs (a chart, a spreadsheet) finish and what they send go out."""
        await self.runtime.jobs_done()
        await self.drain()

    async def tick_at(self, moment: datetime) -> None:
        """Set the clock, run the clock tick, and let what it sent go out, the background jobs
        it started included (a digest's chart): a chart still being drawn when the test goes on
        would arrive after later answers, or find its file gone at the next tick's clean-up."""
        self.clock.now = moment
        await self.runtime.tick()
        await self.drain()  # first what the tick wrote, as the running bot sends it at once
        await self.jobs_done()

    async def feed(self, data: dict, drain: bool = True) -> None:
        self.clock.advance(seconds=self.think_seconds)
        await receive(self.app, self.runtime, [data])  # as the fetch loop and webhook do
        if drain:
            await self.drain()

    def chat(self, user_id: int, name: str = "Nguyễn Văn An", language: str = "vi",
             chat_id: int | None = None) -> Chat:
        return Chat(self, user_id, name, language, chat_id if chat_id is not None else user_id)


class Chat:
    """One person talking to the bot in one chat."""

    def __init__(self, harness: Harness, user_id: int, name: str, language: str, chat_id: int):
        self.h, self.user_id, self.name, self.language, self.chat_id = (
            harness, user_id, name, language, chat_id)

    def _user(self) -> dict:
        return {"id": self.user_id, "is_bot": False, "first_name": self.name,
                "language_code": self.language}

    def _chat(self) -> dict:
        if self.chat_id < 0:
            return {"id": self.chat_id, "type": "supergroup", "title": "Điều phối"}
        return {"id": self.chat_id, "type": "private", "first_name": self.name}

    def message(self, **content) -> dict:
        update_id = next(self.h.updates)
        # As in Telegram, the person's messages and the bot's are numbered in one sequence.
        return {"update_id": update_id, "message": {
            "message_id": self.h.request.next_message_id(),
            "date": int(self.h.clock().timestamp()),
            "chat": self._chat(), "from": self._user(), **content}}

    async def say(self, text: str) -> None:
        content: dict = {"text": text}
        if text.startswith("/"):
            content["entities"] = [{"type": "bot_command", "offset": 0,
                                    "length": len(text.split()[0])}]
        await self.h.feed(self.message(**content))

    async def send_photo(self, file_id: str = "PHOTO-1") -> None:
        await self.h.feed(self.message(photo=[
            {"file_id": file_id + "-small", "file_unique_id": "u1", "width": 90, "height": 90},
            {"file_id": file_id, "file_unique_id": "u2", "width": 900, "height": 900}]))

    async def send_document(self, file_id: str = "DOC-1", name: str = "bien-ban.pdf") -> None:
        await self.h.feed(self.message(document={"file_id": file_id, "file_unique_id": "d1",
                                                 "file_name": name}))

    async def send_sticker(self) -> None:
        await self.h.feed(self.message(sticker={
            "file_id": "STK", "file_unique_id": "s1", "width": 512, "height": 512,
            "is_animated": False, "is_video": False, "type": "regular"}))

    def last(self) -> Sent:
        sent = self.h.request.sent(self.chat_id)
        assert sent, "the bot sent nothing to this chat"
        return sent[-1]

    def texts(self) -> list[str]:
        return [s.text for s in self.h.request.sent(self.chat_id)]

    def _message_with(self, label: str) -> tuple[Sent, str]:
        for sent in reversed(self.h.request.sent(self.chat_id)):
            for text, data in sent.buttons:
                if text == label or text == f"✓ {label}":
                    return sent, data
        raise AssertionError(f"no button {label!r}; last: {self.last().text!r} "
                             f"{self.last().buttons!r}")

    async def press(self, label: str, drain: bool = True) -> None:
        """Press the newest button with this label (and let the bot's answers go out)."""
        sent, data = self._message_with(label)
        await self.press_data(data, sent, drain)

    async def press_data(self, data: str, sent: Sent | None = None, drain: bool = True) -> None:
        """Press a button with any callback data (a forged one too)."""
        sent = sent or self.last()
        update_id = next(self.h.updates)
        # Telegram gives back the text without our markup (its formatting comes as entities).
        plain = html.unescape(re.sub(r"</?(b|i|code)>", "", sent.text))
        message = {"message_id": sent.message_id, "date": 1_700_000_000,
                   "chat": self._chat(), "from": BOT_USER, "text": plain}
        if sent.params.get("reply_markup"):
            message["reply_markup"] = sent.params["reply_markup"]
        await self.h.feed({"update_id": update_id, "callback_query": {
            "id": f"cq{update_id}", "from": self._user(), "chat_instance": "ci", "data": data,
            "message": message}}, drain)


def escalation(chat: Chat) -> Sent:
    """The last escalation of overdue reports sent to a chat (coordinators' or leaders')."""
    return next(s for s in reversed(chat.h.request.sent(chat.chat_id))
                if s.text.startswith(("⚠️", "🔺")))


async def listed(chat: Chat, message: Sent | None = None) -> set[str]:
    """The codes of the units listed by the button of an escalation (by default the last one
    sent to the chat)."""
    message = message or escalation(chat)
    (_label, data), = message.buttons
    before = len(chat.texts())
    await chat.press_data(data, message)
    # (Not just the last message: a digest's chart, drawn by a job, may come after the list.)
    return {line.split(" — ")[0] for text in chat.texts()[before:] for line in text.splitlines()
            if " — " in line}


async def invite(h: Harness, role: Role = Role.OFFICER, unit: str | None = "Q-LECHAN",
                 days: int = 7) -> str:
    """A fresh invite code, as an admin would issue it."""
    async with h.runtime.db.transaction() as tx:
        found = await tx.units.by_code(unit) if unit else None
        created = await tx.invites.create(unit_id=found.id if found else None, role=role,
                                          created_by="test", now=h.clock(), days=days)
    return created.code


async def register(h: Harness, user_id: int, name: str = "Trần Thị Bình",
                   role: Role = Role.OFFICER, unit: str | None = "Q-LECHAN") -> Chat:
    """A person who registered through /start with an invite, in their private chat."""
    chat = h.chat(user_id, name)
    await chat.say(f"/start {await invite(h, role, unit)}")
    return chat
