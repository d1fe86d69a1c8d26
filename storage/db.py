"""The database: one aiosqlite connection per process, numbered migrations, transactions, backup."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import aiosqlite

from storage.backend import postgres_url, sqlite_path
from storage.conversations import PendingWrites
from storage.models import OutboxRow
from storage.private import FILE_MODE, private_file
from storage.repos import Tx
from storage.text import fold
from storage.units import Speaker, load_speaker, one, run_inline

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# How often the checkpointer copies the WAL's committed pages into the database file, and the
# WAL size (pages) at which a commit does it itself if the checkpointer has fallen behind.
CHECKPOINT_SECONDS = 0.5
AUTOCHECKPOINT_PAGES = 10_000
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class DatabasePathError(Exception):
    """The database path is not a SQLite database that can be opened (a directory, a text
    file, a folder that cannot be made)."""


class SchemaTooNewError(Exception):
    """The database was made by a newer Baocao; opening it could damage it."""


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration shipped, in order."""
    found = []
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        match = _MIGRATION_NAME.match(path.name)
        if match:
            found.append((int(match.group(1)), path.stem, path.read_text(encoding="utf-8")))
    return found


def _sha256(text: str | None) -> str | None:
    return None if text is None else hashlib.sha256(text.encode()).hexdigest()


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


T = TypeVar("T")


def _committed(conn: sqlite3.Connection, fn: Callable[..., T], *args: object) -> T:
    result = fn(conn, *args)
    if conn.in_transaction:
        conn.commit()
    return result


def _commit(conn: sqlite3.Connection, pending: PendingWrites) -> None:
    pending.write(conn)
    if conn.in_transaction:
        conn.commit()


# Who is writing and where their conversation stands: (channel, user id, update id).
SpeakerKey = tuple[str, str, str]


def _open_step(conn: sqlite3.Connection, load: SpeakerKey | None,
               first: Callable[[sqlite3.Connection], object] | None = None) -> Speaker | None:
    if not conn.in_transaction:
        conn.execute("BEGIN IMMEDIATE")
    if first is not None:
        first(conn)  # the batch's own writes, outside any step's savepoint
    conn.execute("SAVEPOINT step")
    if load is None:
        return None
    try:
        return load_speaker(conn, *load)
    except BaseException:
        _undo_step(conn)
        raise


def _close_step(conn: sqlite3.Connection, pending: PendingWrites, then: SpeakerKey | None,
                commit: bool) -> tuple[bool, Speaker | None]:
    """The step's writes and release, then the batch's commit or the next step's savepoint
    and loads: (whether the next step was opened, what it loaded)."""
    pending.write(conn)
    conn.execute("RELEASE step")
    if commit:
        try:
            conn.commit()
        except sqlite3.Error as exc:
            raise BatchCommitError(str(exc)) from exc
        return False, None
    if then is None:
        return False, None
    try:
        return True, _open_step(conn, then)
    except sqlite3.Error:  # the next step loads again by itself, and meets the error there
        return False, None


def _undo_step(conn: sqlite3.Connection) -> None:
    conn.execute("ROLLBACK TO step")
    conn.execute("RELEASE step")


class BatchCommitError(Exception):
    """The commit of a batch failed: none of its steps took effect."""


class Contention(sqlite3.OperationalError):
    """The database ended a statement because of another transaction (PostgreSQL: a deadlock
    or a serialization failure): nothing is wrong with the work itself, which is tried again
    once the other has finished."""


class Batch:
    """Steps that commit together, each in a savepoint of its own. A step costs one call to the
    database thread when the runtime names the next step's speaker beforehand (`then`): its
    writes, its release and the next step's savepoint and loads go in one call, and the last
    step's call commits the batch.

    `first`: writes of the batch's own, made before the first step (and kept if it fails).
    `heads`: the outbox rows the steps queue that head their chat's queue, read back for the
    delivery worker (None: not read; only SQLite's ids tell which rows a step inserted)."""

    def __init__(self, conn: aiosqlite.Connection,
                 first: Callable[[sqlite3.Connection], object] | None = None,
                 heads: bool = False):
        self.conn = conn
        self._first = first
        self.heads: list[OutboxRow] | None = [] if heads else None
        # The savepoint opened ahead for the next step, and what it loaded (key, speaker).
        self._ahead: tuple[SpeakerKey | None, Speaker | None] | None = None

    async def _open(self, load: SpeakerKey | None) -> Speaker | None:
        first, self._first = self._first, None
        return await run_inline(self.conn, _open_step, load, first)

    @asynccontextmanager
    async def step(self, load: SpeakerKey | None = None, then: SpeakerKey | None = None,
                   commit: bool = False) -> AsyncIterator[Tx]:
        """One step's transaction: its writes are kept when it succeeds, undone alone when it
        raises. `load`: the speaker to load with its savepoint; `then`: the next step's;
        `commit`: the batch ends with this step."""
        tx = Tx(self.conn)
        if self.heads is not None:
            tx.pending.heads = []  # the batch's once the step is in
        if self._ahead is None:
            speaker = await self._open(load)
        else:
            key, speaker = self._ahead
            self._ahead = None
            if key != load:
                speaker = None
        if load is not None and speaker is not None:
            tx.loaded[("speaker", *load)] = speaker
        try:
            yield tx
            opened, ahead = await run_inline(self.conn, _close_step, tx.pending, then, commit)
        except BatchCommitError:
            raise  # the savepoint is gone: the whole batch is rolled back
        except BaseException:
            await run_inline(self.conn, _undo_step)
            raise
        if opened:
            self._ahead = (then, ahead)
        if self.heads is not None and tx.pending.heads:
            self.heads.extend(tx.pending.heads)

    async def speaker(self, load: SpeakerKey) -> Speaker | None:
        """Open the next step's savepoint now, with its loads, as a step does for the step
        that follows it (`then`): the speaker, for a look before the step (None if the step
        that opened it ahead loaded someone else's)."""
        if self._ahead is None:
            self._ahead = (load, await self._open(load))
        key, speaker = self._ahead
        return speaker if key == load else None

    async def close(self) -> None:
        """Release a savepoint opened ahead for a step that did not come."""
        if self._ahead is not None:
            self._ahead = None
            await run_inline(self.conn, lambda conn: conn.execute("RELEASE step"))


