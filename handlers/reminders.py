"""Reminders before deadlines, escalation when overdue, and moving a deadline.

For each obligation, period and unit that has not sent what it owes, the clock tick works out the
latest stage that is due and sends it once (every notification is recorded under a unique key):

```mermaid
flowchart LR
    B7[7 days before] --> B3[3 days] --> B1[1 day] --> D[on the day] --> O[day after: officers]
    O --> C[day after: coordinators, one message per tick] --> L[N days after: leaders]
```

Only the latest due stage of each track is sent, so after downtime nobody gets a backlog; nothing
goes out outside working hours, it waits for the next working morning.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from bot.i18n import N_
from handlers import forms, periods
from handlers.context import Config, Ctx
from handlers.core import Action, action, callback
from handlers.forms import Form, Kind, Question
from handlers.periods import Period
from handlers.programme import RECURRING, Obligation, Programme
from handlers.text import esc
from handlers.types import Choice, Outgoing, Reply
from storage.models import Role
from storage.repos import Tx
from storage.tracking import Owed

ADMINS = frozenset({Role.ADMIN})
DESK = frozenset({Role.COORDINATOR, Role.LEADER, Role.ADMIN})


def owed(config: Config, obligation: Obligation, period: Period, deadline: date) -> Owed:
    """The storage view of an obligation for a period."""
    end_of_day = datetime.combine(deadline + timedelta(days=1), datetime.min.time(),
                                  tzinfo=config.zone).astimezone(UTC)
    # A single report (the plan, a review) is that report whenever it was held once its period
    # began: reviews are held after the period's cut-off, before (or after) the deadline, and
    # the deadline decides "on time". A recurring one counts in the period its activity is in.
    end = period.end if obligation.period in RECURRING else date.max
    return Owed(obligation.report, obligation.level, obligation.unit_kinds, period.key,
                period.start, end, end_of_day)


async def current_obligations(tx: Tx, programme: Programme, today: date
                              ) -> list[tuple[Obligation, Period, date]]:
    """(obligation, period, deadline) for every deadline near today, moved deadlines applied."""
    moved = await tx.tracking.moved_deadlines()
    found = []
    for obligation in programme.obligations:
        for period in programme.periods_due_around(obligation, today, moved):
            found.append((obligation, period, programme.due(obligation, period, moved)))
    return found


async def in_view(tx: Tx, config: Config, obligation: Obligation, today: date,
                  moved: dict) -> tuple[Period, date]:
    """The period to show for an obligation: one whose deadline has passed while units still
    owe it (as long as the clock chases it), else the next deadline."""
    programme = config.programme
    for period in programme.periods_due_around(obligation, today, moved):
        deadline = programme.due(obligation, period, moved)
        if deadline < today and await tx.tracking.missing(
                owed(config, obligation, period, deadline)):
            return period, deadline
    return programme.upcoming(obligation, today, moved)


def _officer_stage(programme: Programme, deadline: date, today: date) -> str | None:
    """The latest officers' stage due today: 'before7', 'before3', 'before1', 'due', 'overdue'."""
    stages = sorted([(deadline - timedelta(days=n), f"before{n}")
                     for n in programme.reminders.days_before]
                    + [(deadline, "due"), (deadline + timedelta(days=1), "overdue")])
    latest = None
    for when, stage in stages:
        if when <= today:
            latest = stage
    return latest


def _open_form_choice(t, obligation: Obligation, period: Period) -> Choice:
    # An ad hoc period's id can be long, and button data is capped at 64 bytes: "rk:periodic"
    # asks for the period instead.
    if obligation.report == "periodic" and periods.parse(period.key) is not None:
        return Choice(f"rp:{period.key}", t._("Report now"))
    return Choice(f"rk:{obligation.report}", t._("Report now"))


