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

State lives in the session row as JSON (`mode` is one of the strings of `Mode`), so a form
survives a restart. Button ids carry the step number, so a stale or forged button is recognised;
a multi-choice question takes a new step at each toggle, so a double tap cannot undo itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from handlers.context import MENU_FLOW, Ctx
from handlers.text import (
    esc,
    fit_button,
    fold,
    is_blank,
    match_option,
    parse_date,
    parse_integer,
    parse_yes_no,
)
from handlers.types import Choice
from storage.models import Role


class Kind(StrEnum):
    TEXT = "text"
    INTEGER = "integer"
    DATE = "date"
    CHOICE = "choice"
    MULTI = "multi"
    ATTACHMENT = "attachment"
    YESNO = "yesno"
    UNIT = "unit"  # typed code or part of a name; stored as {"code", "name"}


class Mode(StrEnum):
    ASK = "ask"
    SUMMARY = "summary"
    PICK = "pick"
    EDIT = "edit"


# A check returns an error message (translated) or None; it may normalise nothing.
Check = Callable[[Ctx, Any], Awaitable[str | None]]


@dataclass(frozen=True)
class Question:
    key: str
    kind: Kind
    label: str  # short, for the summary (marked with N_)
    prompt: str  # the question asked (marked with N_)
    options: tuple[tuple[str, str], ...] = ()
    optional: bool = False
    min_value: int = 0
    max_value: int = 10_000_000
    max_length: int = 2000
    allow_future: bool = False
    # A date of an activity under the programme: not before the programme started.
    in_programme: bool = False
    check: Check | None = None
    ask_if: Callable[[dict], bool] | None = None
    # How the answer reads in the summary, when a plain number or text would not (08:00).
    show: Callable[[Any], str] | None = None


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


SKIP, DONE, CONFIRM, CHANGE, CANCEL = "skip", "done", "ok", "chg", "cxl"
_SKIP_WORDS = {"bo qua", "skip", "-"}
_DONE_WORDS = {"xong", "done", "het"}


def _asks(form: Form, state: dict) -> str:
    """What a message putting the current step asks, in the outbox (see `_answers_earlier`)."""
    return f"{form.id}:{state['step']}"


def _choice(state: dict, value: str, label: str) -> Choice:
    return Choice(f"f:{state['step']}:{value}", label)


def _applicable(form: Form, answers: dict, index: int) -> bool:
    question = form.questions[index]
    return question.ask_if is None or question.ask_if(answers)


def _next_index(form: Form, answers: dict, after: int) -> int | None:
    """The next question to ask: it applies and has no answer yet (answers may be pre-filled)."""
    for index in range(after + 1, len(form.questions)):
        if _applicable(form, answers, index) and form.questions[index].key not in answers:
            return index
    return None


def _hint(ctx: Ctx, question: Question) -> str:
    t = ctx.t
    hints = {
        # A day to come (a notice's day, a new deadline) and a day past (an activity) differ.
        Kind.DATE: (t._("Date as dd/mm/yyyy, or “hôm nay”, “ngày mai”.") if question.allow_future
                    else t._("Date as dd/mm/yyyy, or “hôm nay”, “hôm qua”.")),
        # A small range (an hour, a count of invites) is said; a count of people is not.
        Kind.INTEGER: (t._("A number from {low} to {high}.").format(
            low=t.number(question.min_value), high=t.number(question.max_value))
            if question.max_value <= 1000 else t._("A whole number, e.g. 1.200.")),
        Kind.MULTI: t._("Tap every option that applies, then Done (or type the numbers, "
                        "e.g. 1, 3)."),
        Kind.ATTACHMENT: t._("Send photos or documents, then press Done."),
    }
    parts = [hints[question.kind]] if question.kind in hints else []
    if question.optional:
        parts.append(t._("Optional: press Skip to leave it empty."))
    return " ".join(parts)


