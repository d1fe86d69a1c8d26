"""Notices from admins: who should get them, what was delivered, who acknowledged."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime

import aiosqlite

from storage.models import Contact, Identity
from storage.units import _CONTACT_COLUMNS, first, iso, one


@dataclass(frozen=True)
class Broadcast:
    id: int
    created_by: int
    text: str
    audience: dict
    attachment: dict | None
    status: str
    scheduled_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class Figures:
    recipients: int
    queued: int
    sent: int
    failed: int
    unreachable: int
    cancelled: int
    acknowledged: int


def _broadcast(row: aiosqlite.Row) -> Broadcast:
    return Broadcast(row["id"], row["created_by"], row["text"], json.loads(row["audience"]),
                     json.loads(row["attachment"]) if row["attachment"] else None, row["status"],
                     datetime.fromisoformat(row["scheduled_at"]) if row["scheduled_at"] else None,
                     datetime.fromisoformat(row["created_at"]))


class BroadcastsRepo:
    def __init__(self, conn: aiosqlite.Connection, signals: set[str]):
        self.conn = conn
        self.signals = signals

    async def create(self, *, created_by: int, text: str, audience: dict,
                     attachment: dict | None, scheduled_at: datetime | None,
                     now: datetime) -> int:
        rows = await self.conn.execute_fetchall(
            "INSERT INTO broadcasts (created_by, text, audience, attachment, status, "
            "scheduled_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (created_by, text, json.dumps(audience, ensure_ascii=False),
             json.dumps(attachment) if attachment else None,
             "scheduled" if scheduled_at else "sending",
             iso(scheduled_at) if scheduled_at else None, iso(now)))
        return one(rows)[0]

    async def get(self, broadcast_id: int) -> Broadcast | None:
        row = first(await self.conn.execute_fetchall("SELECT * FROM broadcasts WHERE id = ?",
                                                     (broadcast_id,)))
        return _broadcast(row) if row else None

    async def recent(self, limit: int = 10) -> list[Broadcast]:
        rows = await self.conn.execute_fetchall(
            "SELECT * FROM broadcasts ORDER BY id DESC LIMIT ?", (limit,))
        return [_broadcast(r) for r in rows]

    async def received(self, contact_id: int, limit: int = 10
                       ) -> list[tuple[Broadcast, int, datetime | None]]:
        """(notice, delivery id, acknowledged at) of the latest notices sent to a person."""
        rows = await self.conn.execute_fetchall(
            "SELECT b.*, d.id AS delivery_id, d.acknowledged_at FROM deliveries d "
            "JOIN broadcasts b ON b.id = d.broadcast_id WHERE d.contact_id = ? AND EXISTS "
            "(SELECT 1 FROM outbox o WHERE o.delivery_id = d.id AND o.status = 'sent') "
            "ORDER BY b.id DESC LIMIT ?", (contact_id, limit))
        return [(_broadcast(r), r["delivery_id"],
                 datetime.fromisoformat(r["acknowledged_at"]) if r["acknowledged_at"] else None)
                for r in rows]

    async def due(self, now: datetime) -> list[Broadcast]:
        rows = await self.conn.execute_fetchall(
            "SELECT * FROM broadcasts WHERE status = 'scheduled' AND scheduled_at <= ? "
            "ORDER BY id", (iso(now),))
        return [_broadcast(r) for r in rows]

    async def sending(self) -> list[Broadcast]:
        rows = await self.conn.execute_fetchall(
            "SELECT * FROM broadcasts WHERE status = 'sending' ORDER BY id")
        return [_broadcast(r) for r in rows]

    async def set_status(self, broadcast_id: int, status: str, now: datetime) -> None:
        await self.conn.execute(
            "UPDATE broadcasts SET status = ?, sent_at = COALESCE(sent_at, ?) WHERE id = ?",
            (status, iso(now) if status == "done" else None, broadcast_id))

    async def audience(self, audience: dict, today: date | None = None
                       ) -> list[tuple[Contact, list[Identity]]]:
        """Everyone the audience names, with their channel addresses (reachable or not).
        Units' audiences are their officers (of the units existing `today`, if given: a notice
        goes to units as they are when it is sent); roles' are everyone with those roles."""
        scope = audience["scope"]
        sql = (f"SELECT {_CONTACT_COLUMNS} FROM contacts c LEFT JOIN units u ON u.id = c.unit_id "
               "WHERE c.deactivated_at IS NULL AND ")
        args: list = []
        if scope == "roles":
            roles = audience["roles"]
            sql += f"c.role IN ({','.join('?' * len(roles))})"
            args += roles
        else:
            sql += "c.role = 'officer'"
            if today is not None:
                sql += (" AND (u.valid_from IS NULL OR u.valid_from <= ?) "
                        "AND (u.valid_to IS NULL OR u.valid_to >= ?)")
                args += [today.isoformat(), today.isoformat()]
            if scope == "kinds":
                sql += f" AND u.kind IN ({','.join('?' * len(audience['kinds']))})"
                args += audience["kinds"]
            elif scope == "units":
                sql += f" AND u.code IN ({','.join('?' * len(audience['units']))})"
                args += audience["units"]
        contacts = [Contact.model_validate(dict(r)) for r in
                    await self.conn.execute_fetchall(sql + " ORDER BY c.id", args)]
        if not contacts:
            return []
        ids = [c.id for c in contacts]
        rows = await self.conn.execute_fetchall(
            "SELECT channel, external_id, contact_id, chat_id, reachable FROM contact_channels "
            f"WHERE contact_id IN ({','.join('?' * len(ids))}) ORDER BY channel", ids)
        by_contact: dict[int, list[Identity]] = {}
        for row in rows:
            by_contact.setdefault(row["contact_id"], []).append(
                Identity.model_validate(dict(row)))
        return [(c, by_contact.get(c.id, [])) for c in contacts]

    async def add_deliveries(self, broadcast_id: int, contact_ids: list[int]) -> dict[int, int]:
        """One delivery per recipient (kept if it exists: a resumed send adds nobody twice);
        returns contact id -> delivery id."""
        await self.conn.executemany(
            "INSERT INTO deliveries (broadcast_id, contact_id) VALUES (?, ?) "
            "ON CONFLICT (broadcast_id, contact_id) DO NOTHING",
            [(broadcast_id, contact_id) for contact_id in contact_ids])
        rows = await self.conn.execute_fetchall(
            "SELECT contact_id, id FROM deliveries WHERE broadcast_id = ?", (broadcast_id,))
        return {r[0]: r[1] for r in rows}

    async def figures(self, broadcast_id: int) -> Figures:
        row = one(await self.conn.execute_fetchall(
            "SELECT COUNT(*), "
            "SUM(EXISTS (SELECT 1 FROM outbox o WHERE o.delivery_id = d.id "
            "  AND o.status = 'pending')), "
            "SUM(EXISTS (SELECT 1 FROM outbox o WHERE o.delivery_id = d.id "
            "  AND o.status = 'sent')), "
            "SUM(EXISTS (SELECT 1 FROM outbox o WHERE o.delivery_id = d.id "
            "  AND o.status = 'failed') AND NOT EXISTS (SELECT 1 FROM outbox o "
            "  WHERE o.delivery_id = d.id AND o.status IN ('sent', 'pending'))), "
            "SUM(NOT EXISTS (SELECT 1 FROM outbox o WHERE o.delivery_id = d.id "
            "  AND o.status IN ('sent', 'pending', 'failed', 'cancelled'))), "
            "SUM(EXISTS (SELECT 1 FROM outbox o WHERE o.delivery_id = d.id "
            "  AND o.status = 'cancelled') AND NOT EXISTS (SELECT 1 FROM outbox o "
            "  WHERE o.delivery_id = d.id AND o.status IN ('sent', 'pending'))), "
            "SUM(d.acknowledged_at IS NOT NULL) FROM deliveries d WHERE d.broadcast_id = ?",
            (broadcast_id,)))
        return Figures(*(value or 0 for value in row))

    async def acknowledge(self, delivery_id: int, contact_id: int, now: datetime) -> str | None:
        """Record a 'Received'; returns None if the delivery is not this person's, else
        'new' or 'again'."""
        row = first(await self.conn.execute_fetchall(
            "SELECT acknowledged_at FROM deliveries WHERE id = ? AND contact_id = ?",
            (delivery_id, contact_id)))
        if row is None:
            return None
        if row[0]:
            return "again"
        await self.conn.execute("UPDATE deliveries SET acknowledged_at = ? WHERE id = ?",
                                (iso(now), delivery_id))
        return "new"

    async def unacknowledged(self, broadcast_id: int) -> list[tuple[int, int, str, str]]:
        """(delivery id, contact id, unit name, person) of those who have not acknowledged."""
        rows = await self.conn.execute_fetchall(
            "SELECT d.id, c.id, COALESCE(u.name, ''), c.name FROM deliveries d "
            "JOIN contacts c ON c.id = d.contact_id LEFT JOIN units u ON u.id = c.unit_id "
            "WHERE d.broadcast_id = ? AND d.acknowledged_at IS NULL AND c.erased_at IS NULL "
            "ORDER BY u.name, c.name",
            (broadcast_id,))
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    async def cancel_pending(self, broadcast_id: int) -> int:
        """Stop the notices not yet sent; returns how many were stopped."""
        cur = await self.conn.execute(
            "UPDATE outbox SET status = 'cancelled' WHERE status = 'pending' AND delivery_id IN "
            "(SELECT id FROM deliveries WHERE broadcast_id = ?)", (broadcast_id,))
        self.signals.add("delivery")
        return cur.rowcount

    async def pending_count(self, broadcast_id: int) -> int:
        rows = await self.conn.execute_fetchall(
            "SELECT COUNT(*) FROM outbox WHERE status = 'pending' AND delivery_id IN "
            "(SELECT id FROM deliveries WHERE broadcast_id = ?)", (broadcast_id,))
        return one(rows)[0]

    async def status_message(self, broadcast_id: int) -> tuple[str, str, str] | None:
        """(channel, chat id, message id) of the status message the admin got when the notice
        went out (the one with its Refresh button), once it has been delivered."""
        row = first(await self.conn.execute_fetchall(
            "SELECT o.channel, o.chat_id, o.message_id FROM broadcasts b "
            "JOIN outbox o ON o.id = b.status_outbox_id WHERE b.id = ? "
            "AND o.status = 'sent' AND o.message_id IS NOT NULL", (broadcast_id,)))
        return (row[0], row[1], row[2]) if row else None
