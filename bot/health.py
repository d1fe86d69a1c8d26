"""The bot's one web server, in its own event loop, on WEB_LISTEN:WEB_PORT: /healthz (the
process answers), /readyz (it can do its work), /metrics (Prometheus), and the web desk under
/desk/ (bot/web.py)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import tornado.web

from bot import metrics
from storage.db import migrations

log = logging.getLogger(__name__)


def _probe_database(path: Path) -> str | None:
    """What is wrong with the database, or None. On a connection of its own (not the bot's), so
    a database locked by someone else shows here instead of queueing behind the bot's work."""
    try:
        conn = sqlite3.connect(path, timeout=1.0)
    except sqlite3.Error as exc:
        return f"database: {exc}"
    try:
        conn.execute("BEGIN IMMEDIATE")  # fails while another connection holds the write lock
        conn.execute("ROLLBACK")
        row = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
    except sqlite3.Error as exc:
        return f"database: {exc}"
    finally:
        conn.close()
    latest = migrations()[-1][0]
    if (row[0] or 0) != latest:
        return f"database: schema version {row[0]}, this program needs {latest}"
    return None


async def readiness(runtime, now: float | None = None) -> list[str]:
    """Every reason the bot is not ready; empty when it is. `now`: time.monotonic()."""
    now = time.monotonic() if now is None else now
    settings = runtime.settings
    problems = []
    if runtime.db.shared:  # PostgreSQL
        problem = await runtime.db.probe()
    else:
        problem = await asyncio.to_thread(_probe_database, settings.database_path)
    if problem:
        problems.append(problem)
    for channel, last in sorted(runtime.polled.items()):
        if now - last > settings.ready_poll_seconds:
            problems.append(f"{channel}: no poll answered for {now - last:.0f} s")
    for channel, worker in sorted(runtime.workers.items()):
        stuck = worker.stuck_for(now)
        if stuck > settings.ready_send_seconds:
            problems.append(f"{channel}: delivery stuck for {stuck:.0f} s")
    return problems


def health_app(runtime, clock: Callable[[], float] = time.monotonic,
               desk: bool = True) -> tornado.web.Application:
    class Healthz(tornado.web.RequestHandler):
        def get(self) -> None:
            self.write("ok\n")

    class Readyz(tornado.web.RequestHandler):
        async def get(self) -> None:
            problems = await readiness(runtime, clock())
            self.set_status(503 if problems else 200)
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            self.write("\n".join(problems) + "\n" if problems else "ready\n")

    class Metrics(tornado.web.RequestHandler):
        async def get(self) -> None:
            try:
                await asyncio.wait_for(metrics.refresh(runtime), timeout=5.0)
            except Exception as exc:  # the counters are still worth serving
                log.warning("metrics: database figures not read (%s)", type(exc).__name__)
            self.set_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.write(metrics.exposition())

    from bot import web  # the desk's pages import the handlers; the probes need none of it

    return tornado.web.Application([(r"/healthz", Healthz), (r"/readyz", Readyz),
                                    (r"/metrics", Metrics),
                                    *(web.routes(runtime) if desk else [])])


class PortError(Exception):
    """The health server's port cannot be listened on."""


def start(runtime):
    """Listen on the configured address (WEB_PORT=0: no server); returns the server."""
    settings = runtime.settings
    if not settings.web_port:
        return None
    try:
        return health_app(runtime).listen(settings.web_port, address=settings.web_listen,
                                          xheaders=bool(settings.web_public_url))
    except OSError as exc:
        raise PortError(f"WEB_LISTEN/WEB_PORT {settings.web_listen}:"
                        f"{settings.web_port}: {exc.strerror or exc} (choose a free port, "
                        "or WEB_PORT=0 for no web server)") from None
