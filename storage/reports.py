"""Reports: numbered on arrival, versioned on every edit, reviewed by coordinators."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

import aiosqlite
from pydantic import BaseModel, ConfigDict

from storage.text import fold
from storage.units import add_attachments, first, iso, next_number, one, run_inline


class ReportStatus(StrEnum):
    RECEIVED = "received"
    NEEDS_CORRECTION = "needs_correction"
    APPROVED = "approved"


class Report(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    number: str
    unit_id: int
    contact_id: int
    kind: str
    period_key: str | None
    activity_date: date | None
    answers: dict[str, Any]
    status: ReportStatus
    version: int
    created_at: datetime
    updated_at: datetime
    unit_name: str = ""
    unit_code: str = ""


class ReportVersion(BaseModel):
    version: int
    answers: dict[str, Any]
    changed_by: int | None
    changer_name: str = ""
    changed_at: datetime
    # The person was erased: shown as a former officer of their unit (changer_unit).
    changer_erased: bool = False
    changer_unit: str = ""


class ReportEvent(BaseModel):
    kind: str
    contact_id: int | None
    note: str | None
    at: datetime


_SELECT = ("SELECT r.id, r.number, r.unit_id, r.contact_id, r.kind, r.period_key, "
           "r.activity_date, r.answers, r.status, r.version, r.created_at, r.updated_at, "
           "u.name AS unit_name, u.code AS unit_code "
           "FROM reports r JOIN units u ON u.id = r.unit_id")


@dataclass
class Totals:
    """Reports of a period counted per kind, number answers summed and choice answers counted
    per option; `sums` and `options` are keyed by (report kind, answer key)."""

    by_kind: dict[str, int] = field(default_factory=dict)
    sums: dict[tuple[str, str], int] = field(default_factory=dict)
    options: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)


# (report kind, answer key) pairs: which answers to sum, which to count per option.
Asked = Sequence[tuple[str, str]]


def _report(row: aiosqlite.Row) -> Report:
    return Report.model_validate(dict(row) | {"answers": json.loads(row["answers"])})


# A report's writes, each one call run at once on the loop's thread (storage.units.run_inline):
# a submission or a correction is a form's last step, and a hop to the database thread for each
# of its statements cost more than their SQL.

def _create(conn: sqlite3.Connection, report: dict[str, Any], attachments: list[dict],
            channel: str) -> Report:
    report_id = one(conn.execute(
        "INSERT INTO reports (number, unit_id, contact_id, kind, period_key, activity_date, "
        "answers, created_at, updated_at) VALUES (:number, :unit_id, :contact_id, :kind, "
        ":period_key, :activity_date, :answers, :at, :at) RETURNING id",
        {**report, "number": next_number(conn, "BC", report["year"])}).fetchall())[0]
    return _written(conn, report_id, attachments, channel, report["at"], "submitted",
                    report["contact_id"])


def _update(conn: sqlite3.Connection, change: dict[str, Any], attachments: list[dict],
            channel: str) -> Report:
    conn.execute(
        "INSERT INTO report_versions (report_id, version, answers, changed_by, changed_at) "
        "VALUES (:id, :version, :previous, :contact_id, :at)", change)
    conn.execute(
        "UPDATE reports SET answers = :answers, version = version + 1, status = 'received', "
        "activity_date = :activity_date, period_key = :period_key, updated_at = :at "
        "WHERE id = :id", change)
    return _written(conn, change["id"], attachments, channel, change["at"], "edited",
                    change["contact_id"])


def _written(conn: sqlite3.Connection, report_id: int, attachments: list[dict], channel: str,
             at: str, event: str, contact_id: int) -> Report:
    """What goes with every version of a report (its words in the search index, migration
    0025; its evidence; the event), then the report as written."""
    conn.execute("DELETE FROM report_words WHERE rowid = ?", (report_id,))
    conn.execute(
        "INSERT INTO report_words (rowid, words) SELECT r.id, "
        "fold(r.number || ' ' || u.name || ' ' || r.answers) FROM reports r "
        "JOIN units u ON u.id = r.unit_id WHERE r.id = ?", (report_id,))
    conn.execute("DELETE FROM attachments WHERE owner_kind = 'report' AND owner_id = ?",
                 (report_id,))
    add_attachments(conn, "report", report_id, attachments, channel, at)
    _add_event(conn, report_id, event, contact_id, None, at)
    return _report(one(conn.execute(_SELECT + " WHERE r.id = ?", (report_id,)).fetchall()))


def _set_status(conn: sqlite3.Connection, report_id: int, status: str, contact_id: int,
                note: str | None, at: str) -> None:
    conn.execute("UPDATE reports SET status = ?, updated_at = ? WHERE id = ?",
                 (status, at, report_id))
    _add_event(conn, report_id, status, contact_id, note, at)


def _add_event(conn: sqlite3.Connection, report_id: int, kind: str, contact_id: int | None,
               note: str | None, at: str) -> None:
    conn.execute("INSERT INTO report_events (report_id, kind, contact_id, note, at) "
                 "VALUES (?, ?, ?, ?, ?)", (report_id, kind, contact_id, note, at))


class ReportsRepo:
    def __init__(self, conn: aiosqlite.Connection):
        self.conn = conn

    async def create(self, *, unit_id: int, contact_id: int, kind: str, period_key: str | None,
                     activity_date: date | None, answers: dict, attachments: list[dict],
                     channel: str, now: datetime, local_year: int) -> Report:
        """Store a new report with its evidence; it gets the next number of the year."""
        return await run_inline(self.conn, _create, {
            "unit_id": unit_id, "contact_id": contact_id, "kind": kind, "period_key": period_key,
            "activity_date": activity_date.isoformat() if activity_date else None,
            "answers": json.dumps(answers, ensure_ascii=False), "at": iso(now),
            "year": local_year}, attachments, channel)

    async def attachments(self, report_id: int) -> list[dict]:
        rows = await self.conn.execute_fetchall(
            "SELECT channel, kind, file_id, file_name AS name, id FROM attachments "
            "WHERE owner_kind = 'report' AND owner_id = ? ORDER BY id", (report_id,))
        return [dict(r) for r in rows]

    async def get(self, report_id: int) -> Report | None:
        row = first(await self.conn.execute_fetchall(_SELECT + " WHERE r.id = ?", (report_id,)))
        return _report(row) if row else None

    async def latest(self, *, unit_id: int | None = None, kind: str | None = None,
                     status: ReportStatus | None = None, limit: int = 10) -> list[Report]:
        """Newest first, optionally for one unit, one kind, one review state."""
        sql, args = _SELECT + " WHERE 1 = 1", []
        for column, value in (("r.unit_id", unit_id), ("r.kind", kind),
                              ("r.status", status.value if status else None)):
            if value is not None:
                sql += f" AND {column} = ?"
                args.append(value)
        rows = await self.conn.execute_fetchall(sql + " ORDER BY r.id DESC LIMIT ?",
                                                (*args, limit))
        return [_report(r) for r in rows]

    async def search(self, *, unit_id: int | None = None, kind: str | None = None,
                     period: tuple[str, date, date] | None = None, text: str = "",
                     before_id: int | None = None, limit: int = 10,
                     unit_kind: str | None = None, status: ReportStatus | None = None
                     ) -> list[Report]:
        """Newest first, older than `before_id` (the page before), filtered by unit, kind,
        period (key, start, end: a periodic report names it, others fall in it by activity
        date), the unit's kind, the review state and words found in the number, the unit's
        name or the answers: each word the start of a word there, looked up in the full-text
        index and read newest first, so that a page costs the same over a million reports."""
        words = fold(text).split()
        if words:  # each word a quoted prefix: whatever it holds is never FTS syntax
            sql = _SELECT.replace("FROM reports r", "FROM report_words w JOIN reports r "
                                  "ON r.id = w.rowid") + " WHERE w.report_words MATCH ?"
            args: list = [" AND ".join('"' + word.replace('"', '""') + '"*' for word in words)]
        else:
            sql, args = _SELECT + " WHERE 1 = 1", []
        for column, value in (("r.unit_id", unit_id), ("r.kind", kind), ("u.kind", unit_kind),
                              ("r.status", status.value if status else None)):
            if value is not None:
                sql += f" AND {column} = ?"
                args.append(value)
        if period is not None:
            sql += " AND (r.period_key = ? OR r.activity_date BETWEEN ? AND ?)"
            args += [period[0], period[1].isoformat(), period[2].isoformat()]
        if before_id is not None:
            sql += " AND w.rowid < ?" if words else " AND r.id < ?"
            args.append(before_id)
        order = " ORDER BY w.rowid DESC LIMIT ?" if words else " ORDER BY r.id DESC LIMIT ?"
        rows = await self.conn.execute_fetchall(sql + order, (*args, limit))
        return [_report(r) for r in rows]

    async def update_answers(self, report: Report, answers: dict, attachments: list[dict],
                             contact_id: int, channel: str, now: datetime,
                             activity_date: date | None, period_key: str | None) -> Report:
        """Change a report, keeping the previous version; a corrected report is received again."""
        return await run_inline(self.conn, _update, {
            "id": report.id, "version": report.version,
            "previous": json.dumps(report.answers, ensure_ascii=False),
            "answers": json.dumps(answers, ensure_ascii=False), "contact_id": contact_id,
            "activity_date": activity_date.isoformat() if activity_date else None,
            "period_key": period_key, "at": iso(now)}, attachments, channel)

    async def versions(self, report_id: int) -> list[ReportVersion]:
        """Earlier versions, oldest first, with who replaced each one and when."""
        rows = await self.conn.execute_fetchall(
            "SELECT v.version, v.answers, v.changed_by, COALESCE(c.name, '') AS changer_name, "
            "v.changed_at, c.erased_at IS NOT NULL AS changer_erased, "
            "COALESCE(cu.name, '') AS changer_unit FROM report_versions v "
            "LEFT JOIN contacts c ON c.id = v.changed_by LEFT JOIN units cu ON cu.id = c.unit_id "
            "WHERE v.report_id = ? ORDER BY v.version", (report_id,))
        return [ReportVersion.model_validate(dict(r) | {"answers": json.loads(r["answers"])})
                for r in rows]

    async def set_status(self, report_id: int, status: ReportStatus, contact_id: int,
                         note: str | None, now: datetime) -> None:
        await run_inline(self.conn, _set_status, report_id, status.value, contact_id, note,
                         iso(now))

    async def events(self, report_id: int) -> list[ReportEvent]:
        rows = await self.conn.execute_fetchall(
            "SELECT kind, contact_id, note, at FROM report_events WHERE report_id = ? "
            "ORDER BY id", (report_id,))
        return [ReportEvent.model_validate(dict(r)) for r in rows]

    async def received_ids(self, unit_id: int, period_key: str) -> list[int]:
        rows = await self.conn.execute_fetchall(
            "SELECT id FROM reports WHERE unit_id = ? AND period_key = ? AND status = 'received' "
            "ORDER BY id", (unit_id, period_key))
        return [r[0] for r in rows]

    async def activity_totals(self, unit_id: int | None, start: date, end: date,
                              approved_only: bool = False, sums: Asked = (),
                              options: Asked = ()) -> Totals:
        """The reports whose activity day is in a period (of one unit, or of all when
        `unit_id` is None), counted by kind, with the `sums` and `options` asked for.
        `approved_only` leaves out the reports not yet approved (the compiled report to the
        City counts only approved ones by default)."""
        found = await self._totals(start, end, approved_only, unit_id, False, sums, options)
        return found.get(None) or Totals()

    async def activity_totals_by_unit(self, start: date, end: date, approved_only: bool = False,
                                      sums: Asked = (), options: Asked = ()
                                      ) -> dict[int, Totals]:
        """The same totals for every unit that reported ({unit id: totals}), in one query
        and one per option counted, whatever the number of units."""
        found = await self._totals(start, end, approved_only, None, True, sums, options)
        return {owner: totals for owner, totals in found.items() if owner is not None}

    async def _totals(self, start: date, end: date, approved_only: bool, unit_id: int | None,
                      per_unit: bool, sums: Asked, options: Asked
                      ) -> dict[int | None, Totals]:
        # A report dated by its period has no activity day, so it is never counted here.
        where = "activity_date BETWEEN :start AND :end"
        if unit_id is not None:
            where = "unit_id = :unit AND " + where
        if approved_only:
            where += " AND status = 'approved'"
        owner = "unit_id" if per_unit else "NULL"
        args: dict[str, Any] = {"unit": unit_id, "start": start.isoformat(),
                                "end": end.isoformat()}
        paths = sorted({answer for _kind, answer in sums})
        args |= {f"p{i}": f"$.{answer}" for i, answer in enumerate(paths)}
        summed = "".join(f", SUM(COALESCE(json_extract(answers, :p{i}), 0)) AS s{i}"
                         for i in range(len(paths)))
        rows = await self.conn.execute_fetchall(
            f"SELECT {owner} AS owner, kind, COUNT(*) AS n{summed} "
            f"FROM reports WHERE {where} GROUP BY owner, kind", args)
        found: dict[int | None, Totals] = {}
        for r in rows:
            totals = found.setdefault(r["owner"], Totals())
            totals.by_kind[r["kind"]] = r["n"]
            for i, answer in enumerate(paths):
                if (r["kind"], answer) in sums:
                    totals.sums[(r["kind"], answer)] = r[f"s{i}"] or 0
        for kind, answer in options:
            counted = await self.conn.execute_fetchall(
                f"SELECT {owner} AS owner, json_extract(answers, :path) AS value, "
                f"COUNT(*) AS n FROM reports WHERE kind = :kind AND {where} "
                "GROUP BY owner, value", args | {"kind": kind, "path": f"$.{answer}"})
            for r in counted:
                totals = found.setdefault(r["owner"], Totals())
                totals.options.setdefault((kind, answer), {})[r["value"]] = r["n"]
        return found

    async def counts_since(self, since: datetime) -> list[tuple[str, str, int]]:
        """(report kind, unit kind, how many) of the reports received since `since`."""
        rows = await self.conn.execute_fetchall(
            "SELECT r.kind, u.kind, COUNT(*) FROM reports r INDEXED BY reports_created "
            "JOIN units u ON u.id = r.unit_id "
            "WHERE r.created_at >= ? GROUP BY r.kind, u.kind ORDER BY r.kind, u.kind",
            (iso(since),))
        return [(r[0], r[1], r[2]) for r in rows]

    async def received_since(self, kind: str, since: datetime,
                             limit: int = 10) -> list[tuple[dict, str]]:
        """(answers, unit name) of the latest reports of a kind received since `since`."""
        rows = await self.conn.execute_fetchall(
            "SELECT r.answers, u.name FROM reports r INDEXED BY reports_created "
            "JOIN units u ON u.id = r.unit_id "
            "WHERE r.kind = ? AND r.created_at >= ? ORDER BY r.id DESC LIMIT ?",
            (kind, iso(since), limit))
        return [(json.loads(r[0]), r[1]) for r in rows]

    async def weekly_counts(self, since: datetime) -> list[tuple[str, int]]:
        """Reports received per week (the week's Monday, yyyy-mm-dd, by the UTC day) since
        `since`, the weeks with none left out."""
        # A count per week between its bounds, one index seek each (reports_created), rather
        # than a week computed for each of the tens of thousands of rows.
        rows = await self.conn.execute_fetchall(
            "WITH RECURSIVE weeks(monday) AS ("
            "SELECT date(substr(:since, 1, 10), '-6 days', 'weekday 1') UNION ALL "
            "SELECT date(monday, '+7 days') FROM weeks WHERE date(monday, '+7 days') <= "
            "(SELECT substr(MAX(created_at), 1, 10) FROM reports)) "
            "SELECT monday, n FROM (SELECT monday, (SELECT COUNT(*) FROM reports INDEXED BY "
            "reports_created WHERE created_at >= CASE WHEN :since > monday THEN :since "
            "ELSE monday END AND created_at < date(monday, '+7 days')) AS n FROM weeks) counted "
            "WHERE n > 0 ORDER BY monday", {"since": iso(since)})
        return [(r[0], r[1]) for r in rows]

    async def page(self, kind: str, period_key: str, start: date, end: date, after_id: int,
                   limit: int, by_period: bool = False) -> list[Report]:
        """Reports of a kind in a period (by the period they name when `by_period`, else by
        activity date), by id after `after_id`: an export reads them page by page."""
        if by_period:
            where, args = "r.kind = ? AND r.period_key = ?", [kind, period_key]
        else:
            where, args = "r.kind = ? AND r.activity_date BETWEEN ? AND ?", [
                kind, start.isoformat(), end.isoformat()]
        rows = await self.conn.execute_fetchall(
            _SELECT + f" WHERE {where} AND r.id > ? ORDER BY r.id LIMIT ?",
            (*args, after_id, limit))
        return [_report(r) for r in rows]

    async def of_kind(self, kind: str, start: date, end: date, approved_only: bool, limit: int
                      ) -> tuple[int, list[Report]]:
        """How many reports of a kind have their activity date in the period, and the first
        `limit` of them by date: the compiled report names them."""
        where = "r.kind = ? AND r.activity_date BETWEEN ? AND ?" + (
            " AND r.status = 'approved'" if approved_only else "")
        args = (kind, start.isoformat(), end.isoformat())
        count = await self.conn.execute_fetchall(
            f"SELECT COUNT(*) FROM reports r WHERE {where}", args)
        rows = await self.conn.execute_fetchall(
            _SELECT + f" WHERE {where} ORDER BY r.activity_date, r.id LIMIT ?", (*args, limit))
        return one(count)[0], [_report(r) for r in rows]

    async def count_in_period(self, period_key: str, start: date, end: date) -> int:
        rows = await self.conn.execute_fetchall(
            "SELECT COUNT(*) FROM reports WHERE (activity_date IS NULL AND period_key = ?) OR "
            "activity_date BETWEEN ? AND ?",
            (period_key, start.isoformat(), end.isoformat()))
        return one(rows)[0]
