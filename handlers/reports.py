"""Report forms for everything the letter asks units to report, with review and edit history.

```mermaid
stateDiagram-v2
    [*] --> received: officer submits (number BC-YYYY-NNNN)
    received --> approved: coordinator approves
    received --> needs_correction: coordinator sends back with a note
    needs_correction --> received: officer corrects (previous version kept)
    received --> received: officer edits (previous version kept)
    approved --> [*]: no more edits
```
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from handlers import forms, periods
from handlers.access import ROLE_NAMES
from handlers.context import Ctx
from handlers.core import Action, action, callback, start_form
from handlers.difficulties import unit_difficulty_lines
from handlers.forms import Form
from handlers.kinds import FIGURES as FIGURES
from handlers.kinds import KINDS, PERIODIC, Dated, ReportKind, evidence, text_question
from handlers.programme import RECURRING
from handlers.text import esc, parse_id, person
from handlers.types import Attachment, Choice, Reply
from locales.i18n import N_, Translator
from storage.models import Role
from storage.reports import Report, ReportStatus, Totals
from storage.repos import Tx

OFFICERS = frozenset({Role.OFFICER})
REVIEWERS = frozenset({Role.COORDINATOR, Role.ADMIN})
READERS = frozenset({Role.COORDINATOR, Role.LEADER, Role.ADMIN})
EVERYONE = frozenset(Role)

STATUS_LABELS = {ReportStatus.RECEIVED: N_("received"),
                 ReportStatus.NEEDS_CORRECTION: N_("needs correction"),
                 ReportStatus.APPROVED: N_("approved")}

def _form(kind: ReportKind) -> Form:
    async def submit(ctx: Ctx, answers: dict, params: dict) -> None:
        await submit_report(ctx, kind, answers, params)

    return forms.register(Form(id=f"report_{kind.id}", title=kind.title, roles=OFFICERS,
                               submit=submit, questions=(*kind.questions, evidence())))


# The form of each report kind.
FORM_OF: dict[str, Form] = {kind.id: _form(kind) for kind in KINDS.values()}


def kind_label(ctx: Ctx, kind: str) -> str:
    return ctx.t._(KINDS[kind].title) if kind in KINDS else kind


def status_label(ctx: Ctx, status: ReportStatus) -> str:
    return ctx.t._(STATUS_LABELS[status])


# ---------------------------------------------------------------------------------------------
# Starting a report

async def _report(ctx: Ctx, _args: str) -> None:
    t = ctx.t
    choices = [Choice(f"rk:{kind}", t._(form.title)) for kind, form in KINDS.items()]
    ctx.reply(t._("What would you like to report?"), choices)


@callback("rk", OFFICERS)
async def _pick_kind(ctx: Ctx, kind: str) -> None:
    if kind not in KINDS:
        ctx.reply(ctx.t._("This button is not valid."))
        return
    if not await ctx.go_private():
        return
    if KINDS[kind].dated is Dated.PERIOD:
        found = _periodic_options(ctx)
        ctx.reply(periods.offered(ctx.t, ctx.t._("For which period?"), found),
                  [Choice(f"rp:{p.key}", p.short_label(ctx.t)) for p in found])
        return
    await start_form(ctx, FORM_OF[kind])


def _periodic_options(ctx: Ctx) -> list[periods.Period]:
    """The periods a periodic report can be for: this reporting year and the one before, if
    the programme had begun."""
    current = periods.year_of(ctx.today)
    return [p for p in (current, periods.year(int(current.key) - 1))
            if p.end >= ctx.config.programme_start]


def _programme_period(ctx: Ctx, key: str) -> periods.Period | None:
    """The period of `key` if a periodic report can be for it: one offered by /report, or a
    period of one of the programme's periodic obligations that has begun. A forged button with
    any other period (any year from 2000 to 2100 parses) is refused."""
    offered = next((p for p in _periodic_options(ctx) if p.key == key), None)
    if offered is not None:
        return offered
    programme = ctx.config.programme
    period = programme.period(key)
    if period is None or period.start > ctx.today or period.end < ctx.config.programme_start:
        return None
    for obligation in programme.obligations:
        if KINDS[obligation.report].dated is not Dated.PERIOD:
            continue
        if obligation.period not in RECURRING:
            if obligation.period == key:
                return period
        elif periods.of(obligation.period, period.start).key == key and (
                obligation.first_year is None or int(key[:4]) >= obligation.first_year):
            return period
    return None


@callback("rp", OFFICERS)
async def _pick_period(ctx: Ctx, key: str) -> None:
    """Open the periodic report with the figures totalled from the unit's own reports."""
    period = _programme_period(ctx, key)
    if period is None or ctx.contact.unit_id is None:
        ctx.reply(ctx.t._("This button is not valid."))
        return
    figures = await period_figures(ctx.tx, period, ctx.contact.unit_id)
    intro = ctx.t._("The figures for {period} were totalled from your unit's reports. Check them "
                    "in the summary at the end and change any that is not right.").format(
        period=period.label(ctx.t))
    await forms.start(ctx, FORM_OF[PERIODIC.id], {"period": period.key}, figures, intro)


