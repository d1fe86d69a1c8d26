"""The admin's view of people in chat: list them, change a role or unit, deactivate, reactivate,
unlink an app, and withdraw an invite (offering to deactivate whoever used it).

```mermaid
flowchart LR
    L["/people [words or #id]"] --> C[a person's card]
    C -->|Change role or unit| F[form: role, unit] --> C2[changed, person told]
    C -->|Deactivate / Reactivate| T[done, person told]
    C -->|Unlink an app| U[unlinked, person told]
    R["/revoke CODE"] -->|unused| V[revoked]
    R -->|used| O[offer: deactivate who used it] --> T
```
"""

from __future__ import annotations

from handlers import access, forms
from handlers.access import ROLE_TITLES, channel_name, role_text
from handlers.context import Ctx
from handlers.core import Action, action, callback, start_form
from handlers.forms import Form, Kind, Question
from handlers.text import esc
from handlers.types import Choice
from locales.i18n import N_
from storage.models import Role
from storage.units import Person

ADMINS = frozenset({Role.ADMIN})
LISTED = 40  # lines in one list; more is narrowed with words
BUTTONS = 8  # a list this short gets a button per person


def person_line(ctx: Ctx, person: Person) -> str:
    """'#2 Trần Thị Bình — officer, Q-LECHAN · Telegram, Zalo · seen 10/03/2026 09:00'."""
    t, contact = ctx.t, person.contact
    who = t._(access.ROLE_NAMES[contact.role]) + (f", {esc(person.unit_code)}"
                                                   if person.unit_code else "")
    apps = ", ".join(channel_name(t, c) for c in person.channels) or t._("no app")
    seen = (t._("seen {when}").format(when=t.datetime(person.last_seen)) if person.last_seen
            else t._("not seen yet"))
    line = f"#{contact.id} {esc(contact.name)} — {who} · {apps} · {seen}"
    return line if contact.active else f"{line} · <b>{t._('deactivated')}</b>"


async def _people(ctx: Ctx, args: str) -> None:
    t = ctx.t
    wanted = args.strip().lstrip("#")
    if wanted.isdigit():
        await _card(ctx, int(wanted))
        return
    people = await ctx.tx.contacts.people(wanted, limit=LISTED + 1)
    if not people:
        ctx.reply(t._("Nobody matches “{words}”.").format(words=esc(wanted)))
        return
    lines = [person_line(ctx, p) for p in people[:LISTED]]
    if len(people) > LISTED:
        lines.append(t._("… and more: narrow the list with /people WORDS (a name or a unit)."))
    lines.append(t._("Open a person with /people #ID."))
    choices = ([Choice(f"pp:{p.contact.id}", f"#{p.contact.id} {p.contact.name}"[:60])
                for p in people] if len(people) <= BUTTONS else [])
    ctx.reply("\n".join(lines), choices)


async def _person(ctx: Ctx, contact_id: int) -> Person | None:
    found = await ctx.tx.contacts.people(contact_id=contact_id)
    if not found:
        ctx.reply(ctx.t._("There is nobody with the number #{id}.").format(id=contact_id))
        return None
    return found[0]


async def _card(ctx: Ctx, contact_id: int) -> None:
    t = ctx.t
    person = await _person(ctx, contact_id)
    if person is None:
        return
    contact = person.contact
    lines = [f"<b>#{contact.id} {esc(contact.name)}</b>",
             await role_text(ctx.tx, t, contact.role, contact.unit_id),
             t._("Active") if contact.active else t._("Deactivated")]
    choices = [Choice(f"pp:role:{contact.id}", t._("Change role or unit")),
               Choice(f"pp:on:{contact.id}", t._("Reactivate")) if not contact.active
               else Choice(f"pp:off:{contact.id}", t._("Deactivate"))]
    for identity in await ctx.tx.contacts.identities(contact.id):
        app = channel_name(t, identity.channel)
        seen = t.datetime(identity.last_seen_at) if identity.last_seen_at else "—"
        lines.append(f"{app} {esc(identity.external_id)} · " +
                     t._("last seen {when}").format(when=seen))
        choices.append(Choice(f"pp:rm:{contact.id}:{identity.channel}:{identity.external_id}",
                              t._("Unlink {app} {id}").format(app=app, id=identity.external_id)))
    ctx.reply("\n".join(lines), choices)


async def _changeable(ctx: Ctx, contact_id: int) -> Person | None:
    """The person, if this admin may change their access: not themselves, and not someone
    whose access comes from ADMIN_IDS (the next update would undo the change)."""
    person = await _person(ctx, contact_id)
    if person is None:
        return None
    if contact_id == ctx.contact.id:
        ctx.reply(ctx.t._("You cannot change your own access; ask another administrator."))
        return None
    if await access.listed_admin(ctx.tx, ctx.config, person.contact):
        ctx.reply(ctx.t._("#{id} is an administrator through the ADMIN_IDS setting: remove "
                          "them from it first.").format(id=contact_id))
        return None
    return person


