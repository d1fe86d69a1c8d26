"""Report kinds: everything a kind means is its one declaration here (its questions, its sheet
in the spreadsheet, the figures it adds to the periodic report, the day it counts on and so
which obligations it satisfies, how the compiled report and the digest name its reports).
Adding a kind is adding a declaration (above PERIODIC, whose questions are the figures of the
kinds before it) and its translations: nothing else in the code names a kind. A kind listed in
the compiled report (Listing) gets its section there once the Word templates are made again
(`python -m handlers.compile_template`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from handlers.questions import Kind, Question
from locales.i18n import N_, Translator


class Dated(StrEnum):
    """The day a report counts on, and so the obligations it satisfies."""

    ACTIVITY = "activity"  # the day its date answer (`date_key`) names: in the period owed
    REPORTED = "reported"  # the day it was reported (a good model may have started years ago)
    PERIOD = "period"  # it names its period (asked before the form opens)


@dataclass(frozen=True)
class Figure:
    """A figure a kind adds to the periodic report, from its reports of the period: how many
    there are (no `answer`), the sum of a number answer, or (with `option`) how many chose an
    option of a choice answer."""

    key: str
    label: str  # N_
    answer: str | None = None
    option: str | None = None


@dataclass(frozen=True)
class Listing:
    """How the compiled report names a kind's reports of the period, one line each: its
    template loops over `key` ({%p for item in plans %}: item.unit, item.date, item.text) and
    shows `key`_more when there were more than it lists."""

    key: str
    line: Callable[[Translator, dict[str, Any]], str]  # one report's line, from its answers
    # The template's field naming the units that owe this kind in the period and have not sent
    # it (with `missing`_count, how many).
    missing: str | None = None
    # The digest's heading (N_) over the reports of the kind received since the last digest,
    # each named by its answer `named_by`; None: the digest only counts them.
    digest: str | None = None
    named_by: str = "name"


@dataclass(frozen=True)
class ReportKind:
    id: str
    title: str  # N_
    sheet: str  # N_, the spreadsheet's sheet: at most 31 characters
    questions: tuple[Question, ...]
    figures: tuple[Figure, ...] = ()
    dated: Dated = Dated.ACTIVITY
    date_key: str = "held_on"
    listing: Listing | None = None

    def day(self, answers: dict[str, Any]) -> date | None:
        """The activity day its answers name (None for a kind not dated by an answer)."""
        value = answers.get(self.date_key) if self.dated is Dated.ACTIVITY else None
        return date.fromisoformat(value) if value else None

    @property
    def levels(self) -> tuple[str, ...]:
        """The levels an obligation may ask of it (a review: preliminary or final). They are
        read from the answer "level", which the database indexes (migration 0007)."""
        return next((tuple(o for o, _label in q.options) for q in self.questions
                     if q.key == "level"), ())


KINDS: dict[str, ReportKind] = {}


def declare(kind: ReportKind) -> ReportKind:
    KINDS[kind.id] = kind
    return kind


def _count(kind: str, label: str) -> Figure:
    return Figure(f"count_{kind}", label)


def evidence() -> Question:
    return Question("evidence", Kind.ATTACHMENT, N_("Evidence"),
                    N_("Photos or documents as evidence (minutes, pictures, press clippings)?"),
                    optional=True)


def _held_on(prompt: str) -> Question:
    return Question("held_on", Kind.DATE, N_("Date"), prompt, in_programme=True)


def text_question(key: str, label: str, prompt: str, max_length: int = 2000,
                  optional: bool = False) -> Question:
    return Question(key, Kind.TEXT, label, prompt, max_length=max_length, optional=optional)


_text = text_question


def _day(t: Translator, value: str | None) -> str:
    return t.date(date.fromisoformat(value)) if value else ""


def _review_line(t: Translator, answers: dict[str, Any]) -> str:
    levels = {"preliminary": t._("preliminary review"), "final": t._("final review")}
    return f"{levels.get(answers.get('level', ''), '')}: {answers.get('results', '')}"

DISSEMINATION_FORMS = (
    ("conference", N_("Conference or seminar")),
    ("media", N_("Press, radio or television")),
    ("online", N_("City portal or social media")),
    ("loudspeaker", N_("Grassroots loudspeakers")),
    ("banner", N_("Banners and posters")),
    ("contest", N_("Contest")),
    ("other", N_("Other form")),
)

# Each figure's label says what it counts: activities by the day they were held, plans by the
# day they were issued, good models by the day they were reported.
declare(ReportKind(
    "plan", N_("Implementation plan or programme"), N_("Plans"), (
        _text("doc_number", N_("Document number"),
              N_("Number of the plan or programme document (e.g. 45/KH-UBND)?"), 60),
        Question("doc_date", Kind.DATE, N_("Issued on"), N_("Date the document was issued?"),
                 in_programme=True),
        _text("title", N_("Title"), N_("Title of the plan or programme?"), 300),
        _text("summary", N_("Summary"), N_("A short summary of its main tasks?"))),
    figures=(_count("plan", N_("Plans and programmes issued in the period")),),
    date_key="doc_date",
    listing=Listing("plans", lambda t, a: f"{a.get('doc_number', '')} "
                    f"({_day(t, a.get('doc_date'))}), {a.get('title', '')}", missing="no_plan")))
declare(ReportKind(
    "dissemination", N_("Dissemination activity"), N_("Dissemination"), (
        Question("channel", Kind.CHOICE, N_("Form"), N_("In what form was it disseminated?"),
                 options=DISSEMINATION_FORMS),
        _held_on(N_("When did it take place (or start)?")),
        _text("audience", N_("Audience"), N_("Who was it for (e.g. officials, union members, "
                                             "residents of the ward)?"), 300),
        Question("reached", Kind.INTEGER, N_("People reached"),
                 N_("About how many people did it reach?"), max_value=10_000_000),
        _text("summary", N_("Summary"), N_("What was done, in a few lines?"))),
    figures=(_count("dissemination", N_("Dissemination activities held in the period")),
             *(Figure(f"diss_{key}", label, "channel", key) for key, label in DISSEMINATION_FORMS),
             Figure("reached", N_("People reached by dissemination in the period"), "reached"))))
declare(ReportKind(
    "study", N_("Study or briefing session"), N_("Study sessions"), (
        _held_on(N_("When was the session held?")),
        Question("mode", Kind.CHOICE, N_("Held"), N_("Was it held in person or online?"),
                 options=(("in_person", N_("In person")), ("online", N_("Online")),
                          ("both", N_("In person and online")))),
        Question("groups", Kind.MULTI, N_("Participants"), N_("Who took part?"),
                 options=(("officials", N_("Officials and civil servants")),
                          ("party", N_("Party members")),
                          ("members", N_("Members of the organisation")),
                          ("citizens", N_("Citizens")))),
        Question("participants", Kind.INTEGER, N_("Number of participants"),
                 N_("How many people took part?"), min_value=1, max_value=1_000_000),
        _text("summary", N_("Summary"), N_("Main content of the session?"))),
    figures=(_count("study", N_("Study and briefing sessions held in the period")),
             Figure("participants", N_("Participants in study sessions held in the period"),
                    "participants"))))
declare(ReportKind(
    "inspection", N_("Inspection or supervision"), N_("Inspections"), (
        _held_on(N_("When did the inspection or supervision take place?")),
        _text("inspected", N_("Units inspected"), N_("Which units were inspected or supervised?"),
              1000),
        _text("findings", N_("Findings"), N_("What did it find?")),
        _text("follow_up", N_("Follow-up"), N_("What follow-up was decided?"))),
    figures=(_count("inspection", N_("Inspections and supervisions held in the period")),),
    listing=Listing("inspections", lambda t, a: a.get("inspected", ""))))
declare(ReportKind(
    "review", N_("Preliminary or final review"), N_("Reviews"), (
        Question("level", Kind.CHOICE, N_("Review"), N_("Which review was held?"),
                 options=(("preliminary", N_("Preliminary review (sơ kết)")),
                          ("final", N_("Final review (tổng kết)")))),
        _held_on(N_("When was it held?")),
        _text("results", N_("Main results"), N_("Its main results and conclusions?"))),
    figures=(_count("review", N_("Reviews held in the period")),),
    listing=Listing("reviews", _review_line)))
declare(ReportKind(
    "model", N_("Creative model or exemplary case"), N_("Good models"), (
        _text("name", N_("Name"), N_("Name of the model, new way of working or exemplary case?"),
              300),
        _text("place", N_("Where"), N_("Where is it applied (unit, ward, commune)?"), 300),
        Question("held_on", Kind.DATE, N_("Applied since"), N_("Since when has it been applied?"),
                 in_programme=True),
        _text("novelty", N_("What is new"), N_("What is new or creative about it?")),
        _text("result", N_("Result"), N_("What has it achieved?"))),
    figures=(_count("model", N_("Creative models and exemplary cases reported in the period")),),
    dated=Dated.REPORTED,
    listing=Listing("models", lambda t, a: f"{a.get('name', '')}: {a.get('result', '')}",
                    digest=N_("<b>Good models reported</b>"))))

# The figures of a periodic report: totalled from the unit's activity reports, then confirmed.
# The same figures are shown in /status and on the spreadsheet's totals sheet.
FIGURES: tuple[tuple[str, str], ...] = tuple(
    (f.key, f.label) for kind in KINDS.values() for f in kind.figures)
PERIODIC = declare(ReportKind(
    "periodic", N_("Periodic report"), N_("Periodic reports"), (
        *(Question(key, Kind.INTEGER, label, N_("The correct figure?"), max_value=10_000_000)
          for key, label in FIGURES),
        _text("results", N_("Results"), N_("The main results of the period?")),
        _text("limitations", N_("Limitations"), N_("Limitations and their causes?")),
        _text("proposals", N_("Proposals"), N_("Proposals and recommendations?"),
              optional=True)),
    dated=Dated.PERIOD))
