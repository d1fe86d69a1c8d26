"""The form engine: forms are declared as data and one engine runs them all.

```mermaid
stateDiagram-v2
    [*] --> ask: start (or resume a draft)
    ask --> ask: valid answer, next question
    ask --> ask: invalid answer, the reason and the question again
    ask --> summary: last question answered
    summary --> pick: Change an answer
    pick --> edit: a question chosen
    edit --> summary: valid answer
    summary --> [*]: Confirm (submit) or Cancel
    ask --> draft: idle too long (answers kept)
    draft --> ask: Resume
```

`step` is the engine: a pure function of the form, the typed session state, the input and what
the caller looked up beforehand (`Env`, `Input`), returning the new state, the replies and the
answers to submit, if any. The async functions below it are the caller: they look up what a step
needs in the transaction, step, and apply the result to the context. Button ids carry the step
number, so a stale or forged button is recognised; a multi-choice question takes a new step at
each toggle, so a double tap cannot undo itself. How a question type asks, parses and shows its
answer is its class in `handlers.questions`; how choices look (buttons or numbers) is the
channel's business: the engine only offers them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from handlers.context import MENU_FLOW, Ctx
from handlers.questions import (
    DONE,
    SKIP,
    SKIP_WORDS,
    Accept,
    Env,
    Given,
    Kind,
    Outcome,
    Partial,
    Question,
    Reject,
    UnitRef,
    show_value,
)
from handlers.state import FormState, Mode, Session
from handlers.text import match_option
from handlers.types import Attachment, Choice, Reply
from storage.models import Role
from storage.text import fold

__all__ = ["DONE", "SKIP", "Form", "Kind", "Mode", "Question", "register", "step"]


@dataclass(frozen=True)
class Form:
    id: str
    title: str  # marked with N_
    questions: tuple[Question, ...]
    submit: Callable[[Ctx, dict, dict], Awaitable[None]]
    roles: frozenset[Role] = frozenset({Role.OFFICER})
    # A one-question form (a note, a reply) is sent as soon as it is answered.
    confirm: bool = True
    # More to show before confirming, worked out from the answers (e.g. how many recipients).
    preview: Callable[[Ctx, dict], Awaitable[str]] | None = None


FORMS: dict[str, Form] = {}


def register(form: Form) -> Form:
    FORMS[form.id] = form
    return form


CONFIRM, CHANGE, CANCEL = "ok", "chg", "cxl"


@dataclass(frozen=True)
class Input:
    """One thing the person did, with what the caller found out about it beforehand."""

    text: str = ""
    choice: str | None = None
    attachment: Attachment | None = None
    unsupported: bool = False
    pressed_message_id: str | None = None
    # The typed message answers a question shown before the current one (see _answers_earlier).
    earlier: bool = False
    # What the current question's own check said of the answer (it may need the database).
    check_error: str | None = None
    # The form's preview for the summary (it may need the database).
    preview: str = ""


@dataclass(frozen=True)
class Submission:
    answers: dict[str, Any]
    params: dict[str, Any]


@dataclass(frozen=True)
class FoundUnits:
    """A UnitLookup over the search the caller ran before the step (a step never waits)."""

    query: str
    units: tuple[UnitRef, ...]

    def find(self, text: str) -> Sequence[UnitRef]:
        return self.units if text == self.query else ()


Result = tuple[Session, list[Reply], Submission | None]


# ---------------------------------------------------------------------------------------------
# The pure engine

def with_options(form: Form, env: Env) -> Form:
    """The form with its data options filled in (see Question.options_from)."""
    if not any(q.options_from for q in form.questions):
        return form
    return replace(form, questions=tuple(
        replace(q, options=env.options.get(q.key, ())) if q.options_from else q
        for q in form.questions))


class _Run:
    """One step's working copy of the session and the replies it makes."""

    def __init__(self, form: Form, session: Session, env: Env, preview: str = ""):
        self.form, self.env, self.preview = with_options(form, env), env, preview
        self.session = session.copy_state()
        self.replies: list[Reply] = []
        self.submission: Submission | None = None

    @property
    def state(self) -> FormState:
        assert self.session.form is not None
        return self.session.form

    def result(self) -> Result:
        return self.session, self.replies, self.submission

    def choice(self, value: str, label: str) -> Choice:
        return Choice(f"f:{self.session.step}:{value}", label)

    def say(self, text: str, buttons: Sequence[tuple[str, str]] = (), edit: str | None = None
            ) -> None:
        self.replies.append(Reply(text, tuple(self.choice(v, label) for v, label in buttons),
                                  edit_message_id=edit,
                                  asks=f"{self.form.id}:{self.session.step}"))

    def new_step(self) -> None:
        self.session.step += 1
        self.state.new_question()

    def applicable(self, index: int, answers: dict[str, Any] | None = None) -> bool:
        question = self.form.questions[index]
        return question.ask_if is None or question.ask_if(
            self.state.answers if answers is None else answers)

    def next_index(self, after: int) -> int | None:
        """The next question to ask: it applies and has no answer yet (answers may be
        pre-filled)."""
        for index in range(after + 1, len(self.form.questions)):
            if self.applicable(index) and self.form.questions[index].key not in self.state.answers:
                return index
        return None

    def buttons(self) -> list[tuple[str, str]]:
        """(value, label) of the current question's buttons, Skip last."""
        t, question = self.env.t, self.form.questions[self.state.pos]
        found = question.type.buttons(t, question, self.state)
        return found + [(SKIP, t._("Skip"))] if question.optional else found

    def ask(self, prefix: str = "", edit: str | None = None) -> None:
        """Show the current question with its buttons."""
        t, form, state = self.env.t, self.form, self.state
        question = form.questions[state.pos]
        number = sum(1 for i in range(state.pos + 1) if self.applicable(i))
        total = sum(1 for i in range(len(form.questions)) if self.applicable(i))
        lines = [prefix] if prefix else []
        # While a question that depends on an answer is still ahead, the total is not known yet:
        # it is shown once it is, so that it never changes while the form runs.
        known = not any(q.ask_if for q in form.questions[state.pos + 1:])
        if total > 1 and not known:
            lines.append(t._("<b>{title}</b> · question {n}").format(title=t._(form.title),
                                                                       n=number))
        elif total > 1:
            lines.append(t._("<b>{title}</b> · question {n}/{total}").format(
                title=t._(form.title), n=number, total=total))
        else:
            lines.append(f"<b>{t._(form.title)}</b>")
        if state.answers.get(question.key) is not None:  # changing an answer: say which, and
            lines.append(t._("Changing “{label}”, now: {value}").format(  # what it is now
                label=t._(question.label),
                value=show_value(t, question, state.answers[question.key])))
        lines.append(t._(question.prompt))
        hints = [question.type.hint(t, question)]
        if question.optional:
            hints.append(t._("Optional: press Skip to leave it empty."))
        hint = " ".join(h for h in hints if h)
        if hint:
            lines.append(f"<i>{hint}</i>")
        self.say("\n".join(lines), self.buttons(), edit)

    def summary(self, prefix: str = "") -> None:
        self.state.mode = Mode.SUMMARY
        self.new_step()
        self.show_summary(prefix)

    def summary_buttons(self) -> list[tuple[str, str]]:
        t = self.env.t
        return [(CONFIRM, t._("Confirm")), (CHANGE, t._("Change an answer")),
                (CANCEL, t._("Cancel"))]

    def show_summary(self, prefix: str = "") -> None:
        t = self.env.t
        lines = [prefix] if prefix else []
        lines.append(t._("<b>{title}</b>: please check your answers.").format(
            title=t._(self.form.title)))
        lines += summary_lines(t, self.form, self.state.answers)
        if self.preview:
            lines.append(self.preview)
        self.say("\n".join(lines), self.summary_buttons())

    def pickable(self) -> list[tuple[str, str]]:
        """(value, label) of the answers that can be changed."""
        return [(f"q{i}", self.env.t._(q.label)) for i, q in enumerate(self.form.questions)
                if self.applicable(i)]

    def show_pick(self, prefix: str = "") -> None:
        lines = ([prefix] if prefix else []) + [self.env.t._("Which answer do you want to "
                                                             "change?")]
        # The labels in full, however long: each channel shows them as it can (numbered, or
        # as buttons cut to fit with the full list in the text).
        self.say("\n".join(lines), self.pickable())

    def show_current(self, prefix: str = "") -> None:
        """Where the form is (question, summary or the answers to change), changing nothing:
        the buttons already shown for it stay valid."""
        if self.state.mode is Mode.SUMMARY:
            self.show_summary(prefix)
        elif self.state.mode is Mode.PICK:
            self.show_pick(prefix)
        else:
            self.ask(prefix)

    def leave(self) -> None:
        self.session.form = None


