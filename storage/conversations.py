"""Conversation sessions and drafts, inbound dedupe, and the durable outbox."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import aiosqlite

from storage import messages
from storage.messages import Message
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


class InboxRepo:
    """Updates received and committed, waiting to be processed."""

    def __init__(self, conn: aiosqlite.Connection, pending: StepWrites):
        self.conn = conn
        self.pending = pending

    async def add_many(self, rows: list[tuple[str, str, str]], now: datetime) -> None:
        """Store (channel, update_id, event JSON) rows. An update already waiting or already
        processed (a platform delivering it again) is not stored again: it never reaches the
        handlers, nor counts against the sender's flood limit."""
        await self.conn.executemany(
            "INSERT INTO inbox (channel, update_id, event, received_at) "
            "SELECT :channel, :update, :event, :at WHERE NOT EXISTS (SELECT 1 FROM "
            "processed_updates WHERE channel = :channel AND update_id = :update) "
            "ON CONFLICT (channel, update_id) DO NOTHING",
            [{"channel": c, "update": u, "event": e, "at": iso(now)} for c, u, e in rows])

    async def waiting(self, limit: int = 100) -> list[tuple[str, str, str, int]]:
        """(channel, update_id, event JSON, attempts) of the oldest unprocessed updates."""
        rows = await self.conn.execute_fetchall(
            "SELECT channel, update_id, event, attempts FROM inbox ORDER BY id LIMIT ?",
            (limit,))
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    def done(self, channel: str, update_id: str, now: datetime) -> None:
        """Remove the update from the inbox when this transaction (its processing) commits."""
        self.pending.add("received", channel, update_id, None, None, now)

    async def failed(self, channel: str, update_id: str) -> None:
        await self.conn.execute(
            "UPDATE inbox SET attempts = attempts + 1 WHERE channel = ? AND update_id = ?",
            (channel, update_id))

    async def drop(self, channel: str, update_id: str) -> None:
        await self.conn.execute("DELETE FROM inbox WHERE channel = ? AND update_id = ?",
                                (channel, update_id))


_ROW_COLUMNS = "id, channel, chat_id, contact_id, payload, attempts, created_at"


def _outbox_row(r: Any) -> OutboxRow:
    message, rid = messages.load(r[4])
    return OutboxRow(id=r[0], channel=r[1], chat_id=r[2], contact_id=r[3], message=message,
                     attempts=r[5], created_at=datetime.fromisoformat(r[6]), rid=rid)


