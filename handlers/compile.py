"""The compiled report to the City: a Decree 30 document drafted from the data (/compile,
`baocao compile`).

Every figure comes from the functions behind /status and the spreadsheet (period_figures,
obligations_in): the document and the chat cannot disagree. By default only approved reports
count; the choice to include those still under review is written in the document. The wording
and layout live in a Word template (handlers/compile_template.py makes the shipped ones) filled
by docxtpl; where only a person can write, the draft leaves a marked placeholder.
"""

from __future__ import annotations

import time
import zipfile
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import jinja2
from docx.opc.exceptions import PackageNotFoundError
from docxtpl import DocxTemplate

from handlers import periods
from handlers.admin import unit_kind_label
from handlers.compile_template import shipped
from handlers.context import Config, Ctx
from handlers.core import Action, action, callback
from handlers.difficulties import STATUS_LABELS
from handlers.export import obligations_in
from handlers.kinds import FIGURES, KINDS, ReportKind
from handlers.periods import Period
from handlers.reports import period_figures, period_figures_by_unit
from handlers.types import Attachment, Choice, Outgoing, Reply
from handlers.units import counted_name, rolled_up
from locales.i18n import N_, Translator
from storage.db import Database
from storage.difficulties import DifficultyStatus
from storage.models import Role
from storage.repos import Tx

DESK = frozenset({Role.COORDINATOR, Role.LEADER, Role.ADMIN})
# Lists in the body name this many items, then say how many more the spreadsheet has: a final
# review over a thousand units would otherwise run to thousands of pages.
LISTED = 200
# The fields a template must use to be one of ours; a foreign document uses none of them.
OWN_FIELDS = frozenset({"issuing_body", "subject", "f"})


class CompileError(Exception):
    """The document cannot be made; the message says why in one line, in the reader's language."""


def choices(config: Config, today: date) -> list[Period]:
    """What /compile offers: this reporting year and the last, and the programme's reviews
    (two with the same dates, such as the whole programme and its final review, offered once)."""
    year = periods.year_of(today)
    reviews = [config.programme.period(p.id) for p in config.programme.adhoc_periods]
    found: dict[tuple[date, date], Period] = {}
    for period in (year, periods.year(int(year.key) - 1), *(p for p in reviews if p is not None)):
        found.setdefault((period.start, period.end), period)
    return list(found.values())


def _year_slices(period: Period) -> list[Period]:
    """The reporting years a longer period spans, each cut to the period, so that they add up
    to its total; a period of a year or less has none (nothing to compare)."""
    first, last = periods.year_of(period.start), periods.year_of(period.end)
    if first.key == last.key:
        return []
    return [Period(str(y), max(period.start, periods.year(y).start),
                   min(period.end, periods.year(y).end))
            for y in range(int(first.key), int(last.key) + 1)]


def _numbers(t: Translator, figures: dict[str, int]) -> dict[str, str]:
    return {key: t.number(value) for key, value in figures.items()}


async def _listed(tx: Tx, t: Translator, kind: ReportKind, period: Period,
                  approved_only: bool) -> dict[str, list[dict] | str]:
    """The template's list of a kind's reports (see kinds.Listing), and its "… and n more"."""
    assert kind.listing is not None
    total, reports = await tx.reports.of_kind(kind.id, period.start, period.end, approved_only,
                                              LISTED)
    items = [{"unit": r.unit_name, "date": t.date(r.activity_date) if r.activity_date else "",
              "text": kind.listing.line(t, r.answers), "answers": r.answers} for r in reports]
    more = "" if total <= len(items) else t._(
        "… and {n} more (see the spreadsheet of the period).").format(
        n=t.number(total - len(items)))
    return {kind.listing.key: items, f"{kind.listing.key}_more": more}


def _roll_up(per_unit: dict[int, dict[str, int]], units: list,
             ) -> tuple[dict[int, dict[str, int]], list]:
    """The figures of units that ceased to exist added to their successor's, along chains of
    mergers and renames (see handlers.units.rolled_up: a split unit keeps its own line), and
    the units left to list: so the years before and after a merger add up under the unit
    that carries on."""
    target = rolled_up(units)
    summed: dict[int, dict[str, int]] = {}
    for unit_id, found in per_unit.items():
        into = summed.setdefault(target[unit_id].id if unit_id in target else unit_id, {})
        for key, value in found.items():
            into[key] = into.get(key, 0) + value
    return summed, [u for u in units if target[u.id].id == u.id]