def _pressed(session: Session, choice: str | None) -> str | None:
    """The value of a pressed form button of the current step, else None."""
    if not choice:
        return None
    prefix, _, rest = choice.partition(":")
    number, _, value = rest.partition(":")
    return value if prefix == "f" and number == str(session.step) else None


def _outcome(run: _Run, inp: Input) -> Outcome:
    """What the input makes of the current question (its type parses it; Skip is the
    engine's)."""
    question = run.form.questions[run.state.pos]
    text = inp.text.strip()
    pressed = _pressed(run.session, inp.choice)
    if pressed is None and text and inp.choice is None:  # an offered choice typed
        pressed = question.type.pick(text, run.buttons())
    if question.optional and (pressed == SKIP or (pressed is None and fold(text) in SKIP_WORDS)):
        return Accept(None)
    given = Given(pressed, text, inp.attachment, inp.unsupported)
    found = question.type.parse(question, given, run.state, run.env)
    if isinstance(found, Accept) and found.value is not None and inp.check_error:
        return Reject(inp.check_error)
    return found


def step(form: Form, session: Session, inp: Input, env: Env) -> Result:
    """Feed one input to the running form: the new state, the replies, and the answers to
    submit when the form was confirmed (the caller submits them)."""
    run = _Run(form, session, env, inp.preview)
    t, state = env.t, run.state
    if inp.earlier:
        run.show_current(t._("That answer was for an earlier question, which already has its "
                             "answer (to change it, use Change an answer before confirming). "
                             "Here is where we are:"))
    elif inp.choice and _pressed(session, inp.choice) is None:  # a button of an earlier step
        if inp.pressed_message_id and inp.pressed_message_id == state.drawn:
            # A second tap on an option of the question just redrawn: it is shown as it is.
            run.ask(edit=inp.pressed_message_id)
        else:
            run.show_current(t._("That button belongs to an earlier step. Here is where we "
                                 "are:"))
    elif state.mode is Mode.SUMMARY:
        _on_summary(run, inp)
    elif state.mode is Mode.PICK:
        _on_pick(run, inp)
    else:
        _on_answer(run, inp)
    return run.result()


