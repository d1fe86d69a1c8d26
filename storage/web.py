"""The web desk's sign-in: one-time links and browser sessions, kept as hashes only."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

import aiosqlite

from storage.units import first, iso, one


def digest(secret: str) -> str:
    """What the database keeps of a link code or a session token."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class WebSession:
    contact_id: int
    role: str
    unit_id: int | None
    csrf: str
    expires_at: datetime


class WebRepo:
    def __init__(self, conn: aiosqlite.Connection):
        self.conn = conn

    async def add_link(self, code: str, contact_id: int, now: datetime,
                       expires: datetime) -> None:
        """A new sign-in link; the person's earlier unused links stop working."""
        await self.conn.execute(
            "UPDATE web_links SET used_at = ? WHERE contact_id = ? AND used_at IS NULL",
            (iso(now), contact_id))
        await self.conn.execute(
            "INSERT INTO web_links (code_hash, contact_id, created_at, expires_at) "
            "VALUES (?, ?, ?, ?)", (digest(code), contact_id, iso(now), iso(expires)))

    async def use_link(self, code: str, now: datetime) -> int | None:
        """The contact a link signs in, marking it used; None if unknown, used or expired."""
        rows = await self.conn.execute_fetchall(
            "UPDATE web_links SET used_at = ? WHERE code_hash = ? AND used_at IS NULL "
            "AND expires_at > ? RETURNING contact_id", (iso(now), digest(code), iso(now)))
        row = first(rows)
        return row[0] if row else None

    async def link_usable(self, code: str, now: datetime) -> bool:
        rows = await self.conn.execute_fetchall(
            "SELECT 1 FROM web_links WHERE code_hash = ? AND used_at IS NULL AND expires_at > ?",
            (digest(code), iso(now)))
        return bool(rows)

    async def open_session(self, token: str, contact_id: int, role: str, unit_id: int | None,
                           csrf: str, now: datetime, expires: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO web_sessions (token_hash, contact_id, role, unit_id, csrf, created_at, "
            "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (digest(token), contact_id, role, unit_id, csrf, iso(now), iso(expires)))

    async def session(self, token: str, now: datetime) -> WebSession | None:
        """A session that has not ended nor expired."""
        rows = await self.conn.execute_fetchall(
            "SELECT contact_id, role, unit_id, csrf, expires_at FROM web_sessions "
            "WHERE token_hash = ? AND ended_at IS NULL AND expires_at > ?",
            (digest(token), iso(now)))
        row = first(rows)
        if row is None:
            return None
        return WebSession(row[0], row[1], row[2], row[3], datetime.fromisoformat(row[4]))

    async def end_session(self, token: str, now: datetime) -> None:
        await self.conn.execute(
            "UPDATE web_sessions SET ended_at = ? WHERE token_hash = ? AND ended_at IS NULL",
            (iso(now), digest(token)))

    async def secret(self, make: str) -> str:
        """The desk's signing secret (CSRF tokens of Mini App pages): `make` the first time."""
        await self.conn.execute(
            "INSERT INTO meta (key, value) VALUES ('web_secret', ?) ON CONFLICT DO NOTHING",
            (make,))
        rows = await self.conn.execute_fetchall("SELECT value FROM meta WHERE key = 'web_secret'")
        return str(one(rows)[0])

    async def attachment(self, attachment_id: int) -> dict | None:
        """One stored file: whose it is (a report's or a difficulty's) and where it lives."""
        rows = await self.conn.execute_fetchall(
            "SELECT owner_kind, owner_id, channel, kind, file_id, file_name AS name "
            "FROM attachments WHERE id = ?", (attachment_id,))
        row = first(rows)
        return dict(row) if row else None