async def gather(tx: Tx, config: Config, t: Translator, period: Period,
                 include_under_review: bool, today: date, roll_up: bool = False) -> dict:
    """Everything the template shows, as text in the reader's language; `today` gives the
    year of the date line (the day and month are written when it is signed). With
    `roll_up`, the figures per unit count a unit that ceased to exist under its successor."""
    approved_only = not include_under_review
    head = config.letterhead
    figures = await period_figures(tx, period, approved_only=approved_only)
    per_unit = await period_figures_by_unit(tx, period, approved_only)
    units = await tx.units.list()
    named = {u.id: u.name for u in units}
    if roll_up:
        per_unit, units = _roll_up(per_unit, units)
        named = {u.id: counted_name(t, u) for u in units}
    names = await tx.units.kinds()
    kind_of = {u.id: u.kind for u in units}
    by_kind: dict[str, dict[str, int]] = {}  # every figure, per kind of unit
    for unit_id, found in per_unit.items():
        totals = by_kind.setdefault(kind_of.get(unit_id, ""), {})
        for key, value in found.items():
            totals[key] = totals.get(key, 0) + value
    listed: dict[str, list[dict] | str] = {}
    for kind in KINDS.values():
        if kind.listing is not None:
            listed |= await _listed(tx, t, kind, period, approved_only)

    obligations = await obligations_in(tx, config, period)
    completeness: list[dict[str, str]] = []
    missing: list[dict[str, str]] = []
    # Per kind that says so (Listing.missing): the units that owe it and have not sent it.
    not_sent: dict[str, list[str]] = {k.listing.missing: [] for k in KINDS.values()
                                      if k.listing is not None and k.listing.missing}
    for obligation, own, deadline, statuses in obligations:
        completeness.append({
            "name": obligation.label(t.language), "period": own.label(t),
            "deadline": t.date(deadline), "expected": t.number(len(statuses)),
            "sent": t.number(sum(1 for s in statuses if s.first_at)),
            "on_time": t.number(sum(1 for s in statuses if s.on_time))})
        for status in statuses:
            if not status.first_at:
                missing.append({"no": str(len(missing) + 1), "unit": status.name,
                                "kind": unit_kind_label(t, status.kind, names),
                                "obligation": f"{obligation.label(t.language)} ({own.label(t)})"})
                owed = KINDS[obligation.report].listing
                if owed is not None and owed.missing:
                    not_sent[owed.missing].append(status.name)

    start = datetime.combine(period.start, datetime.min.time(), config.zone).astimezone(UTC)
    end = datetime.combine(period.end + timedelta(days=1), datetime.min.time(),
                           config.zone).astimezone(UTC)
    difficulties, open_ones = [], []
    for item in await tx.difficulties.opened_between(start, end):
        answers = [e.text or "" for e in await tx.difficulties.events(item.id)
                   if e.kind == "answer"]
        row = {"number": item.number, "unit": item.unit_name, "text": item.text,
               "proposal": item.proposal or "", "answer": "\n".join(answers),
               "state": t._(STATUS_LABELS[item.status])}
        difficulties.append(row)
        if item.status is not DifficultyStatus.RESOLVED:
            open_ones.append(row | {"proposal": t._("Proposal: {text}").format(
                text=item.proposal) if item.proposal else ""})

    years = []
    for piece in _year_slices(period):
        found = await period_figures(tx, piece, approved_only=approved_only)
        years.append({"year": piece.key} | _numbers(t, found))

    numbered = []
    for n, unit in enumerate(units, start=1):
        found = per_unit.get(unit.id) or dict.fromkeys((k for k, _l in FIGURES), 0)
        numbered.append({"no": str(n), "unit": named[unit.id]} | _numbers(t, found))
    return {
        "superior": head.city_body(t.language).upper(),
        "issuing_body": head.body(t.language).upper(),
        "issuing_body_name": head.body(t.language), "symbol": head.symbol,
        "place": head.city(t.language),
        "number": "…", "year": str(today.year), "period": period.long_label(t),
        "subject": t._("Results of carrying out the programme, {period}").format(
            period=period.label(t)),
        # What counts, said in the document: activity figures follow the choice; completeness
        # counts every report sent, as /status and the spreadsheet do.
        "scope": (t._("Activity figures count approved reports and those still under review; "
                      "completeness counts every report sent.") if include_under_review else
                  t._("Activity figures count approved reports only; completeness counts every "
                      "report sent.")),
        "f": _numbers(t, figures),
        # Every figure with its label, in the registry's order (a new kind's too).
        "figures": [{"key": key, "label": t._(label), "value": t.number(figures[key])}
                    for key, label in FIGURES],
        # A kind's figures that count its reports by the option chosen (dissemination forms).
        "by_option": {kind.id: [{"label": t._(f.label), "value": t.number(figures[f.key])}
                                for f in kind.figures if f.option is not None]
                      for kind in KINDS.values()},
        "by_unit_kind": [{"kind": unit_kind_label(t, kind, names)} | _numbers(t, totals)
                         for kind, totals in sorted(by_kind.items())],
        **listed,
        **{field: ", ".join(names_[:LISTED]) + (" …" if len(names_) > LISTED else "")
           + ("." if names_ else "") for field, names_ in not_sent.items()},
        **{f"{field}_count": t.number(len(names_)) for field, names_ in not_sent.items()},
        "years": years,
        "completeness": completeness, "missing": missing, "units": numbered,
        "difficulties": difficulties, "open_difficulties": open_ones,
        "open_count": t.number(len(open_ones)),
        "resolved_count": t.number(len(difficulties) - len(open_ones)),
        "placeholder_assessment": t._("[TO BE WRITTEN: overall assessment — strengths, "
                                      "limitations and their causes]"),
        "placeholder_directions": t._("[TO BE WRITTEN: tasks and directions for the next "
                                      "period]"),
        "recipients": list(head.recipients),
        "signer_first": head.signer[0] if head.signer else "",
        "signer_rest": list(head.signer[1:]), "signer_name": head.signer_name,
    }