def _ask(ctx: Ctx, form: Form, state: dict, prefix: str = "", edit: str | None = None) -> None:
    """Show the current question with its buttons."""
    t = ctx.t
    question = form.questions[state["pos"]]
    number = sum(1 for i in range(state["pos"] + 1) if _applicable(form, state["answers"], i))
    total = sum(1 for i in range(len(form.questions)) if _applicable(form, state["answers"], i))
    lines = [prefix] if prefix else []
    # While a question that depends on an answer is still ahead, the total is not known yet:
    # it is shown once it is, so that it never changes while the form runs.
    known = not any(q.ask_if for q in form.questions[state["pos"] + 1:])
    if total > 1 and not known:
        lines.append(t._("<b>{title}</b> · question {n}").format(title=t._(form.title), n=number))
    elif total > 1:
        lines.append(t._("<b>{title}</b> · question {n}/{total}").format(
            title=t._(form.title), n=number, total=total))
    else:
        lines.append(f"<b>{t._(form.title)}</b>")
    if state["answers"].get(question.key) is not None:  # changing an answer: say which, and
        lines.append(t._("Changing “{label}”, now: {value}").format(  # what it is now
            label=t._(question.label), value=_show_value(ctx, question,
                                                         state["answers"][question.key])))
    lines.append(t._(question.prompt))
    hint = _hint(ctx, question)
    if hint:
        lines.append(f"<i>{hint}</i>")
    choices: list[Choice] = []
    if question.kind is Kind.CHOICE:
        choices = [_choice(state, oid, t._(label)) for oid, label in question.options]
    elif question.kind is Kind.YESNO:
        choices = [_choice(state, "yes", t._("Yes")), _choice(state, "no", t._("No"))]
    elif question.kind is Kind.MULTI:
        chosen = set(state.get("multi", []))
        choices = [_choice(state, oid, ("✓ " if oid in chosen else "") + t._(label))
                   for oid, label in question.options]
        choices.append(_choice(state, DONE, t._("Done")))
    elif question.kind is Kind.ATTACHMENT and state.get("files"):
        choices = [_choice(state, DONE, t._("Done"))]
    if question.optional:
        choices.append(_choice(state, SKIP, t._("Skip")))
    ctx.reply("\n".join(lines), choices, edit=edit, asks=_asks(form, state))


def _new_step(state: dict) -> None:
    state["step"] = state.get("step", 0) + 1
    state.pop("multi", None)
    state.pop("files", None)
    state.pop("drawn", None)


def _show_value(ctx: Ctx, question: Question, value: Any) -> str:
    t = ctx.t
    if value is None:
        return "—"
    labels = {oid: t._(label) for oid, label in question.options}
    if question.show is not None:
        return esc(question.show(value))
    if question.kind is Kind.INTEGER:
        return t.number(value)
    if question.kind is Kind.DATE:
        return t.date(date.fromisoformat(value))
    if question.kind is Kind.CHOICE:
        return esc(labels.get(value, value))
    if question.kind is Kind.MULTI:
        return esc(", ".join(labels.get(v, v) for v in value))
    if question.kind is Kind.YESNO:
        return t._("Yes") if value else t._("No")
    if question.kind is Kind.ATTACHMENT:
        return t.ngettext("{n} file", "{n} files", len(value)).format(n=len(value))
    if question.kind is Kind.UNIT:
        return esc(value["name"])
    return esc(value)


def summary_lines(ctx: Ctx, form: Form, answers: dict,
                  skip: frozenset[str] | set[str] = frozenset()) -> list[str]:
    """'Label: value' for every question that applies, as shown before confirming."""
    return [f"<b>{ctx.t._(q.label)}</b>: {_show_value(ctx, q, answers.get(q.key))}"
            for i, q in enumerate(form.questions)
            if _applicable(form, answers, i) and q.key not in skip]


async def _summary(ctx: Ctx, form: Form, state: dict, prefix: str = "") -> None:
    state["mode"] = Mode.SUMMARY
    _new_step(state)
    await _show_summary(ctx, form, state, prefix)


