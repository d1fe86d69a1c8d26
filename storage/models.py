"""Pydantic models at the storage boundary: what repositories take and return."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from storage.messages import Message


class Role(StrEnum):
    OFFICER = "officer"
    COORDINATOR = "coordinator"
    LEADER = "leader"
    ADMIN = "admin"


class Record(BaseModel):
    model_config = ConfigDict(frozen=True, from_attributes=True)


class UnitIn(Record):
    """A unit as written in an import file."""

    code: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    name: str = Field(min_length=1, max_length=200)
    kind: str = Field(min_length=1, max_length=40, pattern=r"^[a-z_]+$")
    parent_code: str | None = None
    # A unit's life (migration 0020). A file that leaves out a column leaves the stored value
    # alone: upserts write only the fields that were set (pydantic's model_fields_set).
    short_name: str | None = Field(default=None, max_length=60)
    valid_from: date | None = None  # the first day it exists (None: since before the programme)
    valid_to: date | None = None  # the last day it exists (None: it still does)
    # Codes of the units that carry on its work: a merge names one, a rename the new code, a
    # split several. One successor takes its history when figures are rolled up; a split unit
    # keeps it (handlers.units.rolled_up).
    successors: tuple[str, ...] = ()

    def valid_on(self, day: date) -> bool:
        return ((self.valid_from is None or self.valid_from <= day)
                and (self.valid_to is None or day <= self.valid_to))


class Unit(UnitIn):
    id: int

    @property
    def label(self) -> str:
        """The name to show in lists: the short name if there is one."""
        return self.short_name or self.name


class Contact(Record):
    id: int
    unit_id: int | None
    role: Role
    name: str
    language: str
    active: bool = True
    # Admin because ADMIN_IDS lists them (see handlers/access.py follow_admin_ids).
    admin_by_setting: bool = False


class Identity(Record):
    """One contact's address on one channel."""

    channel: str
    external_id: str
    contact_id: int
    chat_id: str
    reachable: bool
    last_seen_at: datetime | None = None


class Invite(Record):
    code: str
    unit_id: int | None
    role: Role
    created_by: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    used_by: int | None = None
    revoked_at: datetime | None = None
    for_contact: int | None = None
    # The channel a /link code was made on (it works on the others only).
    made_on: str | None = None


class OutboxRow(Record):
    id: int
    channel: str
    chat_id: str
    contact_id: int | None
    message: Message
    attempts: int
    created_at: datetime
    # The request that queued the message, so that its send logs under the same id.
    rid: str | None = None
