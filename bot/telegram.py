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
    Update,
    WebAppInfo,
)
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
from telegram.ext import Application, ContextTypes, TypeHandler
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
from handlers.types import Attachment, Inbound
from locales.i18n import translator
from storage.messages import Edit, Files, Message, Option

# Opt in to PTB's coming behaviour (durations as timedelta) instead of its deprecation warning.
os.environ.setdefault("PTB_TIMEDELTA", "1")

log = logging.getLogger(__name__)
CHANNEL = "telegram"
ALLOWED_UPDATES = ["message", "callback_query"]
# What stops the channel from starting: a wrong token, or Telegram out of reach.
START_ERRORS: tuple[type[Exception], ...] = (InvalidToken, NetworkError)


def to_inbound(update: Update) -> Inbound | None:
    """The channel-neutral event for a Telegram update, or None for updates we do not handle."""
    user = update.effective_user
    chat = update.effective_chat
    if user is None or chat is None or user.is_bot:
        return None
    common = {"channel": CHANNEL, "update_id": str(update.update_id), "user_id": str(user.id),
              "chat_id": str(chat.id), "is_group": chat.type in ("group", "supergroup"),
              "language_code": user.language_code, "name": user.full_name}
    query = update.callback_query
    if query is not None:
        message = query.message
        label = None
        if message is not None and getattr(message, "reply_markup", None):
            for row in message.reply_markup.inline_keyboard:
                for button in row:
                    if button.callback_data == query.data:
                        label = button.text
        return Inbound(**common, choice=query.data or "",
                       pressed_message_id=str(message.message_id) if message else None,
                       pressed_message_text=getattr(message, "text_html", None),
                       pressed_label=label, ack=query.id)
    message = update.message
    if message is None:
        return None
    common["message_id"] = message.message_id
    if message.reply_to_message is not None:
        common["reply_to"] = message.reply_to_message.message_id
    if message.text is not None:
        return Inbound(**common, text=message.text)
    if message.photo:
        return Inbound(**common, attachment=Attachment("photo", message.photo[-1].file_id))
    if message.document is not None:
        return Inbound(**common, attachment=Attachment("document", message.document.file_id,
                                                       message.document.file_name))
    if message.new_chat_members or message.left_chat_member or message.group_chat_created:
        return None  # service messages in groups
    return Inbound(**common, unsupported=True)


# Telegram's longest message and longest caption (a file's text).
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
# Telegram's albums hold 2 to 10 items, photos with photos and documents with documents.
ALBUM_SIZE = 10
HTML = ParseMode.HTML.value


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
        self.limits = replace(limits or ChannelLimits(), max_text=TEXT_LIMIT,
                              max_caption=CAPTION_LIMIT)

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
        if isinstance(message, Edit):
            await self._call("editMessageText", chat_id=chat_id,
                             message_id=int(message.message_id), text=message.text,
                             parse_mode=HTML, reply_markup=_keyboard(message.choices))
            return message.message_id
        return _message_id(await self._call("sendMessage", chat_id=chat_id, text=message.text,
                                            parse_mode=HTML,
                                            reply_markup=_keyboard(message.choices)))

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


def build_application(settings: Settings, runtime: Runtime,
                      request: BaseRequest | None = None) -> Application:
    """The python-telegram-bot Application wired to our runtime: no ConversationHandler, no
    persistence (conversation state lives in our database) and no Updater: updates come from
    our own fetch loop or webhook, which confirm them only once they are in the inbox."""
    token = settings.telegram_bot_token.get_secret_value() if settings.telegram_bot_token else ""
    builder = Application.builder().token(token).base_url(settings.telegram_base_url).updater(None)
    if request is not None:
        builder = builder.request(request).get_updates_request(request)
    app = builder.build()

    async def on_update(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        event = to_inbound(update)
        if event is not None:
            await runtime.receive([event])

    app.add_handler(TypeHandler(Update, on_update))
    return app


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
            updates = await app.bot.get_updates(offset=offset, timeout=poll_seconds,
                                                allowed_updates=ALLOWED_UPDATES)
            runtime.alive(CHANNEL)
            await runtime.receive([e for e in map(to_inbound, updates) if e is not None])
        except (InvalidToken, Forbidden):
            raise
        except Exception as exc:  # the network, Telegram or the database: try again shortly
            failures += 1
            log.warning("getUpdates failed (%s); retrying", type(exc).__name__)
            await asyncio.sleep(min(30.0, 0.5 * 2 ** min(failures, 6)))
            continue
        failures = 0
        if updates:
            offset = updates[-1].update_id + 1


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
                update = Update.de_json(json.loads(self.request.body), app.bot)
            except Exception:  # well signed but unreadable: nothing to retry
                log.warning("webhook: an update that could not be read was ignored")
                return
            event = to_inbound(update) if update is not None else None
            if event is not None:
                await runtime.receive([event])  # an error here answers 500: Telegram retries

    return tornado.web.Application([(f"/{path.strip('/')}", Webhook)])


async def serve(settings: Settings, runtime: Runtime, also=None,
                request: BaseRequest | None = None, stop: asyncio.Event | None = None) -> None:
    """Run the bot on Telegram until SIGINT or SIGTERM (or `stop`): long polling, or a webhook
    when configured (`also`: another channel started and stopped with it)."""
    app = build_application(settings, runtime, request)
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
