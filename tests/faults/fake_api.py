"""A fake Telegram Bot API server for the fault suite (loopback only), built from Telegram's
public behaviour, not from the bot's code:

- `getUpdates` long-polls and follows Telegram's offset rule: an update stays pending and is
  returned again until a later call passes an offset above it; then it is forgotten. A second
  poller ends the first with 409. `replay_updates` hands every update out twice in all:
  once more after it was confirmed, at a random place in a later batch (a platform that
  delivers twice), unless the offset rule already returned it twice.
- Sends are checked as Telegram checks them (HTML parse mode, 1-4096 characters of text after
  parsing, captions up to 1024, callback data 1-64 bytes, known chats, editable messages) and
  refused with 400 otherwise; more than `per_second` messages within one second get 429.
- In a private chat the user's and the bot's messages share one counter of message ids.
- Everything is recorded (`calls`, and each chat's messages as they are now) for the checks.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import random
import re
import time
from collections import Counter, deque
from dataclasses import dataclass, field

import tornado.httpserver
import tornado.netutil
import tornado.web

BOT_USER = {"id": 777000111, "is_bot": True, "first_name": "Báo cáo", "username": "fault_bot",
            "can_join_groups": True, "can_read_all_group_messages": False,
            "supports_inline_queries": False}
SENDS = ("sendMessage", "sendPhoto", "sendDocument", "sendMediaGroup")
EDITS = ("editMessageText", "editMessageReplyMarkup", "editMessageCaption")
# Methods that change nothing we check: answered "ok".
HARMLESS = ("deleteWebhook", "setWebhook", "setMyCommands", "deleteMyCommands",
            "setMyDescription", "setMyShortDescription", "setChatMenuButton", "close", "logOut",
            "sendChatAction")
TEXT_LIMIT, CAPTION_LIMIT, DATA_LIMIT = 4096, 1024, 64

# Tag -> entity type (None: needs an attribute to decide).
TAGS = {"b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
        "ins": "underline", "s": "strikethrough", "strike": "strikethrough",
        "del": "strikethrough", "tg-spoiler": "spoiler", "span": None, "a": None,
        "code": "code", "pre": "pre", "blockquote": "blockquote", "tg-emoji": "custom_emoji"}
NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY = re.compile(r"&(#[0-9]{1,7}|#x[0-9a-fA-F]{1,6}|[a-zA-Z]+);")
_START = re.compile(r"<([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z_-]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|"
                    r"[^\s>]+))?)*)\s*(/?)>")
_END = re.compile(r"</([a-zA-Z][a-zA-Z0-9-]*)\s*>")
_ATTR = re.compile(r"([a-zA-Z_-]+)(?:\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s>]+))?")
# Telegram trims these from both ends and calls a text made only of them empty.
BLANK = " \t\n\r\u200b\u200c\u200d\u2060\ufeff"


class ParseError(ValueError):
    """What Telegram says after "Bad Request: can't parse entities: "."""


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _decode(chunk: str) -> str:
    def one(match: re.Match) -> str:
        name = match.group(1)
        if name.startswith("#x"):
            return chr(int(name[2:], 16))
        if name.startswith("#"):
            return chr(int(name[1:]))
        # Unknown named entities stay as they are, as in Telegram.
        return NAMED.get(name.lower(), match.group(0))
    return _ENTITY.sub(one, chunk)


def _entity_type(tag: str, attrs: str) -> tuple[str, dict]:
    found = {k.lower(): (v or "").strip("\"'") for k, v in _ATTR.findall(attrs)}
    if tag == "a":
        return "text_link", {"url": found.get("href", "")}
    if tag == "span":
        if found.get("class") != "tg-spoiler":
            raise ParseError('tag "span" must have class "tg-spoiler"')
        return "spoiler", {}
    if tag == "pre" or tag == "code":
        return TAGS[tag], {}
    return TAGS[tag] or "", {}


def parse_html(text: str) -> tuple[str, list[dict]]:
    """(plain text, entities with UTF-16 offsets) or ParseError, like Telegram's parser."""
    plain: list[str] = []
    length = 0  # UTF-16 units so far
    stack: list[tuple[str, str, dict, int]] = []
    entities: list[dict] = []
    i = 0
    while i < len(text):
        lt = text.find("<", i)
        chunk = text[i:] if lt < 0 else text[i:lt]
        if chunk:
            decoded = _decode(chunk)
            plain.append(decoded)
            length += _utf16(decoded)
        if lt < 0:
            break
        end = _END.match(text, lt)
        if end:
            tag = end.group(1).lower()
            if not stack:
                raise ParseError(f'unexpected end tag at byte offset {lt}')
            open_tag, kind, extra, offset = stack.pop()
            if open_tag != tag:
                raise ParseError(f'unmatched end tag at byte offset {lt}, expected "</{open_tag}>"'
                                 f', found "</{tag}>"')
            if length > offset and kind:
                entities.append({"type": kind, "offset": offset, "length": length - offset,
                                 **extra})
            i = end.end()
            continue
        start = _START.match(text, lt)
        if not start or start.group(1).lower() not in TAGS:
            name = start.group(1) if start else text[lt + 1:lt + 2].strip()
            raise ParseError(f'unsupported start tag "{name}" at byte offset {lt}')
        tag = start.group(1).lower()
        kind, extra = _entity_type(tag, start.group(2))
        stack.append((tag, kind, extra, length))
        i = start.end()
    if stack:
        raise ParseError(f'can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return _trim("".join(plain), entities)


def _trim(plain: str, entities: list[dict]) -> tuple[str, list[dict]]:
    """Telegram strips leading and trailing blanks; entities move with the text."""
    stripped = plain.lstrip(BLANK)
    cut = _utf16(plain) - _utf16(stripped)
    stripped = stripped.rstrip(BLANK)
    size = _utf16(stripped)
    kept = []
    for entity in entities:
        begin = max(0, entity["offset"] - cut)
        end = min(size, entity["offset"] + entity["length"] - cut)
        if end > begin:
            kept.append({**entity, "offset": begin, "length": end - begin})
    return stripped, sorted(kept, key=lambda e: e["offset"])


# ---------------------------------------------------------------------------------------------
# What the server keeps


class ApiError(Exception):
    """An error answer of the Bot API."""

    def __init__(self, status: int, description: str, retry_after: int | None = None):
        super().__init__(description)
        self.status, self.description, self.retry_after = status, description, retry_after


@dataclass
class BotMessage:
    """A message the bot sent, as the chat shows it now (edits applied)."""

    chat_id: int
    message_id: int
    method: str
    html: str  # as sent (or last edited)
    text: str  # as the person reads it
    entities: list[dict]
    buttons: list[list[dict]]
    sent_at: float
    edited_at: float | None = None
    media: dict | None = None

    def labels(self) -> list[str]:
        return [b["text"] for row in self.buttons for b in row]

    def data_of(self, label: str) -> str | None:
        return next((b.get("callback_data") for row in self.buttons for b in row
                     if b["text"] == label), None)


@dataclass
class Call:
    """One Bot API call and its answer."""

    at: float
    method: str
    chat_id: int | None
    status: int
    error: str = ""
    text: str = ""
    buttons: tuple = ()
    message_id: int | None = None


@dataclass
class Chat:
    """A private chat with one person."""

    user: dict
    ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    messages: dict[int, BotMessage] = field(default_factory=dict)
    version: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class FakeTelegram:
    """The Bot API for one bot token, and the people's side of their chats."""

    def __init__(self, token: str, per_second: int = 30, replay_updates: bool = False,
                 seed: int = 0, shared_polls: bool = False):
        self.token, self.per_second, self.replay_updates = token, per_second, replay_updates
        # Several processes polling at once are served side by side instead of told 409: the
        # stand-in, for tests, of webhooks behind a load balancer (an update not confirmed yet
        # may reach more than one process, as a webhook retried may).
        self.shared_polls = shared_polls
        self.random = random.Random(seed)
        self.chats: dict[int, Chat] = {}
        self.calls: list[Call] = []
        self.pending: list[dict] = []  # updates not confirmed yet, oldest first
        self.handed_at: dict[int, float] = {}  # update id -> first time a getUpdates returned it
        self.pushed_at: dict[int, float] = {}
        self.confirmed_at: dict[int, float] = {}  # update id -> when an offset passed it
        self.handouts: Counter[int] = Counter()  # update id -> times a getUpdates returned it
        self.polls = 0
        self._replay: list[dict] = []
        self._replayed: set[int] = set()
        self._update_ids = itertools.count(10_001)
        self._query_ids = itertools.count(1)
        self._queries: set[str] = set()
        self._allowed: set[str] | None = None
        self._arrived = asyncio.Event()
        self._poll_generation = 0
        self._accepted: deque[float] = deque()
        self._anything = asyncio.Event()  # set at every send or edit, in any chat
        self._server: tornado.httpserver.HTTPServer | None = None
        self.port = 0

    # -- the server ------------------------------------------------------------------------

    def start(self) -> int:
        """Listen on a free loopback port; return it."""
        logging.getLogger("tornado.access").setLevel(logging.ERROR)  # 409s and 429s are expected
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        self.port = sockets[0].getsockname()[1]
        self._server = tornado.httpserver.HTTPServer(self._app())
        self._server.add_sockets(sockets)
        return self.port

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    def _app(self) -> tornado.web.Application:
        api = self

        class Handler(tornado.web.RequestHandler):
            async def post(self, token: str, method: str) -> None:
                self.set_header("Content-Type", "application/json")
                if token != api.token:
                    self.set_status(401)
                    self.write({"ok": False, "error_code": 401, "description": "Unauthorized"})
                    return
                try:
                    result = await api.call(method, _params(self.request))
                except ApiError as exc:
                    self.set_status(exc.status)
                    body: dict = {"ok": False, "error_code": exc.status,
                                  "description": exc.description}
                    if exc.retry_after is not None:
                        body["parameters"] = {"retry_after": exc.retry_after}
                    self.write(body)
                    return
                self.write(json.dumps({"ok": True, "result": result}))

            get = post

        return tornado.web.Application([(r"/bot([^/]+)/(\w+)", Handler)])

    async def call(self, method: str, params: dict) -> object:
        """Answer one Bot API call (recorded with its outcome)."""
        chat_id = _int(params.get("chat_id"))
        record = Call(time.monotonic(), method, chat_id, 200,
                      text=str(params.get("text") or params.get("caption") or ""),
                      buttons=tuple(_labels(params.get("reply_markup"))))
        try:
            result = await self._answer(method, params)
        except ApiError as exc:
            record.status, record.error = exc.status, exc.description
            self.calls.append(record)
            raise
        if isinstance(result, dict) and "message_id" in result:
            record.message_id = result["message_id"]
        if method != "getUpdates":
            self.calls.append(record)
        return result

    async def _answer(self, method: str, params: dict) -> object:
        if method == "getMe":
            return BOT_USER
        if method == "getUpdates":
            return await self._get_updates(params)
        if method == "getWebhookInfo":
            return {"url": "", "has_custom_certificate": False, "pending_update_count":
                    len(self.pending)}
        if method in HARMLESS:
            if method == "deleteWebhook" and _bool(params.get("drop_pending_updates")):
                self.pending.clear()
            return True
        if method == "answerCallbackQuery":
            if str(params.get("callback_query_id")) not in self._queries:
                raise ApiError(400, "Bad Request: query is too old and response timeout "
                                    "expired or query ID is invalid")
            return True
        if method in SENDS or method in EDITS:
            self._rate_limit()
            if method == "sendMediaGroup":
                return self._send_media_group(params)
            if method in EDITS:
                return self._edit(method, params)
            return self._send(method, params)
        raise ApiError(404, "Not Found")

    # -- updates ---------------------------------------------------------------------------

    def _push(self, update: dict) -> int:
        update_id = next(self._update_ids)
        self.pending.append({"update_id": update_id, **update})
        self.pushed_at[update_id] = time.monotonic()
        self._arrived.set()
        self._arrived = asyncio.Event()
        return update_id

    def _confirm(self, offset: int | None) -> None:
        if not offset:
            return
        if offset < 0:
            gone, self.pending = self.pending[:offset], self.pending[offset:]
        else:
            gone = [u for u in self.pending if u["update_id"] < offset]
            self.pending = [u for u in self.pending if u["update_id"] >= offset]
        now = time.monotonic()
        for update in gone:
            self.confirmed_at.setdefault(update["update_id"], now)
        if self.replay_updates:  # each update twice in all: once more if handed out once
            fresh = [u for u in gone if u["update_id"] not in self._replayed
                     and self.handouts[u["update_id"]] == 1]
            self._replayed.update(u["update_id"] for u in fresh)
            self._replay += fresh

    def _batch(self, limit: int) -> list[dict]:
        if self._allowed:  # Telegram does not keep updates of types the bot did not ask for
            self.pending = [u for u in self.pending if set(u) - {"update_id"} <= self._allowed]
        batch = list(self.pending[:limit])
        for again in self._replay:
            batch.insert(self.random.randint(0, len(batch)), again)
        self._replay = []
        now = time.monotonic()
        for update in batch:
            self.handed_at.setdefault(update["update_id"], now)
            self.handouts[update["update_id"]] += 1
        return batch

    async def _get_updates(self, params: dict) -> list[dict]:
        self.polls += 1
        self._poll_generation += 1
        generation = self._poll_generation
        self._arrived.set()  # an older long poll still waiting ends with 409
        self._arrived = asyncio.Event()
        allowed = _json(params.get("allowed_updates"))
        if isinstance(allowed, list):
            self._allowed = set(allowed) or None
        self._confirm(_int(params.get("offset")))
        limit = min(100, max(1, _int(params.get("limit")) or 100))
        deadline = time.monotonic() + float(params.get("timeout") or 0)
        while True:
            arrived = self._arrived
            batch = self._batch(limit)
            left = deadline - time.monotonic()
            if batch or left <= 0:
                return batch
            try:
                await asyncio.wait_for(arrived.wait(), left)
            except TimeoutError:
                pass
            if generation != self._poll_generation and not self.shared_polls:
                raise ApiError(409, "Conflict: terminated by other getUpdates request; make "
                                    "sure that only one bot instance is running")

    # -- sends -----------------------------------------------------------------------------

    def _rate_limit(self) -> None:
        now = time.monotonic()
        while self._accepted and self._accepted[0] <= now - 1:
            self._accepted.popleft()
        if len(self._accepted) >= self.per_second:
            raise ApiError(429, "Too Many Requests: retry after 1", retry_after=1)
        self._accepted.append(now)

    def _chat(self, params: dict) -> Chat:
        chat = self.chats.get(_int(params.get("chat_id")) or 0)
        if chat is None:
            raise ApiError(400, "Bad Request: chat not found")
        return chat

    def _formatted(self, params: dict, key: str, limit: int) -> tuple[str, str, list[dict]]:
        raw = str(params.get(key) or "")
        if str(params.get("parse_mode") or "").upper() == "HTML":
            try:
                text, entities = parse_html(raw)
            except ParseError as exc:
                raise ApiError(400, f"Bad Request: can't parse entities: {exc}") from None
        else:
            text, entities = _trim(raw, [])
        if len(text) > limit:
            raise ApiError(400, "Bad Request: message is too long" if key == "text"
                           else "Bad Request: message caption is too long")
        return raw, text, entities

    def _keyboard(self, params: dict) -> list[list[dict]]:
        markup = _json(params.get("reply_markup")) or {}
        rows = markup.get("inline_keyboard", []) if isinstance(markup, dict) else []
        for row in rows:
            for button in row:
                if not str(button.get("text", "")).strip(BLANK):
                    raise ApiError(400, "Bad Request: text buttons are unallowed in the inline "
                                        "keyboard")
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode()) <= DATA_LIMIT:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        return rows

    def _store(self, chat: Chat, message: BotMessage) -> None:
        chat.messages[message.message_id] = message
        self._changed(chat)

    def _changed(self, chat: Chat) -> None:
        chat.version += 1
        chat.changed.set()
        chat.changed = asyncio.Event()
        self._anything.set()
        self._anything = asyncio.Event()

    def _send(self, method: str, params: dict) -> dict:
        chat = self._chat(params)
        media = None
        if method == "sendMessage":
            if not str(params.get("text") or "").strip(BLANK):
                raise ApiError(400, "Bad Request: message text is empty")
            raw, text, entities = self._formatted(params, "text", TEXT_LIMIT)
            if not text:
                raise ApiError(400, "Bad Request: message text is empty")
        else:
            raw, text, entities = self._formatted(params, "caption", CAPTION_LIMIT)
            kind = "photo" if method == "sendPhoto" else "document"
            media = {"kind": kind, "file": _file_ref(params, kind)}
        message = BotMessage(_int(params["chat_id"]), next(chat.ids), method, raw, text,
                             entities, self._keyboard(params), time.monotonic(), media=media)
        self._store(chat, message)
        return self.message_json(chat, message)

    def _send_media_group(self, params: dict) -> list[dict]:
        chat = self._chat(params)
        media = _json(params.get("media"))
        if not isinstance(media, list) or not 2 <= len(media) <= 10:
            raise ApiError(400, "Bad Request: wrong number of media in the group")
        sent = []
        for item in media:
            caption = {"caption": item.get("caption"), "parse_mode": item.get("parse_mode")}
            raw, text, entities = self._formatted(caption, "caption", CAPTION_LIMIT)
            message = BotMessage(_int(params["chat_id"]), next(chat.ids), "sendMediaGroup", raw,
                                 text, entities, [], time.monotonic(),
                                 media={"kind": item.get("type"), "file": item.get("media")})
            self._store(chat, message)
            sent.append(self.message_json(chat, message))
        return sent

    def _edit(self, method: str, params: dict) -> dict:
        chat = self._chat(params)
        message = chat.messages.get(_int(params.get("message_id")) or 0)
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        buttons = self._keyboard(params)
        if method == "editMessageText":
            if message.media is not None:
                raise ApiError(400, "Bad Request: there is no text in the message to edit")
            raw, text, entities = self._formatted(params, "text", TEXT_LIMIT)
            if not text:
                raise ApiError(400, "Bad Request: message text is empty")
        elif method == "editMessageCaption":
            raw, text, entities = self._formatted(params, "caption", CAPTION_LIMIT)
        else:
            raw, text, entities = message.html, message.text, message.entities
        if (text, entities, buttons) == (message.text, message.entities, message.buttons):
            raise ApiError(400, "Bad Request: message is not modified: specified new message "
                                "content and reply markup are exactly the same as a current "
                                "content and reply markup of the message")
        message.html, message.text, message.entities, message.buttons = raw, text, entities, \
            buttons
        message.edited_at = time.monotonic()
        self._changed(chat)
        return self.message_json(chat, message)

    def message_json(self, chat: Chat, message: BotMessage) -> dict:
        data: dict = {"message_id": message.message_id, "date": int(time.time()),
                      "from": BOT_USER, "chat": {"id": message.chat_id, "type": "private",
                                                 "first_name": chat.user["first_name"]}}
        text_key = "text" if message.media is None else "caption"
        if message.text or message.media is None:
            data[text_key] = message.text
        if message.entities:
            data["entities" if message.media is None else "caption_entities"] = message.entities
        if message.media is not None and message.media["kind"] == "photo":
            data["photo"] = [{"file_id": str(message.media["file"]), "file_unique_id": "p",
                              "width": 800, "height": 600}]
        elif message.media is not None:
            data["document"] = {"file_id": str(message.media["file"]), "file_unique_id": "d"}
        if message.buttons:
            data["reply_markup"] = {"inline_keyboard": message.buttons}
        if message.edited_at is not None:
            data["edit_date"] = int(time.time())
        return data

    # -- the people's side -----------------------------------------------------------------

    def add_user(self, user_id: int, first_name: str, language: str = "en") -> None:
        self.chats.setdefault(user_id, Chat({"id": user_id, "is_bot": False,
                                             "first_name": first_name,
                                             "language_code": language}))

    def user_says(self, user_id: int, text: str) -> int:
        """A person types a message; returns the update's id."""
        chat = self.chats[user_id]
        message = {"message_id": next(chat.ids), "date": int(time.time()), "from": chat.user,
                   "chat": {"id": user_id, "type": "private",
                            "first_name": chat.user["first_name"]}, "text": text}
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0,
                                    "length": len(text.split()[0])}]
        return self._push({"message": message})

    def user_presses(self, user_id: int, message: BotMessage, data: str) -> int:
        """A person taps an inline button; the update carries the message as it is now."""
        chat = self.chats[user_id]
        query_id = f"{user_id}-{next(self._query_ids)}"
        self._queries.add(query_id)
        return self._push({"callback_query": {
            "id": query_id, "from": chat.user, "chat_instance": f"ci{user_id}", "data": data,
            "message": self.message_json(chat, message)}})

    def messages(self, chat_id: int) -> list[BotMessage]:
        """The bot's messages in a chat, oldest first, as they look now."""
        return sorted(self.chats[chat_id].messages.values(), key=lambda m: m.message_id)

    async def wait_change(self, chat_id: int, version: int, within: float) -> bool:
        """Wait until the chat changes after `version`; False on timeout."""
        chat = self.chats[chat_id]
        if chat.version != version:
            return True
        try:
            await asyncio.wait_for(chat.changed.wait(), within)
        except TimeoutError:
            return False
        return True

    async def wait_any(self, within: float) -> None:
        """Wait until the bot sends or edits something anywhere, at most `within` seconds."""
        try:
            await asyncio.wait_for(self._anything.wait(), within)
        except TimeoutError:
            pass

    def sent(self, chat_id: int | None = None) -> list[Call]:
        """Accepted sends (not edits), to one chat if given."""
        return [c for c in self.calls if c.method in SENDS and c.status == 200
                and (chat_id is None or c.chat_id == chat_id)]

    def refused(self, status: int) -> list[Call]:
        return [c for c in self.calls if c.status == status]


