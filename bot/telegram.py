"""The Telegram channel: python-telegram-bot in, outbox messages out, Telegram's limits. The
only module that imports `telegram`."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import signal
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

import tornado.web
from telegram import (
    Bot,
    InputFile,
    InputMediaDocument,
    InputMediaPhoto,
    MenuButtonWebApp,
    WebAppInfo,
)
from telegram import Message as TelegramMessage
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import Application
from telegram.request import BaseRequest

from bot import health
from bot.delivery import (
    ChannelLimits,
    RejectedError,
    Sender,
    TransientSendError,
    UnreachableError,
)
from bot.runtime import Runtime
from bot.settings import Settings
from handlers.signin import APP_PATH
from handlers.text import esc
from handlers.types import Attachment, Inbound
from locales.i18n import translator
from storage.messages import Edit, Files, Message, Option

# Opt in to PTB's coming behaviour (durations as timedelta) instead of its deprecation warning.
os.environ.setdefault("PTB_TIMEDELTA", "1")

log = logging.getLogger(__name__)
CHANNEL = "telegram"
ALLOWED_UPDATES = ["message", "callback_query"]
# A long poll's read may take this much longer than the poll itself before it is given up.
POLL_READ_MARGIN_SECONDS = 10
# What stops the channel from starting: a wrong token, or Telegram out of reach.
START_ERRORS: tuple[type[Exception], ...] = (InvalidToken, NetworkError)


def to_inbound(update: dict, bot: Bot) -> Inbound | None:
    """The channel-neutral event for an update as Telegram posts it (JSON), or None for updates
    we do not handle. Read from the JSON itself, not through python-telegram-bot's `Update`:
    building its objects cost more than the rest of a receipt (and than a form step's SQL),
    and every update pays it; only a pressed message's text is rendered by python-telegram-bot
    (its entities as HTML)."""
    query = update.get("callback_query")
    message = update.get("message") if query is None else query.get("message")
    if query is None and message is None:
        return None  # an update kind we do not ask for (ALLOWED_UPDATES)
    user = (query or message).get("from")
    chat = message.get("chat") if message is not None else None
    if user is None or chat is None or user.get("is_bot"):
        return None
    name = " ".join(part for part in (user.get("first_name"), user.get("last_name")) if part)
    common = {"channel": CHANNEL, "update_id": str(update["update_id"]),
              "user_id": str(user["id"]), "chat_id": str(chat["id"]),
              "is_group": chat.get("type") in ("group", "supergroup"),
              "language_code": user.get("language_code"), "name": name}
    if query is not None:
        data = query.get("data") or ""
        buttons = (message.get("reply_markup") or {}).get("inline_keyboard") or []
        label = next((button.get("text") for row in buttons for button in row
                      if button.get("callback_data") == data), None)
        # An inaccessible message (date 0: too old for the bot to read) has no text.
        text = (TelegramMessage.de_json(message, bot).text_html
                if message.get("date") and message.get("text") is not None else None)
        return Inbound(**common, choice=data, pressed_message_id=str(message["message_id"]),
                       pressed_message_text=text, pressed_label=label, ack=str(query["id"]))
    common["message_id"] = message["message_id"]
    if message.get("reply_to_message") is not None:
        common["reply_to"] = message["reply_to_message"]["message_id"]
    if message.get("text") is not None:
        return Inbound(**common, text=message["text"])
    if message.get("photo"):
        return Inbound(**common, attachment=Attachment("photo", message["photo"][-1]["file_id"]))
    document = message.get("document")
    if document is not None:
        return Inbound(**common, attachment=Attachment("document", document["file_id"],
                                                       document.get("file_name")))
    if (message.get("new_chat_members") or message.get("left_chat_member")
            or message.get("group_chat_created")):
        return None  # service messages in groups
    return Inbound(**common, unsupported=True)


# Telegram's longest message and longest caption (a file's text).
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
# Telegram's pace (its Bots FAQ): about 30 messages a second in all, 1 a second in a chat (a few
# at once are let through), 20 a minute in a group.
LIMITS = ChannelLimits(per_second=29.7, chat_per_second=1.0, chat_burst=3,
                       group_per_minute=20.0, group_burst=3, max_text=TEXT_LIMIT,
                       max_caption=CAPTION_LIMIT)
# Telegram's albums hold 2 to 10 items, photos with photos and documents with documents.
ALBUM_SIZE = 10
HTML = ParseMode.HTML.value


# A button a row wide shows about this many characters on a phone; past it, the app cuts the
# label itself, mid-word.
BUTTON_WIDTH = 40
# A list with a label past that width is one of descriptions (a form's questions), not of names:
# its buttons carry their first words, up to this many characters, and the text says each in full.
BUTTON_CUT = 30


def _fit_button(label: str) -> str:
    if len(label) <= BUTTON_CUT:
        return label
    cut = label[:BUTTON_CUT - 1]
    cut = cut[:cut.rindex(" ")] if " " in cut else cut
    return cut.rstrip(" ,;") + "…"


def _with_buttons(text: str, choices: tuple[Option, ...]) -> tuple[str, dict[str, object] | None]:
    """A message's text, and its choices as buttons: the engine gives their labels in full (as
    the channels without buttons number them), and long ones are cut here to fit a button, with
    the whole list said under the text (the outbox left room for it: see delivery.compose)."""
    if all(len(label) <= BUTTON_WIDTH for _cid, label in choices):
        return text, _keyboard(choices)
    listed = "\n".join(f"{n}. {esc(label)}" for n, (_cid, label) in enumerate(choices, start=1))
    return f"{text}\n{listed}", _keyboard(tuple((cid, _fit_button(label))
                                                for cid, label in choices))


def _keyboard(choices: tuple[Option, ...]) -> dict[str, object] | None:
    """Inline buttons as the Bot API reads them."""
    if not choices:
        return None
    # "webapp:URL" opens the web desk as a Mini App (handlers.signin); the rest are callbacks.
    buttons = [{"text": label, "web_app": {"url": cid.removeprefix("webapp:")}}
               if cid.startswith("webapp:") else {"text": label, "callback_data": cid}
               for cid, label in choices]
    # Short labels sit two to a row; long ones get a row each so they are not cut off.
    per_row = 2 if all(len(label) <= 18 for _cid, label in choices) else 1
    return {"inline_keyboard": [buttons[i:i + per_row]
                                for i in range(0, len(buttons), per_row)]}


async def _source(attachment: Attachment) -> str | InputFile:
    """A file Telegram holds (its id), or one we made (uploaded)."""
    if not attachment.path:
        return attachment.file_id
    data = await asyncio.to_thread(Path(attachment.path).read_bytes)
    return InputFile(data, filename=attachment.name or Path(attachment.path).name)


def _message_id(result: object) -> str | None:
    """The id in a Bot API answer: a message, the last of an album, or True for an edit."""
    if isinstance(result, list):
        result = result[-1] if result else None
    return str(result["message_id"]) if isinstance(result, dict) else None


class TelegramSender:
    """Turns outbox messages into Bot API calls and platform errors into delivery outcomes.

    The calls go through python-telegram-bot's request layer (its HTTP client, its timeouts,
    its errors: RetryAfter, Forbidden...) without the Bot methods that build a full Message
    object from every answer: only the message id is read from it."""

    channel = CHANNEL

    def __init__(self, bot: Bot, limits: ChannelLimits | None = None):
        self.bot = bot
        # The pace may be tuned (tests run faster); the sizes are Telegram's.
        self.limits = replace(limits or LIMITS, max_text=TEXT_LIMIT, max_caption=CAPTION_LIMIT)

    async def fetch(self, file_id: str) -> bytes:
        """A file people sent (evidence), for the web desk to show."""
        found = await self.bot.get_file(file_id)
        return bytes(await found.download_as_bytearray())

    def is_group(self, chat_id: str) -> bool:
        return chat_id.startswith("-")

    async def send(self, chat_id: str, message: Message) -> str | None:
        try:
            return await self._send(chat_id, message)
        except RetryAfter as exc:
            after = exc.retry_after
            seconds = after.total_seconds() if isinstance(after, timedelta) else float(after)
            raise TransientSendError(str(exc), retry_after=seconds) from exc
        except Forbidden as exc:
            raise UnreachableError(str(exc)) from exc
        except BadRequest as exc:
            text = str(exc).lower()
            if "chat not found" in text or "user is deactivated" in text:
                raise UnreachableError(str(exc)) from exc
            if "message is not modified" in text:
                return None
            raise RejectedError(str(exc)) from exc
        except (TimedOut, NetworkError) as exc:
            raise TransientSendError(str(exc)) from exc

    async def _call(self, method: str, **params: object) -> object:
        # Bot._post: the request layer every Bot method uses (None values dropped, defaults
        # and errors as PTB has them), returning the answer's JSON as it is.
        return await self.bot._post(method, params)

    async def _send(self, chat_id: str, message: Message) -> str | None:
        if isinstance(message, Files):
            if len(message.files) > 1:
                return await self._send_album(chat_id, message.files)
            return _message_id(await self._send_file(chat_id, message.files[0],
                                                     message.caption or None))
        text, keyboard = _with_buttons(message.text, message.choices)
        if isinstance(message, Edit):
            await self._call("editMessageText", chat_id=chat_id,
                             message_id=int(message.message_id), text=text, parse_mode=HTML,
                             reply_markup=keyboard)
            return message.message_id
        return _message_id(await self._call("sendMessage", chat_id=chat_id, text=text,
                                            parse_mode=HTML, reply_markup=keyboard))

    async def _send_file(self, chat_id: str, file: Attachment, caption: str | None) -> object:
        method, field = ("sendPhoto", "photo") if file.kind == "photo" else (
            "sendDocument", "document")
        return await self._call(method, chat_id=chat_id, caption=caption,
                                parse_mode=HTML if caption else None,
                                **{field: await _source(file)})

    async def _send_album(self, chat_id: str, files: tuple[Attachment, ...]) -> str | None:
        """Several files as few messages as Telegram allows: albums of up to ten, by kind."""
        last = None
        kinds = (("photo", InputMediaPhoto), ("document", InputMediaDocument))
        for kind, media_type in kinds:
            same = [f for f in files if f.kind == kind]
            for start in range(0, len(same), ALBUM_SIZE):
                chunk = same[start:start + ALBUM_SIZE]
                if len(chunk) == 1:
                    last = _message_id(await self._send_file(chat_id, chunk[0], None))
                    continue
                last = _message_id(await self._call(
                    "sendMediaGroup", chat_id=chat_id,
                    media=[media_type(await _source(f)) for f in chunk]))
        return last


def build_application(settings: Settings, request: BaseRequest | None = None) -> Application:
    """The python-telegram-bot Application: its Bot and request layer only. No handlers, no
    ConversationHandler, no persistence (conversation state lives in our database) and no
    Updater: updates come from our own fetch loop or webhook (receive()), which confirm them
    only once they are in the inbox."""
    token = settings.telegram_bot_token.get_secret_value() if settings.telegram_bot_token else ""
    builder = Application.builder().token(token).base_url(settings.telegram_base_url).updater(None)
    if request is not None:
        builder = builder.request(request).get_updates_request(request)
    return builder.build()


async def receive(app: Application, runtime: Runtime, updates: list[dict]) -> None:
    """Hand updates as Telegram posts them (the fetch loop's, the webhook's) to the runtime,
    which commits them to the inbox before this returns. An update that cannot be read is
    left out with a warning: asking Telegram for it again would bring the same bytes."""
    events = []
    for update in updates:
        try:
            event = to_inbound(update, app.bot)
        except (AttributeError, LookupError, TypeError, ValueError):
            log.warning("an update that could not be read was ignored")
            continue
        if event is not None:
            events.append(event)
    await runtime.receive(events)


async def start_channel(app: Application, runtime: Runtime, others: list[Sender] | None = None,
                        limits: ChannelLimits | None = None, background: bool = True) -> None:
    """Initialise the bot (getMe) and start the runtime with Telegram's sender (and `others`,
    the senders of other channels on the same database)."""
    await app.initialize()
    runtime.acknowledgers[CHANNEL] = lambda query_id: app.bot.answer_callback_query(query_id)
    await runtime.start([TelegramSender(app.bot, limits), *(others or [])],
                        bot_username=app.bot.username, background=background)


async def fetch_updates(app: Application, runtime: Runtime, stop: asyncio.Event,
                        poll_seconds: int = 30) -> None:
    """Long polling that loses nothing: Telegram keeps an update until a getUpdates asks for an
    offset above it, and that offset is asked for only once the update is committed to our
    inbox. A crash at any moment leaves the update with Telegram or in the inbox."""
    offset: int | None = None
    failures = 0
    while not stop.is_set():
        # Let other tasks run: against a Bot API that answers at once (tests), nothing in this
        # loop would wait (receive() commits without a thread hop).
        await asyncio.sleep(0)
        try:
            # Bot._post, as the sender's calls: the updates as JSON, not python-telegram-bot's
            # objects (see to_inbound); the read waits out the long poll.
            updates = await app.bot._post(
                "getUpdates", {"offset": offset, "timeout": poll_seconds,
                               "allowed_updates": ALLOWED_UPDATES},
                read_timeout=poll_seconds + POLL_READ_MARGIN_SECONDS)
            runtime.alive(CHANNEL)
            await receive(app, runtime, updates)
            if updates:
                offset = updates[-1]["update_id"] + 1
        except (InvalidToken, Forbidden):
            raise
        except Exception as exc:  # the network, Telegram or the database: try again shortly
            failures += 1
            log.warning("getUpdates failed (%s); retrying", type(exc).__name__)
            await asyncio.sleep(min(30.0, 0.5 * 2 ** min(failures, 6)))
            continue
        failures = 0


def webhook_app(app: Application, runtime: Runtime, path: str,
                secret: str) -> tornado.web.Application:
    """Telegram's webhook: the secret header is checked first, and the 200 that tells Telegram
    the update was received is sent only once the update is committed to the inbox."""

    class Webhook(tornado.web.RequestHandler):
        async def post(self) -> None:
            given = self.request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
            if not hmac.compare_digest(given.encode(), secret.encode()):
                self.set_status(403)
                return
            try:
                update = json.loads(self.request.body)
            except ValueError:  # well signed but unreadable: nothing to retry
                update = None
            if not isinstance(update, dict):
                log.warning("webhook: an update that could not be read was ignored")
                return
            await receive(app, runtime, [update])  # an error here answers 500: Telegram retries

    return tornado.web.Application([(f"/{path.strip('/')}", Webhook)])


async def serve(settings: Settings, runtime: Runtime, also=None,
                request: BaseRequest | None = None, stop: asyncio.Event | None = None) -> None:
    """Run the bot on Telegram until SIGINT or SIGTERM (or `stop`): long polling, or a webhook
    when configured (`also`: another channel started and stopped with it)."""
    app = build_application(settings, request)
    await start_channel(app, runtime, [also.sender] if also else None)
    if also is not None:
        await also.start()
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    server = None
    fetching: asyncio.Task | None = None
    ops_server = None
    try:
        ops_server = health.start(runtime)
        await _menu_button(app, settings)
        if settings.webhook_url:
            secret = settings.webhook_secret.get_secret_value()  # checked by the settings
            server = webhook_app(app, runtime, urlparse(settings.webhook_url).path, secret
                                 ).listen(settings.webhook_port, address=settings.webhook_listen)
            await app.bot.set_webhook(settings.webhook_url, secret_token=secret,
                                      allowed_updates=ALLOWED_UPDATES)
        else:
            await app.bot.delete_webhook()
            runtime.alive(CHANNEL)  # polling from now: /readyz watches it
            fetching = asyncio.create_task(fetch_updates(app, runtime, stop))
        waiting = asyncio.create_task(stop.wait())
        done, _pending = await asyncio.wait({waiting, *([fetching] if fetching else [])},
                                            return_when=asyncio.FIRST_COMPLETED)
        if fetching in done:
            fetching.result()  # a wrong token: raise it
    finally:
        if fetching is not None:
            fetching.cancel()
            await asyncio.gather(fetching, return_exceptions=True)
        if server is not None:
            server.stop()
        if ops_server is not None:
            ops_server.stop()
        if also is not None:
            await also.stop()
        await runtime.stop()
        await app.shutdown()


async def _menu_button(app: Application, settings: Settings) -> None:
    """The bot's menu button opens the web desk as a Mini App (Telegram requires https)."""
    if not (settings.web_port and settings.web_url.startswith("https://")):
        return
    t = translator(settings.default_locale, settings.zone)
    try:
        await app.bot.set_chat_menu_button(menu_button=MenuButtonWebApp(
            t._("Web desk"), WebAppInfo(f"{settings.web_url}{APP_PATH}")))
    except TelegramError as exc:  # the chats work without it
        log.warning("the web desk's menu button was not set (%s)", type(exc).__name__)


def run_telegram(settings: Settings, runtime: Runtime, also=None) -> None:
    asyncio.run(serve(settings, runtime, also))
