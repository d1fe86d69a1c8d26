"""PostgreSQL through asyncpg, behind the interface the repositories already use.

The repositories talk to an aiosqlite connection (`execute`, `execute_fetchall`, cursors with
`rowcount` and `lastrowid`) and, on the hot path, to a plain sqlite3 connection inside
`run_inline`. `PgConnection` offers both over one asyncpg connection taken from a pool:
the async methods directly, the plain ones (`PgConnection.plain`) inside a greenlet that hands
each statement back to the event loop, so the same functions run on both backends. SQL is
translated once per statement text (storage/dialect.py); parameters are coerced to the types
PostgreSQL expects (SQLite takes 1 for TEXT, '5' for INTEGER); integer and boolean results come
back as SQLite gives them (ints, not Decimal or bool); errors come back as sqlite3's classes,
so the callers' `except sqlite3.IntegrityError` holds.

`PgDatabase` is `storage.db.Database` for a postgresql:// URL (Database(url) returns one).
Several processes may share the database: migrations run under an advisory lock, and
`Leases` (below) gives one process at a time a named duty (the clock tick).
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
import zlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
from greenlet import getcurrent, greenlet

from storage.backend import TEST_TEMPLATE_ENV, is_postgres, postgres_url
from storage.db import Contention, Database, SchemaTooNewError, now_iso
from storage.dialect import Translated, to_postgres

PG_MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations" / "pg"
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# pg_advisory_lock keys, shared by every process on the database: the migrations', and the
# (class, key) pairs of duties and claims.
MIGRATE_LOCK = 0x62616F01
DUTY_LOCKS = 0x62616F02
SPEAKER_LOCKS = 0x62616F03
# The query with which a step loads its speaker and whether its update was processed
# (storage.units.load_speaker).
_SPEAKER = "SELECT EXISTS (SELECT 1 FROM processed_updates WHERE channel = :channel"


def _key(name: str) -> int:
    """A name as a 32-bit advisory lock key, the same in every process."""
    return zlib.crc32(name.encode()) & 0x7FFFFFFF
_WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.I)
_INSERT_INTO = re.compile(r"^\s*INSERT\s+INTO\s+(\w+)\s*\(([^)]*)\)", re.I)
_SAVEPOINT = re.compile(r"^\s*(SAVEPOINT|RELEASE|ROLLBACK\s+TO)\b", re.I)
_TRANSACTION = re.compile(r"^\s*(BEGIN|COMMIT|END|ROLLBACK)\s*;?\s*$", re.I)

T = TypeVar("T")
# The transactions' connection, a connection per duty held (the clock, each channel's
# delivery) and the background jobs' claims.
POOL_SIZE = 8
STATEMENTS_KEPT = 1000


def pg_migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) of PostgreSQL's migrations, in order (the twins of SQLite's)."""
    found = []
    for path in sorted(PG_MIGRATIONS_DIR.glob("*.sql")):
        match = _MIGRATION_NAME.match(path.name)
        if match:
            found.append((int(match.group(1)), path.stem, path.read_text(encoding="utf-8")))
    return found


# ---- values in and out ---------------------------------------------------------------------

# JSON's escape of NUL (not an escaped backslash followed by "u0000").
_JSON_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def _text(value: Any) -> Any:
    if isinstance(value, str):
        # PostgreSQL's text cannot hold NUL, nor its jsonb a \u0000 (SQLite's can): both
        # become U+FFFD, the character for "unreadable", rather than failing a person's step.
        if "\x00" in value:
            value = value.replace("\x00", "\ufffd")
        if "\\u0000" in value:
            value = _JSON_NUL.sub(r"\1\\ufffd", value)
        return value
    if value is None:
        return value
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


