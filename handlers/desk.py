"""The coordinator's desk: completeness at a glance (/status), digests on a schedule (/digest,
/settings) with a chart.

A digest slot ("daily:2026-03-10", "weekly:2026-W11") is recorded per coordinator when sent, so
it never goes twice; after downtime only the latest slot is sent.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time, timedelta

from handlers import charts
from handlers.admin import unit_kind_label
from handlers.context import Config, Ctx
from handlers.core import Action, action, callback
from handlers.kinds import FIGURES, KINDS, Dated
from handlers.periods import Period
from handlers.programme import Obligation
from handlers.reminders import COORDINATING, current_obligations, in_view, owed
from handlers.reports import period_figures
from handlers.text import esc, parse_id
from handlers.types import Attachment, Choice, Outgoing, Reply
from locales.i18n import N_
from storage.db import Database
from storage.models import Role
from storage.repos import Tx
from storage.tracking import Tally, UnitStatus

DESK = frozenset({Role.COORDINATOR, Role.LEADER, Role.ADMIN})
# Admins have the coordinator's views (README), their notifications included.
COORDINATORS = frozenset({Role.COORDINATOR, Role.ADMIN})
# Who may take digests (leaders choose to; they are off for them until then).
DIGEST_TAKERS = COORDINATORS | {Role.LEADER}
DIGEST_HOURS = (8, 10, 13, 16)  # the times a coordinator can choose, all in working hours


# ---------------------------------------------------------------------------------------------
# Completeness

async def completeness(tx: Tx, config: Config, today: date, year: int | None = None
                       ) -> list[tuple[Obligation, Period, date, list[UnitStatus]]]:
    """Each obligation's current period (or its period in `year`), with every unit's status."""
    programme = config.programme
    moved = await tx.tracking.moved_deadlines()
    found = []
    for obligation in programme.obligations:
        if year is not None and obligation.period == "annual" and programme.period(str(year)):
            period = programme.period(str(year))
            deadline = moved.get((obligation.id, period.key),
                                 programme.deadline(obligation, period))
        else:
            period, deadline = await in_view(tx, config, obligation, today, moved)
        statuses = await tx.tracking.status(owed(config, obligation, period, deadline))
        found.append((obligation, period, deadline, statuses))
    return found


async def tallies(tx: Tx, config: Config, today: date
                  ) -> list[tuple[Obligation, Period, list[Tally]]]:
    """Each obligation's current period (as completeness shows it) with its units counted per
    kind: the digests' figures, read as counts rather than a row per unit."""
    moved = await tx.tracking.moved_deadlines()
    found = []
    for obligation in config.programme.obligations:
        period, deadline = await in_view(tx, config, obligation, today, moved)
        found.append((obligation, period,
                      await tx.tracking.tally(owed(config, obligation, period, deadline))))
    return found


def _kind_order(names: dict, kind: str) -> tuple[int, str]:
    """Kinds in the order the units file names them (city, departments, ... press)."""
    order = list(names)
    return (order.index(kind) if kind in order else len(order), kind)


def _rates(t, statuses: list[UnitStatus]) -> str:
    return _rate_line(t, len(statuses), sum(1 for s in statuses if s.first_at),
                      sum(1 for s in statuses if s.on_time))


def _rate_line(t, expected: int, sent: int, on_time: int) -> str:
    rate = sent / expected * 100 if expected else 0
    on_time_rate = on_time / expected * 100 if expected else 0
    return t._("{sent}/{expected} units sent ({rate}%), {on_time} on time ({on_time_rate}%)"
               ).format(sent=t.number(sent), expected=t.number(expected),
                        rate=t.number(round(rate, 1)), on_time=t.number(on_time),
                        on_time_rate=t.number(round(on_time_rate, 1)))


async def _status(ctx: Ctx, args: str) -> None:
    await show_status(ctx, parse_id(args.strip(), 2000, 2100))


