"""The life of a person's access: role and unit changes, deactivation, identities, ADMIN_IDS.

Each change is audited and the person is told once, on every app they use. Shared by the admin's
chat (handlers/people.py), the router (handlers/core.py) and the command line (bot/cli.py).

```mermaid
flowchart LR
    A[active] -->|deactivate| D[deactivated: refused,<br/>form kept as draft,<br/>queue dropped]
    D -->|reactivate| A
    A -->|ADMIN_IDS lists them| ADM[admin by setting]
    ADM -->|ADMIN_IDS stops listing them| P{role before?}
    P -->|yes| A
    P -->|no| D
```
"""

from __future__ import annotations

from datetime import datetime

from handlers import forms
from handlers.context import MENU_FLOW, Config
from handlers.state import Session
from handlers.text import esc
from handlers.types import Inbound, Outgoing, Reply
from locales.i18n import N_, Translator
from storage.models import Contact, Role
from storage.repos import Tx

# In running text ("registered as officer of ...") and as a button or heading.
ROLE_NAMES = {Role.OFFICER: N_("officer"), Role.COORDINATOR: N_("coordinator"),
              Role.LEADER: N_("leader"), Role.ADMIN: N_("administrator")}
ROLE_TITLES = {Role.OFFICER: N_("Officer (unit contact person)"),
               Role.COORDINATOR: N_("Coordinator"), Role.LEADER: N_("Leader"),
               Role.ADMIN: N_("Administrator")}
CHANNEL_NAMES = {"telegram": "Telegram", "zalo": "Zalo", "console": N_("console")}


def channel_name(t: Translator, channel: str) -> str:
    return t._(CHANNEL_NAMES[channel]) if channel in CHANNEL_NAMES else channel


def withdrawn(config: Config, t: Translator) -> str:
    """What a deactivated person is told, whatever they send."""
    return t._("Your access to Baocao has been withdrawn, so the bot cannot take reports or "
               "commands from you. If you think this is a mistake, please contact the "
               "{body}.").format(body=config.body(t))


async def role_text(tx: Tx, t: Translator, role: Role, unit_id: int | None) -> str:
    """'officer, Ủy ban nhân dân quận Lê Chân' (the unit only if there is one)."""
    unit = await tx.units.get(unit_id) if unit_id else None
    return t._(ROLE_NAMES[role]) + (f", {esc(unit.name)}" if unit else "")


async def tell(tx: Tx, contact_id: int, reply: Reply, to_inactive: bool = False
               ) -> list[Outgoing]:
    """A message to every app the person can be reached on. One to a deactivated person goes
    without their contact id, which would cancel it (see migration 0016)."""
    return [Outgoing(i.channel, i.chat_id, reply, None if to_inactive else contact_id)
            for i in await tx.contacts.identities(contact_id) if i.reachable]


async def park_form(tx: Tx, contact_id: int, flow: str, state: Session,
                    now: datetime) -> forms.Form | None:
    """Close the person's open form, keeping its answers as a draft they can continue; the
    caller saves the session."""
    form = forms.FORMS.get(flow)
    if form is None or state.form is None:
        return None
    await tx.sessions.save_draft(contact_id, flow, state.form.dump(state.step), now)
    state.form = None
    return form


async def deactivate(tx: Tx, config: Config, contact: Contact, actor: str, now: datetime,
                     reason: str = "", text: str | None = None) -> list[Outgoing]:
    """Take all access away from the next update on; what was queued for them is dropped.
    `text` tells them why, instead of the plain notice (e.g. their unit ceased to exist)."""
    if not contact.active:
        return []
    await tx.contacts.set_active(contact.id, False, now)
    session = await tx.sessions.get(contact.id)
    if session is not None:
        flow, stored, _at = session
        state = Session.load(stored)
        if await park_form(tx, contact.id, flow, state, now):
            state.offered = []
            tx.sessions.save(contact.id, MENU_FLOW, state.dump(), now)
    identities = await tx.contacts.identities(contact.id)
    dropped = await tx.outbox.cancel([(i.channel, i.chat_id) for i in identities], contact.id)
    await tx.invites.void_links(contact.id, now)
    await tx.audit.record(actor, "contact.deactivate", now, contact=contact.id,
                          cancelled=dropped, reason=reason or None)
    return await tell(tx, contact.id,
                      Reply(text or withdrawn(config, config.translator(contact.language))),
                      to_inactive=True)


