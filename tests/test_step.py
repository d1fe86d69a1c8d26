"""The form engine's step function, table-driven: every question type with a valid answer, an
invalid one, Skip, a change of answer, Cancel and a button of an earlier step. The step is
pure: these tests need no database and no chat."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import date

import pytest

from handlers.forms import Form, Input, Submission, begin, reopen, step
from handlers.questions import TYPES, Env, Kind, Question, UnitRef
from handlers.state import FormState, Mode, Session
from handlers.types import Attachment, Reply
from locales.i18n import N_, translator
from storage.text import fold

TODAY = date(2026, 5, 20)


@dataclass(frozen=True)
class Units:
    """A UnitLookup over a fixed list, as the caller's search would answer."""

    units: tuple[UnitRef, ...] = (UnitRef("Q-LECHAN", "Quận Lê Chân"),
                                  UnitRef("Q-NGOQUYEN", "Quận Ngô Quyền"))

    def find(self, text: str) -> Sequence[UnitRef]:
        return [u for u in self.units if fold(text) in fold(u.code + " " + u.name)]


ENV = Env(translator("en"), TODAY, date(2023, 2, 15), max_files_per_answer=2, units=Units())
OPTIONS = (("a", N_("Conference or seminar")), ("b", N_("Contest")), ("c", N_("Other form")))
Make = Callable[[Session], Input]


def typed(text: str) -> Make:
    return lambda _session: Input(text=text)


def press(value: str) -> Make:
    """A press of the current step's button with this value."""
    return lambda session: Input(choice=f"f:{session.step}:{value}", pressed_message_id="m1")


def sent(name: str) -> Make:
    return lambda _session: Input(attachment=Attachment("photo", f"file-{name}", name))


# A question type's kind (a Kind, or any new type's own string): (question, inputs giving a
# valid answer, the answer stored, an invalid input, what the error says)
CASES: dict[str, tuple[Question, list[Make], object, Make, str]] = {
    Kind.TEXT: (Question("q", Kind.TEXT, "Label", "Prompt?", max_length=10),
                [typed("Hello")], "Hello", typed("x" * 11), "under 10 characters"),
    Kind.INTEGER: (Question("q", Kind.INTEGER, "Label", "Prompt?", max_value=5000),
                   [typed("1,200")], 1200, typed("9999"), "from 0 to 5,000"),
    Kind.DATE: (Question("q", Kind.DATE, "Label", "Prompt?", in_programme=True),
                [typed("01/03/2026")], "2026-03-01", typed("01/01/2020"),
                "The programme started"),
    Kind.CHOICE: (Question("q", Kind.CHOICE, "Label", "Prompt?", options=OPTIONS),
                  [typed("2")], "b", typed("nothing like it"), "choose one of the options"),
    Kind.YESNO: (Question("q", Kind.YESNO, "Label", "Prompt?"),
                 [press("no")], False, typed("perhaps"), "choose one of the options"),
    Kind.MULTI: (Question("q", Kind.MULTI, "Label", "Prompt?", options=OPTIONS),
                 [press("c"), press("a"), press("done")], ["a", "c"], typed("1, 7"),
                 "“7” is not one of the options"),
    Kind.ATTACHMENT: (Question("q", Kind.ATTACHMENT, "Label", "Prompt?"),
                      [sent("one"), sent("two"), typed("done")],
                      [{"kind": "photo", "file_id": "file-one", "name": "one"},
                       {"kind": "photo", "file_id": "file-two", "name": "two"}],
                      typed("done"), "at least one photo"),
    Kind.UNIT: (Question("q", Kind.UNIT, "Label", "Prompt?"),
                [typed("le chan")], {"code": "Q-LECHAN", "name": "Quận Lê Chân"},
                typed("quận"), "Several units match"),
}


async def _nothing(*_args: object) -> None:
    return None


def form_of(question: Question) -> Form:
    return Form(id=f"test_{question.kind}", title=N_("Periodic report"), questions=(question,),
                submit=_nothing)


def run(form: Form, session: Session, makes: list[Make]
        ) -> tuple[Session, list[Reply], Submission | None]:
    replies: list[Reply] = []
    submission = None
    for make in makes:
        session, more, submission = step(form, session, make(session), ENV)
        assert more or submission, "a step answers, or the form's submit does"
        replies += more
    return session, replies, submission


