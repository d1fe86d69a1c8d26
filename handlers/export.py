"""The spreadsheet of a period: a sheet per report kind (every answer in its own column),
difficulties with their threads, completeness per unit, and a summary to paste into the City's
report. Rows are read page by page and streamed to disk (xlsxwriter's constant_memory), so the
memory used does not grow with the number of reports."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from handlers import periods
from handlers.admin import unit_kind_label
from handlers.context import Config, Ctx
from handlers.core import Action, action, callback
from handlers.difficulties import FIELDS, STATUS_LABELS, URGENCIES, event_parts
from handlers.kinds import FIGURES, KINDS, Dated
from handlers.periods import Period
from handlers.programme import RECURRING, Obligation
from handlers.questions import cell_value
from handlers.reminders import owed
from handlers.reports import STATUS_LABELS as REPORT_STATUS
from handlers.reports import period_figures
from handlers.text import esc
from handlers.types import Attachment, Choice, Outgoing, Reply
from handlers.units import is_split, rolled_up
from locales.i18n import N_, Translator
from storage.db import Database
from storage.models import Role
from storage.private import private_file
from storage.repos import Tx
from storage.tracking import UnitStatus

DESK = frozenset({Role.COORDINATOR, Role.LEADER, Role.ADMIN})
PAGE = 2000
Progress = Callable[[int, int], Awaitable[None]]


async def write_workbook(db: Database, config: Config, t: Translator, period: Period,
                         path: Path, progress: Progress | None = None, roll_up: bool = False
                         ) -> dict[str, int]:
    """Write the period's workbook to `path`; return the number of reports per kind. With
    `roll_up`, each report also names the unit it counts under (a unit that ceased to exist
    counts under its successor after mergers and renames; a split one under itself, marked:
    see handlers.units.rolled_up)."""
    private_file(path)  # owner-only before a byte is written
    async with db.read() as tx:
        total = await tx.reports.count_in_period(period.key, period.start, period.end)
        units = await tx.units.list() if roll_up else []
    targets = rolled_up(units)
    # A split unit's reports count under itself, marked (see handlers.units.rolled_up).
    under = {unit.code: t._("{name} (split)").format(name=targets[unit.id].code)
             if is_split(targets[unit.id]) else targets[unit.id].code for unit in units}
    # User text is never read as a formula or a link (no spreadsheet injection), and typed
    # writes skip xlsxwriter's guessing, which is most of the cost of a large export.
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_numbers": False,
                                           "strings_to_formulas": False,
                                           "strings_to_urls": False})
    bold = book.add_format({"bold": True, "text_wrap": True, "valign": "top"})
    # Dates are real spreadsheet dates (they sort and filter), shown the Vietnamese way.
    day_format = book.add_format({"num_format": "dd/mm/yyyy"})
    time_format = book.add_format({"num_format": "dd/mm/yyyy hh:mm"})
    summary = book.add_worksheet(t._("Totals")[:31])
    counts: Counter = Counter()
    confirmed: Counter = Counter()
    done = 0
    for kind in KINDS.values():
        sheet = book.add_worksheet(t._(kind.sheet)[:31])
        questions = kind.questions  # its evidence is not a column: files do not fit a cell
        header = [t._("Number"), t._("Unit code"), t._("Unit"), t._("Activity date"),
                  t._("Review state"), t._("Version"), t._("Received on")]
        header += [t._(q.label) for q in questions]
        if roll_up:
            header.append(t._("Counted under"))
        sheet.write_row(0, 0, header, bold)
        sheet.freeze_panes(1, 3)
        row, after = 1, 0
        while True:
            async with db.read() as tx:
                page = await tx.reports.page(kind.id, period.key, period.start, period.end,
                                             after, PAGE, kind.dated is Dated.PERIOD)
            if not page:
                break
            for report in page:
                received = report.created_at.astimezone(config.zone).replace(tzinfo=None)
                cells: list[object] = [report.number, report.unit_code, report.unit_name,
                         report.activity_date or "", t._(REPORT_STATUS[report.status]),
                         report.version, received]
                cells += [cell_value(t, q, report.answers.get(q.key)) for q in questions]
                if roll_up:
                    cells.append(under.get(report.unit_code, report.unit_code))
                for column, value in enumerate(cells):
                    if isinstance(value, str):
                        if value:
                            sheet.write_string(row, column, value)
                    elif isinstance(value, datetime):
                        sheet.write_datetime(row, column, value, time_format)
                    elif isinstance(value, date):
                        sheet.write_datetime(row, column, value, day_format)
                    elif isinstance(value, int | float):
                        sheet.write_number(row, column, value)
                    else:
                        sheet.write_string(row, column, str(value))
                row += 1
                if kind.dated is Dated.PERIOD:  # the figures the units confirmed
                    confirmed.update({key: report.answers[key] for key, _label in FIGURES
                                      if isinstance(report.answers.get(key), int)})
            counts[kind.id] += len(page)
            done += len(page)
            after = page[-1].id
            if progress is not None:
                await progress(done, total)
    await _difficulties_sheet(db, config, t, book, bold, period)
    completeness = await _completeness_sheet(db, config, t, book, bold, period)
    async with db.read() as tx:
        counted = await period_figures(tx, period)
    _summary(t, summary, bold, period, counts, counted, confirmed, completeness)
    book.close()
    return dict(counts)


async def _difficulties_sheet(db: Database, config: Config, t: Translator, book: Workbook,
                              bold: Format, period: Period) -> None:
    sheet = book.add_worksheet(t._("Difficulties")[:31])
    sheet.write_row(0, 0, [t._("Number"), t._("Unit"), t._("Field"), t._("Urgency"),
                           t._("State"), t._("Reported"), t._("Difficulty"), t._("Proposal"),
                           t._("Thread")], bold)
    start = datetime.combine(period.start, datetime.min.time(), config.zone).astimezone(UTC)
    end = datetime.combine(period.end + timedelta(days=1), datetime.min.time(),
                           config.zone).astimezone(UTC)
    async with db.read() as tx:
        items = await tx.difficulties.opened_between(start, end)
        threads = {d.id: await tx.difficulties.events(d.id) for d in items}
    for row, item in enumerate(items, start=1):
        thread = "\n".join(f"{t.datetime(e.at)} {who}: {what}" + (f": {text}" if text else "")
                           for e in threads[item.id] for who, what, text in [event_parts(t, e)])
        sheet.write_row(row, 0, [item.number, item.unit_name, t._(dict(FIELDS)[item.field]),
                                 t._(dict(URGENCIES)[item.urgency]),
                                 t._(STATUS_LABELS[item.status]), t.datetime(item.created_at),
                                 item.text, item.proposal or "", thread])


async def obligations_in(tx: Tx, config: Config, period: Period
                         ) -> list[tuple[Obligation, Period, date, list[UnitStatus]]]:
    """The obligations whose own period ends in `period` (a recurring one's period that ends the
    given one; an ad hoc one as is), each with its deadline and every unit's status. The
    spreadsheet's completeness sheet and the compiled report both read them here."""
    programme = config.programme
    found: list[tuple[Obligation, Period, date, list[UnitStatus]]] = []
    moved = await tx.tracking.moved_deadlines()
    for obligation in programme.obligations:
        own = (periods.of(obligation.period, period.end) if obligation.period in RECURRING
               else programme.period(obligation.period))
        if own is None or own.end < period.start or own.start > period.end:
            continue
        deadline = moved.get((obligation.id, own.key), programme.deadline(obligation, own))
        found.append((obligation, own, deadline,
                      await tx.tracking.status(owed(config, obligation, own, deadline))))
    return found


