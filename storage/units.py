"""Units, contacts and their channel identities, invites, the audit log and run-time facts."""

from __future__ import annotations

import builtins
import hashlib
import json
import secrets
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

import aiosqlite

from storage import jsontext
from storage.models import Contact, Identity, Invite, Role, Unit, UnitIn
from storage.text import fold

if TYPE_CHECKING:  # conversations imports this module
    from storage.conversations import PendingWrites


T = TypeVar("T")


def first(rows: Iterable[aiosqlite.Row]) -> aiosqlite.Row | None:
    """The first row of a fetched list, or None. (`execute_fetchall` is one thread hop; a cursor
    with fetchone is three, and every hop costs about 0.1 ms.)"""
    return next(iter(rows), None)


def one(rows: Iterable[aiosqlite.Row]) -> aiosqlite.Row:
    """The row a query always returns (an aggregate, an INSERT's RETURNING)."""
    return next(iter(rows))


async def run_inline(conn: aiosqlite.Connection, fn: Callable[..., T], *args: object) -> T:
    """Run `fn(sqlite3 connection, *args)`: the hot path's few small statements at once
    (a step's loads, its writes and commit, an inbox receipt, a delivery pass's read, a report
    or a difficulty written, the people to tell).

    They run on the event loop's own thread, not aiosqlite's: each hop to that thread costs
    0.05 ms on an idle machine and whole milliseconds on a busy one (the thread must be
    scheduled), far more than these statements; and every database user waits behind the
    Database lock anyway. Long work (exports, backups, handlers' own reads) stays on the
    thread. A statement run here blocks the loop while SQLite waits for another process's
    write lock (busy_timeout) or checkpoints the WAL: rare, and short. (On PostgreSQL the
    connection runs `fn` itself: storage/pg.py.)"""
    inline = getattr(conn, "run_inline", None)
    if inline is not None:
        return await inline(fn, *args)
    return fn(conn._conn, *args)


async def fetch_inline(conn: aiosqlite.Connection, sql: str, args: Sequence[object] = ()
                       ) -> list:
    """A small read of a step's (a row by its id, the people to tell), run at once as the
    step's own statements are (see run_inline)."""
    return await run_inline(conn, _fetch, sql, args)


def _fetch(conn: sqlite3.Connection, sql: str, args: Sequence[Any]) -> list:
    return conn.execute(sql, args).fetchall()


def next_number(conn: sqlite3.Connection, prefix: str, year: int) -> str:
    """The next number of a year's series (BC-2026-0001, KK-2026-0001)."""
    name = f"{prefix}-{year}"
    value = one(conn.execute(
        "INSERT INTO counters (name, value) VALUES (?, 1) ON CONFLICT(name) DO UPDATE "
        "SET value = value + 1 RETURNING value", (name,)).fetchall())[0]
    return f"{name}-{value:04d}"


def add_attachments(conn: sqlite3.Connection, owner_kind: str, owner_id: int,
                    attachments: list[dict], channel: str, at: str) -> None:
    """A report's or a difficulty's files, as the platform that holds them names them."""
    conn.executemany(
        "INSERT INTO attachments (owner_kind, owner_id, channel, kind, file_id, file_name, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(owner_kind, owner_id, a.get("channel", channel), a["kind"], a["file_id"],
          a.get("name"), at) for a in attachments])


def iso(moment: datetime) -> str:
    if moment.tzinfo is UTC:  # the clock's own time: a step writes the same moment often
        return _iso_utc(moment)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


@lru_cache(maxsize=16)
def _iso_utc(moment: datetime) -> str:
    # A step stamps its rows (session, outbox, inbox, last seen...) with one `now`, about
    # eight times: formatting it costs 3-5 us, a look-up 0.2 us.
    return moment.isoformat(timespec="milliseconds")


def session_state(state: str, offered: str | None) -> dict:
    """The state as handlers see it: the offered choices are part of it."""
    loaded = jsontext.loads(state)
    if offered is not None:
        loaded["offered"] = jsontext.loads(offered)
    return loaded


