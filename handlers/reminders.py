"""Reminders before deadlines, escalation when overdue, and moving a deadline.

For each obligation, period and unit that has not sent what it owes, the clock tick works out the
latest stage that is due and sends it once (every notification is recorded under a unique key):

```mermaid
flowchart LR
    B7[7 days before] --> B3[3 days] --> B1[1 day] --> D[on the day] --> O[day after: officers]
    O --> C[day after: coordinators, one message per period] --> L[N days after: leaders]
```

Only the latest due stage of each track is sent, so after downtime nobody gets a backlog; nothing
goes out outside working hours, it waits for the next working morning.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from handlers import forms, periods
from handlers.admin import kind_counts, kind_rank
from handlers.context import Config, Ctx
from handlers.core import Action, action, callback
from handlers.forms import Form, Kind, Question
from handlers.kinds import KINDS, Dated
from handlers.periods import Period
from handlers.programme import RECURRING, Obligation, Programme
from handlers.text import esc
from handlers.types import Choice, Outgoing, Reply
from locales.i18n import N_, Translator
from storage.models import Role
from storage.repos import Tx
from storage.tracking import Owed, UnitStatus

ADMINS = frozenset({Role.ADMIN})
DESK = frozenset({Role.COORDINATOR, Role.LEADER, Role.ADMIN})
COORDINATING = frozenset({Role.COORDINATOR, Role.ADMIN})


def owed(config: Config, obligation: Obligation, period: Period, deadline: date) -> Owed:
    """The storage view of an obligation for a period."""
    # A single report (the plan, a review) is that report whenever it was held once its period
    # began: reviews are held after the period's cut-off, before (or after) the deadline, and
    # the deadline decides "on time". A recurring one counts in the period its activity is in.
    end = period.end if obligation.period in RECURRING else date.max
    return Owed(obligation.report, obligation.level, obligation.unit_kinds, period.key,
                period.start, end, end_of_day(config, deadline), obligation.id, deadline,
                KINDS[obligation.report].dated is Dated.PERIOD)


def end_of_day(config: Config, day: date) -> datetime:
    """The first moment (UTC) after a local day: reports before it are on time for that day."""
    return datetime.combine(day + timedelta(days=1), datetime.min.time(),
                            tzinfo=config.zone).astimezone(UTC)


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
                owed(config, obligation, period, deadline), still_on=today):
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


def _open_form_choice(t: Translator, obligation: Obligation, period: Period) -> Choice:
    # An ad hoc period's id can be long, and button data is capped at 64 bytes: "rk:periodic"
    # asks for the period instead.
    if KINDS[obligation.report].dated is Dated.PERIOD and periods.parse(period.key) is not None:
        return Choice(f"rp:{period.key}", t._("Report now"))
    return Choice(f"rk:{obligation.report}", t._("Report now"))


def _officer_text(t: Translator, stage: str, obligation: Obligation, period: Period, deadline: date,
                  today: date) -> str:
    name, label = esc(obligation.label(t.language)), esc(period.label(t))
    if stage.startswith("before"):
        days = (deadline - today).days
        return t.ngettext(
            "⏰ Reminder: your unit has not yet sent “{name}” for {period}. Deadline: {deadline} "
            "({n} day left).",
            "⏰ Reminder: your unit has not yet sent “{name}” for {period}. Deadline: {deadline} "
            "({n} days left).", days).format(name=name, period=label, deadline=t.date(deadline),
                                             n=t.number(days))
    if stage == "due":
        return t._("⏰ Today is the deadline for “{name}” for {period}.").format(
            name=name, period=label)
    days = (today - deadline).days
    return t.ngettext(
        "⚠️ Your unit's “{name}” for {period} is overdue by {n} day (deadline {deadline}). "
        "Please send it as soon as possible.",
        "⚠️ Your unit's “{name}” for {period} is overdue by {n} days (deadline {deadline}). "
        "Please send it as soon as possible.", days).format(
        name=name, period=label, n=t.number(days), deadline=t.date(deadline))


@dataclass(frozen=True)
class Overdue:
    """The units that became overdue in one tick for one obligation's period."""

    obligation: Obligation
    period: Period
    deadline: date  # the common one: a unit given more time is late by its own
    units: list[tuple[int, str, int]]  # (unit id, name, days late)