class OutboxRepo:
    def __init__(self, conn: aiosqlite.Connection, pending: StepWrites):
        self.conn = conn
        self.pending = pending

    def add(self, channel: str, chat_id: str, contact_id: int | None, message: Message,
            now: datetime, delivery_id: int | None = None, urgent: bool = False,
            rid: str | None = None) -> None:
        """Queue a message; it is written with the transaction that caused it. An urgent one
        goes ahead of what is already queued for the chat. `rid`: the request that caused it."""
        self.pending.add("outbox_urgent" if urgent else "outbox", channel, chat_id, contact_id,
                         messages.dump(message, rid), now, delivery_id)

    async def add_status(self, channel: str, chat_id: str, contact_id: int | None,
                         message: Message, now: datetime, broadcast_id: int,
                         rid: str | None = None) -> None:
        """Queue the message that shows a notice's live figures; the notice keeps its row's
        id, to rewrite the figures in it while the notice goes out (see status_message)."""
        # The id is needed now, so the row is written at once, after what the transaction
        # queued before it (a chat's messages go in id order).
        await self.pending.flush()
        rows = await self.conn.execute_fetchall(
            "INSERT INTO outbox (channel, chat_id, contact_id, payload, not_before, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            (channel, chat_id, contact_id, messages.dump(message, rid), iso(now), iso(now)))
        await self.conn.execute("UPDATE broadcasts SET status_outbox_id = ? WHERE id = ?",
                                (rows[0][0], broadcast_id))

    async def due(self, channel: str, now: datetime, limit: int = 200) -> list[OutboxRow]:
        """Rows that may be sent now, at most `limit` of each class: urgent rows, then the head
        of each chat's queue (its oldest pending row: a chat gets its messages in order, so a
        row waiting to be retried holds back the ones after it), replies to people before
        notices, so a broadcast to thousands never holds up the answer to someone's message.
        Each class is read in id order from an index of the queues' heads (kept by triggers,
        see migration 0019) and stops at `limit`: the cost follows what is sent, not how much
        is waiting, nor how long one chat's queue is."""
        rows = await self.conn.execute_fetchall(
            f"SELECT * FROM (SELECT {_ROW_COLUMNS} FROM outbox WHERE channel = :channel "
            "AND status = 'pending' AND urgent = 1 AND not_before <= :now ORDER BY id "
            "LIMIT :limit) UNION ALL "
            f"SELECT * FROM (SELECT {_ROW_COLUMNS} FROM outbox INDEXED BY outbox_heads "
            "WHERE channel = :channel AND status = 'pending' AND head = 1 "
            "AND (delivery_id IS NOT NULL) = 0 AND not_before <= :now ORDER BY id "
            "LIMIT :limit) UNION ALL "
            f"SELECT * FROM (SELECT {_ROW_COLUMNS} FROM outbox INDEXED BY outbox_heads "
            "WHERE channel = :channel AND status = 'pending' AND head = 1 "
            "AND (delivery_id IS NOT NULL) = 1 AND not_before <= :now ORDER BY id "
            "LIMIT :limit)",
            {"channel": channel, "now": iso(now), "limit": limit})
        return [_outbox_row(r) for r in rows]

    async def next_due_at(self, channel: str, now: datetime) -> datetime | None:
        """When the next row waiting for its time falls due: rows are created due, so only
        a retry waits."""
        rows = await self.conn.execute_fetchall(
            "SELECT MIN(not_before) FROM outbox WHERE channel = ? AND status = 'pending' "
            "AND attempts > 0 AND not_before > ?", (channel, iso(now)))
        return datetime.fromisoformat(rows[0][0]) if rows and rows[0][0] else None

    async def has_pending(self, channel: str, chat_id: str, message: Message) -> bool:
        """Whether the very same message is already waiting to go to this chat."""
        rows = await self.conn.execute_fetchall(
            "SELECT 1 FROM outbox WHERE channel = ? AND chat_id = ? AND status = 'pending' "
            "AND json_remove(payload, '$.rid') = ? LIMIT 1",
            (channel, chat_id, messages.dump(message)))
        return bool(rows)

    async def question_before(self, channel: str, chat_id: str, message_id: int,
                              reply_to: int | None) -> str | None:
        """The question ("form:step") that the person saw last before writing their message
        `message_id` (or the one they replied to), where the platform numbers a chat's
        messages in one sequence; None if it cannot be told."""
        rows = await self.conn.execute_fetchall(
            "SELECT asks, message_id FROM outbox WHERE channel = ? AND chat_id = ? "
            "AND asks IS NOT NULL AND status = 'sent' ORDER BY id DESC LIMIT 20",
            (channel, chat_id))
        for asks, sent_id in rows:
            if not (sent_id or "").isascii() or not (sent_id or "").isdigit():
                return None
            if (int(sent_id) == reply_to) if reply_to is not None else int(sent_id) < message_id:
                return asks
        return None

    async def record(self, sent: list[tuple[int, str | None]],
                     retries: list[tuple[int, datetime, str]],
                     given_up: list[tuple[int, str, str]], now: datetime) -> None:
        """Record delivery outcomes: (id, platform message id) sent; (id, not before, error) to
        try again; (id, 'failed' or 'unreachable', error) given up."""
        if sent:
            await self.conn.executemany(
                "UPDATE outbox SET status = 'sent', sent_at = ?, message_id = ?, "
                "attempts = attempts + 1 WHERE id = ?",
                [(iso(now), message_id, row_id) for row_id, message_id in sent])
        if retries:
            await self.conn.executemany(
                "UPDATE outbox SET attempts = attempts + 1, not_before = ?, last_error = ? "
                "WHERE id = ?",
                [(iso(when), error[:500], row_id) for row_id, when, error in retries])
        if given_up:
            await self.conn.executemany(
                "UPDATE outbox SET status = ?, attempts = attempts + 1, last_error = ? "
                "WHERE id = ?",
                [(status, error[:500], row_id) for row_id, status, error in given_up])

    async def cancel(self, chats: list[tuple[str, str]], contact_id: int | None = None) -> int:
        """Drop what is still waiting to go to these (channel, chat) and to this contact."""
        where = " OR ".join(["contact_id = ?"] + ["(channel = ? AND chat_id = ?)"] * len(chats))
        cur = await self.conn.execute(
            f"UPDATE outbox SET status = 'cancelled' WHERE status = 'pending' AND ({where})",
            [contact_id, *(part for chat in chats for part in chat)])
        return cur.rowcount

    async def forget_texts(self, before: datetime, limit: int = 5000) -> int:
        """Blank the texts of messages delivered (or given up) before `before`: only the fact
        that a message went, when and to whom, stays. Returns how many were blanked."""
        # At most `limit` a tick, so that the first tick on an old database stays short.
        cur = await self.conn.execute(
            "UPDATE outbox SET payload = '{}' WHERE id IN (SELECT id FROM outbox "
            "WHERE status <> 'pending' AND payload <> '{}' AND created_at < ? "
            "AND COALESCE(sent_at, created_at) < ? ORDER BY created_at LIMIT ?)",
            (iso(before), iso(before), limit))
        return cur.rowcount

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