async def period_figures(tx: Tx, period: periods.Period, unit_id: int | None = None,
                         approved_only: bool = False) -> dict[str, int]:
    """The FIGURES of a period counted from the activity reports (of one unit, or of all);
    `approved_only` counts only approved reports (the compiled report's default)."""
    return figures_of(await tx.reports.activity_totals(unit_id, period.start, period.end,
                                                       approved_only, **_ASKED))


async def period_figures_by_unit(tx: Tx, period: periods.Period, approved_only: bool = False
                                 ) -> dict[int, dict[str, int]]:
    """period_figures of every unit that reported in the period, at once."""
    found = await tx.reports.activity_totals_by_unit(period.start, period.end, approved_only,
                                                     **_ASKED)
    return {unit_id: figures_of(totals) for unit_id, totals in found.items()}


# What storage sums and counts by option for the figures: (kind, answer) pairs.
_ASKED = {
    "sums": sorted({(k.id, f.answer) for k in KINDS.values() for f in k.figures
                    if f.answer and not f.option}),
    "options": sorted({(k.id, f.answer) for k in KINDS.values() for f in k.figures
                       if f.answer and f.option})}


def figures_of(totals: Totals) -> dict[str, int]:
    """Each kind's figures from the totals storage counted."""
    figures = {}
    for kind in KINDS.values():
        for f in kind.figures:
            if f.answer is None:
                figures[f.key] = totals.by_kind.get(kind.id, 0)
            elif f.option is None:
                figures[f.key] = totals.sums.get((kind.id, f.answer), 0)
            else:
                figures[f.key] = totals.options.get((kind.id, f.answer), {}).get(f.option, 0)
    return figures


# ---------------------------------------------------------------------------------------------
# Submitting and editing

async def submit_report(ctx: Ctx, kind: ReportKind, answers: dict, params: dict) -> None:
    """Store a confirmed form as a new report, or as a new version of the one being edited."""
    t, tx = ctx.t, ctx.tx
    answers = dict(answers)
    # Files keep the channel they came from (a Telegram file id means nothing on Zalo).
    evidence = [dict(a, channel=a.get("channel") or ctx.event.channel)
                for a in answers.pop("evidence", None) or []]
    # The day a report counts on (see Dated); an edit keeps the day it was first reported.
    report = await tx.reports.get(params["report_id"]) if params.get("report_id") else None
    day = (kind.day(answers) if kind.dated is not Dated.REPORTED
           else report.activity_date if report else ctx.today)
    # A report dated by period names it; an activity counts towards the year of its date.
    period_key = (params.get("period") if kind.dated is Dated.PERIOD
                  else periods.year_of(day).key if day else None)
    if params.get("report_id"):
        if report is None or report.unit_id != ctx.contact.unit_id:
            ctx.reply(t._("This report is not available to you."))
            return
        if report.status is ReportStatus.APPROVED:
            ctx.reply(t._("Report {number} has been approved, so it can no longer be changed.")
                      .format(number=report.number))
            return
        was = report.status
        report = await tx.reports.update_answers(report, answers, evidence, ctx.contact.id,
                                                 ctx.event.channel, ctx.now, day, period_key)
        ctx.reply(t._("Report {number} was updated (version {version}). The previous version "
                      "is kept.").format(number=report.number, version=report.version))
        await notify_reviewers(ctx, report, corrected=was is ReportStatus.NEEDS_CORRECTION)
    else:
        assert ctx.contact.unit_id is not None  # report forms are for officers, each of one unit
        report = await tx.reports.create(
            unit_id=ctx.contact.unit_id, contact_id=ctx.contact.id, kind=kind.id,
            period_key=period_key, activity_date=day, answers=answers, attachments=evidence,
            channel=ctx.event.channel, now=ctx.now, local_year=ctx.today.year)
        period = periods.parse(period_key) if period_key else None
        text = t._("Thank you. Report <b>{number}</b> was received.").format(number=report.number)
        if period:
            text += "\n" + t._("It counts towards {period}.").format(period=period.label(t))
        ctx.reply(text, [Choice(f"r:open:{report.id}", t._("View the report")),
                         Choice("m:report", t._("Another report"))])
        await notify_reviewers(ctx, report, corrected=False)