@dataclass(frozen=True)
class Speaker:
    duplicate: bool
    contact: Contact | None
    reachable: bool
    flow: str | None
    state: dict
    last_seen: str | None = None  # contact_channels.last_seen_at as stored


@dataclass(frozen=True)
class ImportCounts:
    added: int
    updated: int
    unchanged: int


_UNIT_SELECT = (
    "SELECT u.id, u.code, u.name, u.kind, u.parent_code, u.short_name, u.valid_from, "
    "u.valid_to, (SELECT GROUP_CONCAT(code) FROM (SELECT s.code FROM unit_successors x "
    "JOIN units s ON s.id = x.successor_id WHERE x.unit_id = u.id ORDER BY x.position)) "
    "AS successors FROM units u")
# The columns an import may write, besides the code that names the unit.
_UNIT_FIELDS = ("name", "kind", "parent_code", "short_name", "valid_from", "valid_to")


def _unit(row: aiosqlite.Row) -> Unit:
    found = dict(row)
    found["successors"] = tuple(found["successors"].split(",")) if found["successors"] else ()
    return Unit.model_validate(found)


def _value(value: object) -> object:
    return value.isoformat() if isinstance(value, date) else value


@dataclass(frozen=True)
class KindIn:
    """A kind of unit as the units file names it."""

    code: str
    name_vi: str
    name_en: str
    position: int = 0


