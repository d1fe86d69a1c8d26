"""Conversation sessions and drafts, inbound dedupe, and the durable outbox."""

from __future__ import annotations

import sqlite3
from collections.abc import Container
from datetime import datetime
from typing import Any

import aiosqlite

from storage import jsontext, messages
from storage.messages import Message
from storage.models import OutboxRow
from storage.units import first, iso, one, run_inline, session_state


def _dump(value: Any) -> str:
    return jsontext.dumps(value)


class PendingWrites:
    """The writes of the hot path (dedupe, session, offered choices, outbox, inbox removal, last
    seen), held until the transaction ends and then written with one executemany per table, in
    the same call to the database thread as the commit: each call costs a thread hop, more than
    these writes. Reads of the same transaction that need them look here first."""

    def __init__(self) -> None:
        self.updates: list[tuple[str, str, str]] = []  # processed_updates
        # contact id -> (flow, state, offered, updated_at); flow None: only an offer, which
        # leaves the state and updated_at alone.
        self.sessions: dict[int, tuple[str | None, str | None, str | None, str]] = {}
        self.outbox: list[tuple] = []
        # With heads kept: each outbox row's message, request id and time, from which the
        # heads are built (the JSON written is not read back).
        self.messages: list[tuple[Message, str | None, datetime]] = []
        self.received: list[tuple[str, str]] = []  # inbox rows processed
        self.seen: list[tuple[str, str, str]] = []  # contact_channels.last_seen_at
        # Kept when a batch of steps asks for them (see Batch): the rows written that head
        # their chat's queue, read back for the delivery worker to send at once.
        self.heads: list[OutboxRow] | None = None

    def __bool__(self) -> bool:
        return bool(self.updates or self.sessions or self.outbox or self.received or self.seen)

    def write(self, conn: sqlite3.Connection) -> None:
        """Write everything held, on the database thread (see Database.run)."""
        if self.updates:
            conn.executemany("INSERT INTO processed_updates (channel, update_id, processed_at) "
                             "VALUES (?, ?, ?)", self.updates)
        if self.sessions:
            saved = [(cid, *row) for cid, row in self.sessions.items() if row[0] is not None]
            offers = [(cid, row[2], row[3]) for cid, row in self.sessions.items()
                      if row[0] is None]
            if saved:
                conn.executemany(
                    "INSERT INTO sessions (contact_id, flow, state, offered, updated_at) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (contact_id) DO UPDATE SET "
                    "flow = excluded.flow, state = excluded.state, offered = excluded.offered, "
                    "updated_at = excluded.updated_at", saved)
            if offers:
                # An offer is not activity of the person's: updated_at stays. Someone without
                # a conversation gets one at the menu ('menu': handlers.context.MENU_FLOW).
                conn.executemany(
                    "INSERT INTO sessions (contact_id, flow, state, offered, updated_at) "
                    "VALUES (?, 'menu', '{}', ?, ?) ON CONFLICT (contact_id) "
                    "DO UPDATE SET offered = excluded.offered", offers)
        if self.outbox:
            conn.executemany(
                "INSERT INTO outbox (channel, chat_id, contact_id, payload, not_before, "
                "created_at, delivery_id, urgent, asks, bulk) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                self.outbox)
            if self.heads is not None:
                self._read_heads(conn, self.heads)
        if self.received:
            conn.executemany("DELETE FROM inbox WHERE channel = ? AND update_id = ?",
                             self.received)
        if self.seen:
            conn.executemany("UPDATE contact_channels SET last_seen_at = ? "
                             "WHERE channel = ? AND external_id = ?", self.seen)
        self.clear()

    def _read_heads(self, conn: sqlite3.Connection, heads: list[OutboxRow]) -> None:
        """Keep the rows just inserted that head their chat's queue (still pending: a row to
        someone deactivated is cancelled as it is inserted). They have the last ids, in order:
        one writer holds the database."""
        count = len(self.outbox)
        for row_id, last in conn.execute(
                "SELECT id, last_insert_rowid() FROM outbox WHERE id > last_insert_rowid() - ? "
                "AND status = 'pending' AND head = 1 ORDER BY id", (count,)):
            index = count - 1 - (last - row_id)
            channel, chat_id, contact_id = self.outbox[index][:3]
            message, rid, at = self.messages[index]
            heads.append(OutboxRow.model_construct(  # typed already, as in _outbox_row
                id=row_id, channel=channel, chat_id=chat_id, contact_id=contact_id,
                message=message, attempts=0, created_at=at, rid=rid))

    def clear(self) -> None:
        self.updates, self.sessions, self.outbox, self.received, self.seen = [], {}, [], [], []
        self.messages = []


def store_inbox(conn: sqlite3.Connection, rows: list[tuple[str, str, str]],
                at: str) -> list[tuple[str, str]]:
    """InboxRepo.add_many on the database thread: one call for the whole batch."""
    stored = []
    for channel, update_id, event in rows:
        cursor = conn.execute(
            "INSERT INTO inbox (channel, update_id, event, received_at) "
            "SELECT :channel, :update, :event, :at WHERE NOT EXISTS (SELECT 1 FROM "
            "processed_updates WHERE channel = :channel AND update_id = :update) "
            "ON CONFLICT (channel, update_id) DO NOTHING",
            {"channel": channel, "update": update_id, "event": event, "at": at})
        if cursor.rowcount:
            stored.append((channel, update_id))
    return stored


class SessionsRepo:
    def __init__(self, conn: aiosqlite.Connection, pending: PendingWrites):
        self.conn = conn
        self.pending = pending

    async def get(self, contact_id: int) -> tuple[str, dict, datetime] | None:
        """(flow, state, updated_at) of the contact's conversation, if any (as this
        transaction left it)."""
        held = self.pending.sessions.get(contact_id)
        if held is not None and held[0] is not None:
            return held[0], session_state(held[1] or "{}", held[2]), datetime.fromisoformat(
                held[3])
        rows = await self.conn.execute_fetchall(
            "SELECT flow, state, offered, updated_at FROM sessions WHERE contact_id = ?",
            (contact_id,))
        row = first(rows)
        if row is None:
            return None
        offered = held[2] if held is not None else row[2]
        return row[0], session_state(row[1], offered), datetime.fromisoformat(row[3])

    def save(self, contact_id: int, flow: str, state: dict, now: datetime) -> None:
        """Store the conversation state (as it is now) when the transaction commits."""
        rest = {k: v for k, v in state.items() if k != "offered"}
        offered = _dump(state["offered"]) if "offered" in state else None
        self.pending.sessions[contact_id] = (flow, _dump(rest), offered, iso(now))

    def offer(self, contact_id: int, choices: list[list[str]], now: datetime) -> None:
        """Remember the choices last put to someone, so a typed number can answer them."""
        flow, state, _offered, at = self.pending.sessions.get(
            contact_id, (None, None, None, iso(now)))
        self.pending.sessions[contact_id] = (flow, state, _dump(choices), at)

    async def delete(self, contact_id: int) -> None:
        self.pending.sessions.pop(contact_id, None)
        await self.conn.execute("DELETE FROM sessions WHERE contact_id = ?", (contact_id,))

    async def idle(self, before: datetime, exclude_flow: str) -> list[tuple[int, str, dict]]:
        """(contact_id, flow, state) of sessions untouched since `before`."""
        rows = await self.conn.execute_fetchall(
            "SELECT contact_id, flow, state, offered FROM sessions "
            "WHERE updated_at < ? AND flow != ?", (iso(before), exclude_flow))
        return [(r[0], r[1], session_state(r[2], r[3])) for r in rows]

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
        return jsontext.loads(row[0]) if row else None

    async def has_draft(self, contact_id: int, flow: str) -> bool:
        rows = await self.conn.execute_fetchall(
            "SELECT 1 FROM drafts WHERE contact_id = ? AND flow = ?", (contact_id, flow)
        )
        return first(rows) is not None


class UpdatesRepo:
    def __init__(self, conn: aiosqlite.Connection, pending: PendingWrites):
        self.conn = conn
        self.pending = pending

    async def seen(self, channel: str, update_id: str) -> bool:
        if (channel, update_id) in {(c, u) for c, u, _at in self.pending.updates}:
            return True
        rows = await self.conn.execute_fetchall(
            "SELECT 1 FROM processed_updates WHERE channel = ? AND update_id = ?",
            (channel, update_id))
        return bool(rows)

    def record(self, channel: str, update_id: str, now: datetime) -> None:
        """Remember the update as processed when the transaction commits."""
        self.pending.updates.append((channel, update_id, iso(now)))


class InboxRepo:
    """Updates received and committed, waiting to be processed."""

    def __init__(self, conn: aiosqlite.Connection, pending: PendingWrites):
        self.conn = conn
        self.pending = pending

    async def add_many(self, rows: list[tuple[str, str, str]],
                       now: datetime) -> list[tuple[str, str]]:
        """Store (channel, update_id, event JSON) rows; return the (channel, update_id) of those
        stored. An update already waiting or already processed (a platform delivering it
        again) is not stored again: it never reaches the handlers, nor counts against the
        sender's flood limit."""
        return await run_inline(self.conn, store_inbox, rows, iso(now))

    async def waiting(self, limit: int = 100) -> list[tuple[str, str, str, int]]:
        """(channel, update_id, event JSON, attempts) of the oldest unprocessed updates."""
        rows = await self.conn.execute_fetchall(
            "SELECT channel, update_id, event, attempts FROM inbox ORDER BY id LIMIT ?",
            (limit,))
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    def done(self, channel: str, update_id: str, now: datetime) -> None:
        """Remove the update from the inbox when this transaction (its processing) commits."""
        self.pending.received.append((channel, update_id))

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
    # Built without validation: every value is typed already (a row of ours, its message read
    # by messages.load), and the delivery pass reads one per message sent.
    return OutboxRow.model_construct(id=r[0], channel=r[1], chat_id=r[2], contact_id=r[3],
                                     message=message, attempts=r[5],
                                     created_at=datetime.fromisoformat(r[6]), rid=rid)


def outbox_due(conn: sqlite3.Connection, channel: str, now: str, limit: int,
               skip: Container[int] = ()) -> list[OutboxRow]:
    """Rows that may be sent now, at most `limit` of each class: urgent rows, then the head
    of each chat's queue of replies (its oldest pending row: a chat gets its messages in
    order, so a row waiting to be retried holds back the ones after it), then the head of each
    chat's queue of messages to many (notices, reminders, digests: migration 0028), so that a
    broadcast to thousands or the morning's reminders never hold up the answer to someone's
    message. Each class is read in id order from an index of the queues' heads (kept by
    triggers, see migrations 0019 and 0028) and stops at `limit`: the cost follows what is
    sent, not how much is waiting, nor how long one chat's queue is. Rows whose id is in
    `skip` (being sent) are left out before they are read into messages."""
    rows = conn.execute(
        f"SELECT * FROM (SELECT {_ROW_COLUMNS} FROM outbox WHERE channel = :channel "
        "AND status = 'pending' AND urgent = 1 AND not_before <= :now ORDER BY id "
        "LIMIT :limit) UNION ALL "
        f"SELECT * FROM (SELECT {_ROW_COLUMNS} FROM outbox INDEXED BY outbox_heads "
        "WHERE channel = :channel AND status = 'pending' AND head = 1 "
        "AND bulk = 0 AND not_before <= :now ORDER BY id "
        "LIMIT :limit) UNION ALL "
        f"SELECT * FROM (SELECT {_ROW_COLUMNS} FROM outbox INDEXED BY outbox_heads "
        "WHERE channel = :channel AND status = 'pending' AND head = 1 "
        "AND bulk = 1 AND not_before <= :now ORDER BY id "
        "LIMIT :limit)",
        {"channel": channel, "now": now, "limit": limit}).fetchall()
    return [_outbox_row(r) for r in rows if r[0] not in skip]


def outbox_next_due_at(conn: sqlite3.Connection, channel: str, now: str) -> datetime | None:
    row = conn.execute(
        "SELECT MIN(not_before) FROM outbox WHERE channel = ? AND status = 'pending' "
        "AND attempts > 0 AND not_before > ?", (channel, now)).fetchall()[0]
    return datetime.fromisoformat(row[0]) if row[0] else None


def _due_and_next(conn: sqlite3.Connection, channel: str, now: str, limit: int,
                  skip: Container[int]) -> tuple[list[OutboxRow], datetime | None]:
    return outbox_due(conn, channel, now, limit, skip), outbox_next_due_at(conn, channel, now)


def _has_pending(conn: sqlite3.Connection, channel: str, chat_id: str, payload: str) -> bool:
    return bool(conn.execute(
        "SELECT 1 FROM outbox WHERE channel = ? AND chat_id = ? AND status = 'pending' "
        "AND json_remove(payload, '$.rid') = ? LIMIT 1", (channel, chat_id, payload)).fetchall())


def _question_before(conn: sqlite3.Connection, channel: str, chat_id: str, message_id: int,
                     reply_to: int | None) -> str | None:
    """OutboxRepo.question_before on the connection: the chat's last questions sent, newest
    first, read one at a time (the newest is nearly always the answer: no need to read 20)."""
    cursor = conn.execute(
        "SELECT asks, message_id FROM outbox WHERE channel = ? AND chat_id = ? "
        "AND asks IS NOT NULL AND status = 'sent' ORDER BY id DESC LIMIT 20",
        (channel, chat_id))
    try:
        for asks, sent_id in cursor:
            if not (sent_id or "").isascii() or not (sent_id or "").isdigit():
                return None
            if (int(sent_id) == reply_to) if reply_to is not None else int(sent_id) < message_id:
                return asks
        return None
    finally:
        cursor.close()  # no statement left in progress at commit


def _chats_waiting(conn: sqlite3.Connection, channel: str, chat_ids: list[str]) -> set[str]:
    return {r[0] for r in conn.execute(
        "SELECT DISTINCT chat_id FROM outbox INDEXED BY outbox_chat WHERE channel = ? "
        f"AND status = 'pending' AND chat_id IN ({', '.join('?' * len(chat_ids))})",
        (channel, *chat_ids)).fetchall()}


def record_outcomes(conn: sqlite3.Connection, channel: str, sent: list[tuple[int, str | None]],
                    retries: list[tuple[int, datetime, str]],
                    given_up: list[tuple[int, str, str]], unreachable: list[str],
                    now: datetime, ask: list[str]) -> set[str]:
    """Record delivery outcomes on `channel`: (id, platform message id) sent; (id, not before,
    error) to try again; (id, 'failed' or 'unreachable', error) given up; the chats found
    unreachable. Returns those of the chats in `ask` that still have messages waiting to go.
    Statements only, for one call to the database with the commit (Database.commit_with: the
    delivery worker records every send)."""
    if sent:
        conn.executemany(
            "UPDATE outbox SET status = 'sent', sent_at = ?, message_id = ?, "
            "attempts = attempts + 1 WHERE id = ?",
            [(iso(now), message_id, row_id) for row_id, message_id in sent])
    if retries:
        conn.executemany(
            "UPDATE outbox SET attempts = attempts + 1, not_before = ?, last_error = ? "
            "WHERE id = ?",
            [(iso(when), error[:500], row_id) for row_id, when, error in retries])
    if given_up:
        conn.executemany(
            "UPDATE outbox SET status = ?, attempts = attempts + 1, last_error = ? WHERE id = ?",
            [(status, error[:500], row_id) for row_id, status, error in given_up])
    if unreachable:
        conn.executemany("UPDATE contact_channels SET reachable = 0 WHERE channel = ? "
                         "AND chat_id = ?", [(channel, chat_id) for chat_id in unreachable])
    return _chats_waiting(conn, channel, ask) if ask else set()


class OutboxRepo:
    def __init__(self, conn: aiosqlite.Connection, pending: PendingWrites, signals: set[str]):
        self.conn = conn
        self.pending = pending
        self.signals = signals

    def add(self, channel: str, chat_id: str, contact_id: int | None, message: Message,
            now: datetime, delivery_id: int | None = None, urgent: bool = False,
            rid: str | None = None, bulk: bool = False) -> None:
        """Queue a message; it is written with the transaction that caused it. An urgent one
        goes ahead of what is already queued for the chat; a bulk one (a notice's delivery
        always is) goes in the chat's lane of messages to many, after the replies to people
        (migration 0028). `rid`: the request that caused it."""
        at = iso(now)
        self.pending.outbox.append((channel, chat_id, contact_id, messages.dump(message, rid), at,
                                    at, delivery_id, int(urgent), getattr(message, "asks", None),
                                    int(bulk or delivery_id is not None)))
        if self.pending.heads is not None:
            self.pending.messages.append((message, rid, now))

    async def add_status(self, channel: str, chat_id: str, contact_id: int | None,
                         message: Message, now: datetime, broadcast_id: int,
                         rid: str | None = None) -> None:
        """Queue the message that shows a notice's live figures; the notice keeps its row's
        id, to rewrite the figures in it while the notice goes out (see status_message)."""
        # The id is needed now, so the row is written at once, after what the transaction
        # queued before it (a chat's messages go in id order).
        await run_inline(self.conn, self.pending.write)
        rows = await self.conn.execute_fetchall(
            "INSERT INTO outbox (channel, chat_id, contact_id, payload, not_before, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            (channel, chat_id, contact_id, messages.dump(message, rid), iso(now), iso(now)))
        await self.conn.execute("UPDATE broadcasts SET status_outbox_id = ? WHERE id = ?",
                                (one(rows)[0], broadcast_id))
        self.signals.add("delivery")

    async def due(self, channel: str, now: datetime, limit: int = 200) -> list[OutboxRow]:
        """Rows that may be sent now (see outbox_due)."""
        return await run_inline(self.conn, outbox_due, channel, iso(now), limit)

    async def next_due_at(self, channel: str, now: datetime) -> datetime | None:
        """When the next row waiting for its time falls due: rows are created due, so only
        a retry waits."""
        return await run_inline(self.conn, outbox_next_due_at, channel, iso(now))

    async def due_and_next(self, channel: str, now: datetime, limit: int = 200,
                           skip: Container[int] = ()) -> tuple[list[OutboxRow], datetime | None]:
        """due() (without the rows in `skip`) and next_due_at() in one go (a delivery
        pass)."""
        return await run_inline(self.conn, _due_and_next, channel, iso(now), limit, skip)

    async def has_pending(self, channel: str, chat_id: str, message: Message) -> bool:
        """Whether the very same message is already waiting to go to this chat."""
        return await run_inline(self.conn, _has_pending, channel, chat_id, messages.dump(message))

    async def question_before(self, channel: str, chat_id: str, message_id: int,
                              reply_to: int | None) -> str | None:
        """The question ("form:step") that the person saw last before writing their message
        `message_id` (or the one they replied to), where the platform numbers a chat's
        messages in one sequence; None if it cannot be told."""
        return await run_inline(self.conn, _question_before, channel, chat_id, message_id,
                                 reply_to)

    async def cancel(self, chats: list[tuple[str, str]], contact_id: int | None = None) -> int:
        """Drop what is still waiting to go to these (channel, chat) and to this contact."""
        where = " OR ".join(["contact_id = ?"] + ["(channel = ? AND chat_id = ?)"] * len(chats))
        cur = await self.conn.execute(
            f"UPDATE outbox SET status = 'cancelled' WHERE status = 'pending' AND ({where})",
            [contact_id, *(part for chat in chats for part in chat)])
        self.signals.add("delivery")
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
        return [dict(r) | {"params": jsontext.loads(r["params"])} for r in rows]

    async def finish(self, job_id: int, status: str, now: datetime) -> None:
        await self.conn.execute("UPDATE jobs SET status = ?, finished_at = ? WHERE id = ?",
                                (status, iso(now), job_id))

    async def message_id(self, outbox_id: int) -> str | None:
        rows = await self.conn.execute_fetchall("SELECT message_id FROM outbox WHERE id = ?",
                                                (outbox_id,))
        row = first(rows)
        return row[0] if row else None
