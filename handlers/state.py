"""A person's conversation state, typed: the running form (if any), the one step counter, the
choices last offered and the buttons already pressed. Stored as JSON in the session row."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

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


class FormState(BaseModel):
    """Where a form stands. `multi` and `files` hold what the current question has gathered so
    far (ticked options, files received); `drawn` is the message a multi-choice question was
    last redrawn in."""

    # Old rows carry their step counter here ("step"): it is read by Session.load.
    model_config = ConfigDict(extra="ignore")

    id: str
    mode: Mode = Mode.ASK
    pos: int = 0
    answers: dict[str, Any] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    multi: list[str] = Field(default_factory=list)
    files: list[dict[str, Any]] = Field(default_factory=list)
    drawn: str | None = None

    def copy_state(self) -> FormState:
        return self.model_copy(update={
            "answers": _copied(self.answers), "params": _copied(self.params),
            "multi": list(self.multi), "files": _copied(self.files)})

    def new_question(self) -> None:
        """What the previous question gathered is dropped when another is shown."""
        self.multi, self.files, self.drawn = [], [], None

    def dump(self, step: int) -> dict[str, Any]:
        """The JSON kept in a session or a draft (with the step, as rows have always had it)."""
        return self.model_dump(mode="json", exclude_defaults=True) | {
            "id": self.id, "mode": self.mode.value, "pos": self.pos, "answers": self.answers,
            "params": self.params, "step": step}


class Session(BaseModel):
    """Everything a conversation keeps between two messages of a person."""

    model_config = ConfigDict(extra="ignore")

    # Counts every form step of the person, across forms: a form button carries the step it
    # was shown at, so a button of an earlier step (or an earlier form) is recognised.
    step: int = 0
    form: FormState | None = None
    # The choices of the last message with choices sent to the person, in the order shown:
    # typing an option's number or label picks it on channels without buttons.
    offered: list[tuple[str, str]] = Field(default_factory=list)
    pressed: list[str] = Field(default_factory=list)
    reports_query: dict[str, Any] | None = None

    @classmethod
    def load(cls, data: dict[str, Any] | None) -> Session:
        """Read a stored state; rows written before this model kept the counter in two places
        ("seq" outside a form, "step" inside one), and the larger is the current one."""
        data = data or {}
        form = data.get("form") or {}
        return cls.model_validate(data | {"step": max(data.get("seq", 0), form.get("step", 0))})

    def dump(self) -> dict[str, Any]:
        data = self.model_dump(mode="json", exclude_defaults=True, exclude={"step", "form"})
        if self.form is not None:
            data["form"] = self.form.dump(self.step)
        elif self.step:
            data["seq"] = self.step
        return data

    def copy_state(self) -> Session:
        """A copy a step may change freely (a step is pure: the caller's session is left as
        it was). Much cheaper than pydantic's deep copy, which walks every value generically."""
        return self.model_copy(update={
            "form": self.form.copy_state() if self.form is not None else None,
            "offered": list(self.offered), "pressed": list(self.pressed),
            "reports_query": _copied(self.reports_query)})

    def offer(self, choices: tuple[Choice, ...] | list[Choice]) -> None:
        """Remember the choices just sent to the person (the one writer of `offered`)."""
        self.offered = [(c.id, c.label) for c in choices]