LISTED_LATE = 10  # units named in an escalation; the others are counted, and listed by a button


def missing_choice(config: Config, t: Translator, obligation: Obligation, period: Period,
                   roll_up: bool = False) -> Choice:
    """The button that lists every unit that has not sent an obligation's period (the missing
    view of /status, handlers.desk)."""
    return Choice(f"st:{'r' if roll_up else ''}miss:{config.programme.ref(obligation, period)}",
                  t._("Missing: {name}").format(name=obligation.label(t.language)))


async def tick(tx: Tx, config: Config, now: datetime) -> list[Outgoing]:
    """Everything the deadlines call for at `now`, each sent once."""
    programme = config.programme
    local = now.astimezone(config.zone)
    if not programme.is_working_time(local):
        return []
    today = local.date()
    out: list[Outgoing] = []
    late_for_coordinators: list[Overdue] = []
    late_for_leaders: list[Overdue] = []
    ahead = max(programme.reminders.days_before, default=0)
    for obligation, period, common_deadline in await current_obligations(tx, programme, today):
        extended = await tx.tracking.extensions(obligation.id, period.key)
        if today < min([common_deadline, *extended.values()]) - timedelta(days=ahead):
            continue
        for_coordinators = Overdue(obligation, period, common_deadline, [])
        for_leaders = Overdue(obligation, period, common_deadline, [])
        # A unit that no longer exists is never reminded (its successor owes what comes next).
        for unit_id, _code, unit_name in await tx.tracking.missing(
                owed(config, obligation, period, common_deadline), still_on=today):
            deadline = extended.get(unit_id, common_deadline)
            if today < deadline - timedelta(days=ahead):
                continue
            stage = _officer_stage(programme, deadline, today)
            days_late = (today - deadline).days
            # An extended unit starts a new track: its stages count to its own deadline.
            key = f"{unit_id}:{obligation.id}:{period.key}" + (
                f"@{deadline.isoformat()}" if unit_id in extended else "")
            if stage and await tx.tracking.first_notification(f"{key}:{stage}", "reminder", now):
                for contact, identity in await tx.contacts.reachable_identities(
                        roles=[Role.OFFICER], unit_id=unit_id):
                    t = config.translator(contact.language)
                    text = _officer_text(t, stage, obligation, period, deadline, today)
                    out.append(Outgoing(identity.channel, identity.chat_id, Reply(
                        text, (_open_form_choice(t, obligation, period),)), contact.id))
            if days_late >= 1 and await tx.tracking.first_notification(
                    f"{key}:coordinators", "escalation", now):
                for_coordinators.units.append((unit_id, unit_name, days_late))
            if days_late >= programme.reminders.leaders_after_days and \
                    await tx.tracking.first_notification(f"{key}:leaders", "escalation", now):
                for_leaders.units.append((unit_id, unit_name, days_late))
        late_for_coordinators += [for_coordinators] if for_coordinators.units else []
        late_for_leaders += [for_leaders] if for_leaders.units else []
    out += await _gathered(tx, config, [Role.COORDINATOR], late_for_coordinators,
                           N_("⚠️ <b>Overdue reports</b>"), to_group=True)
    out += await _gathered(tx, config, [Role.LEADER], late_for_leaders,
                           N_("🔺 <b>Reports overdue for several days</b> (for your direction)"),
                           to_group=False)
    return out