def _officer_text(t, stage: str, obligation: Obligation, period: Period, deadline: date,
                  today: date) -> str:
    name, label = esc(obligation.label(t.language)), esc(period.label(t))
    if stage.startswith("before"):
        days = (deadline - today).days
        return t.ngettext(
            "⏰ Reminder: your unit has not yet sent “{name}” for {period}. Deadline: {deadline} "
            "({n} day left).",
            "⏰ Reminder: your unit has not yet sent “{name}” for {period}. Deadline: {deadline} "
            "({n} days left).", days).format(name=name, period=label, deadline=t.date(deadline),
                                             n=days)
    if stage == "due":
        return t._("⏰ Today is the deadline for “{name}” for {period}.").format(
            name=name, period=label)
    days = (today - deadline).days
    return t.ngettext(
        "⚠️ Your unit's “{name}” for {period} is overdue by {n} day (deadline {deadline}). "
        "Please send it as soon as possible.",
        "⚠️ Your unit's “{name}” for {period} is overdue by {n} days (deadline {deadline}). "
        "Please send it as soon as possible.", days).format(
        name=name, period=label, n=days, deadline=t.date(deadline))


async def tick(tx: Tx, config: Config, now: datetime) -> list[Outgoing]:
    """Everything the deadlines call for at `now`, each sent once."""
    programme = config.programme
    local = now.astimezone(config.zone)
    if not programme.is_working_time(local):
        return []
    today = local.date()
    out: list[Outgoing] = []
    late_for_coordinators: list[tuple[str, Obligation, Period, int]] = []
    late_for_leaders: list[tuple[str, Obligation, Period, int]] = []
    for obligation, period, deadline in await current_obligations(tx, programme, today):
        if today < deadline - timedelta(days=max(programme.reminders.days_before, default=0)):
            continue
        stage = _officer_stage(programme, deadline, today)
        days_late = (today - deadline).days
        for unit_id, _code, unit_name in await tx.tracking.missing(
                owed(config, obligation, period, deadline)):
            key = f"{unit_id}:{obligation.id}:{period.key}"
            if stage and await tx.tracking.first_notification(f"{key}:{stage}", "reminder", now):
                for contact, identity in await tx.contacts.reachable_identities(
                        roles=[Role.OFFICER], unit_id=unit_id):
                    t = config.translator(contact.language)
                    text = _officer_text(t, stage, obligation, period, deadline, today)
                    out.append(Outgoing(identity.channel, identity.chat_id, Reply(
                        text, (_open_form_choice(t, obligation, period),)), contact.id))
            if days_late >= 1 and await tx.tracking.first_notification(
                    f"{key}:coordinators", "escalation", now):
                late_for_coordinators.append((unit_name, obligation, period, days_late))
            if days_late >= programme.reminders.leaders_after_days and \
                    await tx.tracking.first_notification(f"{key}:leaders", "escalation", now):
                late_for_leaders.append((unit_name, obligation, period, days_late))
    out += await _gathered(tx, config, [Role.COORDINATOR], late_for_coordinators,
                           N_("⚠️ <b>Overdue reports</b>"), to_group=True)
    out += await _gathered(tx, config, [Role.LEADER], late_for_leaders,
                           N_("🔺 <b>Reports overdue for several days</b> (for your direction)"),
                           to_group=False)
    return out


async def _gathered(tx: Tx, config: Config, roles: list[Role],
                    late: list[tuple[str, Obligation, Period, int]], title: str,
                    to_group: bool) -> list[Outgoing]:
    """One message for all the units that became overdue in this tick."""
    if not late:
        return []
    targets = [(identity.channel, identity.chat_id, contact.id, contact.language)
               for contact, identity in await tx.contacts.reachable_identities(roles=roles)]
    if to_group and config.coordinator_chat_id:
        targets.append(("telegram", config.coordinator_chat_id, None, config.default_locale))
    out = []
    for channel, chat_id, contact_id, language in targets:
        t = config.translator(language)
        lines = [t._(title)]
        for unit_name, obligation, period, days in late:
            lines.append("• " + t.ngettext(
                "{unit}: “{name}” for {period}, {n} day late",
                "{unit}: “{name}” for {period}, {n} days late", days).format(
                unit=esc(unit_name), name=esc(obligation.label(t.language)),
                period=esc(period.label(t)), n=days))
        out.append(Outgoing(channel, chat_id, Reply("\n".join(lines)), contact_id))
    return out


# ---------------------------------------------------------------------------------------------
# /deadlines

