"""What is owed and what arrived: completeness and timeliness per obligation and period, moved
deadlines, and the record of every scheduled notification (so none is sent twice)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import aiosqlite

from storage.units import iso


@dataclass(frozen=True)
class Owed:
    """One obligation for one period, as the storage queries need it."""

    report_kind: str
    level: str | None
    unit_kinds: tuple[str, ...]
    period_key: str
    start: date
    end: date
    # Reports created before this moment (UTC) are on time: the end of the deadline day, local.
    on_time_before: datetime
    # The obligation's id, so that a unit's own extension of the deadline is taken into account.
    obligation: str = ""
    # Only the units that exist on this day owe it (the deadline: a unit merged away before it
    # owes nothing, its successor does); None: every unit of the kinds.
    valid_on: date | None = None
    # Reports of the kind name their period (a periodic report), rather than fall in it by
    # their activity date.
    by_period: bool = False


@dataclass(frozen=True)
class UnitStatus:
    unit_id: int
    code: str
    name: str
    kind: str
    first_at: datetime | None  # when the first satisfying report arrived
    on_time: bool
    extended_to: date | None = None  # this unit's own deadline, if it was given more time
    valid_to: date | None = None  # its last day, if it has ceased to exist (or will)

    def ended_before(self, day: date) -> bool:
        """The unit no longer exists on `day`: it cannot be chased any more."""
        return self.valid_to is not None and self.valid_to < day


@dataclass(frozen=True)
class Tally:
    """Of the units of one kind that owe it: how many, how many sent it, how many in time."""

    kind: str
    expected: int
    sent: int
    on_time: int


def _satisfying(owed: Owed) -> str:
    """SQL condition: report `r` satisfies the obligation (named parameters). Each shape is
    written out so that SQLite can use an index for it (see _first_index, _any_index)."""
    if owed.by_period:
        return "r.kind = :kind AND r.period_key = :period"
    level = "r.level = :level AND " if owed.level else ""
    return f"r.kind = :kind AND {level}r.activity_date BETWEEN :start AND :end"


def _params(owed: Owed) -> dict:
    params = {"kind": owed.report_kind, "level": owed.level, "period": owed.period_key,
              "obligation": owed.obligation,
              "start": owed.start.isoformat(), "end": owed.end.isoformat(),
              "on_time": iso(owed.on_time_before),
              "valid_on": owed.valid_on.isoformat() if owed.valid_on else None}
    params |= {f"k{i}": kind for i, kind in enumerate(owed.unit_kinds)}
    return params


def _first_index(owed: Owed) -> str:
    """The covering index that finds a unit's first satisfying report with one short read
    (migration 0023): named, because the planner prefers the range indexes that read every
    report of the kind in the period to find the earliest."""
    if owed.by_period:
        return "reports_unit_period"
    return "reports_first_level" if owed.level else "reports_first"


def _any_index(owed: Owed) -> str:
    """The index that tells whether a unit sent anything satisfying, in one seek (by activity
    day: the status grid's index of 0025, whose prefix is 0006's range index it replaced)."""
    if owed.by_period:
        return "reports_unit_period"
    return "reports_owed" if owed.level else "reports_first_by_date"


def _kinds(owed: Owed) -> str:
    return ", ".join(f":k{i}" for i in range(len(owed.unit_kinds))) or "NULL"


# The units that exist on the day the obligation is judged (see Owed.valid_on).
_VALID = ("(:valid_on IS NULL OR ((u.valid_from IS NULL OR u.valid_from <= :valid_on) "
          "AND (u.valid_to IS NULL OR u.valid_to >= :valid_on)))")


class TrackingRepo:
    def __init__(self, conn: aiosqlite.Connection):
        self.conn = conn

    async def status(self, owed: Owed) -> list[UnitStatus]:
        """Every unit that owes it, with when its first satisfying report arrived."""
        rows = await self.conn.execute_fetchall(
            "SELECT u.id, u.code, u.name, u.kind, "
            f"(SELECT MIN(r.created_at) FROM reports r INDEXED BY {_first_index(owed)} "
            f"WHERE r.unit_id = u.id AND "
            f"{_satisfying(owed)}) AS first_at, e.due, e.on_time_before, u.valid_to FROM units u "
            "LEFT JOIN deadline_extensions e ON e.unit_id = u.id AND e.obligation = :obligation "
            f"AND e.period_key = :period WHERE u.kind IN ({_kinds(owed)}) AND {_VALID} "
            "ORDER BY u.kind, u.code", _params(owed))
        bound = iso(owed.on_time_before)
        return [UnitStatus(r[0], r[1], r[2], r[3],
                           datetime.fromisoformat(r[4]) if r[4] else None,
                           r[4] is not None and r[4] < (r[6] or bound),
                           date.fromisoformat(r[5]) if r[5] else None,
                           date.fromisoformat(r[7]) if r[7] else None) for r in rows]

    async def first_sent(self, owed: Owed) -> dict[int, datetime]:
        """unit id -> when its first report satisfying the obligation arrived, for the units
        that sent one without owing it (of another kind, or not existing on the deadline: a
        unit that has since ceased to exist) or that have successors (whose history a roll-up
        passes on). Any other unit owes it and carries its own history: status has its
        first report."""
        # One seek per such unit on the covering index, rather than reading every satisfying
        # report of every unit (half a second for a five-year period over 1,000,000 reports).
        rows = await self.conn.execute_fetchall(
            "WITH s AS MATERIALIZED (SELECT u.id, "
            f"(SELECT MIN(r.created_at) FROM reports r INDEXED BY {_first_index(owed)} "
            f"WHERE r.unit_id = u.id AND {_satisfying(owed)}) AS first_at FROM units u "
            f"WHERE NOT (u.kind IN ({_kinds(owed)}) AND {_VALID}) OR EXISTS "
            "(SELECT 1 FROM unit_successors n WHERE n.unit_id = u.id)) "
            "SELECT id, first_at FROM s WHERE first_at IS NOT NULL", _params(owed))
        return {r[0]: datetime.fromisoformat(r[1]) for r in rows}

    async def missing(self, owed: Owed, still_on: date | None = None
                      ) -> list[tuple[int, str, str]]:
        """(id, code, name) of the units that owe it and have sent nothing that satisfies it
        (with `still_on`, only those that still exist that day: the others cannot be chased)."""
        params = _params(owed) | {"still": still_on.isoformat() if still_on else None}
        rows = await self.conn.execute_fetchall(
            f"SELECT u.id, u.code, u.name FROM units u WHERE u.kind IN ({_kinds(owed)}) "
            f"AND {_VALID} AND (:still IS NULL OR u.valid_to IS NULL OR u.valid_to >= :still) "
            f"AND NOT EXISTS (SELECT 1 FROM reports r INDEXED BY {_any_index(owed)} "
            f"WHERE r.unit_id = u.id AND "
            f"{_satisfying(owed)}) ORDER BY u.code", params)
        return [(r[0], r[1], r[2]) for r in rows]

    async def tally(self, owed: Owed) -> list[Tally]:
        """The units that owe it counted per kind of unit (status's counts, without a row
        per unit: what the digests show)."""
        # MATERIALIZED: the first report is looked up once per unit, not once per use.
        rows = await self.conn.execute_fetchall(
            "WITH s AS MATERIALIZED (SELECT u.kind, "
            f"(SELECT MIN(r.created_at) FROM reports r INDEXED BY {_first_index(owed)} "
            f"WHERE r.unit_id = u.id AND {_satisfying(owed)}) AS first_at, e.on_time_before "
            "FROM units u LEFT JOIN deadline_extensions e ON e.unit_id = u.id AND "
            "e.obligation = :obligation AND e.period_key = :period "
            f"WHERE u.kind IN ({_kinds(owed)}) AND {_VALID}) "
            "SELECT kind, COUNT(*), COUNT(first_at), "
            "SUM(CASE WHEN first_at < COALESCE(on_time_before, :on_time) THEN 1 ELSE 0 END) "
            "FROM s GROUP BY kind ORDER BY kind", _params(owed))
        return [Tally(r[0], r[1], r[2], r[3]) for r in rows]

    async def first_notification(self, key: str, kind: str, now: datetime) -> bool:
        """Record a scheduled notification; False if it was already sent."""
        cur = await self.conn.execute(
            "INSERT INTO notifications (key, kind, sent_at) VALUES (?, ?, ?) "
            "ON CONFLICT DO NOTHING", (key, kind, iso(now)))
        return cur.rowcount == 1

    async def moved_deadlines(self) -> dict[tuple[str, str], date]:
        rows = await self.conn.execute_fetchall(
            "SELECT obligation, period_key, due FROM deadline_overrides")
        return {(r[0], r[1]): date.fromisoformat(r[2]) for r in rows}

    async def move_deadline(self, obligation: str, period_key: str, due: date, contact_id: int,
                            now: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO deadline_overrides (obligation, period_key, due, moved_by, moved_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (obligation, period_key) DO UPDATE SET "
            "due = excluded.due, moved_by = excluded.moved_by, moved_at = excluded.moved_at",
            (obligation, period_key, due.isoformat(), contact_id, iso(now)))

    async def extensions(self, obligation: str, period_key: str) -> dict[int, date]:
        """unit id -> that unit's own deadline for one obligation and period."""
        rows = await self.conn.execute_fetchall(
            "SELECT unit_id, due FROM deadline_extensions WHERE obligation = ? AND "
            "period_key = ?", (obligation, period_key))
        return {r[0]: date.fromisoformat(r[1]) for r in rows}

    async def extend(self, obligation: str, period_key: str, unit_id: int, due: date,
                     on_time_before: datetime, contact_id: int, now: datetime) -> None:
        """Give one unit its own deadline (a second extension replaces the first)."""
        await self.conn.execute(
            "INSERT INTO deadline_extensions (obligation, period_key, unit_id, due, "
            "on_time_before, extended_by, extended_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (obligation, period_key, unit_id) DO UPDATE SET due = excluded.due, "
            "on_time_before = excluded.on_time_before, extended_by = excluded.extended_by, "
            "extended_at = excluded.extended_at",
            (obligation, period_key, unit_id, due.isoformat(), iso(on_time_before), contact_id,
             iso(now)))