async def _show_summary(ctx: Ctx, form: Form, state: dict, prefix: str = "") -> None:
    t = ctx.t
    lines = [prefix] if prefix else []
    lines.append(t._("<b>{title}</b>: please check your answers.").format(title=t._(form.title)))
    lines += summary_lines(ctx, form, state["answers"])
    if form.preview is not None:
        lines.append(await form.preview(ctx, state["answers"]))
    ctx.reply("\n".join(lines), [_choice(state, CONFIRM, t._("Confirm")),
                                 _choice(state, CHANGE, t._("Change an answer")),
                                 _choice(state, CANCEL, t._("Cancel"))], asks=_asks(form, state))


async def start(ctx: Ctx, form: Form, params: dict | None = None,
                answers: dict | None = None, intro: str = "") -> None:
    """Begin a form (optionally with answers already known, e.g. pre-filled figures); questions
    already answered are not asked but shown in the summary."""
    shelved = await shelve(ctx)
    if shelved:
        note = ctx.t._("Your unfinished “{title}” is kept as a draft; you can continue it "
                       "later.").format(title=ctx.t._(shelved.title))
        intro = f"{note}\n{intro}" if intro else note
    # Steps count on across forms, so a button of an earlier form never matches this one.
    state = {"id": form.id, "answers": dict(answers or {}), "mode": Mode.ASK,
             "params": params or {}, "step": ctx.state.get("seq", 0)}
    first = _next_index(form, state["answers"], -1)
    ctx.set_flow(form.id, state)
    if first is None:
        await _summary(ctx, form, state, intro)
        return
    state["pos"] = first
    _new_step(state)
    _ask(ctx, form, state, intro)


async def resume(ctx: Ctx, form: Form, state: dict) -> None:
    """Continue a saved form where it stopped (keeping any other running form as a draft)."""
    await shelve(ctx)
    state["step"] = max(state.get("step", 0), ctx.state.get("seq", 0))
    ctx.set_flow(form.id, state)
    prefix = ctx.t._("Continuing where you stopped.")
    if state["mode"] in (Mode.SUMMARY, Mode.PICK):
        await _summary(ctx, form, state, prefix)
    else:
        _new_step(state)
        _ask(ctx, form, state, prefix)


async def shelve(ctx: Ctx) -> Form | None:
    """Keep the running form, if any, as a draft and leave it; return that form."""
    form = FORMS.get(ctx.flow)
    if form is None or "form" not in ctx.state:
        return None
    await ctx.tx.sessions.save_draft(ctx.contact.id, form.id, ctx.state["form"], ctx.now)
    leave(ctx)
    return form


def leave(ctx: Ctx) -> None:
    """Close the running form (its answers are dropped)."""
    if "form" in ctx.state:
        ctx.state["seq"] = ctx.state["form"].get("step", 0)
    ctx.set_flow(MENU_FLOW)


def _too_many_files(ctx: Ctx, question: Question, state: dict) -> str:
    """Why one more file cannot be taken, if it cannot: each file is a message to everyone who
    opens the report, and the form's state is rewritten with every file."""
    t, config = ctx.t, ctx.config
    here = len(state.get("files", []))
    if here >= config.max_files_per_answer:
        return t.ngettext("You can attach at most {n} file here. Press Done to go on.",
                          "You can attach at most {n} files here. Press Done to go on.",
                          config.max_files_per_answer).format(n=config.max_files_per_answer)
    elsewhere = sum(len(v) for k, v in state.get("answers", {}).items() if k != question.key
                    and isinstance(v, list) and v and isinstance(v[0], dict) and "file_id" in v[0])
    if here + elsewhere >= config.max_files_per_form:
        return t.ngettext("This form already has {n} file, the most it can take.",
                          "This form already has {n} files, the most it can take.",
                          config.max_files_per_form).format(n=config.max_files_per_form)
    return ""