def _int(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return value  # PostgreSQL says what is wrong with it
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _float(value: Any) -> Any:
    return float(value) if isinstance(value, (int, str)) and not isinstance(value, bool) \
        else value


def _bool(value: Any) -> Any:
    return bool(value) if isinstance(value, int) else value


_COERCE: dict[str, Callable[[Any], Any]] = {
    "text": _text, "varchar": _text, "bpchar": _text, "name": _text, "json": _text,
    "jsonb": _text, "int2": _int, "int4": _int, "int8": _int, "float4": _float,
    "float8": _float, "numeric": _float, "bool": _bool,
}


def _out(value: Any) -> Any:
    """A result as SQLite gives it: whole numbers as int, truth as 1 and 0."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def coerce_row(row: Any, types: list[str]) -> tuple:
    """A SQLite row's values as PostgreSQL's columns of `types` (udt names) take them."""
    return tuple(_COERCE[t](v) if t in _COERCE else v for v, t in zip(row, types, strict=True))


class Row(tuple):
    """A result row readable by position and by column name, like sqlite3.Row."""

    _names: dict[str, int]

    def __new__(cls, values: tuple, names: dict[str, int]) -> Row:
        row = super().__new__(cls, values)
        row._names = names
        return row

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._names[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._names)


def _sqlite_error(exc: Exception, sql: str | None = None) -> sqlite3.Error:
    """asyncpg's error as the sqlite3 error the callers catch (with the statement, which
    holds no data: the values are parameters)."""
    text = f"{exc} (in: {sql})" if sql else str(exc)
    if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
        return sqlite3.IntegrityError(text)
    if isinstance(exc, asyncpg.TransactionRollbackError):  # deadlock, serialization failure
        return Contention(text)
    return sqlite3.OperationalError(text)


class _Statement:
    """A prepared statement with its parameters' coercions and how to read its rows."""

    __slots__ = ("stmt", "coerce", "convert", "names", "translated", "returns_id", "sets_id")

    def __init__(self, stmt: Any, translated: Translated, returns_id: bool,
                 sets_id: str | None):
        self.stmt = stmt
        self.translated = translated
        self.coerce = [_COERCE.get(p.name) for p in stmt.get_parameters()]
        attributes = stmt.get_attributes()
        self.convert = any(a.type.name in ("numeric", "bool") for a in attributes)
        self.names = {a.name: i for i, a in enumerate(attributes)}
        self.returns_id = returns_id
        self.sets_id = sets_id

    def args(self, params: Any) -> list:
        values = self.translated.args(params)
        return [fn(v) if fn is not None else v for fn, v in zip(self.coerce, values, strict=False)]

    def rows(self, records: list) -> list:
        if not self.convert:
            return records
        return [Row(tuple(_out(v) for v in r), self.names) for r in records]


class Cursor:
    """What sqlite3's and aiosqlite's cursors give the repositories."""

    def __init__(self, rows: list, rowcount: int, lastrowid: int | None,
                 names: list[str] | None = None):
        self._rows = rows
        self.rowcount = rowcount
        self.lastrowid = lastrowid
        # DB-API's column descriptions: (name, and six Nones), as sqlite3 gives them.
        self.description = [(n, None, None, None, None, None, None) for n in names or ()]

    def fetchall(self) -> list:
        return self._rows

    def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None

    def __iter__(self) -> Any:
        return iter(self._rows)

    def close(self) -> None:
        pass  # the rows were fetched whole: nothing is held open


class _AsyncCursor(Cursor):
    async def fetchall(self) -> list:  # type: ignore[override]
        return self._rows

    async def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None

    async def close(self) -> None:  # type: ignore[override]
        pass


class _Result:
    """aiosqlite's `execute` result: awaited for the cursor, or used with `async with`."""

    def __init__(self, coro: Any):
        self._coro = coro
        self._cursor: _AsyncCursor | None = None

    def __await__(self) -> Any:
        return self._coro.__await__()

    async def __aenter__(self) -> _AsyncCursor:
        self._cursor = await self._coro
        return self._cursor

    async def __aexit__(self, *exc: object) -> None:
        pass