def _on_answer(run: _Run, inp: Input) -> None:
    state, form = run.state, run.form
    question = form.questions[state.pos]
    found = _outcome(run, inp)
    if isinstance(found, Reject):
        run.ask(f"⚠️ {found.error}")
        return
    if isinstance(found, Partial):
        if found.text:
            run.say(found.text, found.buttons)
        else:
            # An option toggled: the question is redrawn in place with new button ids, so a
            # second tap of the same option (a double tap) is stale and cannot undo the first.
            run.session.step += 1
            state.drawn = inp.pressed_message_id
            run.ask(edit=state.drawn)
        return
    state.answers[question.key] = found.value
    following = None if state.mode is Mode.EDIT else run.next_index(state.pos)
    if following is not None:
        state.pos = following
        run.new_step()
        run.ask()
        return
    # Answers that no longer apply (a branch was changed) are dropped before the summary.
    answers = dict(state.answers)
    for index, other in enumerate(form.questions):
        if not run.applicable(index, answers):
            state.answers.pop(other.key, None)
    missing = next((i for i in range(len(form.questions))
                    if run.applicable(i) and form.questions[i].key not in state.answers), None)
    if missing is not None:  # an edit opened a branch with unanswered questions
        state.pos, state.mode = missing, Mode.ASK
        run.new_step()
        run.ask()
    elif not form.confirm:
        run.submission = Submission(state.answers, state.params)
        run.leave()
    else:
        run.summary()


def _on_summary(run: _Run, inp: Input) -> None:
    t, state = run.env.t, run.state
    value = _pressed(run.session, inp.choice)
    if value is None and inp.text:
        value = match_option(inp.text, run.summary_buttons())
    if value == CONFIRM:
        run.submission = Submission(state.answers, state.params)
        run.leave()
    elif value == CANCEL:
        run.leave()
        run.replies.append(Reply(t._("Cancelled. Nothing was saved.")))
    elif value == CHANGE:
        state.mode = Mode.PICK
        run.new_step()
        run.show_pick()
    else:
        run.summary("⚠️ " + t._("Please choose Confirm, Change an answer or Cancel."))


