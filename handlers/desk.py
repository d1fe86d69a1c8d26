"""The coordinator's desk: completeness at a glance (/status), digests on a schedule (/digest,
/settings) with a chart.

A digest slot ("daily:2026-03-10", "weekly:2026-W11") is recorded per coordinator when sent, so
it never goes twice; after downtime only the latest slot is sent.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta

from handlers import charts
from handlers.admin import kind_counts, kind_rank, unit_kind_label
from handlers.context import Config, Ctx
from handlers.core import Action, action, callback
from handlers.kinds import KINDS, Dated
from handlers.periods import Period
from handlers.programme import Obligation
from handlers.reminders import COORDINATING, current_obligations, in_view, missing_choice, owed
from handlers.reports import period_figures
from handlers.text import esc, parse_id
from handlers.types import Attachment, Choice, Outgoing, Reply
from handlers.units import counted_name, rolled_up
from locales.i18n import N_, Translator
from storage.db import Database
from storage.models import Role, Unit
from storage.repos import Tx
from storage.tracking import Tally, UnitStatus

DESK = frozenset({Role.COORDINATOR, Role.LEADER, Role.ADMIN})
# Admins have the coordinator's views (README), their notifications included.
COORDINATORS = frozenset({Role.COORDINATOR, Role.ADMIN})
# Who may take digests (leaders choose to; they are off for them until then).
DIGEST_TAKERS = COORDINATORS | {Role.LEADER}
DIGEST_HOURS = (8, 10, 13, 16)  # the times a coordinator can choose, all in working hours
APART_LISTED = 10  # units named on a line of /status or a digest; the rest as "…"


# ---------------------------------------------------------------------------------------------
# Completeness

@dataclass(frozen=True)
class Completeness:
    """One obligation's period as the desk shows it: every unit that owes it, with its status,
    and the units that sent it without owing it (they ceased to exist before the deadline;
    with a roll-up, only those whose history no unit that owes it carries on)."""

    obligation: Obligation
    period: Period
    deadline: date
    statuses: list[UnitStatus]
    apart: list[Unit]


async def statuses_of(tx: Tx, config: Config, obligation: Obligation, period: Period,
                      deadline: date, roll_up: bool = False,
                      units: list[Unit] | None = None) -> Completeness:
    """The status of every unit that owes the obligation's period. By default each report
    counts for the unit that sent it. With `roll_up`, a unit that owes it counts as sent when
    it, or a unit whose history it carries on (merged or renamed into it, see
    handlers.units.rolled_up), sent a satisfying report: so a merger in the middle of a period
    does not make the new unit look overdue for what the old ones already sent."""
    due = owed(config, obligation, period, deadline)
    statuses = await tx.tracking.status(due)
    sent = await tx.tracking.first_sent(due)
    owing = {s.unit_id for s in statuses}
    units = units if units is not None else await tx.units.list()
    by_id = {u.id: u for u in units}
    ended = _ended(sent, by_id, obligation, deadline)
    if not roll_up:
        apart = sorted((by_id[i] for i in ended), key=lambda u: u.code)
        return Completeness(obligation, period, deadline, statuses, apart)
    targets = rolled_up(units)
    earliest: dict[int, datetime] = {}
    apart_by_id: dict[int, Unit] = {}
    for unit_id, at in sent.items():
        target = targets.get(unit_id)
        if target is not None and target.id in owing:
            earliest[target.id] = min(at, earliest.get(target.id, at))
        elif unit_id in ended and target is not None:  # split or retired: no unit owes it
            apart_by_id[target.id] = target
    rolled = []
    for status in statuses:
        carried = earliest.get(status.unit_id)
        if carried is not None and (status.first_at is None or carried < status.first_at):
            status = replace(status, first_at=carried,
                             on_time=status.on_time or carried < due.on_time_before)
        rolled.append(status)
    apart = sorted(apart_by_id.values(), key=lambda u: u.code)
    return Completeness(obligation, period, deadline, rolled, apart)


def _ended(sent: dict[int, datetime], by_id: dict[int, Unit], obligation: Obligation,
           deadline: date) -> set[int]:
    """Of the units that sent it, those of the kinds that owe it which ceased to exist before
    the deadline (so they do not owe it)."""
    return {i for i in sent if i in by_id and by_id[i].kind in obligation.unit_kinds
            and (end := by_id[i].valid_to) is not None and end < deadline}


async def completeness(tx: Tx, config: Config, today: date, year: int | None = None,
                       roll_up: bool = False) -> list[Completeness]:
    """Each obligation's current period (or its period in `year`), with every unit's status
    (rolled up to successors if asked, see statuses_of)."""
    programme = config.programme
    moved = await tx.tracking.moved_deadlines()
    units = await tx.units.list()
    found: list[Completeness] = []
    for obligation in programme.obligations:
        if year is not None and obligation.period == "annual" and (
                period := programme.period(str(year))) is not None:
            deadline = moved.get((obligation.id, period.key),
                                 programme.deadline(obligation, period))
        else:
            period, deadline = await in_view(tx, config, obligation, today, moved)
        found.append(await statuses_of(tx, config, obligation, period, deadline, roll_up,
                                       units))
    return found


@dataclass(frozen=True)
class Counted:
    """One obligation's period as the digests show it: the units that owe it counted per kind
    (see Completeness), and the units that sent it without owing it."""

    obligation: Obligation
    period: Period
    tallies: list[Tally]
    apart: list[Unit]


async def counted(tx: Tx, config: Config, today: date, roll_up: bool = False) -> list[Counted]:
    """Each obligation's current period counted per kind of unit: the digests' figures. By
    default counted in SQL, without a row per unit; rolled up to successors, from
    completeness's statuses (the roll-up is worked out unit by unit)."""
    if roll_up:
        return [Counted(found.obligation, found.period, _tallies_of(found.statuses),
                        found.apart)
                for found in await completeness(tx, config, today, roll_up=True)]
    moved = await tx.tracking.moved_deadlines()
    by_id: dict[int, Unit] | None = None
    found = []
    for obligation in config.programme.obligations:
        period, deadline = await in_view(tx, config, obligation, today, moved)
        due = owed(config, obligation, period, deadline)
        sent = await tx.tracking.first_sent(due)
        if sent and by_id is None:  # only when some unit sent it without owing it
            by_id = {u.id: u for u in await tx.units.list()}
        units = by_id or {}
        apart = sorted((units[i] for i in _ended(sent, units, obligation, deadline)),
                       key=lambda u: u.code)
        found.append(Counted(obligation, period, await tx.tracking.tally(due), apart))
    return found