class PgConnection:
    """One asyncpg connection, offering aiosqlite's methods and, in `run_inline`, sqlite3's."""

    def __init__(self, raw: asyncpg.Connection, id_tables: set[str]):
        self.raw = raw
        self.id_tables = id_tables
        # Prepared once per statement text; texts made for a list's length (IN (?, ?, …)) vary,
        # so the oldest are let go past STATEMENTS_KEPT (asyncpg closes them on the server).
        self._statements: OrderedDict[str, _Statement] = OrderedDict()
        self.plain = PlainConnection(self)

    @property
    def in_transaction(self) -> bool:
        return self.raw.is_in_transaction()

    async def _prepare(self, sql: str) -> _Statement:
        found = self._statements.get(sql)
        if found is not None:
            self._statements.move_to_end(sql)
            return found
        translated = to_postgres(sql)
        text = translated.sql
        returns_id = False
        sets_id = None
        insert = _INSERT_INTO.match(text)
        if insert and insert.group(1) in self.id_tables:
            columns = [c.strip() for c in insert.group(2).split(",")]
            if "id" in columns:
                sets_id = insert.group(1)  # an explicit id: the identity must follow it
            elif not re.search(r"\bRETURNING\b", text, re.I):
                text += " RETURNING id"
                returns_id = True
        stmt = await self._prepare_text(text)
        found = _Statement(stmt, translated, returns_id, sets_id)
        if translated.replan:
            # Prepared for this run only: PostgreSQL plans it with the values given (the first
            # runs of a prepared statement get such plans; later ones may get a generic plan).
            # asyncpg closes it on the server once it is let go.
            return found
        self._statements[sql] = found
        if len(self._statements) > STATEMENTS_KEPT:
            self._statements.popitem(last=False)
        return found

    async def _prepare_text(self, text: str) -> Any:
        # A parameter whose type PostgreSQL cannot tell from where it stands (`? IS NULL`,
        # `SELECT ?`) is text, as SQLite would store it.
        # A failed PREPARE aborts the open transaction: inside one, it runs in a savepoint
        # (once per statement text and connection: prepared statements are kept).
        guard = self.raw.is_in_transaction()
        for _ in range(20):
            try:
                if not guard:
                    return await self.raw.prepare(text)
                await self.raw.execute("SAVEPOINT baocao_prepare")
                try:
                    stmt = await self.raw.prepare(text)
                except BaseException:
                    await self.raw.execute("ROLLBACK TO SAVEPOINT baocao_prepare")
                    raise
                finally:
                    await self.raw.execute("RELEASE SAVEPOINT baocao_prepare")
                return stmt
            except (asyncpg.IndeterminateDatatypeError, asyncpg.AmbiguousParameterError) as exc:
                unknown = re.search(r"parameter \$(\d+)", str(exc))
                if unknown is None:
                    raise _sqlite_error(exc, text) from exc
                text = re.sub(rf"\${unknown.group(1)}(?!\d)", rf"${unknown.group(1)}::text", text)
            except asyncpg.PostgresError as exc:
                raise _sqlite_error(exc, text) from exc
        raise sqlite3.OperationalError(f"cannot prepare: {text}")

    async def run(self, sql: str, params: Any = None) -> Cursor:
        """One statement; a write opens the transaction first, as sqlite3 does."""
        if _TRANSACTION.match(sql):
            return await self._transaction(sql)
        if _SAVEPOINT.match(sql):
            # Sent as they are, never prepared: ROLLBACK TO must work in a transaction that an
            # error aborted, where PostgreSQL refuses anything else (a PREPARE included).
            try:
                await self.raw.execute(sql)
            except asyncpg.PostgresError as exc:
                raise _sqlite_error(exc, sql) from exc
            return Cursor([], -1, None)
        if _WRITE.match(sql) and not self.raw.is_in_transaction():
            await self.raw.execute("BEGIN")
        if sql.startswith(_SPEAKER) and self.raw.is_in_transaction():
            # One process at a time handles a person's updates: one that reached two
            # processes, or two of the person's updates handled by different processes. The
            # other waits here until the first commits, then reads (a statement of its own,
            # so it sees that commit) the update as processed, or the conversation as the
            # first left it: nothing is done twice, no answer overwrites another.
            try:
                await self.raw.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))",
                                       SPEAKER_LOCKS, f"{params['channel']}:{params['user']}")
            except asyncpg.PostgresError as exc:  # a deadlock between two batches
                raise _sqlite_error(exc) from exc
        statement = await self._prepare(sql)
        try:
            records = await statement.stmt.fetch(*statement.args(params))
        except asyncpg.PostgresError as exc:
            raise _sqlite_error(exc, statement.translated.sql) from exc
        status = statement.stmt.get_statusmsg() or ""
        count = int(status.rsplit(" ", 1)[-1]) if status[:6] in (
            "INSERT", "UPDATE", "DELETE") else -1
        lastrowid = None
        if statement.returns_id:
            lastrowid = records[0][0] if records else None
            records = []
        elif statement.sets_id:
            await self._follow_identity(statement.sets_id)
        return Cursor(statement.rows(records), count, lastrowid, list(statement.names))

    async def run_many(self, sql: str, rows: Any) -> None:
        if _WRITE.match(sql) and not self.raw.is_in_transaction():
            await self.raw.execute("BEGIN")
        statement = await self._prepare(sql)
        args = [statement.args(r) for r in rows]
        if not args:
            return
        try:
            if statement.returns_id:
                for one in args:
                    await statement.stmt.fetch(*one)
            else:
                await statement.stmt.executemany(args)
        except asyncpg.PostgresError as exc:
            raise _sqlite_error(exc) from exc
        if statement.sets_id:
            await self._follow_identity(statement.sets_id)

    async def _follow_identity(self, table: str) -> None:
        """After rows given their own ids, the next id the table makes comes after them (as
        SQLite's INTEGER PRIMARY KEY does)."""
        await self.raw.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608 (our names)
            f"GREATEST((SELECT MAX(id) FROM {table}), 1))")

    async def _transaction(self, sql: str) -> Cursor:
        word = sql.split()[0].upper().rstrip(";")
        if word == "BEGIN":
            if not self.raw.is_in_transaction():
                await self.raw.execute("BEGIN")
        elif self.raw.is_in_transaction():
            try:
                status = await self.raw.execute("ROLLBACK" if word == "ROLLBACK" else "COMMIT")
            except asyncpg.PostgresError as exc:
                raise _sqlite_error(exc) from exc
            # PostgreSQL answers COMMIT of a transaction that an error aborted with a
            # rollback, not an error: the caller must know that nothing was kept.
            if word != "ROLLBACK" and status == "ROLLBACK":
                raise sqlite3.OperationalError("the transaction was aborted by an earlier "
                                               "error and rolled back")
        return Cursor([], -1, None)

    # aiosqlite's interface ------------------------------------------------------------------

    def execute(self, sql: str, params: Any = None) -> _Result:
        async def go() -> _AsyncCursor:
            cur = await self.run(sql, params)
            return _AsyncCursor(cur._rows, cur.rowcount, cur.lastrowid,
                                [d[0] for d in cur.description])
        return _Result(go())

    async def execute_fetchall(self, sql: str, params: Any = None) -> list:
        return (await self.run(sql, params)).fetchall()

    async def executemany(self, sql: str, rows: Any) -> None:
        await self.run_many(sql, rows)

    async def commit(self) -> None:
        await self._transaction("COMMIT")

    async def rollback(self) -> None:
        await self._transaction("ROLLBACK")

    async def run_inline(self, fn: Callable[..., T], *args: object) -> T:
        """`fn(plain connection, *args)`, its statements awaited on this loop (see module doc)."""
        worker = greenlet(fn)
        value = worker.switch(self.plain, *args)
        while not worker.dead:
            try:
                result = await value
            except BaseException as exc:  # noqa: BLE001 (handed back to fn, which may catch it)
                value = worker.throw(exc)
            else:
                value = worker.switch(result)
        return value


