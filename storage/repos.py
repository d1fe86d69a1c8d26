"""The repositories one transaction sees, gathered on one object."""

from __future__ import annotations

from functools import cached_property

import aiosqlite

from storage.broadcasts import BroadcastsRepo
from storage.conversations import (
    InboxRepo,
    JobsRepo,
    OutboxRepo,
    PendingWrites,
    SessionsRepo,
    UpdatesRepo,
)
from storage.difficulties import DifficultiesRepo
from storage.reports import ReportsRepo
from storage.tracking import TrackingRepo
from storage.units import AuditRepo, ContactsRepo, InvitesRepo, MetaRepo, UnitsRepo
from storage.web import WebRepo


class Tx:
    """Repositories bound to the connection of one open transaction."""

    def __init__(self, conn: aiosqlite.Connection):
        self.conn = conn
        self.pending = PendingWrites()
        # Loaded ahead by the transaction's first call to the database (see Database.batch).
        self.loaded: dict[tuple, object] = {}
        # What this transaction set going that the program should act on after it commits:
        # "jobs" queued; "delivery": the outbox changed otherwise than by the rows queued
        # through PendingWrites (a row cancelled, an urgent one), which only a read of it
        # shows the delivery worker (see Runtime._steps).
        self.signals: set[str] = set()

    @cached_property
    def units(self) -> UnitsRepo:
        return UnitsRepo(self.conn)

    @cached_property
    def contacts(self) -> ContactsRepo:
        return ContactsRepo(self.conn, self.pending, self.loaded, self.signals)

    @cached_property
    def invites(self) -> InvitesRepo:
        return InvitesRepo(self.conn)

    @cached_property
    def audit(self) -> AuditRepo:
        return AuditRepo(self.conn)

    @cached_property
    def meta(self) -> MetaRepo:
        return MetaRepo(self.conn)

    @cached_property
    def sessions(self) -> SessionsRepo:
        return SessionsRepo(self.conn, self.pending)

    @cached_property
    def updates(self) -> UpdatesRepo:
        return UpdatesRepo(self.conn, self.pending)

    @cached_property
    def inbox(self) -> InboxRepo:
        return InboxRepo(self.conn, self.pending)

    @cached_property
    def outbox(self) -> OutboxRepo:
        return OutboxRepo(self.conn, self.pending, self.signals)

    @cached_property
    def reports(self) -> ReportsRepo:
        return ReportsRepo(self.conn)

    @cached_property
    def tracking(self) -> TrackingRepo:
        return TrackingRepo(self.conn)

    @cached_property
    def difficulties(self) -> DifficultiesRepo:
        return DifficultiesRepo(self.conn)

    @cached_property
    def jobs(self) -> JobsRepo:
        return JobsRepo(self.conn, self.signals)

    @cached_property
    def broadcasts(self) -> BroadcastsRepo:
        return BroadcastsRepo(self.conn, self.signals)

    @cached_property
    def web(self) -> WebRepo:
        return WebRepo(self.conn)
