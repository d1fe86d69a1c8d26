"""Every report kind has every part it needs: a kind missing one fails here, not at run time
(a sheet without a name failed every export; a kind left out of the figures dropped its
count silently)."""

from __future__ import annotations

import pytest

from handlers.forms import FORMS
from handlers.kinds import FIGURES, KINDS, PERIODIC, Dated
from handlers.programme import load_programme
from handlers.questions import Kind
from handlers.reports import FORM_OF
from locales.i18n import translator

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
