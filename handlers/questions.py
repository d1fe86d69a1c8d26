"""Question types: each is one class (its buttons, hint, parsing, display and spreadsheet cell),
found by its kind in TYPES. Adding a type is adding a class here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from handlers.state import FormState
from handlers.text import (
    esc,
    is_blank,
    match_option,
    numbered_choice,
    parse_date,
    parse_integer,
    parse_yes_no,
)
from handlers.types import Attachment
from locales.i18n import Translator
from storage.text import fold

if TYPE_CHECKING:
    from handlers.context import Ctx


class Kind(StrEnum):
    """The shipped question types by name. A new type needs no name here: its class's `kind`
    (any string) is what a Question gives."""

    TEXT = "text"
    INTEGER = "integer"
    DATE = "date"
    CHOICE = "choice"
    MULTI = "multi"
    ATTACHMENT = "attachment"
    YESNO = "yesno"
    UNIT = "unit"  # typed code or part of a name; stored as {"code", "name"}


# A check returns an error message (translated) or None; it may need the database, so the
# caller runs it before the step (see forms.on_event).
Check = Callable[["Ctx", Any], Awaitable[str | None]]


@dataclass(frozen=True)
class Question:
    key: str
    kind: str  # a Kind, or the `kind` of any QuestionType class
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
    ask_if: Callable[[dict[str, Any]], bool] | None = None
    # How the answer reads in the summary, when a plain number or text would not (08:00).
    show: Callable[[Any], str] | None = None
    # Options that are data (e.g. the kinds of unit): read from the database before each step
    # (a step never waits), labels already in the reader's language; they replace `options`.
    options_from: Callable[[Ctx], Awaitable[tuple[tuple[str, str], ...]]] | None = None

    @property
    def type(self) -> QuestionType:
        return TYPES[self.kind]


SKIP, DONE = "skip", "done"
SKIP_WORDS = {"bo qua", "skip", "-"}
_DONE_WORDS = {"xong", "done", "het"}


@dataclass(frozen=True)
class UnitRef:
    code: str
    name: str
    # The unit's last day, if it has ceased to exist (or will), and who carries on its work:
    # a unit is chosen for what happens next (an invite, a deadline), so an ended one is not.
    valid_to: date | None = None
    successors: tuple[str, ...] = ()


class UnitLookup(Protocol):
    """Units matching a typed code or part of a name (the step's only look-up)."""

    def find(self, text: str) -> Sequence[UnitRef]: ...


@dataclass(frozen=True)
class Env:
    """What a step may read besides the form and its state: all of it known before the step."""

    t: Translator
    today: date
    programme_start: date
    max_files_per_answer: int = 10
    max_files_per_form: int = 20
    units: UnitLookup | None = None
    # question key -> its options read before the step (see Question.options_from).
    options: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Given:
    """What the person gave for the current question: `pressed` is the value of a button of this
    step (or of an offered choice picked by typing its number or label)."""

    pressed: str | None = None
    text: str = ""
    attachment: Attachment | None = None
    unsupported: bool = False


@dataclass(frozen=True)
class Accept:
    value: Any


@dataclass(frozen=True)
class Reject:
    error: str


@dataclass(frozen=True)
class Partial:
    """Taken, but the question is not answered yet (an option ticked, a file received): with
    `text`, that text is sent with `buttons`; without, the question is redrawn in place."""

    text: str = ""
    buttons: tuple[tuple[str, str], ...] = ()


Outcome = Accept | Reject | Partial


class QuestionType:
    kind: ClassVar[str]
    # A typed number is an answer here (a count, a day), never the number of an offered choice.
    takes_numbers: ClassVar[bool] = False
    # Its answer is read against the units (the caller searches them before the step).
    looks_up_units: ClassVar[bool] = False

    def hint(self, t: Translator, question: Question) -> str:
        return ""

    def buttons(self, t: Translator, question: Question, state: FormState
                ) -> list[tuple[str, str]]:
        """(value, label) of the buttons the question shows (Skip is added by the engine)."""
        return []

    def pick(self, text: str, offered: list[tuple[str, str]]) -> str | None:
        """The offered choice a typed text picks: here only its number."""
        return None if self.takes_numbers else numbered_choice(text, offered)

    def parse(self, question: Question, given: Given, state: FormState, env: Env) -> Outcome:
        raise NotImplementedError

    def show(self, t: Translator, question: Question, value: Any) -> str:
        """The answer in a message (escaped)."""
        return esc(value)

    def cell(self, t: Translator, question: Question, value: Any) -> object:
        """The answer in a spreadsheet cell: numbers stay numbers, choices become labels."""
        return value


TYPES: dict[str, QuestionType] = {}


def question_type(cls: type[QuestionType]) -> type[QuestionType]:
    TYPES[cls.kind] = cls()
    return cls


def _labels(t: Translator, question: Question) -> dict[str, str]:
    return {oid: t._(label) for oid, label in question.options}


class _Typed(QuestionType):
    """An answer typed as text (no buttons but Skip)."""

    def parse(self, question: Question, given: Given, state: FormState, env: Env) -> Outcome:
        t = env.t
        if given.attachment is not None or given.unsupported:
            return Reject(t._("This question needs a typed answer or a button."))
        if given.pressed is not None:
            return Reject(t._("That button does not answer this question."))
        if is_blank(given.text):  # spaces or zero-width characters only: nothing to read
            return Reject(t._("The answer cannot be empty."))
        return self.parse_text(question, given.text, env)

    def parse_text(self, question: Question, text: str, env: Env) -> Outcome:
        raise NotImplementedError


@question_type
class Text(_Typed):
    kind = Kind.TEXT

    def parse_text(self, question: Question, text: str, env: Env) -> Outcome:
        t = env.t
        if len(text) > question.max_length:
            return Reject(t._("Please keep it under {n} characters (now {m}).").format(
                n=t.number(question.max_length), m=t.number(len(text))))
        return Accept(text)


@question_type
class Integer(_Typed):
    kind = Kind.INTEGER
    takes_numbers = True

    def hint(self, t: Translator, question: Question) -> str:
        # A small range (an hour, a count of invites) is said; a count of people is not.
        if question.max_value <= 1000:
            return t._("A number from {low} to {high}.").format(
                low=t.number(question.min_value), high=t.number(question.max_value))
        return t._("A whole number, e.g. 1.200.")

    def parse_text(self, question: Question, text: str, env: Env) -> Outcome:
        t = env.t
        number = parse_integer(text)
        if number is None:
            return Reject(t._("Please enter a whole number, e.g. 1.200."))
        if not question.min_value <= number <= question.max_value:
            return Reject(t._("Please enter a number from {low} to {high}.").format(
                low=t.number(question.min_value), high=t.number(question.max_value)))
        return Accept(number)

    def show(self, t: Translator, question: Question, value: Any) -> str:
        return t.number(value)


@question_type
class Date(_Typed):
    kind = Kind.DATE
    takes_numbers = True

    def hint(self, t: Translator, question: Question) -> str:
        # A day to come (a notice's day, a new deadline) and a day past (an activity) differ.
        if question.allow_future:
            return t._("Date as dd/mm/yyyy, or “hôm nay”, “ngày mai”.")
        return t._("Date as dd/mm/yyyy, or “hôm nay”, “hôm qua”.")

    def parse_text(self, question: Question, text: str, env: Env) -> Outcome:
        t = env.t
        day = parse_date(text, env.today)
        if day is None:
            return Reject(t._("“{text}” is not a date. Please write it as dd/mm/yyyy.").format(
                text=esc(text[:40])))
        if not question.allow_future and day > env.today:
            return Reject(t._("The date {day} is in the future.").format(day=t.date(day)))
        if question.in_programme and day < env.programme_start:
            return Reject(t._("The programme started on {start}; the date {day} is before "
                              "it.").format(start=t.date(env.programme_start), day=t.date(day)))
        return Accept(day.isoformat())

    def show(self, t: Translator, question: Question, value: Any) -> str:
        return t.date(date.fromisoformat(value))

    def cell(self, t: Translator, question: Question, value: Any) -> object:
        return date.fromisoformat(value)


@question_type
class Unit(_Typed):
    kind = Kind.UNIT
    takes_numbers = True  # a unit's code is typed as it is
    looks_up_units = True

    def parse_text(self, question: Question, text: str, env: Env) -> Outcome:
        t = env.t
        found = list(env.units.find(text)) if env.units is not None else []
        candidates = [u for u in found if u.valid_to is None or u.valid_to >= env.today]
        if len(candidates) == 1:
            return Accept({"code": candidates[0].code, "name": candidates[0].name})
        ended = [u for u in found if u not in candidates]
        if not candidates and len(ended) == 1:
            unit = ended[0]
            assert unit.valid_to is not None  # that is what `ended` means
            return Reject(t._("{code} ceased to exist after {day}.").format(
                code=esc(unit.code), day=t.date(unit.valid_to)) + " " + (t._(
                    "Type the unit that carries on its work: {codes}.").format(
                    codes=esc(", ".join(unit.successors))) if unit.successors else t._(
                    "Type the code of a unit that exists today.")))
        if not candidates:
            return Reject(t._("No unit matches “{query}”. Type its code (e.g. P-LECHAN) or a "
                              "part of its name.").format(query=esc(text[:60])))
        listed = "\n".join(f"{u.code} — {esc(u.name)}" for u in candidates[:10])
        return Reject(t._("Several units match; please type the code of one:") + "\n" + listed)

    def show(self, t: Translator, question: Question, value: Any) -> str:
        return esc(value["name"])

    def cell(self, t: Translator, question: Question, value: Any) -> object:
        return value.get("name", "")


@question_type
class Choice(QuestionType):
    kind = Kind.CHOICE

    def options(self, t: Translator, question: Question) -> list[tuple[str, str]]:
        return [(oid, t._(label)) for oid, label in question.options]

    def buttons(self, t: Translator, question: Question, state: FormState
                ) -> list[tuple[str, str]]:
        return self.options(t, question)

    def pick(self, text: str, offered: list[tuple[str, str]]) -> str | None:
        return match_option(text, offered)

    def parse(self, question: Question, given: Given, state: FormState, env: Env) -> Outcome:
        t = env.t
        if given.attachment is not None or given.unsupported:
            return Reject(t._("This question needs a typed answer or a button."))
        if given.pressed not in {oid for oid, _label in self.options(t, question)}:
            return Reject(t._("Please choose one of the options."))
        return Accept(given.pressed)

    def show(self, t: Translator, question: Question, value: Any) -> str:
        return esc(_labels(t, question).get(value, value))

    def cell(self, t: Translator, question: Question, value: Any) -> object:
        return _labels(t, question).get(value, value)


@question_type
class YesNo(Choice):
    kind = Kind.YESNO

    def options(self, t: Translator, question: Question) -> list[tuple[str, str]]:
        return [("yes", t._("Yes")), ("no", t._("No"))]

    def parse(self, question: Question, given: Given, state: FormState, env: Env) -> Outcome:
        if given.pressed is None and given.text:  # "có", "ko", "yes"...
            answer = parse_yes_no(given.text)
            if answer is not None:
                return Accept(answer)
        chosen = super().parse(question, given, state, env)
        return Accept(chosen.value == "yes") if isinstance(chosen, Accept) else chosen

    def show(self, t: Translator, question: Question, value: Any) -> str:
        return t._("Yes") if value else t._("No")

    cell = show


@question_type
class Multi(QuestionType):
    """Several options: each tap ticks or unticks one, Done ends; typing them all at once
    ("1, 3" or their names) answers at once."""

    kind = Kind.MULTI

    def hint(self, t: Translator, question: Question) -> str:
        return t._("Tap every option that applies, then Done (or type the numbers, e.g. 1, 3).")

    def buttons(self, t: Translator, question: Question, state: FormState
                ) -> list[tuple[str, str]]:
        chosen = set(state.multi)
        return [(oid, ("✓ " if oid in chosen else "") + t._(label))
                for oid, label in question.options] + [(DONE, t._("Done"))]

    def pick(self, text: str, offered: list[tuple[str, str]]) -> str | None:
        found = match_option(text, offered)  # options typed are read by parse, as a whole
        return found if found in (DONE, SKIP) else None

    def parse(self, question: Question, given: Given, state: FormState, env: Env) -> Outcome:
        t = env.t
        ids = [oid for oid, _label in question.options]
        if given.attachment is not None or given.unsupported:
            return Reject(t._("This question needs a typed answer or a button."))
        if given.pressed in ids:
            if given.pressed in state.multi:
                state.multi.remove(given.pressed)
            else:
                state.multi.append(given.pressed)
            return Partial()
        if given.pressed is None and given.text and fold(given.text) not in _DONE_WORDS:
            picked = []
            labelled = [(oid, t._(label)) for oid, label in question.options]
            for part in given.text.replace(";", ",").replace(" ", ",").split(","):
                if part.strip():
                    match = match_option(part, labelled)
                    if match is None:
                        return Reject(t._("“{part}” is not one of the options.").format(
                            part=esc(part.strip()[:40])))
                    picked.append(match)
            state.multi = list(dict.fromkeys(picked))
        elif given.pressed not in (None, DONE):
            return Reject(t._("That button does not answer this question."))
        if not state.multi:
            return Reject(t._("Please choose at least one option."))
        return Accept([oid for oid in ids if oid in state.multi])

    def show(self, t: Translator, question: Question, value: Any) -> str:
        return esc(self.cell(t, question, value))

    def cell(self, t: Translator, question: Question, value: Any) -> object:
        labels = _labels(t, question)
        return ", ".join(labels.get(v, v) for v in value)


@question_type
class Files(QuestionType):
    """Photos or documents, sent one by one, then Done."""

    kind = Kind.ATTACHMENT

    def hint(self, t: Translator, question: Question) -> str:
        return t._("Send photos or documents, then press Done.")

    def buttons(self, t: Translator, question: Question, state: FormState
                ) -> list[tuple[str, str]]:
        return [(DONE, t._("Done"))] if state.files else []

    def pick(self, text: str, offered: list[tuple[str, str]]) -> str | None:
        return match_option(text, offered)

    def parse(self, question: Question, given: Given, state: FormState, env: Env) -> Outcome:
        t = env.t
        if given.attachment is not None:
            problem = self._too_many(question, state, env)
            if problem:
                return Reject(problem)
            state.files.append({"kind": given.attachment.kind,
                                "file_id": given.attachment.file_id,
                                "name": given.attachment.name})
            count = len(state.files)
            return Partial(t.ngettext("Received {n} file. Send more or press Done.",
                                      "Received {n} files. Send more or press Done.",
                                      count).format(n=count), ((DONE, t._("Done")),))
        if given.pressed == DONE or (given.pressed is None
                                     and fold(given.text) in _DONE_WORDS):
            if state.files:
                return Accept(list(state.files))
            return Reject(t._("Please send at least one photo or document."))
        return Reject(t._("Please send a photo or a document."))

    @staticmethod
    def _too_many(question: Question, state: FormState, env: Env) -> str:
        """Why one more file cannot be taken, if it cannot: each file is a message to everyone
        who opens the report, and the form's state is rewritten with every file."""
        t = env.t
        here = len(state.files)
        if here >= env.max_files_per_answer:
            return t.ngettext("You can attach at most {n} file here. Press Done to go on.",
                              "You can attach at most {n} files here. Press Done to go on.",
                              env.max_files_per_answer).format(n=env.max_files_per_answer)
        elsewhere = sum(len(v) for k, v in state.answers.items() if k != question.key
                        and isinstance(v, list) and v and isinstance(v[0], dict)
                        and "file_id" in v[0])
        if here + elsewhere >= env.max_files_per_form:
            return t.ngettext("This form already has {n} file, the most it can take.",
                              "This form already has {n} files, the most it can take.",
                              env.max_files_per_form).format(n=env.max_files_per_form)
        return ""

    def show(self, t: Translator, question: Question, value: Any) -> str:
        return t.ngettext("{n} file", "{n} files", len(value)).format(n=len(value))

    def cell(self, t: Translator, question: Question, value: Any) -> object:
        return len(value)


def show_value(t: Translator, question: Question, value: Any) -> str:
    """An answer as shown in a message (escaped); "—" when there is none."""
    if value is None:
        return "—"
    if question.show is not None:
        return esc(question.show(value))
    return question.type.show(t, question, value)


def cell_value(t: Translator, question: Question, value: Any) -> object:
    """An answer as a spreadsheet cell ("" when there is none)."""
    return "" if value is None else question.type.cell(t, question, value)
