"""Every report kind has every part it needs: a kind missing one fails here, not at run time
(a sheet without a name failed every export; a kind left out of the figures dropped its
count silently)."""

from __future__ import annotations

from datetime import date

import docx
import openpyxl
import pytest
from docxtpl import DocxTemplate

from handlers import periods
from handlers.compile import gather
from handlers.compile_template import build, shipped
from handlers.export import write_workbook
from handlers.forms import FORMS
from handlers.kinds import FIGURES, KINDS, PERIODIC, Dated, Listing, ReportKind, text_question
from handlers.programme import Obligation, load_programme
from handlers.questions import Kind
from handlers.reminders import owed
from handlers.reports import FORM_OF, period_figures
from locales.i18n import translator
from storage.models import Role

VI, EN = translator("vi"), translator("en")


@pytest.mark.parametrize("kind", list(KINDS.values()), ids=list(KINDS))
def test_a_kind_has_every_part(kind):
    assert kind.questions, "questions"
    for text in (kind.title, kind.sheet, *(f.label for f in kind.figures)):
        assert VI._(text) != text, f"no Vietnamese for {text!r}"
    # A spreadsheet's sheet name may have at most 31 characters, and no two may be alike.
    assert all(len(t._(kind.sheet)) <= 31 for t in (VI, EN))
    assert FORMS[f"report_{kind.id}"] is FORM_OF[kind.id]
    keys = {q.key: q for q in kind.questions}
    if kind.dated is Dated.ACTIVITY:  # the answer that gives the day it counts on
        assert keys[kind.date_key].kind is Kind.DATE
    if kind.dated is Dated.PERIOD:  # it confirms the figures of the kinds counted by day
        assert {q.key for q in kind.questions} >= {key for key, _label in FIGURES}
        assert not kind.figures
    else:
        assert kind.figures, "the figures it adds to the periodic report"
    for figure in kind.figures:
        if figure.answer is None:
            continue
        question = keys[figure.answer]
        if figure.option is None:
            assert question.kind is Kind.INTEGER
        else:
            assert figure.option in {o for o, _label in question.options}


def test_sheets_and_figures_are_told_apart():
    for t in (VI, EN):
        sheets = [t._(k.sheet)[:31] for k in KINDS.values()]
        assert len(set(sheets)) == len(sheets)
    assert len({key for key, _label in FIGURES}) == len(FIGURES)
    assert PERIODIC is KINDS["periodic"]


def test_every_obligation_names_a_kind_and_a_level_it_has():
    programme = load_programme()
    for obligation in programme.obligations:
        kind = KINDS[obligation.report]
        assert obligation.level is None or obligation.level in kind.levels
    with pytest.raises(ValueError, match="unknown report kind"):
        type(programme.obligations[0]).model_validate(
            programme.obligations[0].model_dump() | {"report": "nonsense"})


# One report of each kind, then every place that reads the registry: a kind that a part is
# missing from (or that a place forgets) fails here by name.

ANSWER = {Kind.TEXT: "Nội dung", Kind.INTEGER: 7, Kind.DATE: "2026-03-16", Kind.YESNO: True}


def answers_for(kind) -> dict:
    found = {}
    for q in kind.questions:
        if q.kind in (Kind.CHOICE, Kind.MULTI):
            found[q.key] = q.options[0][0] if q.kind is Kind.CHOICE else [q.options[0][0]]
        elif q.kind in ANSWER:
            found[q.key] = ANSWER[q.kind]
    return found