def _params(request) -> dict:
    """Parameters as the Bot API reads them: JSON, form-encoded or multipart (files by name)."""
    if request.headers.get("Content-Type", "").startswith("application/json"):
        params = json.loads(request.body or b"{}")
    else:
        params = {k: v[-1].decode() for k, v in request.query_arguments.items()}
        params.update({k: v[-1].decode() for k, v in request.body_arguments.items()})
        for name, files in request.files.items():
            params.setdefault(name, files[0])
        params["_files"] = {name: files[0] for name, files in request.files.items()}
    return params


def _file_ref(params: dict, kind: str) -> str:
    value = params.get(kind)
    if isinstance(value, str) and value.startswith("attach://"):
        value = params.get("_files", {}).get(value[len("attach://"):])
    if value is None:
        raise ApiError(400, f"Bad Request: there is no {kind} in the request")
    if isinstance(value, str):
        return value
    return f"upload:{value.get('filename', kind)}:{len(value.get('body', b''))}"


def _json(value: object) -> object:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _int(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _bool(value: object) -> bool:
    return value in (True, "true", "True", "1", 1)


def _labels(markup: object) -> list[str]:
    markup = _json(markup)
    if not isinstance(markup, dict):
        return []
    return [str(b.get("text")) for row in markup.get("inline_keyboard", []) for b in row]