class UnitsRepo:
    def __init__(self, conn: aiosqlite.Connection):
        self.conn = conn

    async def upsert_many(self, units: list[UnitIn], now: datetime) -> ImportCounts:
        """Insert new units and update changed ones by code, in the caller's transaction. Only
        the fields a unit was given are written, so a file without the validity columns (the
        2023 list) changes no unit's life; successors are linked once every unit exists."""
        existing = {u.code: u for u in await self.list()}
        added = updated = unchanged = 0
        for unit in units:
            old = existing.get(unit.code)
            given = [f for f in _UNIT_FIELDS if f in unit.model_fields_set or old is None]
            if old is None:
                added += 1
            elif all(getattr(old, f) == getattr(unit, f) for f in given) and (
                    "successors" not in unit.model_fields_set
                    or old.successors == unit.successors):
                unchanged += 1
                continue
            else:
                updated += 1
            await self.conn.execute(
                f"INSERT INTO units (code, {', '.join(given)}, created_at, updated_at) "
                f"VALUES (?, {', '.join('?' * len(given))}, ?, ?) ON CONFLICT(code) DO UPDATE "
                f"SET {', '.join(f'{f} = excluded.{f}' for f in given)}, "
                "updated_at = excluded.updated_at",
                (unit.code, *(_value(getattr(unit, f)) for f in given), iso(now), iso(now)),
            )
        for unit in units:
            if "successors" in unit.model_fields_set:
                await self.set_successors(unit.code, unit.successors)
        return ImportCounts(added, updated, unchanged)

    async def set_successors(self, code: str, successors: tuple[str, ...]) -> None:
        """Replace a unit's successors (codes that exist), in this order."""
        await self.conn.execute(
            "DELETE FROM unit_successors WHERE unit_id = (SELECT id FROM units WHERE code = ?)",
            (code,))
        for position, successor in enumerate(successors):
            await self.conn.execute(
                "INSERT INTO unit_successors (unit_id, successor_id, position) SELECT u.id, "
                "s.id, ? FROM units u, units s WHERE u.code = ? AND s.code = ?",
                (position, code, successor))

    async def end(self, code: str, last_day: date, successors: tuple[str, ...],
                  now: datetime) -> None:
        """The unit exists until `last_day` (inclusive) and is carried on by `successors`."""
        await self.conn.execute("UPDATE units SET valid_to = ?, updated_at = ? WHERE code = ?",
                                (last_day.isoformat(), iso(now), code))
        await self.set_successors(code, successors)

    async def list(self, kind: str | None = None, valid_on: date | None = None) -> list[Unit]:
        """Every unit (of one kind; existing on one day), by kind and code."""
        sql, args = _UNIT_SELECT + " WHERE (:kind IS NULL OR u.kind = :kind)", {"kind": kind}
        if valid_on is not None:
            sql += (" AND (u.valid_from IS NULL OR u.valid_from <= :day) "
                    "AND (u.valid_to IS NULL OR u.valid_to >= :day)")
            args["day"] = valid_on.isoformat()
        rows = await self.conn.execute_fetchall(sql + " ORDER BY u.kind, u.code", args)
        return [_unit(row) for row in rows]

    async def valid_ids(self, day: date) -> set[int]:
        """The ids of the units that exist on `day`."""
        rows = await self.conn.execute_fetchall(
            "SELECT id FROM units WHERE (valid_from IS NULL OR valid_from <= :day) "
            "AND (valid_to IS NULL OR valid_to >= :day)", {"day": day.isoformat()})
        return {row[0] for row in rows}

    async def by_code(self, code: str) -> Unit | None:
        rows = await self.conn.execute_fetchall(
            _UNIT_SELECT + " WHERE u.code = ? COLLATE NOCASE", (code,))
        row = first(rows)
        return _unit(row) if row else None

    async def search(self, query: str, valid_on: date | None = None) -> builtins.list[Unit]:
        """The unit with this code, else those whose name contains the words (any diacritics);
        with `valid_on`, only units that exist that day are found by name."""
        exact = await self.by_code(query.strip())
        if exact:
            return [exact]
        needle = fold(query)
        return [u for u in await self.list(valid_on=valid_on)
                if needle and (needle in fold(u.name) or needle in fold(u.short_name or ""))]

    async def get(self, unit_id: int) -> Unit | None:
        rows = await self.conn.execute_fetchall(_UNIT_SELECT + " WHERE u.id = ?", (unit_id,))
        row = first(rows)
        return _unit(row) if row else None

    async def count(self) -> int:
        rows = await self.conn.execute_fetchall("SELECT COUNT(*) FROM units")
        return one(rows)[0]

    async def officers_of_ended(self, today: date) -> builtins.list[tuple[int, int]]:
        """(contact id, unit id) of the active officers of units that no longer exist."""
        rows = await self.conn.execute_fetchall(
            "SELECT c.id, u.id FROM contacts c JOIN units u ON u.id = c.unit_id WHERE "
            "c.role = 'officer' AND c.deactivated_at IS NULL AND u.valid_to < ? ORDER BY c.id",
            (today.isoformat(),))
        return [(row[0], row[1]) for row in rows]

    async def needing_invites(self, today: date) -> builtins.list[tuple[int, str, str, str]]:
        """(contact id, name, unit code, successor codes) of the officers whose access ended
        with their unit's: each needs a new invite to the unit they now report for."""
        rows = await self.conn.execute_fetchall(
            "SELECT c.id, c.name, u.code, (SELECT GROUP_CONCAT(s.code) FROM unit_successors x "
            "JOIN units s ON s.id = x.successor_id WHERE x.unit_id = u.id) FROM contacts c "
            "JOIN units u ON u.id = c.unit_id WHERE c.role = 'officer' AND c.erased_at IS NULL "
            "AND c.deactivated_at IS NOT NULL AND u.valid_to < ? ORDER BY u.code, c.id",
            (today.isoformat(),))
        return [(row[0], row[1], row[2], row[3] or "") for row in rows]

    async def upsert_kinds(self, kinds: builtins.list[KindIn]) -> None:
        for kind in kinds:
            await self.conn.execute(
                "INSERT INTO unit_kinds (code, name_vi, name_en, position) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(code) DO UPDATE SET name_vi = excluded.name_vi, "
                "name_en = excluded.name_en, position = excluded.position",
                (kind.code, kind.name_vi, kind.name_en, kind.position))

    async def kinds(self) -> dict[str, dict[str, str]]:
        """kind code -> its name by language, in the file's order."""
        rows = await self.conn.execute_fetchall(
            "SELECT code, name_vi, name_en FROM unit_kinds ORDER BY position, code")
        return {row[0]: {"vi": row[1], "en": row[2]} for row in rows}