async def _validate(ctx: Ctx, question: Question, state: dict) -> tuple[bool, Any, str]:
    """(accepted, value, error) for the event against the current question."""
    t = ctx.t
    event = ctx.event
    value_id = _pressed(ctx, state)
    text = (event.text or "").strip()
    if question.optional and (value_id == SKIP or (not value_id and fold(text) in _SKIP_WORDS)):
        return True, None, ""
    # Without buttons, Skip is shown as option 1 of a text question: "1" means Skip there.
    # (Not for numbers and dates, where "1" is a real answer; "bỏ qua" always works.)
    if question.optional and question.kind is Kind.TEXT and not value_id and text == "1":
        return True, None, ""
    kind = question.kind
    if kind is Kind.ATTACHMENT:
        if value_id is None and text:  # typed: only Done or Skip make sense, by number or name
            offered = ([(DONE, t._("Done"))] if state.get("files") else []) + (
                [(SKIP, t._("Skip"))] if question.optional else [])
            value_id = match_option(text, offered)
            if value_id == SKIP:
                return True, None, ""
        if event.attachment is not None:
            problem = _too_many_files(ctx, question, state)
            if problem:
                return False, None, problem
            state.setdefault("files", []).append(
                {"kind": event.attachment.kind, "file_id": event.attachment.file_id,
                 "name": event.attachment.name})
            return False, None, ""
        if value_id == DONE or fold(text) in _DONE_WORDS:
            if state.get("files"):
                return True, state["files"], ""
            return False, None, t._("Please send at least one photo or document.")
        return False, None, t._("Please send a photo or a document.")
    if event.attachment is not None or event.unsupported:
        return False, None, t._("This question needs a typed answer or a button.")
    if kind in (Kind.CHOICE, Kind.YESNO):
        options = (list(question.options) if kind is Kind.CHOICE
                   else [("yes", t._("Yes")), ("no", t._("No"))])
        if value_id is None and text:
            value_id = match_option(text, [(o, t._(label)) for o, label in options])
            if value_id is None and kind is Kind.YESNO:
                answer = parse_yes_no(text)
                value_id = None if answer is None else ("yes" if answer else "no")
        if value_id not in {o for o, _label in options}:
            return False, None, t._("Please choose one of the options.")
        return True, (value_id == "yes") if kind is Kind.YESNO else value_id, ""
    if kind is Kind.MULTI:
        return _validate_multi(ctx, question, state, value_id, text)
    if value_id is not None:
        return False, None, t._("That button does not answer this question.")
    if is_blank(text):  # spaces or zero-width characters only: nothing anyone could read
        return False, None, t._("The answer cannot be empty.")
    if kind is Kind.UNIT:
        return await _validate_unit(ctx, text)
    if kind is Kind.TEXT:
        if len(text) > question.max_length:
            return False, None, t._("Please keep it under {n} characters (now {m}).").format(
                n=t.number(question.max_length), m=t.number(len(text)))
        return True, text, ""
    if kind is Kind.INTEGER:
        number = parse_integer(text)
        if number is None:
            return False, None, t._("Please enter a whole number, e.g. 1.200.")
        if not question.min_value <= number <= question.max_value:
            return False, None, t._("Please enter a number from {low} to {high}.").format(
                low=t.number(question.min_value), high=t.number(question.max_value))
        return True, number, ""
    # Kind.DATE
    day = parse_date(text, ctx.today)
    if day is None:
        return False, None, t._("“{text}” is not a date. Please write it as dd/mm/yyyy.").format(
            text=esc(text[:40]))
    if not question.allow_future and day > ctx.today:
        return False, None, t._("The date {day} is in the future.").format(day=t.date(day))
    start = ctx.config.programme_start
    if question.in_programme and day < start:
        return False, None, t._("The programme started on {start}; the date {day} is before "
                                "it.").format(start=t.date(start), day=t.date(day))
    return True, day.isoformat(), ""


async def _validate_unit(ctx: Ctx, text: str) -> tuple[bool, Any, str]:
    t = ctx.t
    candidates = await ctx.tx.units.search(text)
    if len(candidates) == 1:
        return True, {"code": candidates[0].code, "name": candidates[0].name}, ""
    if not candidates:
        return False, None, t._("No unit matches “{query}”. Type its code (e.g. Q-LECHAN) or a "
                                "part of its name.").format(query=esc(text[:60]))
    listed = "\n".join(f"{u.code} — {esc(u.name)}" for u in candidates[:10])
    return False, None, t._("Several units match; please type the code of one:") + "\n" + listed