def started(form: Form) -> Session:
    session, replies, _ = begin(form, Session(step=4), ENV)
    assert session.form is not None and session.form.mode is Mode.ASK
    assert "Prompt?" in replies[-1].text
    return session


def test_every_question_type_has_a_case():
    assert set(Kind) <= set(TYPES)  # every shipped name has its class
    assert set(CASES) == set(TYPES)  # a new type's class needs its case here, not a Kind


@pytest.mark.parametrize("kind", list(TYPES))
def test_valid_answer_reaches_the_summary_and_confirm_submits_it(kind):
    question, valid, value, _invalid, _error = CASES[kind]
    form = form_of(question)
    session = started(form)
    kept = session.dump()
    session, replies, submission = run(form, session, valid)
    assert submission is None
    assert session.form is not None and session.form.mode is Mode.SUMMARY
    assert session.form.answers == {"q": value}
    assert "please check your answers" in replies[-1].text
    session, _replies, submission = run(form, session, [press("ok")])
    assert submission == Submission({"q": value}, {})
    assert session.form is None
    assert Session.load(kept).dump() == kept  # the step never changed what it was given


@pytest.mark.parametrize("kind", list(TYPES))
def test_a_step_leaves_the_session_it_was_given_as_it_was(kind):
    """Every input of the valid answer, fed to the same session: options ticked and files
    gathered go into the step's copy only (the copy is cheaper than a deep copy; this is
    what it must still guarantee)."""
    question, valid, *_rest = CASES[kind]
    form = form_of(question)
    session = started(form)
    assert session.form is not None
    session.form.answers["kept"] = ["a list", {"in": "it"}]
    session.form.multi.append("x")
    session.form.files.append({"kind": "photo", "id": "f0"})
    kept = session.dump()
    for make in valid:
        step(form, session, make(session), ENV)
        assert session.dump() == kept


@pytest.mark.parametrize("kind", list(TYPES))
def test_invalid_answer_says_why_and_asks_again_keeping_the_answers(kind):
    question, _valid, _value, invalid, error = CASES[kind]
    form = form_of(question)
    session = started(form)
    session.form.answers["kept"] = "earlier"  # an answer given before this question
    after, replies, submission = run(form, session, [invalid])
    assert submission is None
    assert error in replies[-1].text and "Prompt?" in replies[-1].text
    assert replies[-1].text.startswith("⚠️")
    assert after.form is not None and after.form.mode is Mode.ASK
    assert after.form.answers == {"kept": "earlier"}


@pytest.mark.parametrize("kind", list(TYPES))
@pytest.mark.parametrize("how", ["button", "word", "number"])
def test_skip_leaves_an_optional_question_empty(kind, how):
    question, *_rest = CASES[kind]
    form = form_of(replace(question, optional=True))
    session = started(form)
    assert replies_choices(form, session)[-1] == "Skip"
    skip = {"button": press("skip"), "word": typed("bỏ qua"),
            # Skip is the last choice offered; its number picks it, except where a typed
            # number is an answer (a count, a day, a unit's code).
            "number": typed(str(len(replies_choices(form, session))))}[how]
    if how == "number" and TYPES[kind].takes_numbers:
        return
    session, _replies, _ = run(form, session, [skip])
    assert session.form is not None and session.form.mode is Mode.SUMMARY
    assert session.form.answers == {"q": None}


def replies_choices(form: Form, session: Session) -> list[str]:
    """The labels of the choices the current question shows."""
    from handlers.forms import current
    _s, replies, _ = current(form, session, ENV)
    return [c.label for c in replies[-1].choices]


@pytest.mark.parametrize("kind", list(TYPES))
def test_change_an_answer_from_the_summary(kind):
    question, valid, value, invalid, error = CASES[kind]
    form = form_of(question)
    session, _replies, _ = run(form, started(form), valid)
    session, replies, _ = run(form, session, [press("chg")])
    assert session.form.mode is Mode.PICK and "Which answer" in replies[-1].text
    session, replies, _ = run(form, session, [typed("1")])  # the first (only) answer listed
    assert session.form.mode is Mode.EDIT and "Changing “Label”" in replies[-1].text
    session, replies, _ = run(form, session, [invalid])
    assert error in replies[-1].text and session.form.answers == {"q": value}
    session, replies, _ = run(form, session, valid)
    assert session.form.mode is Mode.SUMMARY and session.form.answers == {"q": value}


