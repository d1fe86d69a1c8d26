"""`baocao db copy`: a whole database into another (a SQLite deployment moving to PostgreSQL),
checked table by table by row counts and a checksum of the rows as the target holds them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from storage.db import Database

# Rows that the migrations themselves write: a target holding only these is empty.
SEEDED = {"schema_migrations", "unit_kinds"}


class TargetNotEmptyError(Exception):
    """The target already holds data; `tables` names where."""

    def __init__(self, tables: list[str]):
        super().__init__(", ".join(tables))
        self.tables = tables


@dataclass(frozen=True)
class Copied:
    table: str
    rows: int
    checksum: str  # of the source's rows, as the target types them
    matches: bool  # the target's count and checksum are the same


async def _tables(db: Database) -> list[str]:
    async with db.read() as tx:
        if db.shared:
            query = ("SELECT table_name FROM information_schema.tables WHERE table_schema = "
                     "current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name")
        else:
            query = ("SELECT name FROM sqlite_master WHERE type = 'table' "
                     "AND name NOT LIKE 'sqlite_%' ORDER BY name")
        return [r[0] for r in await tx.conn.execute_fetchall(query)]


async def _virtual(db: Database) -> list[str]:
    """SQLite's full-text (FTS5) tables: copied as their rowid and columns, not their shadow
    tables (their twins are plain tables, see migrations/pg/0025_web_desk.sql)."""
    async with db.read() as tx:
        return [r[0] for r in await tx.conn.execute_fetchall(
            "SELECT name FROM sqlite_master WHERE sql LIKE 'CREATE VIRTUAL TABLE%'")]


async def _columns(db: Database, table: str, virtual: list[str]) -> tuple[list[str], list[str]]:
    """(columns that hold data, primary key columns) of a SQLite table (`virtual`: its FTS5
    tables, see _virtual)."""
    async with db.read() as tx:
        info = await tx.conn.execute_fetchall(f"PRAGMA table_xinfo({table})")
    if table in virtual:
        return ["rowid", *(r[1] for r in info if not r[6])], ["rowid"]  # not FTS5's hidden
    stored = [r[1] for r in info if r[6] not in (2, 3)]  # not generated
    key = [r[1] for r in sorted((r for r in info if r[5]), key=lambda r: r[5])]
    return stored, key or stored


def _digest(rows: list, key: list[int]) -> str:
    """A checksum of the rows, in key order (sorted here: the two databases' collations may
    order text differently)."""
    digest = hashlib.sha256()
    for row in sorted(rows, key=lambda r: tuple(r[i] for i in key)):
        digest.update(repr(tuple(row)).encode())
        digest.update(b"\n")
    return digest.hexdigest()


async def copy_database(source: Path | str, target: str, force: bool = False) -> list[Copied]:
    """Copy every table of `source` (SQLite) into `target` (PostgreSQL), both brought to the
    latest schema first; refuse a target that holds data unless `force` (then emptied)."""
    from storage.pg import PgDatabase, coerce_row
    async with Database(source) as src, Database(target) as dst:
        if src.shared or not isinstance(dst, PgDatabase):
            raise ValueError("db copy goes from a SQLite database to a PostgreSQL one")
        virtual = await _virtual(src)
        tables = [t for t in await _tables(src) if t != "schema_migrations"
                  and not any(t.startswith(f"{v}_") for v in virtual)]
        raw = dst.raw
        holding = [t for t in await _tables(dst) if t not in SEEDED
                   and await raw.fetchval(f"SELECT EXISTS (SELECT 1 FROM {t})")]  # noqa: S608
        if holding and not force:
            raise TargetNotEmptyError(holding)
        copied = []
        async with raw.transaction():
            # Rows go in as they are: no foreign key order to follow (outbox, deliveries and
            # broadcasts refer to each other) and no trigger rewriting the queue heads.
            await raw.execute("SET LOCAL session_replication_role = replica")
            await raw.execute("TRUNCATE " + ", ".join(tables))
            for table in tables:
                columns, key = await _columns(src, table, virtual)
                types = {r[0]: r[1] for r in await raw.fetch(
                    "SELECT column_name, udt_name FROM information_schema.columns "
                    "WHERE table_name = $1 AND table_schema = current_schema()", table)}
                async with src.read() as tx:
                    rows = await tx.conn.execute_fetchall(
                        f"SELECT {', '.join(columns)} FROM {table}")  # noqa: S608 (our names)
                records = [coerce_row(row, [types[c] for c in columns]) for row in rows]
                if records:
                    await raw.copy_records_to_table(table, records=records, columns=columns)
                if "id" in columns and types.get("id") == "int8":
                    await raw.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                      f"GREATEST((SELECT MAX(id) FROM {table}), 1))")
                back = await raw.fetch(
                    f"SELECT {', '.join(columns)} FROM {table}")  # noqa: S608 (our names)
                at = [columns.index(c) for c in key]
                mine = _digest(records, at)
                copied.append(Copied(table, len(records), mine,
                                     len(back) == len(records) and _digest(back, at) == mine))
            if not all(c.matches for c in copied):
                raise CopyMismatchError(copied)
        return copied


class CopyMismatchError(Exception):
    """The target's rows differ from the source's after the copy (nothing was committed)."""

    def __init__(self, copied: list[Copied]):
        super().__init__(", ".join(c.table for c in copied if not c.matches))
        self.copied = copied