def _validate_multi(ctx: Ctx, question: Question, state: dict, value_id: str | None,
                    text: str) -> tuple[bool, Any, str]:
    t = ctx.t
    ids = [oid for oid, _label in question.options]
    chosen: list[str] = state.setdefault("multi", [])
    if value_id in ids:
        if value_id in chosen:
            chosen.remove(value_id)
        else:
            chosen.append(value_id)
        return False, None, ""
    done_number = str(len(question.options) + 1)  # Done follows the options when numbered
    if value_id is None and text and fold(text) not in _DONE_WORDS and text != done_number:
        picked = []
        labelled = [(oid, t._(label)) for oid, label in question.options]
        for part in text.replace(";", ",").replace(" ", ",").split(","):
            if part.strip():
                match = match_option(part, labelled)
                if match is None:
                    return False, None, t._("“{part}” is not one of the options.").format(
                        part=esc(part.strip()[:40]))
                picked.append(match)
        chosen[:] = list(dict.fromkeys(picked))
    elif value_id not in (None, DONE):
        return False, None, t._("That button does not answer this question.")
    if not chosen:
        return False, None, t._("Please choose at least one option.")
    return True, [oid for oid in ids if oid in chosen], ""


def _pressed(ctx: Ctx, state: dict) -> str | None:
    """The value of a pressed form button of the current step, else None."""
    choice = ctx.event.choice
    if not choice:
        return None
    prefix, _, rest = choice.partition(":")
    step, _, value = rest.partition(":")
    return value if prefix == "f" and step == str(state["step"]) else None


def is_stale(ctx: Ctx, state: dict) -> bool:
    choice = ctx.event.choice
    return bool(choice) and _pressed(ctx, state) is None


async def _answers_earlier(ctx: Ctx, form: Form, state: dict) -> bool:
    """Whether a typed message answers an earlier question than the current one: the last
    question the person saw before writing it (or the one they replied to) is another step.
    This keeps an answer to a question shown twice (a message repeated after a crash, or two
    answers typed quickly) from landing in the next field."""
    event = ctx.event
    if event.choice is not None or event.message_id is None:
        return False
    asked = await ctx.tx.outbox.question_before(event.channel, event.chat_id, event.message_id,
                                                event.reply_to)
    return asked is not None and asked != _asks(form, state)


async def show_current(ctx: Ctx, form: Form, state: dict, prefix: str = "") -> None:
    """Show where the form is (question, summary or the answers to change) again, changing
    nothing: the buttons already shown for it stay valid."""
    mode = Mode(state["mode"])
    if mode is Mode.SUMMARY:
        await _show_summary(ctx, form, state, prefix)
    elif mode is Mode.PICK:
        _show_pick(ctx, form, state, prefix)
    else:
        _ask(ctx, form, state, prefix)


async def on_event(ctx: Ctx, form: Form) -> None:
    """Feed the current event to the running form."""
    t = ctx.t
    state = ctx.state["form"]
    if await _answers_earlier(ctx, form, state):
        await show_current(ctx, form, state, t._(
            "That answer was for an earlier question, which already has its answer (to change "
            "it, use Change an answer before confirming). Here is where we are:"))
        return
    if is_stale(ctx, state):
        pressed = ctx.event.pressed_message_id
        if pressed and pressed == state.get("drawn"):
            # A second tap on an option of the question just redrawn: it is shown as it is.
            _ask(ctx, form, state, edit=pressed)
        else:
            await show_current(ctx, form, state, t._("That button belongs to an earlier step. "
                                                     "Here is where we are:"))
        return
    mode = Mode(state["mode"])
    if mode is Mode.SUMMARY:
        await _on_summary(ctx, form, state)
    elif mode is Mode.PICK:
        _on_pick(ctx, form, state)
    else:
        await _on_answer(ctx, form, state)


