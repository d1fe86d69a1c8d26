"""What the outbox holds: one typed message per row, from the handlers to each channel's sender.

A row's JSON column holds the message tagged by its kind (`{"kind": "text", "text": ...}`), with
fields at their defaults left out. Rows written before the tag existed are rewritten by migration
0020, so every pending row reads as one of these types.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal

from storage import jsontext


@dataclass(frozen=True)
class Attachment:
    """A file: one the platform already holds (file_id), or one we made (path) to upload."""

    kind: Literal["photo", "document"]
    file_id: str
    name: str | None = None
    path: str | None = None


# A choice as a channel shows it: (the id a press or a typed answer gives back, its label).
Option = tuple[str, str]


@dataclass(frozen=True)
class Text:
    """A message, with the choices offered under it (buttons, or numbered options where a
    channel has no buttons) and the form question it asks ("form id:step"), if any."""

    text: str
    choices: tuple[Option, ...] = ()
    asks: str | None = None
    kind: Literal["text"] = "text"


@dataclass(frozen=True)
class Edit:
    """New text and choices for a message already sent (a channel that cannot edit skips it:
    what follows says the same)."""

    message_id: str
    text: str
    choices: tuple[Option, ...] = ()
    asks: str | None = None
    kind: Literal["edit"] = "edit"


@dataclass(frozen=True)
class Files:
    """Files in one message: one with its caption, or several (an album, or a list)."""

    files: tuple[Attachment, ...]
    caption: str = ""
    kind: Literal["files"] = "files"


Message = Text | Edit | Files


def _fields(value: Message | Attachment) -> dict[str, Any]:
    """A message's (or file's) fields that differ from their defaults, as JSON values."""
    body: dict[str, Any] = {}
    for field in fields(value):
        item = getattr(value, field.name)
        if field.name == "kind" or item == field.default:
            continue
        if field.name == "files":
            item = [_fields(file) | {"kind": file.kind} for file in item]
        body[field.name] = item
    return body


def dump(message: Message, rid: str | None = None) -> str:
    """The JSON a row stores: the kind first, then the fields not at their defaults, then the
    id of the request that caused the message (for the send's log lines)."""
    body = {"kind": message.kind, **_fields(message)}
    if rid:
        body["rid"] = rid
    return jsontext.dumps(body)


def _choices(body: dict[str, Any]) -> tuple[Option, ...]:
    return tuple((str(cid), str(label)) for cid, label in body.get("choices", ()))


def load(text: str) -> tuple[Message, str | None]:
    """(message, request id) from a row's JSON; ValueError if it holds no message."""
    body = jsontext.loads(text)
    try:
        kind = body["kind"]
        message: Message
        if kind == "text":
            message = Text(body["text"], _choices(body), body.get("asks"))
        elif kind == "edit":
            message = Edit(str(body["message_id"]), body["text"], _choices(body),
                           body.get("asks"))
        elif kind == "files":
            message = Files(tuple(Attachment(**file) for file in body["files"]),
                            body.get("caption", ""))
        else:
            raise ValueError(f"no message of kind {kind!r}")
    except (KeyError, TypeError) as exc:
        raise ValueError(f"not a message: {exc!r}") from None
    return message, body.get("rid")