async def _gathered(tx: Tx, config: Config, roles: list[Role], late: list[Overdue], title: str,
                    to_group: bool) -> list[Outgoing]:
    """One message per obligation's period for the units that became overdue in this tick."""
    if not late:
        return []
    targets: list[tuple[str, str, int | None, str]] = [
        (identity.channel, identity.chat_id, contact.id, contact.language)
        for contact, identity in await tx.contacts.reachable_identities(roles=roles)]
    if to_group and config.coordinator_chat_id:
        targets.append(("telegram", config.coordinator_chat_id, None, config.default_locale))
    if not targets:
        return []
    names = await tx.units.kinds()
    kind_of = {unit.id: unit.kind for unit in await tx.units.list()}
    return [Outgoing(channel, chat_id, _overdue_reply(
                config, config.translator(language), title, overdue, kind_of, names), contact_id)
            for channel, chat_id, contact_id, language in targets for overdue in late]


def _overdue_reply(config: Config, t: Translator, title: str, overdue: Overdue,
                   kind_of: dict[int, str], names: dict[str, dict[str, str]]) -> Reply:
    """How many units are late, how many of each kind, the longest late named (all of them
    when few), and a button for the full list."""
    obligation, units = overdue.obligation, overdue.units
    # The longest late first; among equals, in the order of the units file's kinds, then codes.
    ranked = sorted(units, key=lambda u: (-u[2], kind_rank(names, kind_of.get(u[0], ""))))
    lines = [t._(title),
             f"<b>{esc(obligation.label(t.language))}</b> · {esc(overdue.period.label(t))} · "
             + t._("deadline {day}").format(day=t.date(overdue.deadline)),
             t.ngettext("<b>{n} unit</b> has not sent it by the deadline.",
                        "<b>{n} units</b> have not sent it by the deadline.", len(units)).format(
                 n=t.number(len(units))),
             t._("By kind of unit: {list}").format(list=kind_counts(
                 t, Counter(kind_of.get(unit_id, "") for unit_id, _n, _d in units), names))]
    lines += [f"• {esc(name)}: " + t.ngettext("{n} day late", "{n} days late", days).format(
        n=t.number(days)) for _id, name, days in ranked[:LISTED_LATE]]
    if len(units) > LISTED_LATE:
        more = len(units) - LISTED_LATE
        lines.append(t.ngettext("… and {n} more unit", "… and {n} more units", more).format(
            n=t.number(more)))
    lines.append(t._("The full list: the option below, or the web desk {url} (sign in with "
                     "/web).").format(url=f"{config.web_public_url}/desk/")
                 if config.web_public_url else t._("The full list: the option below."))
    return Reply("\n".join(lines), (missing_choice(config, t, obligation, overdue.period),))


# ---------------------------------------------------------------------------------------------
# /deadlines

async def _deadlines(ctx: Ctx, _args: str) -> None:
    if ctx.role is Role.OFFICER:
        await _unit_deadlines(ctx)
        return
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
            choices += _passed_moves(ctx, obligation, period, moved, lines)
    ctx.reply("\n".join(lines), choices)


def _passed_moves(ctx: Ctx, obligation: Obligation, shown: Period, moved: dict,
                  lines: list[str]) -> list[Choice]:
    """Deadlines passed lately can be moved too (e.g. to give every late unit a new date)."""
    t, programme = ctx.t, ctx.config.programme
    choices = []
    for period in programme.periods_due_around(obligation, ctx.today, moved):
        deadline = programme.due(obligation, period, moved)
        if period.key == shown.key or deadline >= ctx.today:
            continue
        lines.append(t._("{period}: deadline {deadline} (passed)").format(
            period=esc(period.label(t)), deadline=t.date(deadline)))
        choices.append(Choice(f"dl:{programme.ref(obligation, period)}", t._(
            "Move: {name}, {period}").format(name=obligation.label(t.language),
                                             period=period.label(t))))
    return choices