_CONTACT_COLUMNS = ("c.id, c.unit_id, c.role, c.name, c.language, "
                    "c.deactivated_at IS NULL AS active, c.admin_by_setting")


@dataclass(frozen=True)
class Person:
    """A row of the list of people: who, where, on which channels, when last heard from."""

    contact: Contact
    unit_code: str | None
    channels: tuple[str, ...]
    last_seen: datetime | None


def load_speaker(conn: sqlite3.Connection, channel: str, external_id: str,
                 update_id: str) -> Speaker:
    """ContactsRepo.speaker's query, run on the database thread (one call with the step's
    savepoint, see Database.batch)."""
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM processed_updates WHERE channel = :channel "
        f"AND update_id = :update) AS duplicate, {_CONTACT_COLUMNS}, i.reachable, "
        "i.last_seen_at, s.flow, "
        "s.state, s.offered FROM (SELECT 1) LEFT JOIN contact_channels i "
        "ON i.channel = :channel AND i.external_id = :user "
        "LEFT JOIN contacts c ON c.id = i.contact_id LEFT JOIN sessions s ON s.contact_id = c.id",
        {"channel": channel, "user": external_id, "update": update_id}).fetchall()[0]
    contact = Contact.model_validate(dict(row)) if row["id"] is not None else None
    state = session_state(row["state"], row["offered"]) if row["state"] else {}
    return Speaker(bool(row["duplicate"]), contact, bool(row["reachable"]), row["flow"], state,
                   row["last_seen_at"])


def _digests_by_default(role: Role) -> int:
    """Digests are on for a new contact, except leaders, who take them when they choose to."""
    return int(role is not Role.LEADER)