async def _completeness_sheet(db: Database, config: Config, t: Translator, book: Workbook,
                              bold: Format, period: Period) -> list[tuple[str, int, int, int]]:
    """Per unit and obligation: sent or not, on time or not. Returns per-obligation totals."""
    sheet = book.add_worksheet(t._("Completeness")[:31])
    sheet.write_row(0, 0, [t._("Obligation"), t._("Period"), t._("Deadline"), t._("Unit code"),
                           t._("Unit"), t._("Kind of unit"), t._("Sent"), t._("On time")], bold)
    row, totals = 1, []
    async with db.read() as tx:
        found = await obligations_in(tx, config, period)
        names = await tx.units.kinds()
    for obligation, own, deadline, statuses in found:
        for status in statuses:
            sheet.write_row(row, 0, [obligation.label(t.language), own.label(t),
                                     t.date(deadline), status.code, status.name,
                                     unit_kind_label(t, status.kind, names),
                                     t._("Yes") if status.first_at else t._("No"),
                                     t._("Yes") if status.on_time else t._("No")])
            row += 1
        totals.append((obligation.label(t.language), len(statuses),
                       sum(1 for s in statuses if s.first_at),
                       sum(1 for s in statuses if s.on_time)))
    return totals


def _summary(t: Translator, sheet: Worksheet, bold: Format, period: Period, counts: Counter,
             counted: dict, confirmed: Counter,
             completeness: list[tuple[str, int, int, int]]) -> None:
    sheet.set_column(0, 0, 48)
    sheet.set_column(1, 3, 14)
    sheet.write_row(0, 0, [t._("Summary for {period}").format(period=period.long_label(t))],
                    bold)
    sheet.write_row(2, 0, [t._("Report kind"), t._("Number")], bold)
    row = 3
    for kind in KINDS.values():
        sheet.write_row(row, 0, [t._(kind.title), counts.get(kind.id, 0)])
        row += 1
    # The periodic report's figures, as counted from the reports (the same as /status and the
    # form a unit confirms) and as the units confirmed them in their periodic reports.
    row += 1
    sheet.write_row(row, 0, [t._("Figure"), t._("Counted from the reports"),
                             t._("In the periodic reports sent")], bold)
    row += 1
    for key, label in FIGURES:
        sheet.write_row(row, 0, [t._(label), counted.get(key, 0), confirmed.get(key, 0)])
        row += 1
    row += 1
    sheet.write_row(row, 0, [t._("Obligation"), t._("Units"), t._("Sent"), t._("On time")], bold)
    for name, expected, sent, on_time in completeness:
        row += 1
        sheet.write_row(row, 0, [name, expected, sent, on_time])


