"""The Zalo channel, through the Zalo Bot Platform API (`<base>/bot<TOKEN>/<method>`).

A small httpx client rather than a third-party SDK: the API is a handful of JSON methods, httpx
is already here (python-telegram-bot uses it), and the SDKs on PyPI are young, thin wrappers
around the same calls. Zalo has no buttons, so choices are numbered in the text and answered by
number or by name (the engine accepts both); messages are cut at 2,000 characters.
"""

from __future__ import annotations

import asyncio
import hmac
import html
import logging
import re
from collections.abc import Awaitable, Callable

import httpx
import tornado.web

from bot.delivery import ChannelLimits, RejectedError, TransientSendError, UnreachableError
from handlers.text import numbered
from handlers.types import Attachment, Inbound
from storage.messages import Edit, Files, Message, Option

log = logging.getLogger(__name__)
CHANNEL = "zalo"
# Zalo's longest message. It documents no caption limit; a photo's caption is kept as short
# as Telegram's, longer texts going as a message of their own.
MAX_TEXT = 2000
MAX_CAPTION = 1024
# The largest file the web desk fetches from Zalo (a photo; Telegram's getFile stops at 20 MB).
MAX_DOWNLOAD = 20 * 1024 * 1024
_TAG = re.compile(r"</?(b|i|code)>")


class ZaloApiError(Exception):
    def __init__(self, status: int, code: int | None, description: str):
        super().__init__(f"{status} {code}: {description}")
        self.status, self.code, self.description = status, code, description


class ZaloClient:
    """The few Bot API methods Baocao uses. The token is in the URL, so URLs are never logged."""

    def __init__(self, base_url: str, token: str, http: httpx.AsyncClient | None = None):
        self._url = f"{base_url.rstrip('/')}/bot{token}/"
        self._http = http or httpx.AsyncClient(timeout=httpx.Timeout(40.0, connect=10.0))

    async def call(self, method: str, **params: object) -> object:
        try:
            response = await self._http.post(self._url + method, json=params)
        except httpx.HTTPError as exc:
            raise TransientSendError(f"{method}: {type(exc).__name__}") from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        if response.status_code >= 400 or not body.get("ok", False):
            raise ZaloApiError(response.status_code, body.get("error_code"),
                               str(body.get("description", "")))
        return body.get("result")

    async def download(self, url: str, limit: int = MAX_DOWNLOAD) -> bytes:
        """A file Zalo keeps at `url` (a photo people sent: Zalo gives photos as URLs, not
        ids to look up), at most `limit` bytes."""
        if not url.startswith(("https://", "http://")):
            raise ValueError("not a file address")
        async with self._http.stream("GET", url, follow_redirects=True) as response:
            response.raise_for_status()
            data = bytearray()
            async for chunk in response.aiter_bytes():
                data += chunk
                if len(data) > limit:
                    raise ValueError(f"larger than {limit} bytes")
        return bytes(data)

    async def close(self) -> None:
        await self._http.aclose()


def to_inbound(update: dict) -> Inbound | None:
    """The channel-neutral event for a Zalo update (message events only)."""
    message = update.get("message") or {}
    sender, chat = message.get("from") or {}, message.get("chat") or {}
    if not sender.get("id") or not chat.get("id") or sender.get("is_bot"):
        return None
    common = {"channel": CHANNEL,
              # Zalo updates carry no update id; the message id is unique and redelivered as is.
              "update_id": str(message.get("message_id") or update.get("update_id")),
              "user_id": str(sender["id"]), "chat_id": str(chat["id"]),
              "is_group": str(chat.get("chat_type", "")).upper() == "GROUP",
              "name": sender.get("display_name") or sender.get("name") or ""}
    event = update.get("event_name", "")
    if event == "message.text.received" and message.get("text") is not None:
        return Inbound(**common, text=message["text"])
    if event == "message.image.received" and message.get("photo"):
        return Inbound(**common, attachment=Attachment("photo", message["photo"]))
    return Inbound(**common, unsupported=True)


def render(text: str, choices: tuple[Option, ...] = ()) -> str:
    """Our markup as plain text, with choices numbered."""
    shown = html.unescape(_TAG.sub("", text))
    if choices:
        shown += "\n" + "\n".join(numbered(choices))
    return shown


