"""Conversation sessions and drafts, inbound dedupe, and the durable outbox."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import aiosqlite

from storage.models import OutboxRow
from storage.units import iso


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class SessionsRepo:
    def __init__(self, conn: aiosqlite.Connection):
        self.conn = conn

    async def get(self, contact_id: int) -> tuple[str, dict, datetime] | None:
        """(flow, state, updated_at) of the contact's conversation, if any."""
        async with self.conn.execute(
                "SELECT flow, state, updated_at FROM sessions WHERE contact_id = ?",
                (contact_id,)) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        return row[0], json.loads(row[1]), datetime.fromisoformat(row[2])

    async def save(self, contact_id: int, flow: str, state: dict, now: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO sessions (contact_id, flow, state, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(contact_id) DO UPDATE SET flow = excluded.flow, state = excluded.state, "
            "updated_at = excluded.updated_at", (contact_id, flow, _dump(state), iso(now)))

    async def delete(self, contact_id: int) -> None:
        await self.conn.execute("DELETE FROM sessions WHERE contact_id = ?", (contact_id,))

    async def idle(self, before: datetime, exclude_flow: str) -> list[tuple[int, str, dict]]:
        """(contact_id, flow, state) of sessions untouched since `before`."""
        async with self.conn.execute(
                "SELECT contact_id, flow, state FROM sessions WHERE updated_at < ? AND flow != ?",
                (iso(before), exclude_flow)) as cur:
            return [(r[0], r[1], json.loads(r[2])) for r in await cur.fetchall()]

    async def save_draft(self, contact_id: int, flow: str, state: dict, now: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO drafts (contact_id, flow, state, saved_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(contact_id, flow) DO UPDATE SET state = excluded.state, "
            "saved_at = excluded.saved_at", (contact_id, flow, _dump(state), iso(now)))

    async def take_draft(self, contact_id: int, flow: str) -> dict | None:
        """Remove and return the contact's draft of `flow`."""
        async with self.conn.execute(
                "DELETE FROM drafts WHERE contact_id = ? AND flow = ? RETURNING state",
                (contact_id, flow)) as cur:
            row = await cur.fetchone()
        return json.loads(row[0]) if row else None

    async def has_draft(self, contact_id: int, flow: str) -> bool:
        async with self.conn.execute("SELECT 1 FROM drafts WHERE contact_id = ? AND flow = ?",
                                     (contact_id, flow)) as cur:
            return await cur.fetchone() is not None


class UpdatesRepo:
    def __init__(self, conn: aiosqlite.Connection):
        self.conn = conn

    async def first_time(self, channel: str, update_id: str, now: datetime) -> bool:
        """Record the update; False when it was already processed."""
        cur = await self.conn.execute(
            "INSERT INTO processed_updates (channel, update_id, processed_at) VALUES (?, ?, ?) "
            "ON CONFLICT DO NOTHING", (channel, update_id, iso(now)))
        return cur.rowcount == 1


class OutboxRepo:
    def __init__(self, conn: aiosqlite.Connection):
        self.conn = conn

    async def add(self, channel: str, chat_id: str, contact_id: int | None, payload: dict,
                  now: datetime) -> int:
        cur = await self.conn.execute(
            "INSERT INTO outbox (channel, chat_id, contact_id, payload, not_before, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (channel, chat_id, contact_id, _dump(payload), iso(now), iso(now)))
        return cur.lastrowid

    async def due(self, channel: str, now: datetime, limit: int = 200) -> list[OutboxRow]:
        """Pending rows whose time has come, oldest first."""
        async with self.conn.execute(
                "SELECT id, channel, chat_id, contact_id, payload, attempts FROM outbox "
                "WHERE status = 'pending' AND channel = ? AND not_before <= ? "
                "ORDER BY id LIMIT ?", (channel, iso(now), limit)) as cur:
            rows = await cur.fetchall()
        return [OutboxRow(id=r[0], channel=r[1], chat_id=r[2], contact_id=r[3],
                          payload=json.loads(r[4]), attempts=r[5]) for r in rows]

    async def next_due_at(self, channel: str) -> datetime | None:
        async with self.conn.execute(
                "SELECT MIN(not_before) FROM outbox WHERE status = 'pending' AND channel = ?",
                (channel,)) as cur:
            row = await cur.fetchone()
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    async def mark_sent(self, row_id: int, message_id: str | None, now: datetime) -> None:
        await self.conn.execute(
            "UPDATE outbox SET status = 'sent', sent_at = ?, message_id = ?, "
            "attempts = attempts + 1 WHERE id = ?", (iso(now), message_id, row_id))

    async def retry_later(self, row_id: int, not_before: datetime, error: str) -> None:
        await self.conn.execute(
            "UPDATE outbox SET attempts = attempts + 1, not_before = ?, last_error = ? "
            "WHERE id = ?", (iso(not_before), error[:500], row_id))

    async def give_up(self, row_id: int, status: str, error: str) -> None:
        """Stop trying a row: 'failed' (the platform refused it) or 'unreachable'."""
        await self.conn.execute(
            "UPDATE outbox SET status = ?, attempts = attempts + 1, last_error = ? WHERE id = ?",
            (status, error[:500], row_id))

    async def counts(self) -> dict[str, int]:
        async with self.conn.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status") as cur:
            return {r[0]: r[1] for r in await cur.fetchall()}
