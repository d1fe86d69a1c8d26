"""Notices from admins: write, choose the audience, preview, send now or later; delivery and
"Received" figures; remind those who have not acknowledged.

```mermaid
stateDiagram-v2
    [*] --> scheduled: confirmed with a later time
    [*] --> sending: confirmed to send now
    scheduled --> sending: the time comes (clock tick)
    sending --> done: nothing left in the outbox
    sending --> cancelled: admin cancels (unsent notices are dropped)
    scheduled --> cancelled
```
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, time

from handlers import forms
from handlers.admin import unit_kind_label
from handlers.context import Config, Ctx
from handlers.core import ROLE_TITLES, Action, action, callback, start_form
from handlers.forms import Form, Kind, Question
from handlers.text import esc, parse_id
from handlers.types import Attachment, Choice, Outgoing, Reply
from locales.i18n import N_, Translator
from storage.broadcasts import Broadcast, Figures
from storage.models import Role
from storage.repos import Tx

ADMINS = frozenset({Role.ADMIN})
SCOPES = (("all", N_("All units (their officers)")), ("kinds", N_("Kinds of unit")),
          ("units", N_("Chosen units")), ("roles", N_("Roles")))


async def _current_units(ctx: Ctx, part: str) -> list:
    """The units existing today that `part` names: a notice goes to units as they are now (an
    ended unit's officers have moved on, see handlers.units)."""
    return [u for u in await ctx.tx.units.search(part, valid_on=ctx.today)
            if u.valid_on(ctx.today)]


async def _check_units(ctx: Ctx, value: str) -> str | None:
    for part in [p.strip() for p in value.replace(";", ",").split(",") if p.strip()]:
        if len(await _current_units(ctx, part)) != 1:
            return ctx.t._("“{part}” does not name one existing unit. Give unit codes "
                           "separated by commas, e.g. P-LECHAN, P-NGOQUYEN.").format(
                part=esc(part[:60]))
    return None


async def _unit_codes(ctx: Ctx, value: str) -> list[str]:
    codes = []
    for part in [p.strip() for p in value.replace(";", ",").split(",") if p.strip()]:
        codes.append((await _current_units(ctx, part))[0].code)
    return sorted(set(codes))


async def _unit_kinds(ctx: Ctx) -> tuple[tuple[str, str], ...]:
    """The kinds of unit a notice can go to: those of the units file (named in the reader's
    language) that have a unit existing today, in the file's order."""
    names = await ctx.tx.units.kinds()
    existing = {u.kind for u in await ctx.tx.units.list(valid_on=ctx.today)}
    return tuple((kind, unit_kind_label(ctx.t, kind, names))
                 for kind in [*names, *sorted(existing - set(names))] if kind in existing)


async def _audience(ctx: Ctx, answers: dict) -> dict:
    scope = answers["scope"]
    if scope == "kinds":
        return {"scope": scope, "kinds": answers["kinds"]}
    if scope == "units":
        return {"scope": scope, "units": await _unit_codes(ctx, answers["units"])}
    if scope == "roles":
        return {"scope": scope, "roles": answers["roles"]}
    return {"scope": "all"}


def _when(ctx: Ctx, answers: dict) -> datetime | None:
    if answers.get("timing") != "later":
        return None
    day = datetime.fromisoformat(answers["day"]).date()
    return datetime.combine(day, time(answers["hour"]), ctx.config.zone)


async def _not_past_day(ctx: Ctx, value: str) -> str | None:
    if datetime.fromisoformat(value).date() < ctx.today:
        return ctx.t._("That day has passed. Choose today or a later day, or send it now.")
    return None


async def _later_hour(ctx: Ctx, value: int) -> str | None:
    answers = ctx.state.form.answers if ctx.state.form is not None else {}
    when = _when(ctx, {**answers, "hour": value})
    if when is not None and when <= ctx.now:
        return ctx.t._("{hour} today has passed (it is {now}). Choose a later hour.").format(
            hour=f"{value:02d}:00", now=ctx.t.datetime(ctx.now))
    return None


async def _preview(ctx: Ctx, answers: dict) -> str:
    t = ctx.t
    people = await ctx.tx.broadcasts.audience(await _audience(ctx, answers), ctx.today)
    reachable = sum(1 for _c, ids in people if any(i.reachable for i in ids))
    return t.ngettext("👥 <b>{n} recipient</b> ({reachable} reachable now).",
                      "👥 <b>{n} recipients</b> ({reachable} reachable now).",
                      len(people)).format(n=t.number(len(people)), reachable=t.number(reachable))


async def _submit(ctx: Ctx, answers: dict, _params: dict) -> None:
    t, tx = ctx.t, ctx.tx
    audience = await _audience(ctx, answers)
    when = _when(ctx, answers)
    passed = when is not None and when <= ctx.now  # the time came while the summary waited
    if passed:
        when = None
    files = answers.get("attachment") or []
    broadcast_id = await tx.broadcasts.create(
        created_by=ctx.contact.id, text=answers["text"], audience=audience,
        attachment=dict(files[0], channel=ctx.event.channel) if files else None,
        scheduled_at=when, now=ctx.now)
    await tx.audit.record(f"contact:{ctx.contact.id}", "broadcast.create", ctx.now,
                          broadcast=broadcast_id, audience=audience,
                          scheduled=when.isoformat() if when else None)
    if when is not None:
        ctx.reply(t._("Notice #{id} will be sent on {when}.").format(
            id=broadcast_id, when=t.datetime(when)),
            [Choice(f"bc:cx:{broadcast_id}", t._("Cancel the notice"))])
        return
    messages = await dispatch(tx, ctx.config, broadcast_id, ctx.now)
    figures = await tx.broadcasts.figures(broadcast_id)  # its messages are not written yet
    queued = len({m.delivery_id for m in messages})
    ctx.reply((t._("The time set has passed, so the notice goes now.") + "\n" if passed
               else "") +
              t._("Notice #{id} is on its way: {queued} of {total} recipients queued, "
                  "{unreachable} unreachable. Press Refresh for the figures.").format(
        id=broadcast_id, queued=t.number(queued), total=t.number(figures.recipients),
        unreachable=t.number(figures.recipients - queued)),
        [Choice(f"bc:st:{broadcast_id}", t._("Refresh")),
         Choice(f"bc:cx:{broadcast_id}", t._("Cancel the notice"))])
    # The live figures are rewritten in this message while the notice goes out.
    ctx.out[-1] = replace(ctx.out[-1], status_of=broadcast_id)
    ctx.out += messages  # after the admin's answer, which should not wait behind them


BROADCAST_FORM = forms.register(Form(
    id="broadcast", title=N_("Notice to units"), roles=ADMINS, submit=_submit, preview=_preview,
    questions=(
        Question("text", Kind.TEXT, N_("Notice"), N_("Write the notice."), max_length=3500),
        Question("attachment", Kind.ATTACHMENT, N_("Attached file"),
                 N_("A document or photo to attach?"), optional=True),
        Question("scope", Kind.CHOICE, N_("Recipients"), N_("Who should receive it?"),
                 options=SCOPES),
        Question("kinds", Kind.MULTI, N_("Kinds of unit"), N_("Which kinds of unit?"),
                 options_from=_unit_kinds, ask_if=lambda a: a.get("scope") == "kinds"),
        Question("units", Kind.TEXT, N_("Units"),
                 N_("Which units? Unit codes separated by commas, e.g. P-LECHAN, P-NGOQUYEN."),
                 max_length=2000, check=_check_units,
                 ask_if=lambda a: a.get("scope") == "units"),
        Question("roles", Kind.MULTI, N_("Roles"), N_("Which roles?"),
                 options=tuple((r.value, ROLE_TITLES[r]) for r in
                               (Role.OFFICER, Role.COORDINATOR, Role.LEADER)),
                 ask_if=lambda a: a.get("scope") == "roles"),
        Question("timing", Kind.CHOICE, N_("When"), N_("Send it now or later?"),
                 options=(("now", N_("Now")), ("later", N_("At a set time")))),
        Question("day", Kind.DATE, N_("Day"), N_("On which day?"), allow_future=True,
                 check=_not_past_day, ask_if=lambda a: a.get("timing") == "later"),
        Question("hour", Kind.INTEGER, N_("Hour"), N_("At what hour?"), max_value=23,
                 check=_later_hour, show=lambda hour: f"{hour:02d}:00",
                 ask_if=lambda a: a.get("timing") == "later"),
    )))


async def dispatch(tx: Tx, config: Config, broadcast_id: int, now: datetime
                   ) -> list[Outgoing]:
    """Create the deliveries of a notice and its messages (through the outbox)."""
    broadcast = await tx.broadcasts.get(broadcast_id)
    assert broadcast is not None  # the caller has just written or read it
    people = await tx.broadcasts.audience(broadcast.audience,
                                          now.astimezone(config.zone).date())
    deliveries = await tx.broadcasts.add_deliveries(broadcast_id, [c.id for c, _ids in people])
    await tx.broadcasts.set_status(broadcast_id, "sending", now)
    out = []
    for contact, identities in people:
        for identity in identities:
            if identity.reachable:
                out.append(notice(config, broadcast, contact.language, identity.channel,
                                  identity.chat_id, contact.id, deliveries[contact.id]))
    return out


def notice(config: Config, broadcast: Broadcast, language: str, channel: str, chat_id: str,
           contact_id: int, delivery_id: int, reminder: bool = False) -> Outgoing:
    t = config.translator(language)
    head = (t._("🔔 Reminder — notice from the {body}") if reminder else
            t._("📢 Notice from the {body}")).format(body=config.body(t))
    attachments: tuple[Attachment, ...] = ()
    if broadcast.attachment and broadcast.attachment.get("channel") == channel:
        attachments = (Attachment(broadcast.attachment["kind"], broadcast.attachment["file_id"],
                                  broadcast.attachment.get("name")),)
    return Outgoing(channel, chat_id, Reply(
        f"<b>{head}</b>\n{esc(broadcast.text)}",
        (Choice(f"bc:ack:{delivery_id}", t._("Received")),), attachments), contact_id,
        delivery_id)


def _figures_text(t: Translator, broadcast: Broadcast, figures: Figures) -> str:
    state = {"scheduled": N_("scheduled"), "sending": N_("sending"), "done": N_("sent"),
             "cancelled": N_("cancelled"), "draft": N_("draft")}[broadcast.status]
    return "\n".join([
        t._("<b>Notice #{id}</b> ({state}) · {when}").format(
            id=broadcast.id, state=t._(state), when=t.datetime(broadcast.created_at)),
        esc(broadcast.text[:200] + ("…" if len(broadcast.text) > 200 else "")),
        t._("Recipients {total}: queued {queued}, sent {sent}, failed {failed}, unreachable "
            "{unreachable}, cancelled {cancelled}; received ✓ {acknowledged}").format(
            total=t.number(figures.recipients), queued=t.number(figures.queued),
            sent=t.number(figures.sent), failed=t.number(figures.failed),
            unreachable=t.number(figures.unreachable), cancelled=t.number(figures.cancelled),
            acknowledged=t.number(figures.acknowledged))])


async def _show(ctx: Ctx, broadcast: Broadcast, edit: str | None = None,
                with_missing: bool = False) -> None:
    t = ctx.t
    broadcast_id = broadcast.id
    figures = await ctx.tx.broadcasts.figures(broadcast_id)
    lines = [_figures_text(t, broadcast, figures)]
    choices = [Choice(f"bc:st:{broadcast_id}", t._("Refresh"))]
    if broadcast.status in ("sending", "scheduled"):
        choices.append(Choice(f"bc:cx:{broadcast_id}", t._("Cancel the notice")))
    if with_missing:
        missing = await ctx.tx.broadcasts.unacknowledged(broadcast_id)
        units = sorted({unit or person for _d, _c, unit, person in missing})
        if units:
            lines.append(t._("<b>Not yet acknowledged</b> ({n}):").format(n=len(units)))
            lines += [f"• {esc(u)}" for u in units[:50]]
            if broadcast.status != "cancelled":
                choices.append(Choice(f"bc:rem:{broadcast_id}", t._("Remind them")))
    ctx.reply("\n".join(lines), choices, edit=edit)


@callback("bc", frozenset(Role))
async def _button(ctx: Ctx, rest: str) -> None:
    t = ctx.t
    what, _, target = rest.partition(":")
    broadcast_id = parse_id(target)  # or, for "ack", the delivery's id
    if broadcast_id is None:
        ctx.reply(t._("This button is not valid."))
        return
    if what == "ack":  # anyone, for their own delivery
        outcome = await ctx.tx.broadcasts.acknowledge(broadcast_id, ctx.contact.id, ctx.now)
        if outcome is None:
            ctx.reply(t._("This button is not valid."))
        else:
            ctx.reply(t._("Thank you, your receipt was recorded."))
        return
    broadcast = await ctx.tx.broadcasts.get(broadcast_id) if ctx.role is Role.ADMIN else None
    if broadcast is None:
        ctx.reply(t._("This button is not valid."))
        return
    if what == "st":
        await _show(ctx, broadcast, edit=ctx.event.pressed_message_id, with_missing=True)
    elif what == "open":
        await _show(ctx, broadcast, with_missing=True)
    elif what == "cx":
        if broadcast.status not in ("sending", "scheduled"):
            ctx.reply(t._("This notice can no longer be cancelled."))
            return
        stopped = await ctx.tx.broadcasts.cancel_pending(broadcast_id)
        await ctx.tx.broadcasts.set_status(broadcast_id, "cancelled", ctx.now)
        await ctx.tx.audit.record(f"contact:{ctx.contact.id}", "broadcast.cancel", ctx.now,
                                  broadcast=broadcast_id, stopped=stopped)
        # Messages already on their way cannot be called back; Refresh shows the final figures.
        ctx.reply(t._("Notice #{id} cancelled: the messages not yet sent are stopped.").format(
            id=broadcast_id), [Choice(f"bc:st:{broadcast_id}", t._("Refresh"))])
    elif what == "rem":
        if broadcast.status == "cancelled":
            ctx.reply(t._("This notice was cancelled."))
            return
        await _remind(ctx, broadcast)
    else:
        ctx.reply(t._("This button is not valid."))


async def _remind(ctx: Ctx, broadcast: Broadcast) -> None:
    """Send the notice again to those who have not acknowledged it."""
    count = 0
    for delivery_id, contact_id, _unit, _person in await ctx.tx.broadcasts.unacknowledged(
            broadcast.id):
        contact = await ctx.tx.contacts.get(contact_id)
        if contact is None:
            continue
        for identity in await ctx.tx.contacts.identities(contact_id):
            if identity.reachable:
                ctx.out.append(notice(ctx.config, broadcast, contact.language, identity.channel,
                                      identity.chat_id, contact_id, delivery_id, reminder=True))
                count += 1
    ctx.reply(ctx.t.ngettext("A reminder went to {n} recipient.",
                             "A reminder went to {n} recipients.", count).format(n=count))


async def _broadcast(ctx: Ctx, _args: str) -> None:
    await start_form(ctx, BROADCAST_FORM)


async def _broadcasts(ctx: Ctx, _args: str) -> None:
    t = ctx.t
    recent = await ctx.tx.broadcasts.recent()
    if not recent:
        ctx.reply(t._("No notices yet. Write one with /broadcast."))
        return
    lines = [t._("<b>Latest notices</b>")]
    for broadcast in recent:
        figures = await ctx.tx.broadcasts.figures(broadcast.id)
        lines.append(t._("#{id} · {when} · sent {sent}/{total} · received ✓ {ack}").format(
            id=broadcast.id, when=t.datetime(broadcast.created_at), sent=figures.sent,
            total=figures.recipients, ack=figures.acknowledged) +
            f"\n  {esc(broadcast.text[:80])}")
    ctx.reply("\n".join(lines), [Choice(f"bc:open:{b.id}", f"#{b.id}") for b in recent])


async def _live_update(tx: Tx, config: Config, broadcast: Broadcast) -> list[Outgoing]:
    """Rewrite the admin's status message with the figures as they are now."""
    where = await tx.broadcasts.status_message(broadcast.id)
    admin = await tx.contacts.get(broadcast.created_by)
    if where is None or admin is None:
        return []
    t = config.translator(admin.language)
    figures = await tx.broadcasts.figures(broadcast.id)
    channel, chat_id, message_id = where
    return [Outgoing(channel, chat_id, Reply(
        _figures_text(t, broadcast, figures),
        (Choice(f"bc:st:{broadcast.id}", t._("Refresh")),
         Choice(f"bc:cx:{broadcast.id}", t._("Cancel the notice"))), (), message_id),
        broadcast.created_by)]


async def tick(tx: Tx, config: Config, now: datetime) -> list[Outgoing]:
    """Send notices whose time has come; keep the admin's status message current while one
    goes out, and tell the admin when it has gone out completely."""
    out = []
    for broadcast in await tx.broadcasts.due(now):
        out += await dispatch(tx, config, broadcast.id, now)
    for broadcast in await tx.broadcasts.sending():
        if await tx.broadcasts.pending_count(broadcast.id):
            out += await _live_update(tx, config, broadcast)
            continue
        await tx.broadcasts.set_status(broadcast.id, "done", now)
        admin = await tx.contacts.get(broadcast.created_by)
        t = config.translator(admin.language if admin else None)
        figures = await tx.broadcasts.figures(broadcast.id)
        done = replace(broadcast, status="done")
        for identity in await tx.contacts.identities(broadcast.created_by):
            if identity.reachable:
                out.append(Outgoing(identity.channel, identity.chat_id, Reply(
                    _figures_text(t, done, figures),
                    (Choice(f"bc:open:{broadcast.id}", t._("Who has not acknowledged")),)),
                    broadcast.created_by))
    return out


async def _notices(ctx: Ctx, _args: str) -> None:
    """The notices this person received, newest first, with Received for those not yet
    acknowledged."""
    t = ctx.t
    received = await ctx.tx.broadcasts.received(ctx.contact.id, limit=10)
    if not received:
        ctx.reply(t._("You have not received any notices yet."))
        return
    lines = [t._("<b>Notices you received</b> (latest {n})").format(n=len(received))]
    choices = []
    for broadcast, delivery_id, acknowledged in received:
        mark = (t._("✓ received {when}").format(when=t.datetime(acknowledged)) if acknowledged
                else t._("not yet acknowledged"))
        lines.append(f"\n<b>#{broadcast.id}</b> · {t.datetime(broadcast.created_at)} · {mark}")
        lines.append(esc(broadcast.text[:300] + ("…" if len(broadcast.text) > 300 else "")))
        if not acknowledged:
            choices.append(Choice(f"bc:ack:{delivery_id}", t._("Received #{id}").format(
                id=broadcast.id)))
    ctx.reply("\n".join(lines), choices)


action(Action("broadcast", N_("New notice"), N_("send a notice to units, kinds of unit or roles"),
              ADMINS, _broadcast, aliases=("thongbao",), private_only=True))
action(Action("broadcasts", N_("Notices sent"), N_("past notices with delivery and receipt "
                                                   "figures"), ADMINS, _broadcasts,
              aliases=("dathongbao",)))
action(Action("notices", N_("Notices received"), N_("the notices you received"),
              frozenset({Role.OFFICER, Role.COORDINATOR, Role.LEADER}), _notices,
              aliases=("thongbaoden",), menu_rank=1))