class ContactsRepo:
    def __init__(self, conn: aiosqlite.Connection, pending: PendingWrites | None = None,
                 loaded: dict[tuple, object] | None = None, signals: set[str] | None = None):
        self.conn = conn
        self.pending = pending
        self.signals = signals if signals is not None else set()
        # What the transaction's first call to the database loaded ahead (see load_speaker).
        self.loaded = loaded if loaded is not None else {}

    async def by_identity(self, channel: str, external_id: str) -> Contact | None:
        rows = await self.conn.execute_fetchall(
            f"SELECT {_CONTACT_COLUMNS} FROM contact_channels i "
            "JOIN contacts c ON c.id = i.contact_id "
            "WHERE i.channel = ? AND i.external_id = ?",
            (channel, external_id),
        )
        row = first(rows)
        return Contact.model_validate(dict(row)) if row else None

    async def speaker(self, channel: str, external_id: str, update_id: str) -> Speaker:
        """Who is writing, where their conversation stands, and whether this update was already
        processed: one query, loaded ahead with the step's first call when the runtime knows
        the update (Database.batch)."""
        found = self.loaded.pop(("speaker", channel, external_id, update_id), None)
        if isinstance(found, Speaker):
            return found
        return await run_inline(self.conn, load_speaker, channel, external_id, update_id)

    async def get(self, contact_id: int) -> Contact | None:
        rows = await self.conn.execute_fetchall(
            f"SELECT {_CONTACT_COLUMNS} FROM contacts c WHERE c.id = ?", (contact_id,)
        )
        row = first(rows)
        return Contact.model_validate(dict(row)) if row else None

    async def create(
        self, *, unit_id: int | None, role: Role, name: str, language: str, now: datetime,
        admin_by_setting: bool = False,
    ) -> Contact:
        digests = _digests_by_default(role)
        cur = await self.conn.execute(
            "INSERT INTO contacts (unit_id, role, name, language, created_at, admin_by_setting, "
            "digest_daily, digest_weekly) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (unit_id, role.value, name, language, iso(now), int(admin_by_setting), digests,
             digests),
        )
        assert cur.lastrowid is not None  # an INSERT always sets it
        return Contact(id=cur.lastrowid, unit_id=unit_id, role=role, name=name, language=language,
                       admin_by_setting=admin_by_setting)

    async def bind(
        self, contact_id: int, channel: str, external_id: str, chat_id: str, now: datetime
    ) -> None:
        """Attach a channel address to a contact (re-binding moves it and makes it reachable);
        the person is writing from it, so it was seen now."""
        await self.conn.execute(
            "INSERT INTO contact_channels (channel, external_id, contact_id, chat_id, reachable, "
            "created_at, last_seen_at) VALUES (?, ?, ?, ?, 1, ?, ?) "
            "ON CONFLICT(channel, external_id) DO UPDATE SET contact_id = excluded.contact_id, "
            "chat_id = excluded.chat_id, reachable = 1, last_seen_at = excluded.last_seen_at",
            (channel, external_id, contact_id, chat_id, iso(now), iso(now)),
        )

    async def update(self, contact_id: int, *, unit_id: int | None, role: Role) -> None:
        # A new role brings that role's digest defaults; the same role keeps the choices made.
        digests = _digests_by_default(role)
        await self.conn.execute(
            "UPDATE contacts SET unit_id = ?, role = ?, "
            "digest_daily = CASE WHEN role = ? THEN digest_daily ELSE ? END, "
            "digest_weekly = CASE WHEN role = ? THEN digest_weekly ELSE ? END WHERE id = ?",
            (unit_id, role.value, role.value, digests, role.value, digests, contact_id),
        )

    async def set_active(self, contact_id: int, active: bool, now: datetime) -> None:
        await self.conn.execute("UPDATE contacts SET deactivated_at = ? WHERE id = ?",
                                (None if active else iso(now), contact_id))

    async def promote_by_setting(self, contact_id: int) -> None:
        """ADMIN_IDS lists them: an active admin, remembering the role to go back to (none if
        they had no access of their own: deactivated, or made admin by the setting alone)."""
        await self.conn.execute(
            "UPDATE contacts SET role_before_admin = CASE WHEN admin_by_setting = 1 "
            "THEN role_before_admin WHEN deactivated_at IS NOT NULL THEN NULL ELSE role END, "
            "role = 'admin', admin_by_setting = 1, deactivated_at = NULL WHERE id = ?",
            (contact_id,))

    async def end_admin_by_setting(self, contact_id: int) -> Role | None:
        """ADMIN_IDS no longer lists them: forget it; the role they had before, if any."""
        rows = await self.conn.execute_fetchall(
            "SELECT role_before_admin FROM contacts WHERE id = ?", (contact_id,))
        await self.conn.execute(
            "UPDATE contacts SET admin_by_setting = 0, role_before_admin = NULL WHERE id = ?",
            (contact_id,))
        row = first(rows)
        return Role(row[0]) if row and row[0] else None

    def touch(self, channel: str, external_id: str, now: datetime,
              seen_before: str | None) -> None:
        """Note when the person last wrote, with the step's other writes; `seen_before`: the
        time stored now. Written once a minute at most: it is shown to the minute, and a person
        filling a form writes several times a minute."""
        assert self.pending is not None
        at = iso(now)
        if seen_before is None or seen_before[:16] != at[:16]:  # "YYYY-MM-DDTHH:MM", UTC
            self.pending.seen.append((at, channel, external_id))

    async def unbind(self, channel: str, external_id: str) -> None:
        await self.conn.execute(
            "DELETE FROM contact_channels WHERE channel = ? AND external_id = ?",
            (channel, external_id))

    async def people(self, search: str = "", contact_id: int | None = None,
                     limit: int = 1000) -> list[Person]:
        """Everyone (or the one with this id, or those whose name or unit matches `search`,
        any diacritics), admins first, then by unit."""
        rows = await self.conn.execute_fetchall(
            f"SELECT {_CONTACT_COLUMNS}, u.code AS unit_code, u.name AS unit_name, "
            "GROUP_CONCAT(i.channel) AS channels, MAX(i.last_seen_at) AS last_seen "
            "FROM contacts c LEFT JOIN units u ON u.id = c.unit_id "
            "LEFT JOIN contact_channels i ON i.contact_id = c.id "
            "WHERE (:id IS NULL OR c.id = :id) GROUP BY c.id "
            "ORDER BY c.role != 'admin', u.code, c.name, c.id", {"id": contact_id})
        needle = fold(search)
        found = []
        for row in rows:
            if needle and not any(needle in fold(row[k] or "")
                                  for k in ("name", "unit_code", "unit_name")):
                continue
            found.append(Person(
                Contact.model_validate(dict(row)), row["unit_code"],
                tuple(sorted(set((row["channels"] or "").split(",")) - {""})),
                datetime.fromisoformat(row["last_seen"]) if row["last_seen"] else None))
            if len(found) >= limit:
                break
        return found

    async def set_language(self, contact_id: int, language: str) -> None:
        await self.conn.execute(
            "UPDATE contacts SET language = ? WHERE id = ?", (language, contact_id)
        )

    async def seen(self, channel: str, external_id: str) -> None:
        """The person wrote to us, so the bot is not blocked any more."""
        await self.conn.execute(
            "UPDATE contact_channels SET reachable = 1 WHERE channel = ? AND external_id = ?",
            (channel, external_id),
        )

    async def identities(self, contact_id: int) -> list[Identity]:
        rows = await self.conn.execute_fetchall(
            "SELECT channel, external_id, contact_id, chat_id, reachable, last_seen_at "
            "FROM contact_channels WHERE contact_id = ? ORDER BY channel",
            (contact_id,),
        )
        return [Identity.model_validate(dict(r)) for r in rows]

    async def reachable_identities(
        self, *, roles: list[Role], unit_id: int | None = None, each_report: bool = False
    ) -> list[tuple[Contact, Identity]]:
        """Where to reach every contact with one of `roles` (of one unit, if given; only those
        who take each report as it arrives, if `each_report`)."""
        sql = (
            f"SELECT {_CONTACT_COLUMNS}, i.channel, i.external_id, i.chat_id, i.reachable "
            "FROM contacts c JOIN contact_channels i ON i.contact_id = c.id "
            "WHERE i.reachable = 1 AND c.deactivated_at IS NULL "
            f"AND c.role IN ({','.join('?' * len(roles))})"
        )
        args: list = [r.value for r in roles]
        if unit_id is not None:
            sql += " AND c.unit_id = ?"
            args.append(unit_id)
        if each_report:
            sql += " AND c.notify_each_report = 1"
        rows = await fetch_inline(self.conn, sql + " ORDER BY c.id, i.channel", args)
        return [
            (
                Contact.model_validate(dict(r)),
                Identity(
                    channel=r["channel"],
                    external_id=r["external_id"],
                    contact_id=r["id"],
                    chat_id=r["chat_id"],
                    reachable=bool(r["reachable"]),
                ),
            )
            for r in rows
        ]

    async def set_notify_each_report(self, contact_id: int, on: bool) -> None:
        await self.conn.execute("UPDATE contacts SET notify_each_report = ? WHERE id = ?",
                                (int(on), contact_id))

    async def notify_each_report(self, contact_id: int) -> bool:
        rows = await self.conn.execute_fetchall(
            "SELECT notify_each_report FROM contacts WHERE id = ?", (contact_id,))
        row = first(rows)
        return bool(row and row[0])

    async def digest_preferences(self, contact_id: int) -> dict[str, int | bool]:
        rows = await self.conn.execute_fetchall(
            "SELECT digest_daily, digest_weekly, digest_hour, digest_roll_up FROM contacts "
            "WHERE id = ?", (contact_id,))
        row = first(rows)
        if row is None:
            return {"daily": False, "weekly": False, "hour": 8, "roll_up": False}
        return {"daily": bool(row[0]), "weekly": bool(row[1]), "hour": row[2],
                "roll_up": bool(row[3])}

    async def set_digest_hour(self, contact_id: int, hour: int) -> None:
        await self.conn.execute("UPDATE contacts SET digest_hour = ? WHERE id = ?",
                                (hour, contact_id))

    async def set_digest_preference(self, contact_id: int, which: str, on: bool) -> None:
        column = {"daily": "digest_daily", "weekly": "digest_weekly",
                  "roll_up": "digest_roll_up"}[which]
        await self.conn.execute(f"UPDATE contacts SET {column} = ? WHERE id = ?",
                                (int(on), contact_id))

    async def erase(self, contact_id: int, now: datetime) -> bool:
        """Forget a person, keep their unit's work: their channel identities, name, conversation,
        drafts, preferences, unused link codes and the texts of the messages to them go; the
        contact row stays (nameless, marked erased) so reports, difficulties and their history
        still hold together and read "a former officer of UNIT". False if there is no such
        person or they were erased already."""
        rows = await self.conn.execute_fetchall(
            "SELECT name FROM contacts WHERE id = ? AND erased_at IS NULL", (contact_id,))
        row = first(rows)
        name = row[0] if row else ""
        cur = await self.conn.execute(
            "UPDATE contacts SET name = '', erased_at = ?, notify_each_report = 0, "
            "digest_daily = 0, digest_weekly = 0 WHERE id = ? AND erased_at IS NULL",
            (iso(now), contact_id))
        if cur.rowcount != 1:
            return False
        # Messages to them: the texts are blanked, and what was still waiting is not sent.
        await self.conn.execute(
            "UPDATE outbox SET payload = '{}', chat_id = '', status = CASE status WHEN 'pending' "
            "THEN 'cancelled' ELSE status END WHERE contact_id = ? OR (channel, chat_id) IN "
            "(SELECT channel, chat_id FROM contact_channels WHERE contact_id = ?)",
            (contact_id, contact_id))
        self.signals.add("delivery")
        if len(name) >= 3:  # messages to others that named them ("new difficulty from ...")
            await self.conn.execute(
                "UPDATE outbox SET payload = '{}' WHERE status <> 'pending' "
                "AND instr(payload, ?) > 0", (name,))
        for table in ("contact_channels", "sessions", "drafts"):
            await self.conn.execute(f"DELETE FROM {table} WHERE contact_id = ?", (contact_id,))
        await self.conn.execute(
            "UPDATE invites SET revoked_at = ? WHERE for_contact = ? AND used_at IS NULL "
            "AND revoked_at IS NULL", (iso(now), contact_id))
        await self.conn.execute(
            "UPDATE jobs SET status = 'failed', finished_at = ? WHERE contact_id = ? "
            "AND status = 'pending'", (iso(now), contact_id))
        return True

    async def count_by_unit(self) -> dict[int, int]:
        rows = await self.conn.execute_fetchall(
            "SELECT unit_id, COUNT(*) FROM contacts WHERE unit_id IS NOT NULL "
            "AND erased_at IS NULL GROUP BY unit_id"
        )
        return {row[0]: row[1] for row in rows}