async def show_status(ctx: Ctx, year: int | None) -> None:
    t = ctx.t
    names = await ctx.tx.units.kinds()
    lines = [t._("<b>Reporting status</b> · {day}").format(day=t.date(ctx.today))]
    choices = []
    for obligation, period, deadline, statuses in await completeness(ctx.tx, ctx.config,
                                                                     ctx.today, year):
        lines.append(f"\n<b>{esc(obligation.label(t.language))}</b> · {esc(period.label(t))} · "
                     + t._("deadline {day}").format(day=t.date(deadline)))
        lines.append(_rates(t, statuses))
        if KINDS[obligation.report].dated is Dated.PERIOD:  # the figures it will carry, so far
            figures = await period_figures(ctx.tx, period)
            lines.append(t._("From the reports so far: {figures}").format(figures="; ".join(
                f"{t._(label)}: {t.number(figures[key])}" for key, label in FIGURES
                if not key.startswith("diss_"))))
        # A unit that no longer exists and never sent it is history, not overdue: it is
        # counted apart and never chased.
        missing = Counter(s.kind for s in statuses
                          if not s.first_at and not s.ended_before(ctx.today))
        ended = sum(1 for s in statuses if not s.first_at and s.ended_before(ctx.today))
        if ended:
            lines.append(t.ngettext(
                "{n} unit that no longer exists did not send it.",
                "{n} units that no longer exist did not send it.", ended).format(
                n=t.number(ended)))
        if missing:
            # Kinds such as "Xã, phường" hold commas: "{kind}: {n}", joined with "; ".
            lines.append(t._("Missing: {list}").format(list="; ".join(
                f"{esc(unit_kind_label(t, kind, names))}: {t.number(n)}"
                for kind, n in sorted(missing.items(), key=lambda item: _kind_order(
                    names, item[0])))))
            choices.append(Choice(f"st:miss:{ctx.config.programme.ref(obligation, period)}",
                                  t._("Missing: {name}").format(
                                      name=obligation.label(t.language))))
    ages = await ctx.tx.difficulties.waiting_ages(ctx.now)
    lines.append("\n" + t._("<b>Difficulties waiting for an answer</b>: under a week {a}, 1-4 "
                            "weeks {b}, over 4 weeks {c}").format(a=ages[0], b=ages[1],
                                                                  c=ages[2]))
    this_year = int(ctx.today.year if ctx.today.month < 12 or ctx.today.day < 15
                    else ctx.today.year + 1)
    choices += [Choice(f"st:year:{y}", t._("Year {year}").format(year=y))
                for y in (this_year, this_year - 1)]
    ctx.reply("\n".join(lines), choices)


@callback("st", DESK, private_data=True)
async def _status_button(ctx: Ctx, rest: str) -> None:
    what, _, target = rest.partition(":")
    year = parse_id(target, 2000, 2100)
    if what == "year" and year is not None:
        await show_status(ctx, year)
        return
    programme = ctx.config.programme
    found = programme.by_ref(target) if what == "miss" else None
    if found is None:
        ctx.reply(ctx.t._("This button is not valid."))
        return
    obligation, period = found
    moved = await ctx.tx.tracking.moved_deadlines()
    deadline = moved.get((obligation.id, period.key), programme.deadline(obligation, period))
    statuses = await ctx.tx.tracking.status(owed(ctx.config, obligation, period, deadline))
    t = ctx.t
    lines = [t._("<b>Not yet sent</b>: {name}, {period}").format(
        name=esc(obligation.label(t.language)), period=esc(period.label(t)))]
    by_kind = defaultdict(list)
    for status in statuses:
        if not status.first_at and not status.ended_before(ctx.today):
            by_kind[status.kind].append(status)
    names = await ctx.tx.units.kinds()
    for kind, items in sorted(by_kind.items()):
        lines.append(f"\n<b>{esc(unit_kind_label(t, kind, names))}</b>")
        lines += [f"{esc(s.code)} — {esc(s.name)}" + (t._(" (given until {day})").format(
            day=t.date(s.extended_to)) if s.extended_to else "") for s in items]
    choices = []
    if by_kind and ctx.role in COORDINATING:
        ref = ctx.config.programme.ref(obligation, period)
        choices = [Choice(f"rm:{ref}", t._("Remind these units")),
                   Choice(f"dx:{ref}", t._("More time for one unit"))]
    ctx.reply("\n".join(lines), choices)


# ---------------------------------------------------------------------------------------------
# Digests

