"""Secrets never reach a log or an error message: the bot tokens, the webhook secrets, invite
or link codes and the web desk's sign-in codes are replaced by "[redacted]" in every log record,
whoever logs it.

Installed at startup (`install`): it wraps the log record factory, so it applies to every record
of every logger and handler, including handlers added later. The DEBUG records of the libraries
that log request parameters or SQL arguments (message texts, the webhook secret) are withheld:
what they would show cannot be told from a secret by its shape. (Their levels are left alone:
lowering one would make records nobody asked for, at a cost on every request.)
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from pydantic import SecretStr

MASK = "[redacted]"
# A Bot API token (digits, a colon, the secret part), wherever it appears (URLs included).
_TOKEN = re.compile(r"\d{5,}:[A-Za-z0-9_-]{20,}")
# An invite or link code: 12 characters of storage.units.INVITE_ALPHABET standing alone (after
# "/start ", "start=", in quotes...). A false match only masks a harmless word in a log.
_CODE = re.compile(r"(?<![A-Za-z0-9])[2-9A-HJKMNP-Z]{12}(?![A-Za-z0-9])")
# A web desk sign-in link's code (handlers/signin.py), as a URL carries it: the access log of
# the web server writes the URLs it was asked for.
_LINK_CODE = re.compile(r"(?<=code=)[A-Za-z0-9_-]{16,}")
# Their DEBUG records hold request parameters and SQL arguments: texts, codes, secrets.
CHATTY = ("telegram", "httpx", "httpcore", "aiosqlite", "tornado", "hpack", "urllib3")

_secrets: set[str] = set()
_installed = False


def add_secrets(values: Iterable[str | SecretStr | None]) -> None:
    for value in values:
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if raw and len(raw) >= 4:
            _secrets.add(raw)
            # A token's part after the colon is the secret one; it may show on its own.
            _head, colon, tail = raw.partition(":")
            if colon and len(tail) >= 8:
                _secrets.add(tail)


def redact(text: str) -> str:
    """`text` with every known secret and anything shaped like a token or a code masked."""
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return _LINK_CODE.sub(MASK, _CODE.sub(MASK, _TOKEN.sub(MASK, text)))


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Format the record's message (and its traceback) now, masked; the handlers then print
    the masked text whatever their format."""
    if record.levelno < logging.INFO and record.name.split(".")[0] in CHATTY:
        record.msg, record.args = "(debug output withheld: it may hold texts or secrets)", ()
        record.exc_info = record.exc_text = record.stack_info = None
        return record
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: show it as it is, masked
        message = f"{record.msg} {record.args}"
    record.msg, record.args = redact(message), ()
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    return record


class RedactingFilter(logging.Filter):
    """The same masking as a Filter, for a handler set up outside `install`."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


def install(settings) -> None:
    """Mask the settings' secrets in every log record from now on."""
    global _installed
    add_secrets([settings.telegram_bot_token, settings.webhook_secret, settings.zalo_bot_token,
                 settings.zalo_webhook_secret])
    if _installed:
        return
    _installed = True
    make = logging.getLogRecordFactory()

    def factory(*args, **kwargs) -> logging.LogRecord:
        return redact_record(make(*args, **kwargs))

    logging.setLogRecordFactory(factory)