# ---------------------------------------------------------------------------------------------
# In chat: /export picks a period; the workbook is made in the background (a job)

async def _export(ctx: Ctx, args: str) -> None:
    """Pick a period by button, or type any the CLI accepts: /export 2024-Q3, /export
    review-2025."""
    programme = ctx.config.programme
    if args.strip():
        period = programme.period(args.strip())
        if period is not None:
            await _export_period(ctx, programme.period_ref(period.key))
            return
        ctx.reply(ctx.t._("Unknown period {key}.").format(key=esc(args.strip()[:30])))
    found = {(p.start, p.end): p for p in offered_periods(ctx.config, ctx.today)}
    ctx.reply(ctx.t._("Which period should the spreadsheet cover? Another one can be typed: "
                      "/export 2024, /export 2025-Q3, /export 2026-M03 or a review period "
                      "({ids}).").format(ids=", ".join(p.id for p in programme.adhoc_periods)),
              [Choice(f"ex:{programme.period_ref(p.key)}", p.short_label(ctx.t))
               for p in found.values()])


def offered_periods(config: Config, today: date) -> list[Period]:
    """The periods offered for a spreadsheet: this reporting year and the last, its halves and
    quarters, and the programme's review periods (two with the same dates offered once)."""
    programme = config.programme
    year = int(today.year if (today.month, today.day) < (12, 15) else today.year + 1)
    keys = [str(year), str(year - 1), f"{year}-H1", f"{year}-H2",
            *(f"{year}-Q{n}" for n in range(1, 5)), *(p.id for p in programme.adhoc_periods)]
    found: dict[tuple, Period] = {}
    for key in keys:
        period = programme.known_period(key)
        found.setdefault((period.start, period.end), period)
    return list(found.values())


@callback("ex", DESK, private_data=True)
async def _export_period(ctx: Ctx, ref: str) -> None:
    period = ctx.config.programme.period_by_ref(ref)
    if period is None:
        ctx.reply(ctx.t._("This button is not valid."))
        return
    key = period.key
    if any(job["kind"] == "export" and job["params"] == {"period": key}
           and job["contact_id"] == ctx.contact.id for job in await ctx.tx.jobs.pending()):
        ctx.reply(ctx.t._("The spreadsheet for {period} is already being prepared; it will "
                          "arrive here in a moment.").format(period=period.label(ctx.t)))
        return
    await ctx.tx.jobs.add("export", {"period": key}, ctx.contact.id, ctx.event.channel,
                          ctx.event.chat_id, ctx.now)
    ctx.reply(ctx.t._("Preparing the spreadsheet for {period}; it will arrive here in a "
                      "moment.").format(period=period.label(ctx.t)))


async def run_export_job(db: Database, config: Config, job: dict, now: datetime,
                         send: Callable[[list[Outgoing]], Awaitable[None]]) -> None:
    """Make the workbook of a job and send it; progress messages for long ones."""
    async with db.read() as tx:
        contact = await tx.contacts.get(job["contact_id"]) if job["contact_id"] else None
    t = config.translator(contact.language if contact else None)
    period = config.programme.known_period(job["params"]["period"])
    path = config.files_dir / f"baocao-{period.key}-{job['id']}.xlsx"
    last = [time.monotonic()]

    async def progress(done: int, total: int) -> None:
        if time.monotonic() - last[0] >= 10 and total:
            last[0] = time.monotonic()
            await send([Outgoing(job["channel"], job["chat_id"], Reply(t._(
                "⏳ {percent}% ({done} of {total} reports)").format(
                percent=done * 100 // total, done=t.number(done), total=t.number(total))),
                job["contact_id"])])

    counts = await write_workbook(db, config, t, period, path, progress)
    caption = t._("Spreadsheet for {period}: {n} reports.").format(
        period=period.label(t), n=t.number(sum(counts.values())))
    await send([Outgoing(job["channel"], job["chat_id"], Reply(caption, (), (
        Attachment("document", "", path.name, str(path)),)), job["contact_id"])])


action(Action("export", N_("Export"), N_("a spreadsheet of a period's reports and difficulties"),
              DESK, _export, aliases=("xuat",), private_data=True))