async def notify_reviewers(ctx: Ctx, report: Report, corrected: bool) -> None:
    """One compact message with review buttons to every coordinator who takes each report,
    and to the coordinators' group."""
    recipients = await ctx.tx.contacts.reachable_identities(roles=list(REVIEWERS),
                                                            each_report=True)
    targets: list[tuple[str, str, int | None, str]] = [
        (identity.channel, identity.chat_id, contact.id, contact.language)
        for contact, identity in recipients]
    if ctx.config.coordinator_chat_id:
        targets.append(("telegram", ctx.config.coordinator_chat_id, None,
                        ctx.config.default_locale))
    for channel, chat_id, contact_id, language in targets:
        t = ctx.translator_for(language)
        head = (t._("✏️ Corrected report {number}") if corrected
                else t._("📄 New report {number}")).format(number=report.number)
        text = f"<b>{head}</b>\n{esc(report.unit_name)} · {t._(KINDS[report.kind].title)}"
        if report.activity_date:
            text += f" · {t.date(report.activity_date)}"
        gist = _gist(report)
        if gist:
            text += f"\n{esc(gist)}"
        ctx.send(channel, chat_id, contact_id, Reply(text, (
            Choice(f"r:open:{report.id}", t._("Open")),
            Choice(f"rv:ok:{report.id}", t._("Approve")),
            Choice(f"rv:back:{report.id}", t._("Send back")))))


def _gist(report: Report) -> str:
    """The first words of the report's main text, for a one-line notification."""
    for key in ("title", "name", "summary", "results", "findings"):
        if report.answers.get(key):
            text = str(report.answers[key])
            return text if len(text) <= 120 else text[:117] + "…"
    return ""


# ---------------------------------------------------------------------------------------------
# Viewing

async def _readable(ctx: Ctx, report_id: str) -> Report | None:
    """The report if this person may see it: officers their own unit's, others all."""
    number = parse_id(report_id)
    report = await readable(ctx, number) if number is not None else None
    if report is None:
        await ctx.refuse(ctx.t._("This report is not available to you."))
        return None
    return report


def _status_line(ctx: Ctx, report: Report) -> str:
    return ctx.t._("Status: {status} · version {version}").format(
        status=status_label(ctx, report.status), version=report.version)


