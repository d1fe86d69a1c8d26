"""Admin chores in chat: invites and the list of units."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from handlers import forms
from handlers.access import ROLE_NAMES
from handlers.context import Config, Ctx
from handlers.core import ROLE_TITLES, Action, action, callback, start_form
from handlers.forms import Form, Kind, Question
from handlers.text import esc
from handlers.types import Choice, Outgoing, Reply
from locales.i18n import N_, Translator
from storage.models import Role
from storage.repos import Tx
from storage.units import MAX_INVITES_AT_ONCE

ADMINS = frozenset({Role.ADMIN})

def unit_kind_label(t: Translator, kind: str, names: dict[str, dict[str, str]]) -> str:
    """The name of a unit kind in the reader's language, as the units file gives it
    (`names` is tx.units.kinds()); a kind nobody named is shown as is."""
    found = names.get(kind) or {}
    return found.get(t.language) or found.get("vi") or kind


def kind_counts(t: Translator, counts: Mapping[str, int],
                names: dict[str, dict[str, str]]) -> str:
    """Units counted per kind, "{kind}: {n}" joined with "; " (kinds such as "Xã, phường" hold
    commas), in the order the units file names the kinds (city, departments, ... press)."""
    return "; ".join(f"{esc(unit_kind_label(t, kind, names))}: {t.number(n)}"
                     for kind, n in sorted(counts.items(),
                                           key=lambda item: kind_rank(names, item[0])))


def kind_rank(names: dict[str, dict[str, str]], kind: str) -> tuple[int, str]:
    """A kind's place in the order the units file names the kinds (`names` is
    tx.units.kinds()); a kind it does not name comes last."""
    order = list(names)
    return (order.index(kind) if kind in order else len(order), kind)


async def _submit_invites(ctx: Ctx, answers: dict, _params: dict) -> None:
    t = ctx.t
    role = Role(answers["role"])
    unit = await ctx.tx.units.by_code(answers["unit"]["code"]) if answers.get("unit") else None
    invites = [await ctx.tx.invites.create(unit_id=unit.id if unit else None, role=role,
                                           created_by=f"contact:{ctx.contact.id}", now=ctx.now,
                                           days=ctx.config.invite_days)
               for _ in range(answers["count"])]
    await ctx.tx.audit.record(f"contact:{ctx.contact.id}", "invite.create", ctx.now,
                              role=role.value, unit=unit.code if unit else None,
                              count=len(invites))
    lines = [t.ngettext("{n} invite for the role {role}{unit}, valid until {day}:",
                        "{n} invites for the role {role}{unit}, valid until {day}:",
                        len(invites)).format(
        n=len(invites), role=t._(ROLE_NAMES[role]), unit=f" — {esc(unit.name)}" if unit else "",
        day=t.date(invites[0].expires_at.astimezone(ctx.config.zone).date()))]
    for invite in invites:
        if ctx.config.bot_username:
            lines.append(f"<code>{invite.code}</code> https://t.me/{ctx.config.bot_username}"
                         f"?start={invite.code}")
        else:
            lines.append(f"<code>{invite.code}</code>")
    lines.append(t._("Each code works once. The person sends /start CODE to the bot (or opens "
                     "the link)."))
    ctx.reply("\n".join(lines))


INVITE_FORM = forms.register(Form(
    id="invite",
    title=N_("New invites"),
    roles=ADMINS,
    submit=_submit_invites,
    questions=(
        Question("role", Kind.CHOICE, N_("Role"), N_("Which role will the invite grant?"),
                 options=tuple((r.value, ROLE_TITLES[r]) for r in Role)),
        Question("unit", Kind.UNIT, N_("Unit"),
                 N_("Which unit? Type its code (e.g. P-LECHAN) or a part of its name."),
                 ask_if=lambda answers: answers.get("role") == Role.OFFICER.value),
        Question("count", Kind.INTEGER, N_("Number of invites"),
                 N_("How many invites?"), min_value=1,
                 max_value=MAX_INVITES_AT_ONCE),  # the hint under it says the limit
    ),
))


async def _invite(ctx: Ctx, _args: str) -> None:
    await start_form(ctx, INVITE_FORM)


async def _units(ctx: Ctx, _args: str) -> None:
    t = ctx.t
    units = await ctx.tx.units.list()
    if not units:
        ctx.reply(t._("No units yet. Import them with: baocao units import FILE"))
        return
    contacts = await ctx.tx.contacts.count_by_unit()
    names = await ctx.tx.units.kinds()
    lines = [t.ngettext("<b>{n} unit</b>", "<b>{n} units</b>", len(units)).format(n=len(units))]
    kind = None
    for unit in units:
        if unit.kind != kind:
            kind = unit.kind
            lines.append(f"\n<b>{esc(unit_kind_label(ctx.t, kind, names))}</b>")
        count = contacts.get(unit.id, 0)
        life = ""
        if unit.valid_to is not None and unit.valid_to < ctx.today:  # history, kept
            life = " · " + t._("until {day}").format(day=t.date(unit.valid_to)) + (
                f" → {esc(', '.join(unit.successors))}" if unit.successors else "")
        lines.append(f"{esc(unit.code)} — {esc(unit.name)} · " +
                     t.ngettext("{n} contact", "{n} contacts", count).format(n=count) + life)
    waiting = await ctx.tx.units.needing_invites(ctx.today)
    if waiting:
        lines.append("\n" + t._("<b>Officers of units that ceased to exist, waiting for a new "
                                "invite</b>"))
        lines += [f"#{contact_id} {esc(name)} ({esc(code)} → {esc(successors or '—')})"
                  for contact_id, name, code, successors in waiting]
    ctx.reply("\n".join(lines))


async def _invites(ctx: Ctx, _args: str) -> None:
    """Invites not yet used and not expired, each with a Revoke button."""
    t = ctx.t
    pending = await ctx.tx.invites.pending(ctx.now)
    if not pending:
        ctx.reply(t._("No invites are waiting to be used."))
        return
    units = {u.id: u for u in await ctx.tx.units.list()}
    lines = [t._("<b>Invites waiting to be used</b> (latest {n})").format(n=len(pending))]
    # Only a hash of each code is kept: an invite is shown by the start of that hash.
    for invite in pending:
        unit = units.get(invite.unit_id) if invite.unit_id is not None else None
        lines.append(t._("<code>{code}</code> · {role}{unit} · until {day}").format(
            code=invite.code[:8], role=t._(ROLE_NAMES[invite.role]),
            unit=f" · {esc(unit.code)}" if unit else "",
            day=t.date(invite.expires_at.astimezone(ctx.config.zone).date())))
    ctx.reply("\n".join(lines), [Choice(f"iv:rv:{i.code[:16]}", t._("Revoke {code}").format(
        code=i.code[:8])) for i in pending[:20]])


@callback("iv", ADMINS)
async def _revoke(ctx: Ctx, rest: str) -> None:
    t = ctx.t
    what, _, stored = rest.partition(":")
    if what != "rv" or len(stored) != 16:
        ctx.reply(t._("This button is not valid."))
        return
    if not await ctx.tx.invites.revoke_stored(stored, ctx.now):
        ctx.reply(t._("Invite {code} was already used, revoked or expired.").format(
            code=esc(stored[:8])))
        return
    await ctx.tx.audit.record(f"contact:{ctx.contact.id}", "invite.revoke", ctx.now,
                              invite=stored)
    ctx.reply(t._("Invite {code} revoked: it can no longer be used.").format(
        code=esc(stored[:8])))


action(Action("invite", N_("Invite"), N_("issue invite codes for a unit and role"), ADMINS,
              _invite, aliases=("moi",), private_only=True))
action(Action("units", N_("Units"), N_("list units and how many contacts each has"), ADMINS,
              _units, aliases=("donvi",)))


async def erase_person(tx: Tx, contact_id: int, now: datetime, actor: str) -> bool:
    """Remove one person from the bot for good (a request to be forgotten, someone who left):
    their identities, name, conversation and the texts of messages to them go, their unit's
    reports and difficulties stay, attributed to "a former officer of UNIT". Audited. False
    if there is no such person (or they were erased already)."""
    if not await tx.contacts.erase(contact_id, now):
        return False
    await tx.audit.record(actor, "contact.erase", now, contact=contact_id)
    return True


async def delivery_failed(tx: Tx, config: Config, failed: list, now: datetime) -> list[Outgoing]:
    """Admins hear once a day that messages could not be delivered for a reason that is not
    the recipient's doing (refused by the platform, or still failing after every retry)."""
    today = now.astimezone(config.zone).date().isoformat()
    if await tx.meta.get("delivery_failures_reported") == today:
        return []
    await tx.meta.set("delivery_failures_reported", today)
    out = []
    for contact, identity in await tx.contacts.reachable_identities(roles=[Role.ADMIN]):
        t = config.translator(contact.language)
        text = t.ngettext(
            "{n} message could not be delivered and was given up (the platform refused it or "
            "kept failing). Last error: {error}. Later failures today are not reported again.",
            "{n} messages could not be delivered and were given up (the platform refused them "
            "or kept failing). Last error: {error}. Later failures today are not reported "
            "again.", len(failed)).format(n=t.number(len(failed)), error=esc(failed[-1][1][:200]))
        out.append(Outgoing(identity.channel, identity.chat_id, Reply(text), contact.id))
    return out
action(Action("invites", N_("Pending invites"), N_("invites not yet used; revoke one"), ADMINS,
              _invites, aliases=("dsmoi",)))