def _on_pick(run: _Run, inp: Input) -> None:
    value = _pressed(run.session, inp.choice)
    applicable = run.pickable()
    if value is None and inp.text:
        value = match_option(inp.text, applicable)
    if value not in {v for v, _label in applicable}:
        run.say("⚠️ " + run.env.t._("Please choose one of the answers listed."), applicable)
        return
    assert value is not None
    run.state.pos, run.state.mode = int(value[1:]), Mode.EDIT
    run.new_step()
    run.ask()


def begin(form: Form, session: Session, env: Env, params: dict[str, Any] | None = None,
          answers: dict[str, Any] | None = None, intro: str = "", preview: str = "") -> Result:
    """A new form in the session (answers already known are not asked but summarised)."""
    started = replace(session, form=FormState(id=form.id, answers=dict(answers or {}),
                                              params=params or {}))
    run = _Run(form, started, env, preview)
    first = run.next_index(-1)
    if first is None:
        run.summary(intro)
    else:
        run.state.pos = first
        run.new_step()
        run.ask(intro)
    return run.result()


def reopen(form: Form, session: Session, draft: dict[str, Any], env: Env,
           preview: str = "") -> Result:
    """A saved form continued where it stopped."""
    state = FormState.load(draft)
    # The counter never goes back: a draft's buttons (and older ones) stay stale.
    run = _Run(form, replace(session, form=state, step=max(session.step, draft.get("step", 0))),
               env, preview)
    prefix = env.t._("Continuing where you stopped.")
    if state.mode in (Mode.SUMMARY, Mode.PICK):
        run.summary(prefix)
    else:
        run.new_step()
        run.ask(prefix)
    return run.result()


def current(form: Form, session: Session, env: Env, prefix: str = "", preview: str = ""
            ) -> Result:
    """Show where the form is, changing nothing."""
    run = _Run(form, session, env, preview)
    run.show_current(prefix)
    return run.result()


async def submit_typed(ctx: Ctx, form: Form, params: dict[str, Any],
                       typed: dict[str, str]) -> str | None:
    """A form answered at once outside a chat (the web desk's note or answer): each typed answer
    read by its question's own type, then the form's own submit. The reason it was refused, or
    None once submitted."""
    t = ctx.t
    if ctx.role not in form.roles:
        return t._("You no longer have access to this form.")
    step = await env(ctx, form)
    answers: dict[str, Any] = {}
    for question in form.questions:
        text = typed.get(question.key, "")
        if not text.strip() and question.optional:
            answers[question.key] = None
            continue
        outcome = question.type.parse(question, Given(text=text), FormState(id=form.id), step)
        if not isinstance(outcome, Accept):
            return outcome.error if isinstance(outcome, Reject) else t._(
                "This question needs a typed answer or a button.")
        if question.check is not None:
            error = await question.check(ctx, outcome.value)
            if error:
                return error
        answers[question.key] = outcome.value
    await form.submit(ctx, answers, params)
    return None


def summary_lines(t: Any, form: Form, answers: dict[str, Any],
                  skip: frozenset[str] | set[str] = frozenset()) -> list[str]:
    """'Label: value' for every question that applies, as shown before confirming."""
    return [f"<b>{t._(q.label)}</b>: {show_value(t, q, answers.get(q.key))}"
            for q in form.questions
            if (q.ask_if is None or q.ask_if(answers)) and q.key not in skip]


# ---------------------------------------------------------------------------------------------
# The caller: look up what a step needs, step, apply the result (all in the handler's
# transaction)

async def env(ctx: Ctx, form: Form, units: FoundUnits | None = None) -> Env:
    """What the form's step may read, the data options of its questions included."""
    config = ctx.config
    options = {q.key: await q.options_from(ctx) for q in form.questions if q.options_from}
    return Env(ctx.t, ctx.today, config.programme_start, config.max_files_per_answer,
               config.max_files_per_form, units, options)


async def _preview(ctx: Ctx, form: Form, session: Session) -> str:
    if form.preview is None or session.form is None or session.form.mode is not Mode.SUMMARY:
        return ""
    return await form.preview(ctx, session.form.answers)