async def _unit_deadlines(ctx: Ctx) -> None:
    """An officer's view: what the unit owes, by when, and what it has sent (the next deadline
    of each obligation and those passed in the last weeks, settled or not)."""
    t, programme = ctx.t, ctx.config.programme
    unit = await ctx.tx.units.get(ctx.contact.unit_id) if ctx.contact.unit_id else None
    if unit is None:
        ctx.reply(t._("You are not attached to a unit, so nothing is owed from you."))
        return
    moved = await ctx.tx.tracking.moved_deadlines()
    lines = [t._("<b>What {unit} owes</b> · {day}").format(unit=esc(unit.name),
                                                          day=t.date(ctx.today))]
    choices: list[Choice] = []
    for obligation in programme.obligations:
        if unit.kind not in obligation.unit_kinds:
            continue
        upcoming, _deadline = programme.upcoming(obligation, ctx.today, moved)
        candidates = {p.key: p for p in programme.periods_due_around(obligation, ctx.today, moved)}
        candidates.setdefault(upcoming.key, upcoming)
        for period in sorted(candidates.values(), key=lambda p: p.end):
            common = moved.get((obligation.id, period.key), programme.deadline(obligation, period))
            statuses = await ctx.tx.tracking.status(owed(ctx.config, obligation, period, common))
            mine = next((s for s in statuses if s.unit_id == unit.id), None)
            if mine is None:  # the unit did not exist on that deadline
                continue
            deadline = mine.extended_to or common
            lines.append(f"\n<b>{esc(obligation.label(t.language))}</b> · {esc(period.label(t))}")
            lines.append(_owed_line(ctx, mine, deadline))
            if not mine.first_at and len(choices) < 8:
                choice = _open_form_choice(t, obligation, period)
                choices.append(Choice(choice.id, t._("Send: {name}").format(
                    name=obligation.label(t.language))))
    if len(lines) == 1:
        lines.append(t._("The programme asks nothing of your unit at the moment."))
    ctx.reply("\n".join(lines), choices)


def _owed_line(ctx: Ctx, status: UnitStatus, deadline: date) -> str:
    t = ctx.t
    extended = t._(" (extended for your unit)") if status.extended_to else ""
    if status.first_at:
        sent = t.date(status.first_at.astimezone(ctx.config.zone).date())
        return (t._("✅ sent on {day}").format(day=sent) if status.on_time
                else t._("✅ sent on {day}, after the deadline {deadline}").format(
                    day=sent, deadline=t.date(deadline)))
    days = (deadline - ctx.today).days
    if days > 0:
        return t.ngettext("⏳ not yet sent · deadline {deadline}{extended}, {n} day left",
                          "⏳ not yet sent · deadline {deadline}{extended}, {n} days left",
                          days).format(deadline=t.date(deadline), extended=extended,
                                       n=t.number(days))
    if days == 0:
        return t._("⏰ not yet sent · the deadline is today{extended}").format(extended=extended)
    return t.ngettext("⚠️ overdue by {n} day · deadline {deadline}{extended}",
                      "⚠️ overdue by {n} days · deadline {deadline}{extended}", -days).format(
        n=t.number(-days), deadline=t.date(deadline), extended=extended)


@callback("dl", ADMINS)
async def _move(ctx: Ctx, rest: str) -> None:
    await _open_deadline_form(ctx, rest, MOVE_FORM,
                              ctx.t._("Moving the deadline of “{name}” for {period}."))


async def _open_deadline_form(ctx: Ctx, ref: str, form: forms.Form, intro: str) -> None:
    """Open a form about the obligation and period of button data `ref` (see Programme.ref),
    in private: moving its deadline, or giving one unit more time."""
    found = ctx.config.programme.by_ref(ref)
    if found is None or not await ctx.go_private():
        ctx.reply(ctx.t._("This button is not valid."))
        return
    obligation, period = found
    await forms.start(ctx, form, {"obligation": obligation.id, "period": period.key},
                      intro=intro.format(name=esc(obligation.label(ctx.t.language)),
                                         period=esc(period.label(ctx.t))))