def _tallies_of(statuses: list[UnitStatus]) -> list[Tally]:
    """The per-kind counts of a list of statuses (as tracking.tally counts them)."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for status in statuses:
        row = counts[status.kind]
        row[0] += 1
        row[1] += status.first_at is not None
        row[2] += status.on_time
    return [Tally(kind, *row) for kind, row in sorted(counts.items())]


def _apart_line(t: Translator, found: Completeness | Counted, roll_up: bool) -> str | None:
    """The units that sent it without owing it, named: their reports are theirs (by default),
    or history no unit of today carries on alone (a roll-up: split or retired units)."""
    if not found.apart:
        return None
    names = "; ".join(esc(counted_name(t, u) if roll_up else u.name)
                      for u in found.apart[:APART_LISTED])
    more = "; …" if len(found.apart) > APART_LISTED else ""
    if roll_up:
        return t._("Counted apart (units split or retired): {list}").format(list=names + more)
    return t._("Also sent by units that no longer exist: {list}").format(list=names + more)


def _rates(t: Translator, statuses: list[UnitStatus]) -> str:
    return _rate_line(t, len(statuses), sum(1 for s in statuses if s.first_at),
                      sum(1 for s in statuses if s.on_time))


def _rate_line(t: Translator, expected: int, sent: int, on_time: int) -> str:
    rate = sent / expected * 100 if expected else 0
    on_time_rate = on_time / expected * 100 if expected else 0
    return t._("{sent}/{expected} units sent ({rate}%), {on_time} on time ({on_time_rate}%)"
               ).format(sent=t.number(sent), expected=t.number(expected),
                        rate=t.number(round(rate, 1)), on_time=t.number(on_time),
                        on_time_rate=t.number(round(on_time_rate, 1)))


async def _status(ctx: Ctx, args: str) -> None:
    await show_status(ctx, parse_id(args.strip(), 2000, 2100))


async def show_status(ctx: Ctx, year: int | None, roll_up: bool = False) -> None:
    """Completeness by default under the unit that sent each report; with `roll_up`, a unit
    that ceased to exist counts under the unit that carries on its work (a button toggles)."""
    t = ctx.t
    names = await ctx.tx.units.kinds()
    lines = [t._("<b>Reporting status</b> · {day}").format(day=t.date(ctx.today))]
    if roll_up:
        lines.append(t._("Units that ceased to exist are counted under their successors."))
    choices = []
    r = "r" if roll_up else ""
    for found in await completeness(ctx.tx, ctx.config, ctx.today, year, roll_up):
        obligation, period, deadline, statuses = (found.obligation, found.period,
                                                  found.deadline, found.statuses)
        lines.append(f"\n<b>{esc(obligation.label(t.language))}</b> · {esc(period.label(t))} · "
                     + t._("deadline {day}").format(day=t.date(deadline)))
        lines.append(_rates(t, statuses))
        if KINDS[obligation.report].dated is Dated.PERIOD:  # the figures it will carry, so far
            figures = await period_figures(ctx.tx, period)
            # Not the breakdowns by option (dissemination forms): the spreadsheet has those.
            lines.append(t._("From the reports so far: {figures}").format(figures="; ".join(
                f"{t._(f.label)}: {t.number(figures[f.key])}" for kind in KINDS.values()
                for f in kind.figures if f.option is None)))
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
        apart = _apart_line(t, found, roll_up)
        if apart:
            lines.append(apart)
        if missing:
            lines.append(t._("Missing: {list}").format(list=kind_counts(t, missing, names)))
            choices.append(missing_choice(ctx.config, t, obligation, period, roll_up))
    ages = await ctx.tx.difficulties.waiting_ages(ctx.now)
    lines.append("\n" + t._("<b>Difficulties waiting for an answer</b>: under a week {a}, 1-4 "
                            "weeks {b}, over 4 weeks {c}").format(a=ages[0], b=ages[1],
                                                                  c=ages[2]))
    this_year = int(ctx.today.year if ctx.today.month < 12 or ctx.today.day < 15
                    else ctx.today.year + 1)
    choices += [Choice(f"st:{r}year:{y}", t._("Year {year}").format(year=y))
                for y in (this_year, this_year - 1)]
    choices.append(Choice(f"st:own:{year or ''}", t._("Under the units that sent"))
                   if roll_up else
                   Choice(f"st:roll:{year or ''}", t._("Under successors")))
    ctx.reply("\n".join(lines), choices)


@callback("st", DESK, private_data=True)
async def _status_button(ctx: Ctx, rest: str) -> None:
    what, _, target = rest.partition(":")
    # The same views rolled up to successors (see show_status): ryear, rmiss, roll.
    roll_up = what in ("ryear", "rmiss", "roll")
    what = {"ryear": "year", "rmiss": "miss", "roll": "view", "own": "view"}.get(what, what)
    year = parse_id(target, 2000, 2100)
    if what == "year" and year is not None or what == "view" and (year or target == ""):
        await show_status(ctx, year, roll_up)
        return
    programme = ctx.config.programme
    found = programme.by_ref(target) if what == "miss" else None
    if found is None:
        ctx.reply(ctx.t._("This button is not valid."))
        return
    obligation, period = found
    moved = await ctx.tx.tracking.moved_deadlines()
    deadline = moved.get((obligation.id, period.key), programme.deadline(obligation, period))
    statuses = (await statuses_of(ctx.tx, ctx.config, obligation, period, deadline,
                                  roll_up)).statuses
    t = ctx.t
    lines = [t._("<b>Not yet sent</b>: {name}, {period}").format(
        name=esc(obligation.label(t.language)), period=esc(period.label(t)))]
    by_kind = defaultdict(list)
    for status in statuses:
        if not status.first_at and not status.ended_before(ctx.today):
            by_kind[status.kind].append(status)
    names = await ctx.tx.units.kinds()
    # In the order of the units file's kinds, as the counts of /status and the escalations.
    for kind, items in sorted(by_kind.items(), key=lambda item: kind_rank(names, item[0])):
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

async def digest(tx: Tx, config: Config, t: Translator, now: datetime, since: datetime,
                 with_chart: bool, roll_up: bool = False) -> tuple[Reply, dict | None] | None:
    """What happened since `since`, and where the current period stands, with the data of its
    chart if asked (the chart is drawn later, by a job); None if nothing new. With `roll_up`
    (the reader's choice in /settings), completeness counts a unit that ceased to exist under
    the unit that carries on its work, as /status can."""
    today = now.astimezone(config.zone).date()
    counts = await tx.reports.counts_since(since)
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
    for declared in KINDS.values():  # the kinds whose reports it names (kinds.Listing)
        listing = declared.listing
        if listing is None or listing.digest is None:
            continue
        named = await tx.reports.received_since(declared.id, since)
        if named:
            lines.append(t._(listing.digest))
            lines += [f"• {esc(str(answers.get(listing.named_by) or ''))} ({esc(unit)})"
                      for answers, unit in named]
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
    current = await counted(tx, config, today, roll_up)
    if roll_up:
        lines.append(t._("Units that ceased to exist are counted under their successors."))
    for found in current:
        lines.append(f"{esc(found.obligation.label(t.language))} · "
                     f"{esc(found.period.label(t))}: "
                     + _rate_line(t, sum(c.expected for c in found.tallies),
                                  sum(c.sent for c in found.tallies),
                                  sum(c.on_time for c in found.tallies)))
        apart = _apart_line(t, found, roll_up)
        if apart:
            lines.append(apart)
    chart = None
    if with_chart:
        chart = {"sent": charts.sent_by_kind(current), "now": now.isoformat(), "kinds": names,
                 "weekly": await tx.reports.weekly_counts(now - timedelta(weeks=8))}
    return Reply("\n".join(lines)), chart


async def _digest_now(ctx: Ctx, _args: str) -> None:
    prefs = await ctx.tx.contacts.digest_preferences(ctx.contact.id)
    found = await digest(ctx.tx, ctx.config, ctx.t, ctx.now, ctx.now - timedelta(days=7), True,
                         bool(prefs["roll_up"]))
    assert found is not None  # asked with a chart, there always is a digest
    reply, chart = found
    assert chart is not None
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
    # A slot's digest depends only on the language and the roll-up choice: made once per tick
    # for all who take it so.
    made: dict[tuple[str, str, bool], tuple[Reply, dict | None] | None] = {}
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
            made_key = (t.language, key, bool(prefs["roll_up"]))
            if made_key not in made:
                made[made_key] = await digest(tx, config, t, now, now - span, with_chart,
                                              bool(prefs["roll_up"]))
            found = made[made_key]
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
             f"{mark(bool(prefs['daily']))} " + t._("a daily digest on working days, when there is "
                                              "something new"),
             f"{mark(bool(prefs['weekly']))} " + t._("a weekly digest with a chart on Monday"),
             t._("Digests arrive at {hour}:00.").format(hour=f"{prefs['hour']:02d}"),
             t._("Digests count units that ceased to exist under their successors.")
             if prefs["roll_up"] else
             t._("Digests count each report under the unit that sent it.")]
    ctx.reply("\n".join(lines), [
        *each_choice,
        Choice(f"set:daily:{'off' if prefs['daily'] else 'on'}",
               t._("Stop daily digest") if prefs["daily"] else t._("Daily digest")),
        Choice(f"set:weekly:{'off' if prefs['weekly'] else 'on'}",
               t._("Stop weekly digest") if prefs["weekly"] else t._("Weekly digest")),
        *(Choice(f"set:hour:{hour}", t._("At {hour}:00").format(hour=f"{hour:02d}"))
          for hour in DIGEST_HOURS if hour != prefs["hour"]),
        Choice(f"set:roll_up:{'off' if prefs['roll_up'] else 'on'}",
               t._("Digests by sending unit") if prefs["roll_up"] else
               t._("Digests under successors"))])


@callback("set", DIGEST_TAKERS)
async def _set(ctx: Ctx, rest: str) -> None:
    what, _, value = rest.partition(":")
    hour = parse_id(value, 0, 23)
    if what == "hour" and hour in DIGEST_HOURS:
        await ctx.tx.contacts.set_digest_hour(ctx.contact.id, hour)
        await _settings(ctx, "")
        return
    if what not in ("each", "daily", "weekly", "roll_up") or value not in ("on", "off") or (
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