@pytest.mark.parametrize("kind", list(TYPES))
@pytest.mark.parametrize("how", [press("cxl"), typed("Cancel")])
def test_cancel_drops_the_answers(kind, how):
    question, valid, *_rest = CASES[kind]
    form = form_of(question)
    session, _replies, _ = run(form, started(form), valid)
    session, replies, submission = run(form, session, [how])
    assert session.form is None and submission is None
    assert replies[-1].text == "Cancelled. Nothing was saved."


@pytest.mark.parametrize("kind", list(TYPES))
def test_a_button_of_an_earlier_step_changes_nothing(kind):
    question, valid, *_rest = CASES[kind]
    form = form_of(question)
    first = started(form)
    stale = Input(choice=f"f:{first.step}:ok", pressed_message_id="old")
    session, _replies, _ = run(form, first, valid)
    for where in (first, session):  # while asking, and at the summary
        later = replace(where, step=where.step + 1)
        after, replies, submission = step(form, later, stale, ENV)
        assert submission is None and after.dump() == later.dump()
        assert "belongs to an earlier step" in replies[-1].text


def test_a_typed_answer_to_an_earlier_question_is_not_taken():
    question, valid, *_rest = CASES[Kind.TEXT]
    form = form_of(question)
    session = started(form)
    after, replies, _ = step(form, session, Input(text="Hello", earlier=True), ENV)
    assert after.dump() == session.dump() and "earlier question" in replies[-1].text


def test_a_check_the_caller_ran_refuses_the_answer():
    question, valid, *_rest = CASES[Kind.INTEGER]
    form = form_of(question)
    after, replies, _ = step(form, started(form), Input(text="12", check_error="Too late."),
                             ENV)
    assert after.form.answers == {} and "Too late." in replies[-1].text


def test_sessions_stored_before_the_typed_state_still_resume():
    """A row written by the dict-based engine: the counter in "seq" and in the form."""
    old = {"seq": 3, "offered": [["f:7:ok", "Xác nhận"]], "pressed": ["1:2:m:report"],
           "form": {"id": "test_text", "answers": {"q": "Hi"}, "mode": "summary",
                    "params": {"period": "2026"}, "step": 7, "pos": 0, "multi": []}}
    session = Session.load(old)
    assert session.step == 7 and session.offered == [("f:7:ok", "Xác nhận")]
    assert session.form.mode is Mode.SUMMARY and session.form.params == {"period": "2026"}
    assert session.dump()["form"]["step"] == 7
    form = form_of(CASES[Kind.TEXT][0])
    after, _replies, submission = step(form, session, Input(choice="f:7:ok"), ENV)
    assert submission == Submission({"q": "Hi"}, {"period": "2026"})
    # An old draft (its step inside) continues where it stopped, with a fresh step.
    draft = old["form"] | {"mode": "ask", "answers": {}}
    resumed, replies, _ = reopen(form, Session.load({"seq": 2}), draft, ENV)
    assert resumed.step == 8 and "Continuing where you stopped" in replies[-1].text


def test_a_copy_of_the_state_keeps_every_field():
    """The copies are written field by field (faster than dataclasses.replace): a field added
    to the state and left out of copy_state would be reset at every step. Every field is given
    a value other than its default here; the copy must equal the original and share no list or
    dict with it."""
    form = FormState(id="f", mode=Mode.EDIT, pos=2, answers={"a": [1, {"b": 2}]},
                     params={"period": "2026"}, multi=["x"], files=[{"id": "f0"}], drawn="41")
    session = Session(step=5, form=form, offered=[("f:5:a", "A")], pressed=["1:2"],
                      reports_query={"words": "hội nghị"})
    for original in (form, session):
        defaults = FormState(id="") if original is form else Session()
        changed = {f.name for f in fields(original)
                   if getattr(original, f.name) != getattr(defaults, f.name)}
        assert changed == {f.name for f in fields(original)}, "give every field a value"
    copy = session.copy_state()
    assert copy == session and copy.form == form
    assert copy.form is not form and copy.form.answers["a"] is not form.answers["a"]
    assert copy.offered is not session.offered and copy.reports_query is not (
        session.reports_query)