async def open_report(ctx: Ctx, report: Report) -> None:
    t = ctx.t
    lines = [f"<b>{report.number}</b> · {t._(KINDS[report.kind].title)}",
             esc(report.unit_name), _status_line(ctx, report)]
    period = periods.parse(report.period_key) if report.period_key else None
    if period:
        lines.append(t._("Counts towards {period}.").format(period=period.label(t)))
    if report.status is ReportStatus.NEEDS_CORRECTION:
        note = next((e.note for e in reversed(await ctx.tx.reports.events(report.id))
                     if e.kind == ReportStatus.NEEDS_CORRECTION.value), None)
        if note:
            lines.append(t._("Note from the {body}: {note}").format(
                note=esc(note), body=ctx.config.body(t)))
    lines.append("")
    form = FORM_OF[report.kind]
    lines += forms.summary_lines(ctx.t, form, report.answers, skip={"evidence"})
    files = await ctx.tx.reports.attachments(report.id)
    if files:
        lines.append(t.ngettext("{n} file of evidence follows.", "{n} files of evidence follow.",
                                len(files)).format(n=len(files)))
    choices = []
    if ctx.role is Role.OFFICER and report.status is not ReportStatus.APPROVED:
        choices.append(Choice(f"r:edit:{report.id}", t._("Edit")))
    if ctx.role in REVIEWERS and report.status is not ReportStatus.APPROVED:
        choices.append(Choice(f"rv:ok:{report.id}", t._("Approve")))
    if ctx.role in REVIEWERS and report.status is ReportStatus.RECEIVED:
        choices.append(Choice(f"rv:back:{report.id}", t._("Send back")))
    if ctx.role in READERS and report.version > 1:
        choices.append(Choice(f"r:hist:{report.id}", t._("Edit history")))
    attachments = tuple(Attachment(f["kind"], f["file_id"], f["name"]) for f in files
                        if f["channel"] == ctx.event.channel)
    ctx.reply("\n".join(lines), choices, attachments)


async def _history(ctx: Ctx, report: Report) -> None:
    t = ctx.t
    versions = await ctx.tx.reports.versions(report.id)
    if not versions:  # the button shows only after an edit, but data can be forged
        ctx.reply(t._("Report {number} has not been changed since it was sent.").format(
            number=report.number))
        return
    form = FORM_OF[report.kind]
    labels = {q.key: t._(q.label) for q in form.questions}
    lines = [t._("<b>Edit history of {number}</b>").format(number=report.number)]
    following = [v.answers for v in versions[1:]] + [report.answers]
    for version, after in zip(versions, following, strict=True):
        changed = [labels.get(k, k) for k in sorted(set(version.answers) | set(after))
                   if version.answers.get(k) != after.get(k)]
        lines.append(t._("Version {n} was replaced on {when} by {who}; changed: {fields}.").format(
            n=version.version, when=t.datetime(version.changed_at), who=esc(person(
                t, version.changer_name, version.changer_erased, version.changer_unit)),
            fields=esc(", ".join(changed) or "—")))
        if changed:
            before = {k: v for k, v in version.answers.items()}
            lines += ["  " + line for line in forms.summary_lines(ctx.t, form, before)
                      if any(line.startswith(f"<b>{label}</b>") for label in changed)]
    ctx.reply("\n".join(lines))


@callback("r", EVERYONE)
async def _report_button(ctx: Ctx, rest: str) -> None:
    what, _, report_id = rest.partition(":")
    report = await _readable(ctx, report_id)
    if report is None:
        return
    if what in ("open", "hist") and not await ctx.in_private():
        return
    if what == "open":
        await open_report(ctx, report)
    elif what == "hist" and ctx.role in READERS:
        await _history(ctx, report)
    elif what == "edit" and ctx.role is Role.OFFICER:
        if report.status is ReportStatus.APPROVED:
            ctx.reply(ctx.t._("Report {number} has been approved, so it can no longer be "
                              "changed.").format(number=report.number))
            return
        if not await ctx.go_private():
            return
        answers = dict(report.answers)
        answers["evidence"] = [{"kind": f["kind"], "file_id": f["file_id"], "name": f["name"],
                                "channel": f["channel"]}
                               for f in await ctx.tx.reports.attachments(report.id)] or None
        await forms.start(ctx, FORM_OF[report.kind],
                          {"report_id": report.id, "period": report.period_key}, answers,
                          ctx.t._("Editing report {number}. Choose “Change an answer” to correct "
                                  "it, then Confirm.").format(number=report.number))
    else:
        await ctx.refuse(ctx.t._("Sorry, this is not available for your role ({role}).").format(
            role=ctx.t._(ROLE_NAMES[ctx.role])))