@callback("pp", ADMINS)
async def _on_person(ctx: Ctx, rest: str) -> None:
    """pp:ID card; pp:role:ID, pp:off:ID, pp:on:ID, pp:rm:ID:CHANNEL:EXTERNAL_ID."""
    verb, _, tail = rest.partition(":")
    if verb.isdigit():
        await _card(ctx, int(verb))
        return
    number, _, identity = tail.partition(":")
    if not number.isdigit() or verb not in ("role", "off", "on", "rm"):
        ctx.reply(ctx.t._("This button is not valid."))
        return
    person = await _changeable(ctx, int(number))
    if person is None:
        return
    contact, actor, t = person.contact, f"contact:{ctx.contact.id}", ctx.t
    if verb == "role":
        await start_form(ctx, ROLE_FORM, {"contact": contact.id})
        return
    if verb == "rm":
        channel, _, external_id = identity.partition(":")
        out = await access.remove_identity(ctx.tx, ctx.config, contact, channel, external_id,
                                           actor, ctx.now)
        done = t._("{app} {id} unlinked from #{n}.").format(
            app=channel_name(t, channel), id=esc(external_id), n=contact.id) if out else t._(
            "That app is not linked to #{n} (any more).").format(n=contact.id)
    elif verb == "off":
        out = await access.deactivate(ctx.tx, ctx.config, contact, actor, ctx.now)
        done = t._("#{n} {name} is deactivated: nothing they send is taken, and what was "
                   "waiting to go to them is dropped.").format(n=contact.id,
                                                                name=esc(contact.name))
    else:
        out = await access.reactivate(ctx.tx, ctx.config, contact, actor, ctx.now)
        done = t._("#{n} {name} is active again.").format(n=contact.id, name=esc(contact.name))
    ctx.out += out
    ctx.reply(done)


async def _submit_role(ctx: Ctx, answers: dict, params: dict) -> None:
    person = await _changeable(ctx, params["contact"])
    if person is None:
        return
    role = Role(answers["role"])
    unit = await ctx.tx.units.by_code(answers["unit"]["code"]) if answers.get("unit") else None
    ctx.out += await access.change_role(ctx.tx, ctx.config, person.contact, role,
                                        unit.id if unit else None, f"contact:{ctx.contact.id}",
                                        ctx.now)
    ctx.reply(ctx.t._("#{n} {name} is now {who}.").format(
        n=person.contact.id, name=esc(person.contact.name),
        who=await role_text(ctx.tx, ctx.t, role, unit.id if unit else None)))


ROLE_FORM = forms.register(Form(
    id="person_role",
    title=N_("Change role or unit"),
    roles=ADMINS,
    submit=_submit_role,
    questions=(
        Question("role", Kind.CHOICE, N_("Role"), N_("Which role?"),
                 options=tuple((r.value, ROLE_TITLES[r]) for r in Role)),
        Question("unit", Kind.UNIT, N_("Unit"),
                 N_("Which unit? Type its code (e.g. P-LECHAN) or a part of its name."),
                 ask_if=lambda answers: answers.get("role") == Role.OFFICER.value),
    ),
))


async def _revoke(ctx: Ctx, args: str) -> None:
    """Withdraw an unused invite; for one already used, offer to deactivate its user."""
    t, code = ctx.t, args.strip().upper()
    if not code:
        ctx.reply(t._("Name the invite code: /revoke CODE"))
        return
    invite = await ctx.tx.invites.get(code)
    if invite is None:
        ctx.reply(t._("No invite with code {code}.").format(code=esc(code)))
    elif invite.used_by is not None:
        person = next(iter(await ctx.tx.contacts.people(contact_id=invite.used_by)), None)
        if person is None:
            ctx.reply(t._("Invite {code} was used by someone no longer registered.").format(
                code=esc(code)))
            return
        ctx.reply(t._("Invite {code} was already used, by:\n{person}\nDeactivate them?").format(
            code=esc(code), person=person_line(ctx, person)),
            [Choice(f"pp:off:{person.contact.id}", t._("Deactivate #{n}").format(
                n=person.contact.id))] if person.contact.active else [])
    elif await ctx.tx.invites.revoke(code, ctx.now):
        await ctx.tx.audit.record(f"contact:{ctx.contact.id}", "invite.revoke", ctx.now,
                                  code=code)
        ctx.reply(t._("Invite {code} revoked.").format(code=esc(code)))
    else:
        ctx.reply(t._("Invite {code} was already withdrawn.").format(code=esc(code)))


action(Action("people", N_("People and access"),
              N_("list people; change a role or unit, deactivate, unlink an app"), ADMINS,
              _people, aliases=("nguoidung",), private_only=True))
action(Action("revoke", N_("Withdraw an invite"), N_("withdraw an invite code (/revoke CODE)"),
              ADMINS, _revoke, aliases=("thuhoi",), private_only=True, in_menu=False))