async def _moved(ctx: Ctx, answers: dict, params: dict) -> None:
    t = ctx.t
    obligation, period = _form_owed(ctx, params)
    due = date.fromisoformat(answers["due"])
    await ctx.tx.tracking.move_deadline(obligation.id, period.key, due, ctx.contact.id, ctx.now)
    await ctx.tx.audit.record(f"contact:{ctx.contact.id}", "deadline.move", ctx.now,
                              obligation=obligation.id, period=period.key, due=due.isoformat(),
                              reason=answers["reason"])
    # The units that still owe it are told, each officer in their own language.
    told = 0
    for unit_id, _code, _name in await ctx.tx.tracking.missing(
            owed(ctx.config, obligation, period, due), still_on=ctx.today):
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

# ---------------------------------------------------------------------------------------------
# From the list of missing units: remind them, or give one unit more time

async def _common_deadline(ctx: Ctx, obligation: Obligation, period: Period) -> date:
    moved = await ctx.tx.tracking.moved_deadlines()
    return moved.get((obligation.id, period.key),
                     ctx.config.programme.deadline(obligation, period))


@callback("rm", COORDINATING)
async def _remind_missing(ctx: Ctx, rest: str) -> None:
    """Remind every unit that has not sent it, at most once a day each."""
    t, found = ctx.t, ctx.config.programme.by_ref(rest)
    if found is None:
        ctx.reply(t._("This button is not valid."))
        return
    obligation, period = found
    common = await _common_deadline(ctx, obligation, period)
    extended = await ctx.tx.tracking.extensions(obligation.id, period.key)
    reminded, already, nobody, messages = 0, [], [], []
    for unit_id, _code, name in await ctx.tx.tracking.missing(
            owed(ctx.config, obligation, period, common), still_on=ctx.today):
        officers = await ctx.tx.contacts.reachable_identities(roles=[Role.OFFICER],
                                                              unit_id=unit_id)
        if not officers:
            nobody.append(name)
            continue
        key = f"remind:{unit_id}:{obligation.id}:{period.key}:{ctx.today.isoformat()}"
        if not await ctx.tx.tracking.first_notification(key, "remind", ctx.now):
            already.append(name)
            continue
        reminded += 1
        deadline = extended.get(unit_id, common)
        stage = "before" if deadline > ctx.today else "due" if deadline == ctx.today else "overdue"
        for contact, identity in officers:
            tt = ctx.translator_for(contact.language)
            text = (tt._("📣 From the {body}:").format(body=ctx.config.body(tt)) + "\n"
                    + _officer_text(tt, stage, obligation, period, deadline, ctx.today))
            messages.append(Outgoing(identity.channel, identity.chat_id, Reply(
                text, (_open_form_choice(tt, obligation, period),)), contact.id))
    await ctx.tx.audit.record(f"contact:{ctx.contact.id}", "deadline.remind", ctx.now,
                              obligation=obligation.id, period=period.key, units=reminded)
    lines = [t.ngettext("A reminder went to {n} unit.", "A reminder went to {n} units.",
                        reminded).format(n=t.number(reminded))]
    if already:
        lines.append(t.ngettext(
            "{n} unit was already reminded today and is not reminded again: {list}",
            "{n} units were already reminded today and are not reminded again: {list}",
            len(already)).format(n=t.number(len(already)), list=esc(", ".join(already))))
    if nobody:
        shown = ", ".join(nobody[:10]) + (", …" if len(nobody) > 10 else "")
        lines.append(t.ngettext("{n} unit has no registered officer to remind: {list}",
                                "{n} units have no registered officer to remind: {list}",
                                len(nobody)).format(n=t.number(len(nobody)), list=esc(shown)))
    ctx.reply("\n".join(lines))
    ctx.out += messages  # after the coordinator's answer, which should not wait behind them


@callback("dx", COORDINATING)
async def _extend(ctx: Ctx, rest: str) -> None:
    await _open_deadline_form(ctx, rest, EXTEND_FORM,
                              ctx.t._("Giving one unit more time for “{name}”, {period}."))