# Codes are read aloud and typed on phones (Zalo has no deep links), so the alphabet leaves out
# look-alikes (0/O, 1/I/L). 12 characters of 31 give about 59 bits: unguessable for a single-use,
# expiring code.
INVITE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
INVITE_LENGTH = 12


class InviteProblem(StrEnum):
    UNKNOWN = "unknown"
    USED = "used"
    EXPIRED = "expired"
    REVOKED = "revoked"


# How many invites one request may make, in chat and in the CLI alike (50 codes with their
# links fit in one chat message).
MAX_INVITES_AT_ONCE = 50


def code_hash(code: str) -> str:
    """What the database keeps of an invite or link code: its SHA-256, so a copy of the
    database (a backup, a stolen disk) gives no usable code. The code has about 59 random bits
    and is single-use and expiring, so a fast hash is enough."""
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


class InvitesRepo:
    """Invites by code; the code itself is known only to the person who was given it (the
    database holds its hash, see code_hash)."""

    def __init__(self, conn: aiosqlite.Connection):
        self.conn = conn

    async def create(
        self, *, unit_id: int | None, role: Role, created_by: str, now: datetime, days: int,
        for_contact: int | None = None, made_on: str | None = None,
    ) -> Invite:
        code = "".join(secrets.choice(INVITE_ALPHABET) for _ in range(INVITE_LENGTH))
        invite = Invite(
            code=code,
            unit_id=unit_id,
            role=role,
            created_by=created_by,
            created_at=now,
            expires_at=now + timedelta(days=days),
            for_contact=for_contact,
            made_on=made_on,
        )
        await self.conn.execute(
            "INSERT INTO invites (code, unit_id, role, created_by, created_at, expires_at, "
            "for_contact, made_on) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (code_hash(code), unit_id, role.value, created_by, iso(now), iso(invite.expires_at),
             for_contact, made_on),
        )
        return invite

    async def get(self, code: str) -> Invite | None:
        """The invite of this code (the code as typed, not its hash)."""
        rows = await self.conn.execute_fetchall(
            "SELECT * FROM invites WHERE code = ?", (code_hash(code),)
        )
        row = first(rows)
        return Invite.model_validate(dict(row) | {"code": code.strip().upper()}) if row else None

    async def check(self, code: str, now: datetime) -> Invite | InviteProblem:
        """The invite if it can still be used, else why not."""
        invite = await self.get(code)
        if invite is None:
            return InviteProblem.UNKNOWN
        if invite.revoked_at is not None:
            return InviteProblem.REVOKED
        if invite.used_at is not None:
            return InviteProblem.USED
        if invite.expires_at <= now:
            return InviteProblem.EXPIRED
        return invite

    async def mark_used(self, code: str, contact_id: int, now: datetime) -> bool:
        """Use the invite once; False if someone else used it first."""
        cur = await self.conn.execute(
            "UPDATE invites SET used_at = ?, used_by = ? WHERE code = ? AND used_at IS NULL "
            "AND revoked_at IS NULL",
            (iso(now), contact_id, code_hash(code)),
        )
        return cur.rowcount == 1

    async def pending(self, now: datetime, limit: int = 30) -> list[Invite]:
        """Invites that can still be used (not the one-day /link codes), newest first."""
        rows = await self.conn.execute_fetchall(
            "SELECT * FROM invites WHERE used_at IS NULL AND revoked_at IS NULL AND "
            "for_contact IS NULL AND expires_at > ? ORDER BY created_at DESC, code LIMIT ?",
            (iso(now), limit))
        return [Invite.model_validate(dict(row)) for row in rows]

    async def revoke(self, code: str, now: datetime) -> bool:
        return await self.revoke_stored(code_hash(code), now)

    async def revoke_stored(self, stored: str, now: datetime) -> bool:
        """Revoke by what the database keeps (the code's hash, or its first 16 characters as
        listed by `pending`: the code itself is not kept)."""
        if len(stored) < 16:
            return False
        cur = await self.conn.execute(
            "UPDATE invites SET revoked_at = ? WHERE substr(code, 1, ?) = ? "
            "AND revoked_at IS NULL AND used_at IS NULL",
            (iso(now), len(stored), stored),
        )
        return cur.rowcount == 1


    async def void_links(self, contact_id: int, now: datetime) -> None:
        """Withdraw the person's unused /link codes."""
        await self.conn.execute(
            "UPDATE invites SET revoked_at = ? WHERE for_contact = ? AND used_at IS NULL "
            "AND revoked_at IS NULL", (iso(now), contact_id))


class AuditRepo:
    def __init__(self, conn: aiosqlite.Connection):
        self.conn = conn

    async def record(self, actor: str, action: str, now: datetime, **details: object) -> None:
        await self.conn.execute(
            "INSERT INTO audit_log (at, actor, action, details) VALUES (?, ?, ?, ?)",
            (iso(now), actor, action, json.dumps(details, ensure_ascii=False, default=str)),
        )

    async def recent(self, limit: int = 50) -> list[dict]:
        rows = await self.conn.execute_fetchall(
            "SELECT at, actor, action, details FROM audit_log ORDER BY id DESC LIMIT ?", (limit,)
        )
        return [dict(r) | {"details": json.loads(r["details"])} for r in rows]


class MetaRepo:
    def __init__(self, conn: aiosqlite.Connection):
        self.conn = conn

    async def get(self, key: str) -> str | None:
        rows = await self.conn.execute_fetchall("SELECT value FROM meta WHERE key = ?", (key,))
        row = first(rows)
        return row[0] if row else None

    async def set(self, key: str, value: str) -> None:
        await self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )
