"""Read a test's database from outside the program, whichever backend the suite runs on."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from storage.db import Database


def query(path: Path | str, sql: str, params: tuple = ()) -> list[tuple]:
    """The rows of `sql` on the database at `path` (SQLite, or its PostgreSQL stand-in when
    the suite runs there), read on a connection of its own, like another program would."""
    return _run(path, sql, params, write=False)


def execute(path: Path | str, sql: str, params: tuple = ()) -> None:
    """`sql` written and committed on the database at `path`, like another program would."""
    _run(path, sql, params, write=True)


def _run(path: Path | str, sql: str, params: tuple, write: bool) -> list[tuple]:
    found: list[tuple] = []
    failed: list[BaseException] = []

    async def read() -> None:
        async with Database(path) as db:
            if write:
                async with db.transaction() as tx:
                    await tx.conn.execute(sql, params)
                return
            async with db.read() as tx:
                found.extend(tuple(r) for r in await tx.conn.execute_fetchall(sql, params))

    def run() -> None:
        try:
            asyncio.run(read())
        except BaseException as exc:  # noqa: BLE001 (raised again in the caller's thread)
            failed.append(exc)

    # A thread of its own, so that async tests (whose loop is running) can call it too.
    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    if failed:
        raise failed[0]
    return found