class PlainConnection:
    """sqlite3.Connection's methods for the functions `run_inline` runs (inside a greenlet)."""

    def __init__(self, conn: PgConnection):
        self._conn = conn

    @staticmethod
    def _wait(coro: Any) -> Any:
        parent = getcurrent().parent
        if parent is None:
            coro.close()
            raise RuntimeError("the plain connection is used outside run_inline")
        return parent.switch(coro)

    @property
    def in_transaction(self) -> bool:
        return self._conn.in_transaction

    def execute(self, sql: str, params: Any = None) -> Cursor:
        return self._wait(self._conn.run(sql, params))

    def executemany(self, sql: str, rows: Any) -> None:
        self._wait(self._conn.run_many(sql, rows))

    def commit(self) -> None:
        self._wait(self._conn._transaction("COMMIT"))

    def rollback(self) -> None:
        self._wait(self._conn._transaction("ROLLBACK"))


# ---- the database ---------------------------------------------------------------------------

def _pool(url: str) -> Any:
    # Named by pid, so that an operator (and the two-process test) sees who holds a duty:
    # SELECT application_name FROM pg_locks JOIN pg_stat_activity USING (pid).
    return asyncpg.create_pool(url, min_size=1, max_size=POOL_SIZE, server_settings={
        "application_name": f"baocao pid {os.getpid()}"})


