"""Scheduled online backups (BACKUP_DIR, BACKUP_EVERY_HOURS, BACKUP_KEEP) and the checks of
`baocao db restore`.

A backup is written under a temporary name and renamed when complete, so the folder never holds
a half-written file under a backup's name; the newest BACKUP_KEEP are kept. A failure is told to
the admins once, and again only after a backup has worked in between."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot import metrics
from handlers.context import Config
from handlers.types import Outgoing, Reply
from storage.db import Database, migrations
from storage.models import Role
from storage.repos import Tx

log = logging.getLogger(__name__)

PREFIX, SUFFIX = "baocao-", ".db"
STAMP = "%Y%m%dT%H%M%SZ"
FAILED_KEY = "backup:failure_reported"
RETRY_AFTER = timedelta(minutes=10)  # after a failure, rather than at every clock tick


def existing(folder: Path) -> list[Path]:
    """The backups in `folder`, oldest first (their names sort by time)."""
    return sorted(p for p in folder.glob(f"{PREFIX}*{SUFFIX}") if _taken(p) is not None)


def _taken(path: Path) -> datetime | None:
    try:
        return datetime.strptime(path.name[len(PREFIX):-len(SUFFIX)], STAMP).replace(tzinfo=UTC)
    except ValueError:
        return None


def is_due(folder: Path, every: timedelta, now: datetime) -> bool:
    found = existing(folder) if folder.is_dir() else []
    return not found or now - _taken(found[-1]) >= every


async def write(db: Database, folder: Path, keep: int, now: datetime) -> Path:
    """One backup now, then the oldest beyond `keep` removed; returns its path."""
    final = folder / f"{PREFIX}{now.astimezone(UTC).strftime(STAMP)}{SUFFIX}"
    partial = final.with_name(final.name + ".partial")
    await asyncio.to_thread(_clear, partial)  # left by a crash during an earlier backup
    try:
        await db.backup(partial)
        await asyncio.to_thread(_keep, partial, final, keep)
    finally:
        await asyncio.to_thread(_clear, partial)
    return final


def _clear(partial: Path) -> None:
    partial.unlink(missing_ok=True)


def _keep(partial: Path, final: Path, keep: int) -> None:
    os.replace(partial, final)
    for old in existing(final.parent)[:-keep]:
        old.unlink()


async def failure_messages(tx: Tx, config: Config, folder: Path) -> list[Outgoing]:
    """What admins are told the first time backups fail (nothing if already told)."""
    if await tx.meta.get(FAILED_KEY):
        return []
    await tx.meta.set(FAILED_KEY, "1")
    out = []
    for contact, identity in await tx.contacts.reachable_identities(roles=[Role.ADMIN]):
        t = config.translator(contact.language)
        text = t._("⚠️ The scheduled database backup to {folder} failed. It is tried again "
                   "automatically; the bot's log has the details. You will hear again only "
                   "if it fails again after working.").format(folder=folder)
        out.append(Outgoing(identity.channel, identity.chat_id, Reply(text), contact.id))
    return out


class Scheduler:
    """Called at each clock tick; writes a backup when one is due."""

    def __init__(self, folder: Path | None, every_hours: float, keep: int):
        self.folder, self.keep = folder, keep
        self.every = timedelta(hours=every_hours)
        self.failed_at: datetime | None = None

    async def tick(self, runtime, now: datetime) -> None:
        # PostgreSQL is backed up by the operator's pg_dump (README), not by the bot.
        if self.folder is None or runtime.db.shared or not is_due(self.folder, self.every, now):
            return
        if self.failed_at is not None and now - self.failed_at < RETRY_AFTER:
            return
        try:
            path = await write(runtime.db, self.folder, self.keep, now)
        except Exception as exc:
            self.failed_at = now
            metrics.BACKUPS.labels("failed").inc()
            log.error("scheduled backup to %s failed: %s", self.folder, exc)
            async with runtime.db.transaction() as tx:
                await runtime.write(tx, await failure_messages(tx, runtime.config, self.folder),
                                    now)
            return
        self.failed_at = None
        metrics.BACKUPS.labels("written").inc()
        log.info("backup written: %s", path.name)
        async with runtime.db.transaction() as tx:
            if await tx.meta.get(FAILED_KEY):
                await tx.meta.set(FAILED_KEY, "")


def check_restorable(path: Path) -> int:
    """The schema version of a Baocao database at `path`; ValueError saying why it is not one
    that can be restored."""
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise ValueError(f"{path}: {exc}") from None
    try:
        if conn.execute("PRAGMA quick_check").fetchone()[0] != "ok":
            raise ValueError(f"{path}: the file is damaged")
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not {"schema_migrations", "units", "contacts", "outbox"} <= tables:
            raise ValueError(f"{path}: not a Baocao database")
        version = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0]
    except sqlite3.Error as exc:
        raise ValueError(f"{path}: {exc}") from None
    finally:
        conn.close()
    known = {v for v, _name, _sql in migrations()}
    if version not in known:
        raise ValueError(f"{path}: schema version {version} is not one this Baocao knows "
                         f"(1 to {max(known)})")
    return int(version)


def restore(source: Path, database: Path) -> Path:
    """Put `source` in place of `database` (the bot must be stopped: the caller holds the
    lock). The current database is first copied aside; returns where."""
    aside = database.with_name(f"{database.name}.before-restore-"
                               f"{datetime.now(UTC).strftime(STAMP)}")
    if database.exists():
        live = sqlite3.connect(database)  # its WAL too: the backup API reads through it
        copy = sqlite3.connect(aside)
        try:
            live.backup(copy)
        finally:
            copy.close()
            live.close()
    partial = database.with_name(database.name + ".restoring")
    source_conn, target = sqlite3.connect(f"file:{source}?mode=ro", uri=True), \
        sqlite3.connect(partial)
    try:
        source_conn.backup(target)
    finally:
        target.close()
        source_conn.close()
    # A write-ahead log left by the old database would be replayed into the restored one.
    for extra in ("-wal", "-shm"):
        database.with_name(database.name + extra).unlink(missing_ok=True)
    os.replace(partial, database)
    return aside
