"""A person's conversation state, typed: the running form (if any), the one step counter, the
choices last offered and the buttons already pressed. Stored as JSON in the session row.

Plain dataclasses with their JSON written out by hand, not pydantic models: every form step
loads, copies and stores the state, and pydantic's generic validation, copy and dump of it
were about a twentieth of a step. The rows are ours (written by `dump`), so reading one back
converts types rather than validating them."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from handlers.types import Choice


def _copied(value: Any) -> Any:
    """A copy of JSON-like data (dicts and lists of str, numbers, None and tuples of them):
    containers are copied, the rest is immutable and shared."""
    kind = type(value)
    if kind is dict:
        return {key: _copied(item) for key, item in value.items()}
    if kind is list:
        return [_copied(item) for item in value]
    return value


class Mode(StrEnum):
    ASK = "ask"
    SUMMARY = "summary"
    PICK = "pick"
    EDIT = "edit"


@dataclass(slots=True)
class FormState:
    """Where a form stands. `multi` and `files` hold what the current question has gathered so
    far (ticked options, files received); `drawn` is the message a multi-choice question was
    last redrawn in."""

    id: str
    mode: Mode = Mode.ASK
    pos: int = 0
    answers: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    multi: list[str] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    drawn: str | None = None

    @classmethod
    def load(cls, data: dict[str, Any]) -> FormState:
        """Read a stored form (a session's, a draft's); other keys are ignored (old rows carry
        their step counter here, "step": read by Session.load)."""
        return cls(id=str(data["id"]), mode=Mode(data.get("mode", Mode.ASK)),
                   pos=int(data.get("pos", 0)), answers=dict(data.get("answers") or {}),
                   params=dict(data.get("params") or {}), multi=list(data.get("multi") or ()),
                   files=list(data.get("files") or ()), drawn=data.get("drawn"))

    def copy_state(self) -> FormState:
        # Built field by field, not by dataclasses.replace, which looks the fields up on each
        # call: every form step makes a copy.
        return FormState(id=self.id, mode=self.mode, pos=self.pos,
                         answers=_copied(self.answers), params=_copied(self.params),
                         multi=list(self.multi), files=_copied(self.files), drawn=self.drawn)

    def new_question(self) -> None:
        """What the previous question gathered is dropped when another is shown."""
        self.multi, self.files, self.drawn = [], [], None

    def dump(self, step: int) -> dict[str, Any]:
        """The JSON kept in a session or a draft (with the step, as rows have always had it);
        what a question has not gathered is left out."""
        data: dict[str, Any] = {"id": self.id, "mode": self.mode.value, "pos": self.pos,
                                "answers": self.answers, "params": self.params}
        if self.multi:
            data["multi"] = self.multi
        if self.files:
            data["files"] = self.files
        if self.drawn is not None:
            data["drawn"] = self.drawn
        data["step"] = step
        return data


@dataclass(slots=True)
class Session:
    """Everything a conversation keeps between two messages of a person."""

    # Counts every form step of the person, across forms: a form button carries the step it
    # was shown at, so a button of an earlier step (or an earlier form) is recognised.
    step: int = 0
    form: FormState | None = None
    # The choices of the last message with choices sent to the person, in the order shown:
    # typing an option's number or label picks it on channels without buttons.
    offered: list[tuple[str, str]] = field(default_factory=list)
    pressed: list[str] = field(default_factory=list)
    reports_query: dict[str, Any] | None = None

    @classmethod
    def load(cls, data: dict[str, Any] | None) -> Session:
        """Read a stored state; rows written before this model kept the counter in two places
        ("seq" outside a form, "step" inside one), and the larger is the current one."""
        data = data or {}
        form = data.get("form")
        query = data.get("reports_query")
        return cls(step=max(data.get("seq", 0), (form or {}).get("step", 0)),
                   form=FormState.load(form) if form else None,
                   offered=[(str(cid), str(label)) for cid, label in data.get("offered") or ()],
                   pressed=list(data.get("pressed") or ()),
                   reports_query=dict(query) if query is not None else None)

    def dump(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.offered:
            data["offered"] = [list(pair) for pair in self.offered]
        if self.pressed:
            data["pressed"] = self.pressed
        if self.reports_query is not None:
            data["reports_query"] = self.reports_query
        if self.form is not None:
            data["form"] = self.form.dump(self.step)
        elif self.step:
            data["seq"] = self.step
        return data

    def copy_state(self) -> Session:
        """A copy a step may change freely (a step is pure: the caller's session is left as
        it was)."""
        return Session(step=self.step,
                       form=self.form.copy_state() if self.form is not None else None,
                       offered=list(self.offered), pressed=list(self.pressed),
                       reports_query=_copied(self.reports_query))

    def offer(self, choices: tuple[Choice, ...] | list[Choice]) -> None:
        """Remember the choices just sent to the person (the one writer of `offered`)."""
        self.offered = [(c.id, c.label) for c in choices]