async def digest(tx: Tx, config: Config, t, now: datetime, since: datetime,
                 with_chart: bool) -> tuple[Reply, dict | None] | None:
    """What happened since `since`, and where the current period stands, with the data of its
    chart if asked (the chart is drawn later, by a job); None if nothing new."""
    today = now.astimezone(config.zone).date()
    counts = await tx.reports.counts_since(since)
    models = await tx.reports.models_since(since)
    activity = await tx.difficulties.activity_since(since)
    waiting = await tx.difficulties.awaiting()
    overdue_difficulties = [d for d in waiting if config.programme.add_working_hours(
        d.opened_at.astimezone(config.zone),
        config.programme.difficulties.answer_hours[d.urgency]) <= now.astimezone(config.zone)]
    late_units = []
    for obligation, period, deadline in await current_obligations(tx, config.programme, today):
        if deadline < today:
            for _id, _code, name in await tx.tracking.missing(
                    owed(config, obligation, period, deadline), still_on=today):
                late_units.append((name, obligation, (today - deadline).days))
    if not (counts or activity or overdue_difficulties or with_chart):
        return None
    lines = [t._("<b>Digest</b> · {start} – {end}").format(start=t.datetime(since),
                                                          end=t.datetime(now))]
    total = sum(n for _k, _u, n in counts)
    lines.append(t.ngettext("<b>{n} new report</b>", "<b>{n} new reports</b>", total).format(
        n=t.number(total)))
    by_kind: dict[str, list[str]] = defaultdict(list)
    names = await tx.units.kinds()
    for kind, unit_kind, n in counts:
        by_kind[kind].append(f"{esc(unit_kind_label(t, unit_kind, names))}: {t.number(n)}")
    for kind, parts in by_kind.items():
        label = t._(KINDS[kind].title) if kind in KINDS else kind
        lines.append(f"• {label} — {'; '.join(parts)}")
    if models:
        lines.append(t._("<b>Good models reported</b>"))
        lines += [f"• {esc(name)} ({esc(unit)})" for name, unit in models]
    lines.append(t._("<b>Difficulties</b>: {opened} opened, {answered} answered, {resolved} "
                     "resolved, {overdue} waiting past their deadline").format(
        opened=activity.get("opened", 0), answered=activity.get("answer", 0),
        resolved=activity.get("resolved", 0), overdue=len(overdue_difficulties)))
    if late_units:
        lines.append(t.ngettext("<b>{n} unit overdue</b>", "<b>{n} units overdue</b>",
                                len(late_units)).format(n=len(late_units)))
        lines += [f"• {esc(name)}: {esc(obligation.label(t.language))}, " +
                  t.ngettext("{n} day late", "{n} days late", days).format(n=t.number(days))
                  for name, obligation, days in late_units[:15]]
        if len(late_units) > 15:
            lines.append(t._("… and {n} more (see /status)").format(n=len(late_units) - 15))
    current = await tallies(tx, config, today)
    for obligation, period, counted in current:
        lines.append(f"{esc(obligation.label(t.language))} · {esc(period.label(t))}: "
                     + _rate_line(t, sum(c.expected for c in counted),
                                  sum(c.sent for c in counted),
                                  sum(c.on_time for c in counted)))
    chart = None
    if with_chart:
        chart = {"sent": charts.sent_by_kind(current), "now": now.isoformat(), "kinds": names,
                 "weekly": await tx.reports.weekly_counts(now - timedelta(weeks=8))}
    return Reply("\n".join(lines)), chart


async def _digest_now(ctx: Ctx, _args: str) -> None:
    reply, chart = await digest(ctx.tx, ctx.config, ctx.t, ctx.now, ctx.now - timedelta(days=7),
                                True)
    ctx.reply(reply.text)
    await ctx.tx.jobs.add("chart", chart, ctx.contact.id, ctx.event.channel, ctx.event.chat_id,
                          ctx.now)


async def run_chart_job(db: Database, config: Config, job: dict, now: datetime,
                        send: Callable[[list[Outgoing]], Awaitable[None]]) -> None:
    """Draw a digest's chart and send it: in a thread, holding no transaction (drawing takes
    about half a second, and the database is everyone's)."""
    async with db.read() as tx:
        contact = await tx.contacts.get(job["contact_id"]) if job["contact_id"] else None
    t = config.translator(contact.language if contact else None)
    params = job["params"]
    path = await asyncio.to_thread(charts.digest_chart, t, params["sent"],
                                   [tuple(w) for w in params["weekly"]], config.files_dir,
                                   datetime.fromisoformat(params["now"]), params.get("kinds"))
    await send([Outgoing(job["channel"], job["chat_id"], Reply("", (), (
        Attachment("photo", "", "baocao.png", str(path)),)), job["contact_id"])])


def _slots(config: Config, local: datetime, hour: int) -> list[tuple[str, timedelta, bool]]:
    """The digest slots due now for someone who takes them at `hour`: (key, span, chart)."""
    programme = config.programme
    if not programme.is_working_day(local.date()) or local.time() < time(hour, 0) or \
            local.time() >= programme.working_hours.end:
        return []
    slots = [(f"daily:{local.date().isoformat()}", timedelta(days=1), False)]
    if local.weekday() == 0 or not any(programme.is_working_day(local.date() - timedelta(days=n))
                                       for n in range(1, local.weekday() + 1)):
        year, week, _ = local.isocalendar()
        slots.append((f"weekly:{year}-W{week:02d}", timedelta(days=7), True))
    return slots