async def _myreports(ctx: Ctx, args: str) -> None:
    """The unit's latest reports and open difficulties; `/myreports WORDS` searches them."""
    t = ctx.t
    if ctx.contact.unit_id is None:
        ctx.reply(t._("You are not attached to a unit."))
        return
    if args.strip():
        query = _parse_query(ctx, args)
        await list_reports(ctx, query)
        return
    reports = await ctx.tx.reports.search(unit_id=ctx.contact.unit_id, limit=PAGE + 1)
    open_lines, open_choices = await unit_difficulty_lines(ctx)
    if not reports and not open_lines:
        ctx.reply(t._("Your unit has no reports yet."), [Choice("m:report", t._("New report"))])
        return
    ctx.state.reports_query = {"unit": ctx.contact.unit_id}
    shown = reports[:PAGE]
    lines = [t._("<b>Your unit's latest reports</b>")]
    lines += [_report_line(ctx, r) for r in shown] or [t._("None yet.")]
    if open_lines:
        lines += ["", t._("<b>Difficulties not yet resolved</b>"), *open_lines]
    lines.append(t._("To search, send e.g. /myreports 2026-Q1 tuyên truyền (a period and/or "
                     "words)."))
    more = [Choice(f"rq:{shown[-1].id}", t._("Older reports ›"))] if len(reports) > PAGE else []
    ctx.reply("\n".join(lines),
              [Choice(f"r:open:{r.id}", r.number) for r in shown] + more + open_choices)


def _report_line(ctx: Ctx, report: Report) -> str:
    day = ctx.t.date(report.activity_date) if report.activity_date else "—"
    return (f"{report.number} · {ctx.t._(KINDS[report.kind].title)} · {day} · "
            f"{status_label(ctx, report.status)}")


# ---------------------------------------------------------------------------------------------
# Review

PAGE = 10  # reports per page of a listing


def _parse_query(ctx: Ctx, args: str) -> dict:
    """A listing's filters from typed words: a period ("2026", "2026-Q1", a review period's id)
    and the rest as words to find."""
    query: dict = {}
    words = []
    for word in args.split():
        if "period" not in query and (period := ctx.config.programme.period(word)) is not None:
            query["period"] = period.key
        else:
            words.append(word)
    if words:
        query["text"] = " ".join(words)
    return query


async def _reports(ctx: Ctx, args: str) -> None:
    """Latest reports; `/reports WORDS` filters by one unit (its code or a part of its name),
    a period, or words found in the reports."""
    query = _parse_query(ctx, args)
    text = query.get("text", "")
    found = await ctx.tx.units.search(text) if text else []
    # Words naming one unit ("le chan") mean that unit, unless it has no such report: words
    # such as "phát thanh" name a unit (the radio station) and are also what reports say.
    if len(found) == 1:
        by_unit = {**{k: v for k, v in query.items() if k != "text"}, "unit": found[0].id}
        if await _any_report(ctx, by_unit):
            query = by_unit
    await list_reports(ctx, query)


async def _any_report(ctx: Ctx, query: dict) -> bool:
    period = ctx.config.programme.period(query["period"]) if query.get("period") else None
    return bool(await ctx.tx.reports.search(
        unit_id=query.get("unit"), period=(period.key, period.start, period.end)
        if period else None, limit=1))


async def find(ctx: Ctx, query: dict, before: int | None = None, limit: int = PAGE + 1
               ) -> list[Report]:
    """Reports matching `query` (unit, kind, period, unit_kind, status, text), newest first,
    older than `before`. Officers see their own unit's reports only, whatever was asked."""
    if ctx.role is Role.OFFICER:
        query["unit"] = ctx.contact.unit_id
    period = ctx.config.programme.period(query["period"]) if query.get("period") else None
    status = query.get("status")
    return await ctx.tx.reports.search(
        unit_id=query.get("unit"), kind=query.get("kind"), text=query.get("text", ""),
        period=(period.key, period.start, period.end) if period else None, before_id=before,
        limit=limit, unit_kind=query.get("unit_kind"),
        status=ReportStatus(status) if status in set(ReportStatus) else None)


async def readable(ctx: Ctx, report_id: int) -> Report | None:
    """The report if this person may see it (officers: their own unit's), without a word."""
    report = await ctx.tx.reports.get(report_id)
    if report is None or (ctx.role is Role.OFFICER and report.unit_id != ctx.contact.unit_id):
        return None
    return report