class Checkpointer:
    """Copies the WAL into the database file (a PASSIVE checkpoint) every CHECKPOINT_SECONDS,
    on a thread with a connection of its own.

    Left to SQLite, the commit that takes the WAL past 1000 pages does it, on the event loop's
    thread (our statements run there, see run_inline): tens of milliseconds, two fsyncs, paid
    by whichever receipt or step commits then. A checkpoint changes no data and needs no
    writer's lock, so it can run beside the commits; what a commit makes durable (the WAL,
    synchronous=NORMAL) is the same either way. A commit still checkpoints by itself past
    AUTOCHECKPOINT_PAGES, should this thread fall behind."""

    def __init__(self, path: Path):
        self.path = path
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint",
                                        daemon=True)  # a crash mid-checkpoint is harmless

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, check_same_thread=False)
        try:
            conn.execute("PRAGMA synchronous=NORMAL")
            while not self._stop.wait(CHECKPOINT_SECONDS):
                try:
                    # Cheap when the WAL holds nothing new (no copy, no fsync).
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:  # the commits' own checkpoint is the fallback
                    log.warning("WAL checkpoint failed: %s", exc)
        finally:
            conn.close()


class Database:
    """Owns the connection; every read and write goes through `transaction()`."""

    def __new__(cls, path: Path | str) -> Database:
        # A postgresql:// URL opens the same interface on PostgreSQL (storage/pg.py).
        if cls is Database and postgres_url(path) is not None:
            from storage.pg import PgDatabase
            return super().__new__(PgDatabase)
        return super().__new__(cls)

    def __init__(self, path: Path | str):
        self.path = sqlite_path(path)
        self._conn: aiosqlite.Connection | None = None
        self._checkpointer: Checkpointer | None = None
        # One connection is shared by every coroutine, so transactions must not interleave.
        self._lock = asyncio.Lock()

    async def open(self, migrate_to: int | None = None) -> Database:
        self._probe()
        # Owner-only: SQLite gives the WAL and shared-memory files the database file's mode.
        private_file(self.path)
        for companion in ("-wal", "-shm"):
            extra = self.path.with_name(self.path.name + companion)
            if extra.exists():
                os.chmod(extra, FILE_MODE)
        # sqlite3 opens the transaction itself (BEGIN IMMEDIATE) in the same call as the first
        # write, which saves a thread hop per transaction over an explicit BEGIN.
        self._conn = await aiosqlite.connect(self.path, isolation_level="IMMEDIATE",
                                            check_same_thread=False)  # see run_inline
        try:
            self._conn.row_factory = sqlite3.Row
            # Searches ignore case and diacritics, as people expect ("le chan" finds "Lê Chân").
            await self._conn.create_function("fold", 1, fold, deterministic=True)
            # For migration 0019, which hashes the invite codes already stored.
            await self._conn.create_function("sha256", 1, _sha256, deterministic=True)
            for pragma in (
                "journal_mode=WAL",
                "foreign_keys=ON",
                "busy_timeout=5000",
                # A commit is durable once in the WAL (no fsync per commit): a power cut may
                # lose the last commits, a crash of the program loses none. A commit answered
                # to a person (the inbox receipt, a step) is in the WAL before the answer.
                "synchronous=NORMAL",
                f"wal_autocheckpoint={AUTOCHECKPOINT_PAGES}",
            ):
                await self._conn.execute(f"PRAGMA {pragma}")
            await self.migrate(migrate_to)
            self._checkpointer = Checkpointer(self.path)
            self._checkpointer.start()
        except BaseException:
            # Otherwise aiosqlite's (non-daemon) thread lives on and the program never exits.
            await self.close()
            raise
        return self

    def _probe(self) -> None:
        """Fail at once, in one line, when the path is not a database we can open (a directory,
        a text file). Done with plain sqlite3: when aiosqlite fails to connect, its thread
        outlives the event loop and prints a traceback at exit."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            probe = sqlite3.connect(self.path)
            try:
                probe.execute("PRAGMA schema_version")  # reads the header: "not a database"
            finally:
                probe.close()
        except sqlite3.DatabaseError as exc:
            if exc.sqlite_errorname in ("SQLITE_BUSY", "SQLITE_LOCKED"):
                raise  # another program is busy with it: nothing wrong with the path
            raise DatabasePathError(f"{self.path}: {exc}") from None
        except (FileExistsError, NotADirectoryError):
            raise DatabasePathError(f"{self.path}: a folder on the way is a file") from None
        except OSError as exc:
            raise DatabasePathError(f"{self.path}: {exc.strerror or exc}") from None

    async def close(self) -> None:
        if self._checkpointer is not None:
            # First, so the main connection is the last one and checkpoints the WAL away.
            await asyncio.to_thread(self._checkpointer.stop)
            self._checkpointer = None
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def __aenter__(self) -> Database:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # Whether several processes may share the database (PostgreSQL): then duties are elected.
    shared = False

    async def leads(self, duty: str) -> bool:
        """Whether this process should do `duty` (the clock tick, a channel's delivery). On
        SQLite always: one process owns the file (bot.lockfile). On PostgreSQL, the one
        process holding the duty's lock (storage/pg.py)."""
        return True

    @asynccontextmanager
    async def claim(self, kind: str, key: int) -> AsyncIterator[bool]:
        """Whether this process may work on (kind, key) now, e.g. a background job: on SQLite
        always; on PostgreSQL, while no other process works on it."""
        yield True

    @property
    def is_open(self) -> bool:
        return self._conn is not None

    @property
    def conn(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise RuntimeError("database is not open")
        return self._conn

    async def schema_version(self) -> int:
        await self.conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        rows = await self.conn.execute_fetchall("SELECT MAX(version) FROM schema_migrations")
        return int(one(rows)[0] or 0)

    async def migrate(self, target: int | None = None) -> list[str]:
        """Apply the pending migrations up to `target` (default: all); return their names."""
        known = migrations()
        latest = known[-1][0] if known else 0
        current = await self.schema_version()
        if current > latest:
            raise SchemaTooNewError(
                f"{self.path}: schema version {current} is newer than this program's {latest}"
            )
        applied = []
        for version, name, sql in known:
            if version <= current or (target is not None and version > target):
                continue
            script = (
                f"BEGIN IMMEDIATE;\n{sql}\nINSERT INTO schema_migrations VALUES "
                f"({version}, '{name}', '{now_iso()}');\nCOMMIT;"
            )
            try:
                await self.conn.executescript(script)
            except sqlite3.Error:
                if self.conn.in_transaction:
                    await self.conn.execute("ROLLBACK")
                raise
            applied.append(name)
        return applied

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """One atomic unit of work: its writes are committed on success, rolled back on any
        error. (Reads before its first write see the latest committed data.) The writes it
        holds (PendingWrites) go in one call to the database thread with the commit."""
        async with self._lock:
            tx = Tx(self.conn)
            try:
                yield tx
                await run_inline(self.conn, _commit, tx.pending)
            except BaseException:
                if self.conn.in_transaction:
                    await self.conn.rollback()
                raise

    async def commit_with(self, fn: Callable[..., T], *args: object) -> T:
        """`fn(sqlite3 connection, *args)` and the commit in one call to the database thread
        (a transaction of one call: the inbox receipt); rolled back if either fails."""
        async with self._lock:
            try:
                return await run_inline(self.conn, _committed, fn, *args)
            except BaseException:
                if self.conn.in_transaction:
                    await self.conn.rollback()
                raise

    @asynccontextmanager
    async def batch(self, first: Callable[[sqlite3.Connection], object] | None = None,
                    heads: bool = False) -> AsyncIterator[Batch]:
        """Steps committed together (group commit): one transaction, each step in a savepoint
        of its own (Batch.step), so a failing step rolls back alone. Committed by the step
        marked last, else on leaving; rolled back whole if that commit fails. `first` and
        `heads`: see Batch."""
        async with self._lock:
            batch = Batch(self.conn, first, heads)
            try:
                yield batch
                await batch.close()
                if self.conn.in_transaction:
                    await self.conn.commit()
            except BaseException:
                if self.conn.in_transaction:
                    await self.conn.rollback()
                raise

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Tx]:
        """Reads only, each statement on its own: no BEGIN/COMMIT round trips. Still under the
        lock, so nobody reads another coroutine's uncommitted rows."""
        async with self._lock:
            tx = Tx(self.conn)
            yield tx
            if tx.pending:
                raise RuntimeError("writes inside Database.read() would be lost")

    async def backup(self, target: Path | str) -> None:
        """A consistent copy of the live database, taken with SQLite's online backup API."""
        target = private_file(Path(target))
        async with self._lock:
            # The copy runs on aiosqlite's worker thread, hence check_same_thread=False.
            destination = sqlite3.connect(target, check_same_thread=False)
            try:
                await self.conn.backup(destination)
            finally:
                destination.close()