class ZaloSender:
    """Outbox messages as Zalo calls; Zalo errors as delivery outcomes."""

    channel = CHANNEL

    def __init__(self, client: ZaloClient, per_second: float = 10.0):
        self.client = client
        # Zalo publishes no per-chat pace: one message a second to a person (a few at once let
        # through), as people read. Its bots talk one to one: no group pace applies.
        self.limits = ChannelLimits(per_second=per_second, chat_per_second=1.0, chat_burst=3,
                                    max_text=MAX_TEXT, max_caption=MAX_CAPTION)

    async def fetch(self, file_id: str) -> bytes:
        """A file people sent (evidence), for the web desk to show: its id is its address."""
        return await self.client.download(file_id)

    def is_group(self, chat_id: str) -> bool:
        return False  # Zalo bots talk to people one to one

    async def send(self, chat_id: str, message: Message) -> str | None:
        if isinstance(message, Edit):
            return None  # Zalo cannot edit a sent message; the answer itself follows anyway
        try:
            if isinstance(message, Files):
                result = await self._send_files(chat_id, message)
            else:
                result = await self.client.call("sendMessage", chat_id=chat_id,
                                                text=render(message.text, message.choices))
        except ZaloApiError as exc:
            description = exc.description.lower()
            if exc.status == 429 or "quota" in description:
                raise TransientSendError(str(exc), retry_after=60.0) from None
            if exc.status >= 500:
                raise TransientSendError(str(exc)) from None
            if exc.status == 403 or "block" in description or "not found" in description:
                raise UnreachableError(str(exc)) from None
            raise RejectedError(str(exc)) from None
        return str((result or {}).get("message_id", "")) if isinstance(result, dict) else None

    async def _send_files(self, chat_id: str, message: Files) -> object:
        # Photos Zalo holds (URLs) are sent as photos; other files (a spreadsheet, a chart,
        # Telegram's file ids) only Telegram can carry: they are named, in one list.
        photos = [f for f in message.files if f.kind == "photo" and f.file_id.startswith("http")]
        named = [f for f in message.files if f not in photos]
        result = None
        for index, photo in enumerate(photos):
            caption = render(message.caption) if index == 0 and not named else ""
            result = await self.client.call("sendPhoto", chat_id=chat_id, photo=photo.file_id,
                                            caption=caption)
        if named or not photos:
            text = render(message.caption)
            for file in named:
                text = (text + "\n" if text else "") + f"[{file.name or ''}]"
            result = await self.client.call("sendMessage", chat_id=chat_id, text=text)
        return result


async def poll(client: ZaloClient, receive: Callable[[list[Inbound]], Awaitable[None]],
               stop: asyncio.Event, wait_seconds: int = 30,
               alive: Callable[[], None] = lambda: None) -> None:
    """Long polling until `stop` is set. Zalo's getUpdates has no offset to confirm with: what
    it returns is gone from Zalo, so each batch is committed to the inbox before anything else
    (and before the next poll)."""
    while not stop.is_set():
        # Let other tasks run: against an API that answers at once (tests), nothing in this
        # loop would wait (receive() commits without a thread hop).
        await asyncio.sleep(0)
        try:
            result = await client.call("getUpdates", timeout=wait_seconds)
        except ZaloApiError as exc:
            if 408 in (exc.status, exc.code):
                alive()
                continue  # the long poll ended without updates
            log.warning("zalo getUpdates failed: %s", exc)
            await asyncio.sleep(3)
            continue
        except TransientSendError as exc:
            log.warning("zalo getUpdates failed: %s", exc)
            await asyncio.sleep(3)
            continue
        alive()
        updates = result if isinstance(result, list) else [result] if result else []
        events = []
        for update in updates:
            try:  # one odd update must not stop the channel
                event = to_inbound(update) if isinstance(update, dict) else None
            except Exception:
                log.exception("a zalo update could not be read")
                continue
            if event is not None:
                events.append(event)
        while not stop.is_set():
            try:
                await receive(events)
                break
            except Exception:  # the database: keep the batch and try again, it has no copy
                log.exception("zalo updates could not be stored; retrying")
                await asyncio.sleep(1)


# An update is a small JSON object; anything much larger is not one (tornado's own limit is 100 MB).
WEBHOOK_MAX_BYTES = 256 * 1024


def webhook_app(secret: str, path: str, receive: Callable[[list[Inbound]], Awaitable[None]]
                ) -> tornado.web.Application:
    """A webhook endpoint that checks Zalo's secret header before it reads the body, refuses a
    body larger than an update can be (413), and answers 200 only once the update is committed
    to the inbox. A well-signed update it cannot read is logged and answered 200: Zalo would
    only send it again."""

    @tornado.web.stream_request_body
    class Webhook(tornado.web.RequestHandler):
        def prepare(self) -> None:
            given = self.request.headers.get("X-Bot-Api-Secret-Token", "")
            if not hmac.compare_digest(given.encode(), secret.encode()):
                raise tornado.web.HTTPError(403)
            declared = self.request.headers.get("Content-Length", "0")
            if not declared.isdigit() or int(declared) > WEBHOOK_MAX_BYTES:
                raise tornado.web.HTTPError(413)
            self.request.connection.set_max_body_size(WEBHOOK_MAX_BYTES)
            self._body = bytearray()

        def data_received(self, chunk: bytes) -> None:
            self._body += chunk
            if len(self._body) > WEBHOOK_MAX_BYTES:
                raise tornado.web.HTTPError(413)

        def write_error(self, status_code: int, **kwargs) -> None:
            self.finish()  # a bare status: nothing about us for whoever knocks

        async def post(self) -> None:
            try:
                body = tornado.escape.json_decode(bytes(self._body))
                update = body.get("result", body) if isinstance(body, dict) else {}
                event = to_inbound(update) if isinstance(update, dict) else None
            except Exception as exc:  # well signed but unreadable: nothing to retry
                log.warning("zalo webhook: an update that could not be read was ignored (%s)",
                            type(exc).__name__)
                self.write({"ok": True})
                return
            if event is not None:
                await receive([event])  # an error here answers 500: Zalo sends it again
            self.write({"ok": True})

    return tornado.web.Application([(f"/{path.strip('/')}", Webhook)])
