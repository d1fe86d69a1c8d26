"""The Telegram channel: python-telegram-bot in, outbox payloads out. The only module that
imports `telegram`."""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.ext import Application, ContextTypes, TypeHandler
from telegram.request import BaseRequest

from bot.delivery import ChannelLimits, RejectedError, TransientSendError, UnreachableError
from bot.runtime import Runtime
from bot.settings import Settings
from handlers.types import Attachment, Inbound

# Opt in to PTB's coming behaviour (durations as timedelta) instead of its deprecation warning.
os.environ.setdefault("PTB_TIMEDELTA", "1")

log = logging.getLogger(__name__)
CHANNEL = "telegram"


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
                       pressed_label=label)
    message = update.message
    if message is None:
        return None
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


def _keyboard(choices: list[list[str]]) -> InlineKeyboardMarkup | None:
    if not choices:
        return None
    buttons = [InlineKeyboardButton(label, callback_data=cid) for cid, label in choices]
    # Short labels sit two to a row; long ones get a row each so they are not cut off.
    per_row = 2 if all(len(b.text) <= 18 for b in buttons) else 1
    return InlineKeyboardMarkup([buttons[i:i + per_row] for i in range(0, len(buttons), per_row)])


class TelegramSender:
    """Turns outbox payloads into Bot API calls and platform errors into delivery outcomes."""

    channel = CHANNEL

    def __init__(self, bot, limits: ChannelLimits | None = None):
        self.bot = bot
        self.limits = limits or ChannelLimits()

    def is_group(self, chat_id: str) -> bool:
        return chat_id.startswith("-")

    async def send(self, chat_id: str, payload: dict) -> str | None:
        try:
            return await self._send(chat_id, payload)
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

    async def _send(self, chat_id: str, payload: dict) -> str | None:
        markup = _keyboard(payload.get("choices", []))
        attachment = payload.get("attachment")
        if attachment:
            source = attachment["file_id"]
            if attachment.get("path"):  # a file we made: upload it
                data = await asyncio.to_thread(Path(attachment["path"]).read_bytes)
                source = InputFile(data,
                                   filename=attachment.get("name") or Path(attachment["path"]).name)
            if attachment["kind"] == "photo":
                message = await self.bot.send_photo(chat_id, source, caption=payload.get("text"),
                                                    parse_mode=ParseMode.HTML)
            else:
                message = await self.bot.send_document(chat_id, source,
                                                       caption=payload.get("text"),
                                                       parse_mode=ParseMode.HTML)
            return str(message.message_id)
        if payload.get("edit"):
            await self.bot.edit_message_text(payload["text"], chat_id=chat_id,
                                             message_id=int(payload["edit"]),
                                             parse_mode=ParseMode.HTML, reply_markup=markup)
            return payload["edit"]
        message = await self.bot.send_message(chat_id, payload["text"], parse_mode=ParseMode.HTML,
                                              reply_markup=markup,
                                              link_preview_options=None)
        return str(message.message_id)


def build_application(settings: Settings, runtime: Runtime,
                      request: BaseRequest | None = None, also=None) -> Application:
    """The python-telegram-bot Application wired to our runtime (no ConversationHandler, no
    persistence: conversation state lives in our database)."""
    token = settings.telegram_bot_token.get_secret_value() if settings.telegram_bot_token else ""
    builder = Application.builder().token(token).base_url(settings.telegram_base_url)
    if request is not None:
        builder = builder.request(request).get_updates_request(request)

    async def on_init(app: Application) -> None:
        senders = [TelegramSender(app.bot)] + ([also.sender] if also else [])
        await runtime.start(senders, bot_username=app.bot.username)
        if also is not None:  # Zalo in the same process, on the same database
            await also.start()

    async def on_shutdown(_app: Application) -> None:
        if also is not None:
            await also.stop()
        await runtime.stop()

    app = builder.post_init(on_init).post_shutdown(on_shutdown).build()

    async def on_update(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.callback_query is not None:
            try:
                await update.callback_query.answer()  # stop the button's spinning clock at once
            except (BadRequest, NetworkError) as exc:
                log.info("could not answer callback of update %s: %s", update.update_id, exc)
        event = to_inbound(update)
        if event is not None:
            await runtime.handle(event)

    app.add_handler(TypeHandler(Update, on_update))
    return app


def run_telegram(settings: Settings, runtime: Runtime, also=None) -> None:
    """Run the bot on Telegram until interrupted: long polling, or a webhook when configured
    (`also`: another channel started and stopped with it)."""
    app = build_application(settings, runtime, also=also)
    allowed = ["message", "callback_query"]
    if settings.webhook_url:
        secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
        app.run_webhook(listen=settings.webhook_listen, port=settings.webhook_port,
                        url_path=urlparse(settings.webhook_url).path.lstrip("/"),
                        webhook_url=settings.webhook_url, secret_token=secret,
                        allowed_updates=allowed)
    else:
        app.run_polling(allowed_updates=allowed)