def template_path(config: Config, t: Translator) -> Path:
    return config.letterhead.template or shipped("en" if t.language == "en" else "vi")


def render(template: Path, context: dict, out: Path, t: Translator) -> None:
    """Fill the template; a missing, broken or foreign template is one CompileError."""
    if not template.is_file():
        raise CompileError(t._("The report template {path} does not exist.").format(
            path=template))
    try:
        document = DocxTemplate(str(template))
        used = document.get_undeclared_template_variables()
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError):
        raise CompileError(t._("The report template {path} is not a Word document (.docx)."
                               ).format(path=template)) from None
    except jinja2.TemplateSyntaxError as exc:
        raise CompileError(t._("The report template {path} has a broken field on line "
                               "{line}: {error}").format(path=template, line=exc.lineno,
                                                        error=exc.message)) from None
    if not used & OWN_FIELDS:
        raise CompileError(t._("The report template {path} is not a report template: it uses "
                               "none of the fields {fields}.").format(
            path=template, fields=", ".join(sorted(OWN_FIELDS))))
    unknown = used - set(context)
    if unknown:
        raise CompileError(t._("The report template {path} uses unknown fields: {fields}."
                               ).format(path=template, fields=", ".join(sorted(unknown))))
    try:
        document.render(context, autoescape=True)
    except jinja2.TemplateError as exc:
        raise CompileError(t._("The report template {path} could not be filled: {error}"
                               ).format(path=template, error=exc)) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    document.save(str(out))


async def write_report(db: Database, config: Config, t: Translator, period: Period, out: Path,
                       include_under_review: bool = False, now: datetime | None = None,
                       roll_up: bool = False) -> dict:
    """Draft the period's report into `out`; return what it was filled with."""
    today = (now or datetime.now(UTC)).astimezone(config.zone).date()
    async with db.read() as tx:
        context = await gather(tx, config, t, period, include_under_review, today, roll_up)
    render(template_path(config, t), context, out, t)
    return context


