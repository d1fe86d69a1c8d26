"""Logging setup: readable lines for a terminal, or one JSON object per line (LOG_FORMAT=json)
for a log collector. Each line carries the update being handled: its channel, update id and a
request id that follows it from the handler through the outbox to the send.

What is logged is ids and outcomes only: never tokens, secrets, invite codes or message texts."""

from __future__ import annotations

import contextvars
import itertools
import json
import logging
import os
from datetime import UTC, datetime

# httpx logs every request's URL at INFO, and the Bot API's URLs (Telegram's, Zalo's) contain
# the token: kept at WARNING from the moment a channel can send, whether or not setup() runs.
logging.getLogger("httpx").setLevel(logging.WARNING)

# (request id, channel, update id) of the update this code is working for, if any.
CURRENT: contextvars.ContextVar[tuple[str, str, str] | None] = contextvars.ContextVar(
    "baocao_request", default=None)


# Request ids: this process's random prefix, then a count. Unique across processes and
# restarts as random ids are, without a call for randomness on each update.
_PROCESS = os.urandom(4).hex()
_COUNT = itertools.count(1)


def new_request(channel: str, update_id: str) -> str:
    """Start working for an update: later log lines in this task carry it."""
    request_id = f"{_PROCESS}{next(_COUNT):x}"
    CURRENT.set((request_id, channel, update_id))
    return request_id


def resume(request_id: str | None, channel: str) -> None:
    """Continue a request elsewhere (the send of an outbox row written for it)."""
    CURRENT.set((request_id, channel, "") if request_id else None)


def request_id() -> str | None:
    current = CURRENT.get()
    return current[0] if current else None


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        current = CURRENT.get()
        record.request_id, record.channel, record.update_id = current or ("", "", "")
        record.context = f" [{' '.join(p for p in current if p)}]" if current else ""
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(
                     timespec="milliseconds"),
                 "level": record.levelname, "logger": record.name,
                 "message": record.getMessage()}
        for key in ("request_id", "channel", "update_id"):
            value = getattr(record, key, "")
            if value:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup(level: str, fmt: str = "text", stream=None) -> None:
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s%(context)s: %(message)s"))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    # aiosqlite logs every statement with its parameters (names, answers) and python-telegram-
    # bot every call with its message text, at DEBUG: those stay at INFO whatever LOG_LEVEL
    # says. (httpx: see above.)
    for name in ("aiosqlite", "telegram"):
        logging.getLogger(name).setLevel(max(logging.INFO, logging.getLevelName(level)))