async def _on_answer(ctx: Ctx, form: Form, state: dict) -> None:
    question = form.questions[state["pos"]]
    accepted, value, error = await _validate(ctx, question, state)
    if accepted and question.check is not None and value is not None:
        error = await question.check(ctx, value) or ""
        accepted = not error
    if not accepted:
        if error:
            _ask(ctx, form, state, f"⚠️ {error}")
        elif question.kind is Kind.MULTI:
            # An option toggled: the question is redrawn in place with new button ids, so a
            # second tap of the same option (a double tap) is stale and cannot undo the first.
            state["step"] += 1
            state["drawn"] = ctx.event.pressed_message_id
            _ask(ctx, form, state, edit=state["drawn"])
        else:  # a file arrived for an attachment question
            count = len(state.get("files", []))
            ctx.reply(ctx.t.ngettext("Received {n} file. Send more or press Done.",
                                     "Received {n} files. Send more or press Done.",
                                     count).format(n=count),
                      [_choice(state, DONE, ctx.t._("Done"))], asks=_asks(form, state))
        return
    state["answers"][question.key] = value
    following = None if state["mode"] == Mode.EDIT else _next_index(form, state["answers"],
                                                                     state["pos"])
    if following is None:
        # Answers that no longer apply (a branch was changed) are dropped before the summary.
        for index, other in enumerate(form.questions):
            if not _applicable(form, state["answers"], index):
                state["answers"].pop(other.key, None)
        missing = next((i for i in range(len(form.questions))
                        if _applicable(form, state["answers"], i)
                        and form.questions[i].key not in state["answers"]), None)
        if missing is not None:  # an edit opened a branch with unanswered questions
            state.update(pos=missing, mode=Mode.ASK)
            _new_step(state)
            _ask(ctx, form, state)
            return
        if not form.confirm:
            leave(ctx)
            await form.submit(ctx, state["answers"], state["params"])
            return
        await _summary(ctx, form, state)
        return
    state["pos"] = following
    _new_step(state)
    _ask(ctx, form, state)


async def _on_summary(ctx: Ctx, form: Form, state: dict) -> None:
    t = ctx.t
    value = _pressed(ctx, state)
    if value is None and ctx.event.text:
        value = match_option(ctx.event.text, [(CONFIRM, t._("Confirm")),
                                              (CHANGE, t._("Change an answer")),
                                              (CANCEL, t._("Cancel"))])
    if value == CONFIRM:
        answers, params = state["answers"], state["params"]
        leave(ctx)
        await form.submit(ctx, answers, params)
    elif value == CANCEL:
        leave(ctx)
        ctx.reply(t._("Cancelled. Nothing was saved."))
    elif value == CHANGE:
        state["mode"] = Mode.PICK
        _new_step(state)
        _show_pick(ctx, form, state)
    else:
        await _summary(ctx, form, state, "⚠️ " + t._("Please choose Confirm, Change an answer or "
                                               "Cancel."))


def _pickable(ctx: Ctx, form: Form, state: dict) -> list[tuple[str, str]]:
    """(value, label) of the answers that can be changed."""
    return [(f"q{i}", ctx.t._(q.label)) for i, q in enumerate(form.questions)
            if _applicable(form, state["answers"], i)]


def _show_pick(ctx: Ctx, form: Form, state: dict, prefix: str = "") -> None:
    lines = ([prefix] if prefix else []) + [ctx.t._("Which answer do you want to change?")]
    pickable = _pickable(ctx, form, state)
    if any(fit_button(label) != label for _v, label in pickable):  # say in full what was cut
        lines += [f"{n}. {esc(label)}" for n, (_v, label) in enumerate(pickable, start=1)]
    ctx.reply("\n".join(lines), [_choice(state, v, fit_button(label)) for v, label in pickable],
              asks=_asks(form, state))


def _on_pick(ctx: Ctx, form: Form, state: dict) -> None:
    t = ctx.t
    value = _pressed(ctx, state)
    applicable = _pickable(ctx, form, state)
    if value is None and ctx.event.text:
        value = match_option(ctx.event.text, applicable)
    if value not in {v for v, _label in applicable}:
        ctx.reply("⚠️ " + t._("Please choose one of the answers listed."),
                  [_choice(state, v, label) for v, label in applicable], asks=_asks(form, state))
        return
    state.update(pos=int(value[1:]), mode=Mode.EDIT)
    _new_step(state)
    _ask(ctx, form, state)