async def _deadlines(ctx: Ctx, _args: str) -> None:
    t, programme = ctx.t, ctx.config.programme
    moved = await ctx.tx.tracking.moved_deadlines()
    lines = [t._("<b>Obligations and deadlines</b>")]
    choices = []
    for obligation in programme.obligations:
        period, deadline = await in_view(ctx.tx, ctx.config, obligation, ctx.today, moved)
        lines.append(f"\n<b>{esc(obligation.label(t.language))}</b>")
        was_moved = (obligation.id, period.key) in moved
        lines.append(t._("{period}: deadline {deadline}{moved}").format(
            period=esc(period.label(t)), deadline=t.date(deadline),
            moved=t._(" (moved)") if was_moved else ""))
        if ctx.role in ADMINS:
            choices.append(Choice(f"dl:{programme.ref(obligation, period)}",
                                  t._("Move: {name}").format(name=obligation.label(t.language))))
    ctx.reply("\n".join(lines), choices)


@callback("dl", ADMINS)
async def _move(ctx: Ctx, rest: str) -> None:
    found = ctx.config.programme.by_ref(rest)
    if found is None or not await ctx.go_private():
        ctx.reply(ctx.t._("This button is not valid."))
        return
    obligation, period = found
    await forms.start(ctx, MOVE_FORM, {"obligation": obligation.id, "period": period.key},
                      intro=ctx.t._("Moving the deadline of “{name}” for {period}.").format(
                          name=esc(obligation.label(ctx.t.language)),
                          period=esc(period.label(ctx.t))))


async def _moved(ctx: Ctx, answers: dict, params: dict) -> None:
    t = ctx.t
    programme = ctx.config.programme
    obligation = programme.obligation(params["obligation"])
    period = programme.period(params["period"])
    due = date.fromisoformat(answers["due"])
    await ctx.tx.tracking.move_deadline(obligation.id, period.key, due, ctx.contact.id, ctx.now)
    await ctx.tx.audit.record(f"contact:{ctx.contact.id}", "deadline.move", ctx.now,
                              obligation=obligation.id, period=period.key, due=due.isoformat(),
                              reason=answers["reason"])
    # The units that still owe it are told, each officer in their own language.
    told = 0
    for unit_id, _code, _name in await ctx.tx.tracking.missing(
            owed(ctx.config, obligation, period, due)):
        for contact, identity in await ctx.tx.contacts.reachable_identities(
                roles=[Role.OFFICER], unit_id=unit_id):
            ot = ctx.translator_for(contact.language)
            ctx.send(identity.channel, identity.chat_id, contact.id, Reply(ot._(
                "📅 The deadline of “{name}” for {period} has been moved to {due}. Reason: "
                "{reason}").format(name=esc(obligation.label(ot.language)),
                                   period=esc(period.label(ot)), due=ot.date(due),
                                   reason=esc(answers["reason"])),
                (_open_form_choice(ot, obligation, period),)))
            told += 1
    ctx.reply(t._("The deadline of “{name}” for {period} is now {due}. Reminders follow the new "
                  "date.").format(name=esc(obligation.label(t.language)),
                                  period=esc(period.label(t)), due=t.date(due)) + "\n" +
              t.ngettext("{n} officer of the units that still owe it was told.",
                         "{n} officers of the units that still owe it were told.", told).format(
                  n=t.number(told)))


async def _not_past(ctx: Ctx, value: str) -> str | None:
    if date.fromisoformat(value) < ctx.today:
        return ctx.t._("A new deadline cannot be in the past.")
    return None


MOVE_FORM = forms.register(Form(
    id="deadline_move", title=N_("Move a deadline"), roles=ADMINS, submit=_moved,
    questions=(
        Question("due", Kind.DATE, N_("New deadline"), N_("The new deadline?"),
                 allow_future=True, check=_not_past),
        Question("reason", Kind.TEXT, N_("Reason"), N_("Why is it moved (e.g. the City asked "
                                                        "for it earlier)?"), max_length=500),
    )))

action(Action("deadlines", N_("Deadlines"), N_("obligations and their deadlines"), DESK,
              _deadlines, aliases=("hannop",)))