async def _connect_or_create(url: str, create: bool, template: str | None) -> asyncpg.Pool:
    try:
        return await _pool(url)
    except asyncpg.InvalidCatalogNameError:
        if not create:
            raise
    base, name = url.rsplit("/", 1)
    admin = await asyncpg.connect(base + "/postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"'
                            + (f' TEMPLATE "{template}"' if template else ""))
    except asyncpg.DuplicateDatabaseError:
        pass  # another process of the same test made it first
    finally:
        await admin.close()
    return await _pool(url)


class PgDatabase(Database):
    """Database on PostgreSQL: the same transactions, batches and reads, over asyncpg."""

    def __init__(self, target: Path | str):
        url = postgres_url(target)
        if url is None:
            raise ValueError(f"{target}: not a PostgreSQL URL")
        super().__init__(Path("."))
        self.url = url
        self.path = None  # type: ignore[assignment]  # no file: backups are pg_dump's
        # Test databases are made on first use (see storage.backend).
        self._create = not is_postgres(target)
        self.pool: asyncpg.Pool | None = None
        self._duties: dict[str, asyncpg.Connection] = {}  # duty -> the connection holding it
        self._checked: dict[str, float] = {}  # duty -> when its connection last answered
        self._raw: asyncpg.Connection | None = None
        self._pg: PgConnection | None = None

    def __repr__(self) -> str:
        return f"PgDatabase({self.url.split('@')[-1]})"

    @property
    def raw(self) -> asyncpg.Connection:
        """The asyncpg connection itself (db copy's COPY), outside the adapter."""
        if self._raw is None:
            raise RuntimeError("database is not open")
        return self._raw

    async def open(self, migrate_to: int | None = None) -> PgDatabase:
        # A test database wanted at the latest version starts as the test session's migrated
        # copy (storage.backend); one wanted at an older version is migrated from empty.
        template = os.environ.get(TEST_TEMPLATE_ENV) if migrate_to is None else None
        self.pool = await _connect_or_create(self.url, self._create, template)
        try:
            self._raw = await self.pool.acquire()
            await self.migrate(migrate_to)
            rows = await self._raw.fetch(
                "SELECT table_name FROM information_schema.columns WHERE column_name = 'id' "
                "AND is_identity = 'YES' AND table_schema = current_schema()")
            self._pg = PgConnection(self._raw, {r[0] for r in rows})
            self._conn = self._pg  # type: ignore[assignment]
        except BaseException:
            await self.close()
            raise
        return self

    async def close(self) -> None:
        self._conn = None
        self._pg = None
        if self.pool is not None:
            pool, self.pool = self.pool, None
            for conn in self._duties.values():  # closing them gives the duties up
                await pool.release(conn)
            self._duties = {}
            if self._raw is not None:
                raw, self._raw = self._raw, None
                if raw.is_in_transaction():
                    # A task stopped in the middle of a transaction (Ctrl-C during a clock
                    # tick) left it open: dropping the connection has PostgreSQL roll it
                    # back, where releasing it would print asyncpg's warning to stderr.
                    raw.terminate()
                await pool.release(raw)
            await pool.close()

    async def schema_version(self) -> int:
        raw = self._raw
        assert raw is not None
        await raw.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version bigint PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL)")
        return int(await raw.fetchval("SELECT MAX(version) FROM schema_migrations") or 0)

    async def migrate(self, target: int | None = None) -> list[str]:
        """Apply PostgreSQL's pending migrations, one process at a time."""
        raw = self._raw
        assert raw is not None
        known = pg_migrations()
        latest = known[-1][0] if known else 0
        await raw.execute("SELECT pg_advisory_lock($1)", MIGRATE_LOCK)
        try:
            current = await self.schema_version()
            if current > latest:
                raise SchemaTooNewError(
                    f"{self}: schema version {current} is newer than this program's {latest}")
            applied = []
            for version, name, sql in known:
                if version <= current or (target is not None and version > target):
                    continue
                async with raw.transaction():
                    await raw.execute(sql)
                    await raw.execute("INSERT INTO schema_migrations VALUES ($1, $2, $3)",
                                      version, name, now_iso())
                applied.append(name)
            return applied
        finally:
            await raw.execute("SELECT pg_advisory_unlock($1)", MIGRATE_LOCK)

    shared = True

    async def leads(self, duty: str) -> bool:
        """Whether this process holds `duty`: a session advisory lock taken on a connection
        of its own, kept while the process lives and released by PostgreSQL the moment its
        connection drops (a process killed, a machine gone), so another takes over at its
        next try."""
        held = self._duties.get(duty)
        if held is not None:
            # Asked before each delivery pass: the holding connection is checked at most
            # once a second (a dead server shows there within that second).
            if time.monotonic() - self._checked.get(duty, 0.0) < 1.0:
                return True
            try:
                await held.fetchval("SELECT 1")
                self._checked[duty] = time.monotonic()
                return True
            except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError):
                self._duties.pop(duty, None)  # the connection (and the lock) is gone
        if self.pool is None:
            return False
        conn = await self.pool.acquire()
        try:
            got = await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", DUTY_LOCKS,
                                      _key(duty))
        except BaseException:
            await self.pool.release(conn)
            raise
        if not got:
            await self.pool.release(conn)
            return False
        self._duties[duty] = conn
        self._checked[duty] = time.monotonic()
        return True

    @asynccontextmanager
    async def claim(self, kind: str, key: int) -> AsyncIterator[bool]:
        """(kind, key) for this process alone while the block runs (a background job): a
        session advisory lock, released at the end or when the process dies."""
        if self.pool is None:
            yield False
            return
        async with self.pool.acquire() as conn:
            got = await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", _key(kind), key)
            try:
                yield got
            finally:
                if got:
                    await conn.execute("SELECT pg_advisory_unlock($1, $2)", _key(kind), key)

    async def probe(self) -> str | None:
        """What is wrong with the database, or None (for /readyz): on a connection of its own,
        so a server that stopped answering shows here instead of behind the bot's work."""
        if self.pool is None:
            return "database: not open"
        try:
            async with self.pool.acquire(timeout=2.0) as conn:
                version = await conn.fetchval("SELECT MAX(version) FROM schema_migrations",
                                              timeout=2.0)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            return f"database: {exc}"
        latest = pg_migrations()[-1][0]
        if (version or 0) != latest:
            return f"database: schema version {version}, this program needs {latest}"
        return None

    async def backup(self, target: Path | str) -> None:
        raise NotImplementedError("PostgreSQL is backed up by the operator's pg_dump")