@pytest.mark.parametrize("kind", list(KINDS.values()), ids=list(KINDS))
async def test_every_part_of_a_kind_is_used(harness, tmp_path, kind):
    h, year = harness, periods.year(2026)
    config, now = h.runtime.config, h.clock()
    answers = answers_for(kind)
    async with h.runtime.db.transaction() as tx:
        unit = await tx.units.by_code("Q-LECHAN")
        officer = await tx.contacts.create(unit_id=unit.id, role=Role.OFFICER, name="Cán bộ",
                                           language="vi", now=now)
        await tx.reports.create(
            unit_id=unit.id, contact_id=officer.id, kind=kind.id,
            period_key=year.key if kind.dated is Dated.PERIOD else None,
            activity_date=kind.day(answers) or now.date(), answers=answers, attachments=[],
            channel="telegram", now=now, local_year=2026)

    # The spreadsheet: its own sheet with the report, and its count on the totals sheet.
    path = tmp_path / "export.xlsx"
    counts = await write_workbook(h.runtime.db, config, VI, year, path)
    assert counts == {kind.id: 1}
    book = openpyxl.load_workbook(path, read_only=True)
    rows = list(book[VI._(kind.sheet)[:31]].iter_rows(values_only=True))
    assert len(rows) == 2 and rows[1][2] == unit.name

    async with h.runtime.db.read() as tx:
        # The periodic report's figures: each figure it declares counts the report.
        figures = await period_figures(tx, year)
        for figure in kind.figures:
            if figure.answer is None:  # a count
                expected = 1
            elif figure.option is None:  # a sum
                expected = answers[figure.answer]
            else:  # those that chose the option: the first one was
                expected = int(answers[figure.answer] == figure.option)
            assert figures[figure.key] == expected, figure.key
        # The obligations it satisfies: an annual one naming the kind sees the unit's report.
        obligation = Obligation(id=f"test-{kind.id}", name={"vi": "x"}, report=kind.id,
                                unit_kinds=(unit.kind,), period="annual",
                                due=date(2026, 12, 31))
        statuses = await tx.tracking.status(owed(config, obligation, year, date(2026, 12, 31)))
        assert next(s for s in statuses if s.unit_id == unit.id).first_at is not None
        # The compiled report: its figures, and its reports listed if the kind says so.
        context = await gather(tx, config, VI, year, True, now.date())
    shown = {item["key"]: item["value"] for item in context["figures"]}
    assert {f.key for f in kind.figures} <= set(shown)
    if kind.listing is not None:
        assert [item["text"] for item in context[kind.listing.key]] == [
            kind.listing.line(VI, answers)]
        assert context[f"{kind.listing.key}_more"] == ""


@pytest.mark.parametrize("language", ["vi", "en"])
def test_the_shipped_templates_show_every_listed_kind(language):
    """A kind listed in the compiled report (kinds.Listing) has its loop in the shipped Word
    templates, and every figure is shown by the template's list of all figures."""
    text = "\n".join(p.text for p in docx.Document(str(shipped(language))).paragraphs)
    assert "{%p for item in figures %}" in text
    for kind in KINDS.values():
        if kind.listing is None:
            continue
        assert f"{{%p for item in {kind.listing.key} %}}" in text, (
            f"{kind.id}: make the templates again: python -m handlers.compile_template")
        if kind.listing.missing:
            assert f"{{{{ {kind.listing.missing} }}}}" in text, kind.id
        if kind.listing.digest:
            assert VI._(kind.listing.digest) != kind.listing.digest


def test_a_listed_kind_without_a_written_section_gets_one_of_its_own(tmp_path, monkeypatch):
    """The template script gives a new listed kind a numbered section after the written ones
    (and the year-by-year section moves down one): adding it needs no edit to the script."""
    kind = ReportKind("training", "Training course", "Training courses",
                      (text_question("topic", "Topic", "Topic?"),),
                      listing=Listing("trainings", lambda t, a: a.get("topic", ""),
                                      missing="no_training"))
    monkeypatch.setitem(KINDS, kind.id, kind)
    path = tmp_path / "report.docx"
    build(EN, path)
    document = DocxTemplate(str(path))
    document.render({"trainings": [{"unit": "Department of Home Affairs", "date": "",
                                    "text": "Digital skills"},
                                   {"unit": "Le Chan ward", "date": "05/03/2026",
                                    "text": "Records"}],
                     "no_training_count": "1", "no_training": "Ngo Quyen ward",
                     "years": [{"year": "2026"}], "f": {}, "by_option": {}})
    document.save(str(tmp_path / "filled.docx"))
    text = [p.text for p in docx.Document(str(tmp_path / "filled.docx")).paragraphs]
    at = text.index("7. Training course")
    assert text[at + 1:at + 5] == [
        "- Department of Home Affairs: Digital skills", "- Le Chan ward (05/03/2026): Records",
        "Units that have not yet sent it: 1.", "Ngo Quyen ward"]
    assert "8. Year by year" in text[at:]
