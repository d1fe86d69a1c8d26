"""Difficulties reported by units: a numbered thread of events with a state."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import aiosqlite
from pydantic import BaseModel, ConfigDict

from storage.units import (
    add_attachments,
    fetch_inline,
    first,
    iso,
    next_number,
    one,
    run_inline,
)


class DifficultyStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    ANSWERED = "answered"
    RESOLVED = "resolved"
    ESCALATED = "escalated"


class Difficulty(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    number: str
    unit_id: int
    contact_id: int
    field: str
    urgency: str
    text: str
    proposal: str | None
    status: DifficultyStatus
    created_at: datetime
    opened_at: datetime
    unit_name: str = ""
    unit_code: str = ""


class DifficultyEvent(BaseModel):
    kind: str
    contact_id: int | None
    who: str = ""
    role: str | None = None
    # The person was erased: shown as a former officer of their unit (who_unit).
    erased: bool = False
    who_unit: str = ""
    text: str | None
    at: datetime


_SELECT = ("SELECT d.id, d.number, d.unit_id, d.contact_id, d.field, d.urgency, d.text, "
           "d.proposal, d.status, d.created_at, d.opened_at, u.name AS unit_name, "
           "u.code AS unit_code FROM difficulties d JOIN units u ON u.id = d.unit_id")


# A difficulty's writes and its read by id, each one call run at once on the loop's thread
# (storage.units.run_inline): they are steps of a conversation (reported, taken up, answered).

def _create(conn: sqlite3.Connection, difficulty: dict[str, Any], attachments: list[dict],
            channel: str) -> Difficulty:
    difficulty_id = one(conn.execute(
        "INSERT INTO difficulties (number, unit_id, contact_id, field, urgency, text, proposal, "
        "created_at, updated_at, opened_at) VALUES (:number, :unit_id, :contact_id, :field, "
        ":urgency, :text, :proposal, :at, :at, :at) RETURNING id",
        {**difficulty, "number": next_number(conn, "KK", difficulty["year"])}).fetchall())[0]
    add_attachments(conn, "difficulty", difficulty_id, attachments, channel, difficulty["at"])
    _add_event(conn, difficulty_id, "opened", difficulty["contact_id"], difficulty["text"],
               difficulty["at"])
    return Difficulty.model_validate(dict(one(conn.execute(
        _SELECT + " WHERE d.id = ?", (difficulty_id,)).fetchall())))


def _set_status(conn: sqlite3.Connection, difficulty_id: int, status: str, at: str,
                reopened: bool) -> None:
    opened = ", opened_at = ?" if reopened else ""
    conn.execute(f"UPDATE difficulties SET status = ?, updated_at = ?{opened} WHERE id = ?",
                 (status, at, *((at,) if reopened else ()), difficulty_id))


def _add_event(conn: sqlite3.Connection, difficulty_id: int, kind: str, contact_id: int | None,
               text: str | None, at: str) -> None:
    conn.execute("INSERT INTO difficulty_events (difficulty_id, kind, contact_id, text, at) "
                 "VALUES (?, ?, ?, ?, ?)", (difficulty_id, kind, contact_id, text, at))


class DifficultiesRepo:
    def __init__(self, conn: aiosqlite.Connection):
        self.conn = conn

    async def create(self, *, unit_id: int, contact_id: int, field: str, urgency: str, text: str,
                     proposal: str | None, attachments: list[dict], channel: str,
                     now: datetime, local_year: int) -> Difficulty:
        return await run_inline(self.conn, _create, {
            "unit_id": unit_id, "contact_id": contact_id, "field": field, "urgency": urgency,
            "text": text, "proposal": proposal, "at": iso(now), "year": local_year},
            attachments, channel)

    async def get(self, difficulty_id: int) -> Difficulty | None:
        row = first(await fetch_inline(self.conn, _SELECT + " WHERE d.id = ?", (difficulty_id,)))
        return Difficulty.model_validate(dict(row)) if row else None

    async def attachments(self, difficulty_id: int) -> list[dict]:
        rows = await self.conn.execute_fetchall(
            "SELECT channel, kind, file_id, file_name AS name, id FROM attachments "
            "WHERE owner_kind = 'difficulty' AND owner_id = ? ORDER BY id", (difficulty_id,))
        return [dict(r) for r in rows]

    async def listing(self, *, statuses: list[DifficultyStatus], unit_id: int | None = None,
                      field: str | None = None, urgency: str | None = None,
                      limit: int = 20) -> list[Difficulty]:
        """Oldest first, in the given states, optionally for one unit, field or urgency."""
        sql = _SELECT + f" WHERE d.status IN ({','.join('?' * len(statuses))})"
        args: list = [s.value for s in statuses]
        for column, value in (("d.unit_id", unit_id), ("d.field", field),
                              ("d.urgency", urgency)):
            if value is not None:
                sql += f" AND {column} = ?"
                args.append(value)
        rows = await self.conn.execute_fetchall(sql + " ORDER BY d.opened_at, d.id LIMIT ?",
                                                (*args, limit))
        return [Difficulty.model_validate(dict(r)) for r in rows]

    async def set_status(self, difficulty_id: int, status: DifficultyStatus, now: datetime,
                         reopened: bool = False) -> None:
        await run_inline(self.conn, _set_status, difficulty_id, status.value, iso(now), reopened)

    async def add_event(self, difficulty_id: int, kind: str, contact_id: int | None,
                        text: str | None, now: datetime) -> None:
        await run_inline(self.conn, _add_event, difficulty_id, kind, contact_id, text, iso(now))

    async def events(self, difficulty_id: int) -> list[DifficultyEvent]:
        rows = await self.conn.execute_fetchall(
            "SELECT e.kind, e.contact_id, COALESCE(c.name, '') AS who, c.role, e.text, e.at, "
            "c.erased_at IS NOT NULL AS erased, COALESCE(cu.name, '') AS who_unit "
            "FROM difficulty_events e LEFT JOIN contacts c ON c.id = e.contact_id "
            "LEFT JOIN units cu ON cu.id = c.unit_id "
            "WHERE e.difficulty_id = ? ORDER BY e.id", (difficulty_id,))
        return [DifficultyEvent.model_validate(dict(r)) for r in rows]

    async def awaiting(self) -> list[Difficulty]:
        """Difficulties still waiting for the department: open or acknowledged, not answered."""
        rows = await self.conn.execute_fetchall(
            _SELECT + " WHERE d.status IN ('open', 'acknowledged') ORDER BY d.opened_at")
        return [Difficulty.model_validate(dict(r)) for r in rows]

    async def waiting_ages(self, now: datetime) -> tuple[int, int, int]:
        """How many wait for the department (open or acknowledged) since under a week, one to
        four weeks, over four weeks: counted here, not by reading every one."""
        rows = await self.conn.execute_fetchall(
            "SELECT COUNT(CASE WHEN opened_at > :week THEN 1 END), "
            "COUNT(CASE WHEN opened_at <= :week AND opened_at > :month THEN 1 END), "
            "COUNT(CASE WHEN opened_at <= :month THEN 1 END) FROM difficulties "
            "WHERE status IN ('open', 'acknowledged')",
            {"week": iso(now - timedelta(days=7)), "month": iso(now - timedelta(days=28))})
        row = one(rows)
        return row[0], row[1], row[2]

    async def activity_since(self, since: datetime) -> dict[str, int]:
        """How many difficulties were opened, answered and resolved since `since`."""
        rows = await self.conn.execute_fetchall(
            "SELECT kind, COUNT(DISTINCT difficulty_id) FROM difficulty_events WHERE at >= ? "
            "AND kind IN ('opened', 'answer', 'resolved') GROUP BY kind", (iso(since),))
        return {r[0]: r[1] for r in rows}

    async def opened_between(self, start: datetime, end: datetime) -> list[Difficulty]:
        rows = await self.conn.execute_fetchall(
            _SELECT + " WHERE d.created_at >= ? AND d.created_at < ? ORDER BY d.id",
            (iso(start), iso(end)))
        return [Difficulty.model_validate(dict(r)) for r in rows]