# ---------------------------------------------------------------------------------------------
# In chat: /compile picks the report and what counts; the document is made in the background

async def _compile(ctx: Ctx, _args: str) -> None:
    t = ctx.t
    if ctx.event.channel == "zalo":  # Zalo cannot carry a document
        ctx.reply(t._("Documents cannot be sent on Zalo. Use /compile in Telegram, or ask the "
                      "administrator to run: baocao compile --period 2026 --out report.docx"))
        return
    if not await ctx.go_private():
        return
    found, programme = choices(ctx.config, ctx.today), ctx.config.programme
    # By reference: an ad hoc period's id is written by people and may not fit in button data.
    ctx.reply(periods.offered(t, t._("Which report should be drafted?"), found),
              [Choice(f"cp:{programme.period_ref(p.key)}", p.short_label(t)) for p in found])


@callback("cp", DESK)
async def _compile_button(ctx: Ctx, rest: str) -> None:
    t = ctx.t
    # "cp:KEY" asks what counts; "cp:a:KEY" (approved only), "cp:all:KEY" and "cp:ar:KEY"
    # (approved only, units that ceased to exist counted under their successors) start the job.
    scope, _, ref = rest.partition(":")
    if scope not in ("a", "all", "ar"):
        scope, ref = "", rest
    period = ctx.config.programme.period_by_ref(ref)
    if period is None:
        ctx.reply(t._("This button is not valid."))
        return
    if not scope:
        ctx.reply(t._("Which reports should the figures count?"), [
            Choice(f"cp:a:{ref}", t._("Approved reports only")),
            Choice(f"cp:all:{ref}", t._("Approved and those under review")),
            Choice(f"cp:ar:{ref}", t._("Approved, under successors"))])
        return
    params = ({"period": period.key, "all": scope == "all"}
              | ({"roll_up": True} if scope == "ar" else {}))
    if any(job["kind"] == "compile" and job["params"] == params
           and job["contact_id"] == ctx.contact.id for job in await ctx.tx.jobs.pending()):
        ctx.reply(t._("The report for {period} is already being drafted; it will arrive here in "
                      "a moment.").format(period=period.label(t)))
        return
    await ctx.tx.jobs.add("compile", params, ctx.contact.id, ctx.event.channel,
                          ctx.event.chat_id, ctx.now)
    ctx.reply(t._("Drafting the report for {period}; it will arrive here in a moment.").format(
        period=period.label(t)))


async def run_compile_job(db: Database, config: Config, job: dict, now: datetime,
                          send: Callable[[list[Outgoing]], Awaitable[None]]) -> None:
    """Draft the document of a job and send it; a template problem is told as such."""
    async with db.read() as tx:
        contact = await tx.contacts.get(job["contact_id"]) if job["contact_id"] else None
    t = config.translator(contact.language if contact else None)
    period = config.programme.known_period(job["params"]["period"])
    path = config.files_dir / f"baocao-{period.key}-{job['id']}.docx"

    def tell(reply: Reply) -> Awaitable[None]:
        return send([Outgoing(job["channel"], job["chat_id"], reply, job["contact_id"])])

    started = time.monotonic()
    await tell(Reply(t._("⏳ Gathering the figures for {period}…").format(
        period=period.label(t))))
    try:
        context = await write_report(db, config, t, period, path, job["params"]["all"], now,
                                     job["params"].get("roll_up", False))
    except CompileError as exc:
        await tell(Reply(str(exc)))
        return
    caption = t._("Draft report for {period} ({scope}): {units} units, made in {seconds} s. "
                  "Fill in the marked places before signing.").format(
        period=period.label(t), scope=context["scope"].rstrip("."),
        units=t.number(len(context["units"])),
        seconds=t.number(round(time.monotonic() - started, 1)))
    await tell(Reply(caption, (), (Attachment("document", "", path.name, str(path)),)))


action(Action("compile", N_("Compile report"), N_("a draft report to the City (.docx) from the "
                                                  "data"), DESK, _compile, aliases=("soanbc",)))