async def _apply(ctx: Ctx, form: Form, result: Result) -> None:
    session, replies, submission = result
    ctx.state = session
    ctx.flow = form.id if session.form is not None else MENU_FLOW
    for reply in replies:
        ctx.say(reply)
    if submission is not None:
        await form.submit(ctx, submission.answers, submission.params)


async def _with_preview(ctx: Ctx, form: Form, make: Callable[[str], Result]) -> Result:
    """Make a result; if it lands on the summary of a form with a preview, make it again with
    the preview worked out from its answers (a step is pure, so making it twice is harmless)."""
    result = make("")
    preview = await _preview(ctx, form, result[0])
    return make(preview) if preview else result


async def start(ctx: Ctx, form: Form, params: dict | None = None,
                answers: dict | None = None, intro: str = "") -> None:
    """Begin a form (optionally with answers already known, e.g. pre-filled figures); questions
    already answered are not asked but shown in the summary."""
    shelved = await shelve(ctx)
    if shelved:
        note = ctx.t._("Your unfinished “{title}” is kept as a draft; you can continue it "
                       "later.").format(title=ctx.t._(shelved.title))
        intro = f"{note}\n{intro}" if intro else note
    session, here = ctx.state, await env(ctx, form)
    await _apply(ctx, form, await _with_preview(
        ctx, form, lambda preview: begin(form, session, here, params, answers, intro, preview)))


async def resume(ctx: Ctx, form: Form, draft: dict) -> None:
    """Continue a saved form where it stopped (keeping any other running form as a draft)."""
    await shelve(ctx)
    session, here = ctx.state, await env(ctx, form)
    await _apply(ctx, form, await _with_preview(
        ctx, form, lambda preview: reopen(form, session, draft, here, preview)))


async def show_current(ctx: Ctx, form: Form, prefix: str = "") -> None:
    """Show where the running form is again, changing nothing."""
    session, here = ctx.state, await env(ctx, form)
    await _apply(ctx, form, await _with_preview(
        ctx, form, lambda preview: current(form, session, here, prefix, preview)))


async def shelve(ctx: Ctx) -> Form | None:
    """Keep the running form, if any, as a draft and leave it; return that form."""
    form = FORMS.get(ctx.flow)
    if form is None or ctx.state.form is None:
        return None
    await ctx.tx.sessions.save_draft(ctx.contact.id, form.id,
                                     ctx.state.form.dump(ctx.state.step), ctx.now)
    leave(ctx)
    return form


def leave(ctx: Ctx) -> None:
    """Close the running form (its answers are dropped)."""
    ctx.set_flow(MENU_FLOW)


async def _answers_earlier(ctx: Ctx, form: Form) -> bool:
    """Whether a typed message answers an earlier question than the current one: the last
    question the person saw before writing it (or the one they replied to) is another step.
    This keeps an answer to a question shown twice (a message repeated after a crash, or two
    answers typed quickly) from landing in the next field."""
    event = ctx.event
    if event.choice is not None or event.message_id is None:
        return False
    asked = await ctx.tx.outbox.question_before(event.channel, event.chat_id, event.message_id,
                                                event.reply_to)
    return asked is not None and asked != f"{form.id}:{ctx.state.step}"


async def on_event(ctx: Ctx, form: Form) -> None:
    """Feed the current event to the running form: look up what the step needs, step, apply."""
    event, session = ctx.event, ctx.state
    inp = Input(event.text or "", event.choice, event.attachment, event.unsupported,
                event.pressed_message_id, await _answers_earlier(ctx, form))
    units = None
    state = session.form
    if state is not None and state.mode in (Mode.ASK, Mode.EDIT) and not inp.earlier:
        question = form.questions[state.pos]
        text = inp.text.strip()
        if question.type.looks_up_units and text and inp.choice is None:
            units = FoundUnits(text, tuple(UnitRef(u.code, u.name, u.valid_to, u.successors)
                                           for u in await ctx.tx.units.search(text)))
        if question.check is not None:  # the check may read the database: it runs first
            found = _outcome(_Run(form, session, await env(ctx, form, units)), inp)
            if isinstance(found, Accept) and found.value is not None:
                inp = replace(inp, check_error=await question.check(ctx, found.value))
    here = await env(ctx, form, units)
    await _apply(ctx, form, await _with_preview(
        ctx, form, lambda preview: step(form, session, replace(inp, preview=preview), here)))