async def reactivate(tx: Tx, config: Config, contact: Contact, actor: str,
                     now: datetime) -> list[Outgoing]:
    if contact.active:
        return []
    await tx.contacts.set_active(contact.id, True, now)
    await tx.audit.record(actor, "contact.reactivate", now, contact=contact.id)
    t = config.translator(contact.language)
    who = await role_text(tx, t, contact.role, contact.unit_id)
    return await tell(tx, contact.id, Reply(t._(
        "Your access to Baocao has been restored ({who}). Send /start to see the menu.").format(
        who=who)))


async def change_role(tx: Tx, config: Config, contact: Contact, role: Role, unit_id: int | None,
                      actor: str, now: datetime) -> list[Outgoing]:
    """A new role or unit. The person's old /link codes are voided: a code is for the access
    they had when they made it."""
    if (role, unit_id) == (contact.role, contact.unit_id):
        return []
    await tx.contacts.update(contact.id, unit_id=unit_id, role=role)
    await tx.invites.void_links(contact.id, now)
    await tx.audit.record(actor, "contact.role", now, contact=contact.id, role=role.value,
                          unit=unit_id, before_role=contact.role.value, before_unit=contact.unit_id)
    t = config.translator(contact.language)
    return await tell(tx, contact.id, Reply(t._("You are now registered as {who}.").format(
        who=await role_text(tx, t, role, unit_id))))


async def remove_identity(tx: Tx, config: Config, contact: Contact, channel: str,
                          external_id: str, actor: str, now: datetime) -> list[Outgoing]:
    """Unlink one app from the person: it becomes a stranger to the bot, and what was waiting
    to go there is dropped. Both that app and the person's other apps are told."""
    identity = next((i for i in await tx.contacts.identities(contact.id)
                     if (i.channel, i.external_id) == (channel, external_id)), None)
    if identity is None:
        return []
    await tx.contacts.unbind(channel, external_id)
    await tx.outbox.cancel([(channel, identity.chat_id)])
    await tx.audit.record(actor, "contact.unlink", now, contact=contact.id, channel=channel,
                          external_id=external_id)
    t = config.translator(contact.language)
    text = t._("The {app} account {id} is no longer linked to your Baocao account.").format(
        app=channel_name(t, channel), id=esc(external_id))
    out = [Outgoing(channel, identity.chat_id, Reply(text))]
    return out + await tell(tx, contact.id, Reply(text), to_inactive=not contact.active)


def _listed(config: Config, channel: str, external_id: str) -> bool:
    return channel == "telegram" and external_id in config.admin_ids


async def listed_admin(tx: Tx, config: Config, contact: Contact) -> bool:
    """Whether ADMIN_IDS makes this person an admin (so only the setting can change that)."""
    return contact.admin_by_setting or any(
        _listed(config, i.channel, i.external_id) for i in await tx.contacts.identities(contact.id))


async def follow_admin_ids(tx: Tx, config: Config, contact: Contact, event: Inbound,
                           now: datetime) -> tuple[Contact, list[Outgoing]]:
    """ADMIN_IDS is checked on every update. Listed: an active admin. No longer listed: back to
    the role held before the setting made them admin, or, with none (their access came from the
    setting alone), deactivated: any role we picked would grant access nobody decided on."""
    listed = _listed(config, event.channel, event.user_id)
    if not listed and contact.admin_by_setting and event.channel != "telegram":
        listed = any(_listed(config, i.channel, i.external_id)
                     for i in await tx.contacts.identities(contact.id))
    if listed:
        if contact.admin_by_setting and contact.active and contact.role is Role.ADMIN:
            return contact, []
        await tx.contacts.promote_by_setting(contact.id)
        await tx.invites.void_links(contact.id, now)
        await tx.audit.record("setting:ADMIN_IDS", "contact.admin", now, contact=contact.id,
                              before_role=contact.role.value)
        contact = contact.model_copy(update={"role": Role.ADMIN, "active": True,
                                             "admin_by_setting": True})
        t = config.translator(contact.language)
        return contact, await tell(tx, contact.id, Reply(t._(
            "You are now registered as {who}.").format(
            who=await role_text(tx, t, Role.ADMIN, contact.unit_id))))
    if not contact.admin_by_setting:
        return contact, []
    before = await tx.contacts.end_admin_by_setting(contact.id)
    contact = contact.model_copy(update={"admin_by_setting": False})
    if before is None:
        out = await deactivate(tx, config, contact, "setting:ADMIN_IDS", now,
                               reason="no longer in ADMIN_IDS")
        return contact.model_copy(update={"active": False}), out
    out = await change_role(tx, config, contact, before, contact.unit_id, "setting:ADMIN_IDS",
                            now)
    return contact.model_copy(update={"role": before}), out
