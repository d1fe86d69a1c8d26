"""Conversation sessions and drafts, inbound dedupe, and the durable outbox."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import aiosqlite

from storage.models import OutboxRow
from storage.units import first, iso


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class StepWrites:
    """Writes held until the transaction commits, then sent in one call (see migration 0004)."""

    def __init__(self, conn: aiosqlite.Connection):
        self.conn = conn
        self.rows: list[tuple] = []

    def add(self, kind: str, channel: str | None, key: str | None, contact_id: int | None,
            body: str | None, at: datetime, extra: int | None = None) -> None:
        self.rows.append((kind, channel, key, contact_id, body, extra, iso(at)))

    async def flush(self) -> None:
        if self.rows:
            rows, self.rows = self.rows, []
            await self.conn.executemany(
                "INSERT INTO step_writes (kind, channel, key, contact_id, body, extra, at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)", rows)


class SessionsRepo:
    def __init__(self, conn: aiosqlite.Connection, pending: StepWrites):
        self.conn = conn
        self.pending = pending

    async def get(self, contact_id: int) -> tuple[str, dict, datetime] | None:
        """(flow, state, updated_at) of the contact's conversation, if any."""
        rows = await self.conn.execute_fetchall(
            "SELECT flow, state, updated_at FROM sessions WHERE contact_id = ?", (contact_id,)
        )
        row = first(rows)
        if row is None:
            return None
        return row[0], json.loads(row[1]), datetime.fromisoformat(row[2])

    def save(self, contact_id: int, flow: str, state: dict, now: datetime) -> None:
        """Store the conversation state when the transaction commits."""
        self.pending.add("session", None, flow, contact_id, _dump(state), now)

    def offer(self, contact_id: int, choices: list[list[str]], now: datetime) -> None:
        """Remember the choices last put to someone, so a typed number can answer them."""
        self.pending.add("offer", None, None, contact_id, _dump(choices), now)

    async def delete(self, contact_id: int) -> None:
        await self.conn.execute("DELETE FROM sessions WHERE contact_id = ?", (contact_id,))

    async def idle(self, before: datetime, exclude_flow: str) -> list[tuple[int, str, dict]]:
        """(contact_id, flow, state) of sessions untouched since `before`."""
        rows = await self.conn.execute_fetchall(
            "SELECT contact_id, flow, state FROM sessions WHERE updated_at < ? AND flow != ?",
            (iso(before), exclude_flow),
        )
        return [(r[0], r[1], json.loads(r[2])) for r in rows]

    async def save_draft(self, contact_id: int, flow: str, state: dict, now: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO drafts (contact_id, flow, state, saved_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(contact_id, flow) DO UPDATE SET state = excluded.state, "
            "saved_at = excluded.saved_at",
            (contact_id, flow, _dump(state), iso(now)),
        )

    async def take_draft(self, contact_id: int, flow: str) -> dict | None:
        """Remove and return the contact's draft of `flow`."""
        rows = await self.conn.execute_fetchall(
            "DELETE FROM drafts WHERE contact_id = ? AND flow = ? RETURNING state",
            (contact_id, flow),
        )
        row = first(rows)
        return json.loads(row[0]) if row else None

    async def has_draft(self, contact_id: int, flow: str) -> bool:
        rows = await self.conn.execute_fetchall(
            "SELECT 1 FROM drafts WHERE contact_id = ? AND flow = ?", (contact_id, flow)
        )
        return first(rows) is not None


class UpdatesRepo:
    def __init__(self, conn: aiosqlite.Connection, pending: StepWrites):
        self.conn = conn
        self.pending = pending

    async def seen(self, channel: str, update_id: str) -> bool:
        rows = await self.conn.execute_fetchall(
            "SELECT 1 FROM processed_updates WHERE channel = ? AND update_id = ?",
            (channel, update_id))
        return bool(rows)

    def record(self, channel: str, update_id: str, now: datetime) -> None:
        """Remember the update as processed when the transaction commits."""
        self.pending.add("update", channel, update_id, None, None, now)


class OutboxRepo:
    def __init__(self, conn: aiosqlite.Connection, pending: StepWrites):
        self.conn = conn
        self.pending = pending

    def add(self, channel: str, chat_id: str, contact_id: int | None, payload: dict,
            now: datetime, delivery_id: int | None = None) -> None:
        """Queue a message; it is written with the transaction that caused it."""
        self.pending.add("outbox", channel, chat_id, contact_id, _dump(payload), now,
                         delivery_id)

    async def due(self, channel: str, now: datetime, limit: int = 200) -> list[OutboxRow]:
        """The oldest pending row of each chat, if its time has come: a chat gets one message
        at a time and in order, so a row waiting to be retried holds back the ones after it.
        Replies to people go before notices, so a broadcast to thousands never holds up the
        answer to someone's message."""
        rows = await self.conn.execute_fetchall(
            "SELECT id, channel, chat_id, contact_id, payload, attempts FROM outbox "
            "WHERE id IN (SELECT MIN(id) FROM outbox WHERE status = 'pending' AND channel = ? "
            "GROUP BY chat_id) AND not_before <= ? "
            "ORDER BY delivery_id IS NOT NULL, id LIMIT ?",
            (channel, iso(now), limit),
        )
        return [
            OutboxRow(
                id=r[0],
                channel=r[1],
                chat_id=r[2],
                contact_id=r[3],
                payload=json.loads(r[4]),
                attempts=r[5],
            )
            for r in rows
        ]

    async def next_due_at(self, channel: str) -> datetime | None:
        """When the next chat's first pending row falls due (what `due` would return)."""
        rows = await self.conn.execute_fetchall(
            "SELECT MIN(not_before) FROM outbox WHERE id IN (SELECT MIN(id) FROM outbox "
            "WHERE status = 'pending' AND channel = ? GROUP BY chat_id)", (channel,))
        return datetime.fromisoformat(rows[0][0]) if rows and rows[0][0] else None

    async def mark_sent_many(self, sent: list[tuple[int, str | None]], now: datetime) -> None:
        """Record (row id, platform message id) pairs as sent, in one statement."""
        if sent:
            await self.conn.executemany(
                "UPDATE outbox SET status = 'sent', sent_at = ?, message_id = ?, "
                "attempts = attempts + 1 WHERE id = ?",
                [(iso(now), message_id, row_id) for row_id, message_id in sent],
            )

    async def retry_later(self, row_id: int, not_before: datetime, error: str) -> None:
        await self.conn.execute(
            "UPDATE outbox SET attempts = attempts + 1, not_before = ?, last_error = ? "
            "WHERE id = ?",
            (iso(not_before), error[:500], row_id),
        )

    async def give_up(self, row_id: int, status: str, error: str) -> None:
        """Stop trying a row: 'failed' (the platform refused it) or 'unreachable'."""
        await self.conn.execute(
            "UPDATE outbox SET status = ?, attempts = attempts + 1, last_error = ? WHERE id = ?",
            (status, error[:500], row_id),
        )

    async def counts(self) -> dict[str, int]:
        rows = await self.conn.execute_fetchall(
            "SELECT status, COUNT(*) FROM outbox GROUP BY status"
        )
        return {r[0]: r[1] for r in rows}


class JobsRepo:
    def __init__(self, conn: aiosqlite.Connection, signals: set[str]):
        self.conn = conn
        self.signals = signals

    async def add(self, kind: str, params: dict, contact_id: int | None, channel: str,
                  chat_id: str, now: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO jobs (kind, params, contact_id, channel, chat_id, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (kind, _dump(params), contact_id, channel, chat_id, iso(now)))
        self.signals.add("jobs")

    async def pending(self) -> list[dict]:
        rows = await self.conn.execute_fetchall(
            "SELECT id, kind, params, contact_id, channel, chat_id FROM jobs "
            "WHERE status = 'pending' ORDER BY id")
        return [dict(r) | {"params": json.loads(r["params"])} for r in rows]

    async def finish(self, job_id: int, status: str, now: datetime) -> None:
        await self.conn.execute("UPDATE jobs SET status = ?, finished_at = ? WHERE id = ?",
                                (status, iso(now), job_id))

    async def message_id(self, outbox_id: int) -> str | None:
        rows = await self.conn.execute_fetchall("SELECT message_id FROM outbox WHERE id = ?",
                                                (outbox_id,))
        return rows[0][0] if rows else None