async def list_reports(ctx: Ctx, query: dict, before: int | None = None) -> None:
    """One page of reports matching `query` (unit, kind, period, text), older than `before`;
    the query is kept so that "Older reports" turns the page."""
    t = ctx.t
    reports = await find(ctx, query, before)
    period = ctx.config.programme.period(query["period"]) if query.get("period") else None
    ctx.state.reports_query = query
    shown = reports[:PAGE]
    unit = await ctx.tx.units.get(query["unit"]) if query.get("unit") else None
    title = t._("<b>Older reports</b>") if before else t._("<b>Latest reports</b>")
    title += "".join(f" · {part}" for part in (
        esc(unit.name) if unit and ctx.role is not Role.OFFICER else "",
        kind_label(ctx, query["kind"]) if query.get("kind") else "",
        esc(period.label(t)) if period else "",
        f"“{esc(query['text'])}”" if query.get("text") else "") if part)
    lines = [title] + [f"{_report_line(ctx, r)} · {esc(r.unit_code)}" for r in shown]
    if not shown:
        lines.append(t._("No reports match."))
    choices = [Choice(f"r:open:{r.id}", r.number) for r in shown]
    if len(reports) > PAGE:
        choices.append(Choice(f"rq:{shown[-1].id}", t._("Older reports ›")))
    scope = str(query.get("unit") or "")
    if not query.get("kind") and ctx.role in READERS:
        choices += [Choice(f"rf:{scope}:{k}", t._(f.title)) for k, f in KINDS.items()]
    if unit and ctx.role in REVIEWERS and not before:
        year = periods.year_of(ctx.today)
        waiting = await ctx.tx.reports.received_ids(unit.id, year.key)
        if waiting:
            choices.append(Choice(f"rv:all:{unit.id}:{year.key}", t.ngettext(
                "Approve {n} received report ({period})", "Approve all {n} received reports "
                "({period})", len(waiting)).format(n=len(waiting), period=year.label(t))))
    ctx.reply("\n".join(lines), choices)


@callback("rq", EVERYONE, private_data=True)
async def _older(ctx: Ctx, before: str) -> None:
    """The next page of the last listing this person asked for."""
    query = ctx.state.reports_query
    older_than = parse_id(before)
    if query is None or older_than is None:
        ctx.reply(ctx.t._("This button is no longer valid."))
        return
    await list_reports(ctx, dict(query), older_than)


@callback("rf", READERS, private_data=True)
async def _filter(ctx: Ctx, rest: str) -> None:
    unit_id, _, kind = rest.partition(":")
    unit = parse_id(unit_id) if unit_id else None
    if kind not in KINDS or (unit_id and unit is None):
        ctx.reply(ctx.t._("This button is not valid."))
        return
    # The kind narrows the listing on screen (its period and words stay).
    query = {**(ctx.state.reports_query or {}), "kind": kind, "unit": unit}
    await list_reports(ctx, query)


async def _tell_unit(ctx: Ctx, report: Report, text_for: Callable[[Translator], str],
                     choices_for: Callable[[Translator], Iterable[Choice]] = lambda t: (),
                     ) -> None:
    """A message to every reachable officer of the report's unit, each in their language."""
    for contact, identity in await ctx.tx.contacts.reachable_identities(
            roles=[Role.OFFICER], unit_id=report.unit_id):
        t = ctx.translator_for(contact.language)
        ctx.send(identity.channel, identity.chat_id, contact.id,
                 Reply(text_for(t), tuple(choices_for(t))))


async def approve(ctx: Ctx, report: Report) -> bool:
    if report.status is ReportStatus.APPROVED:
        return False
    await ctx.tx.reports.set_status(report.id, ReportStatus.APPROVED, ctx.contact.id, None,
                                    ctx.now)
    await _tell_unit(ctx, report, lambda t: t._("✅ Report {number} was approved by the "
                                                "{body}.").format(
        number=report.number, body=ctx.config.body(t)))
    return True