def _form_owed(ctx: Ctx, params: dict | None = None) -> tuple[Obligation, Period]:
    """The obligation and period a form was opened for (from a valid button)."""
    if params is None:
        assert ctx.state.form is not None  # a check runs while its form does
        params = ctx.state.form.params
    programme = ctx.config.programme
    obligation, period = programme.obligation(params["obligation"]), programme.period(
        params["period"])
    assert obligation is not None and period is not None
    return obligation, period


async def _owes_it(ctx: Ctx, value: dict) -> str | None:
    obligation, _period = _form_owed(ctx)
    unit = await ctx.tx.units.by_code(value["code"])
    if unit is None or unit.kind not in obligation.unit_kinds:
        return ctx.t._("This unit does not owe “{name}”.").format(
            name=esc(obligation.label(ctx.t.language)))
    return None


async def _later(ctx: Ctx, value: str) -> str | None:
    obligation, period = _form_owed(ctx)
    day = date.fromisoformat(value)
    if day < ctx.today:
        return ctx.t._("A new deadline cannot be in the past.")
    common = await _common_deadline(ctx, obligation, period)
    if day <= common:
        return ctx.t._("An extension must be later than the deadline, {day}.").format(
            day=ctx.t.date(common))
    return None


async def _extended(ctx: Ctx, answers: dict, params: dict) -> None:
    t = ctx.t
    obligation, period = _form_owed(ctx, params)
    unit = await ctx.tx.units.by_code(answers["unit"]["code"])
    assert unit is not None  # _owes_it checked it, and units are retired, never deleted
    due = date.fromisoformat(answers["due"])
    await ctx.tx.tracking.extend(obligation.id, period.key, unit.id, due,
                                 end_of_day(ctx.config, due), ctx.contact.id, ctx.now)
    await ctx.tx.audit.record(f"contact:{ctx.contact.id}", "deadline.extend", ctx.now,
                              obligation=obligation.id, period=period.key, unit=unit.code,
                              due=due.isoformat(), reason=answers["reason"])
    told = 0
    for contact, identity in await ctx.tx.contacts.reachable_identities(roles=[Role.OFFICER],
                                                                        unit_id=unit.id):
        tt = ctx.translator_for(contact.language)
        ctx.send(identity.channel, identity.chat_id, contact.id, Reply(tt._(
            "📅 The {body} gave your unit more time: “{name}” for {period} is now due on "
            "{due}.").format(body=ctx.config.body(tt), name=esc(obligation.label(tt.language)),
                                        period=esc(period.label(tt)), due=tt.date(due)),
            (_open_form_choice(tt, obligation, period),)))
        told += 1
    ctx.reply(t._("{unit} now has until {due} for “{name}”, {period}. Reminders follow its new "
                  "date.").format(unit=esc(unit.name), due=t.date(due),
                                  name=esc(obligation.label(t.language)),
                                  period=esc(period.label(t))) + "\n" + (
        t.ngettext("{n} officer of the unit was told.", "{n} officers of the unit were told.",
                   told).format(n=told) if told else
        t._("The unit has no registered officer to tell.")))


EXTEND_FORM = forms.register(Form(
    id="deadline_extend", title=N_("More time for one unit"), roles=COORDINATING,
    submit=_extended,
    questions=(
        Question("unit", Kind.UNIT, N_("Unit"),
                 N_("Which unit? Type its code (e.g. P-LECHAN) or a part of its name."),
                 check=_owes_it),
        Question("due", Kind.DATE, N_("New deadline"), N_("The unit's new deadline?"),
                 allow_future=True, check=_later),
        Question("reason", Kind.TEXT, N_("Reason"), N_("Why does the unit get more time?"),
                 max_length=500),
    )))

action(Action("deadlines", N_("Deadlines"), N_("obligations and their deadlines"),
              DESK | {Role.OFFICER},
              _deadlines, aliases=("hannop",), menu_rank=1))