async def tick(tx: Tx, config: Config, now: datetime) -> list[Outgoing]:
    """Send each coordinator the digests due now that they take (daily only if anything new)."""
    local = now.astimezone(config.zone)
    if not _slots(config, local, min(DIGEST_HOURS)):
        return []
    out = []
    # A slot's digest depends only on the language: made once per tick for all who take it.
    made: dict[tuple[str, str], tuple[Reply, dict | None] | None] = {}
    for contact, identity in await tx.contacts.reachable_identities(roles=list(DIGEST_TAKERS)):
        prefs = await tx.contacts.digest_preferences(contact.id)
        for key, span, with_chart in _slots(config, local, prefs["hour"]):
            kind = key.split(":")[0]
            if not prefs[kind]:
                continue
            if not await tx.tracking.first_notification(f"digest:{contact.id}:{key}", "digest",
                                                        now):
                continue
            t = config.translator(contact.language)
            if (t.language, key) not in made:
                made[(t.language, key)] = await digest(tx, config, t, now, now - span,
                                                       with_chart)
            found = made[(t.language, key)]
            if found is not None:
                reply, chart = found
                out.append(Outgoing(identity.channel, identity.chat_id, reply, contact.id))
                if chart is not None:
                    await tx.jobs.add("chart", chart, contact.id, identity.channel,
                                      identity.chat_id, now)
    return out


# ---------------------------------------------------------------------------------------------
# /settings

async def _settings(ctx: Ctx, _args: str) -> None:
    t = ctx.t
    each = await ctx.tx.contacts.notify_each_report(ctx.contact.id)
    prefs = await ctx.tx.contacts.digest_preferences(ctx.contact.id)

    def mark(on: bool) -> str:
        return "✅" if on else "⬜"

    each_line = [f"{mark(each)} " + t._("each new report as it arrives")]
    each_choice = [Choice(f"set:each:{'off' if each else 'on'}",
                          t._("Stop each report") if each else t._("Each new report"))]
    if ctx.role not in COORDINATORS:  # each report goes to coordinators only
        each_line, each_choice = [], []
    lines = [t._("<b>Notifications</b>"), *each_line,
             f"{mark(prefs['daily'])} " + t._("a daily digest on working days, when there is "
                                              "something new"),
             f"{mark(prefs['weekly'])} " + t._("a weekly digest with a chart on Monday"),
             t._("Digests arrive at {hour}:00.").format(hour=f"{prefs['hour']:02d}")]
    ctx.reply("\n".join(lines), [
        *each_choice,
        Choice(f"set:daily:{'off' if prefs['daily'] else 'on'}",
               t._("Stop daily digest") if prefs["daily"] else t._("Daily digest")),
        Choice(f"set:weekly:{'off' if prefs['weekly'] else 'on'}",
               t._("Stop weekly digest") if prefs["weekly"] else t._("Weekly digest")),
        *(Choice(f"set:hour:{hour}", t._("At {hour}:00").format(hour=f"{hour:02d}"))
          for hour in DIGEST_HOURS if hour != prefs["hour"])])


@callback("set", DIGEST_TAKERS)
async def _set(ctx: Ctx, rest: str) -> None:
    what, _, value = rest.partition(":")
    hour = parse_id(value, 0, 23)
    if what == "hour" and hour in DIGEST_HOURS:
        await ctx.tx.contacts.set_digest_hour(ctx.contact.id, hour)
        await _settings(ctx, "")
        return
    if what not in ("each", "daily", "weekly") or value not in ("on", "off") or (
            what == "each" and ctx.role not in COORDINATORS):
        ctx.reply(ctx.t._("This button is not valid."))
        return
    if what == "each":
        await ctx.tx.contacts.set_notify_each_report(ctx.contact.id, value == "on")
    else:
        await ctx.tx.contacts.set_digest_preference(ctx.contact.id, what, value == "on")
    await _settings(ctx, "")


action(Action("status", N_("Status"), N_("completeness of the current period, overdue units"),
              DESK, _status, aliases=("tiendo",), private_data=True))
action(Action("digest", N_("Digest now"), N_("the digest of the last 7 days, with a chart"),
              DESK, _digest_now, aliases=("tonghop",), private_data=True))
action(Action("settings", N_("Notifications"), N_("each new report, daily and weekly digests, "
                                                  "their hour"),
              DIGEST_TAKERS, _settings, aliases=("caidat",)))