@callback("rv", REVIEWERS)
async def _review(ctx: Ctx, rest: str) -> None:
    t = ctx.t
    what, _, target = rest.partition(":")
    if what in ("all", "allok"):
        unit_id, _, rest = target.partition(":")
        key, _, last_id = rest.partition(":")
        unit = await ctx.tx.units.get(found) if (found := parse_id(unit_id)) else None
        period = periods.parse(key)
        if unit is None or period is None or (what == "allok" and parse_id(last_id) is None):
            ctx.reply(t._("This button is not valid."))
            return
        waiting = await ctx.tx.reports.received_ids(unit.id, key)
        if what == "all":  # many at once: asked once more, naming what will be approved
            if not waiting:
                ctx.reply(t._("No received reports are waiting."))
                return
            ctx.reply(t.ngettext(
                "Approve {n} received report of {unit} for {period}? The unit will be told.",
                "Approve all {n} received reports of {unit} for {period}? The unit will be "
                "told.", len(waiting)).format(n=len(waiting), unit=esc(unit.name),
                                             period=period.label(t)),
                [Choice(f"rv:allok:{unit.id}:{key}:{waiting[-1]}", t._("Yes, approve"))])
            return
        count = 0  # only those the question named: a report sent since waits for its own look
        for report_id in (i for i in waiting if i <= int(last_id)):
            if (report := await ctx.tx.reports.get(report_id)) is not None:
                count += await approve(ctx, report)
        ctx.reply(t.ngettext("{n} report approved.", "{n} reports approved.", count).format(
            n=count))
        return
    report = await _readable(ctx, target)
    if report is None:
        return
    if report.status is ReportStatus.APPROVED:
        ctx.reply(t._("Report {number} is already approved.").format(number=report.number))
    elif what == "ok":
        await approve(ctx, report)
        ctx.reply(t._("Report {number} approved; the unit was told.").format(
            number=report.number))
    elif what == "back" and report.status is ReportStatus.NEEDS_CORRECTION:
        ctx.reply(t._("Report {number} was already sent back; the unit is correcting it.").format(
            number=report.number))
    elif what == "back":
        if not await ctx.go_private():
            ctx.reply(t._("Please open a private chat with the bot first."))
            return
        await forms.start(ctx, RETURN_NOTE, {"report_id": report.id},
                          intro=t._("Sending back report {number} ({unit}).").format(
                              number=report.number, unit=esc(report.unit_name)))
    else:
        ctx.reply(t._("This button is not valid."))


async def _send_back(ctx: Ctx, answers: dict, params: dict) -> None:
    t = ctx.t
    report = await ctx.tx.reports.get(params["report_id"])
    if report is None or report.status is not ReportStatus.RECEIVED:  # approved, or sent back
        ctx.reply(t._("This report can no longer be sent back."))
        return
    note = answers["note"]
    await ctx.tx.reports.set_status(report.id, ReportStatus.NEEDS_CORRECTION, ctx.contact.id,
                                    note, ctx.now)
    await _tell_unit(
        ctx, report,
        lambda tt: tt._("↩️ Report {number} needs correction. Note from the {body}: "
                        "{note}").format(number=report.number, note=esc(note),
                                         body=ctx.config.body(tt)),
        lambda tt: [Choice(f"r:edit:{report.id}", tt._("Correct the report"))])
    ctx.reply(t._("Report {number} was sent back to {unit} with your note.").format(
        number=report.number, unit=esc(report.unit_name)))


RETURN_NOTE = forms.register(Form(
    id="report_return", title=N_("Send a report back"), roles=REVIEWERS, submit=_send_back,
    confirm=False,
    questions=(text_question("note", N_("Note"), N_("What needs to be corrected? The unit will see "
                                            "this note."), 1000),)))


action(Action("report", N_("New report"), N_("report an activity, a plan, a review or a "
                                             "periodic report"), OFFICERS, _report,
              aliases=("baocao",), private_only=True))
action(Action("myreports", N_("My unit's reports"), N_("your unit's reports and their review "
                                                       "state"), OFFICERS, _myreports,
              aliases=("baocaocuatoi",), private_data=True))
action(Action("reports", N_("Reports"), N_("latest reports; /reports UNIT for one unit"),
              READERS, _reports, aliases=("xembaocao",), private_data=True))
