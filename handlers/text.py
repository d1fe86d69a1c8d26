"""Text helpers shared by handlers: escaping, folding for comparison, parsing typed answers."""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Sequence
from datetime import date, timedelta

from locales.i18n import Translator
from storage.text import fold


def esc(value: object) -> str:
    """Escape user text before it goes into a formatted message."""
    return html.escape(str(value), quote=False)


# A tag, an entity or one character: a message is cut between these, never inside one.
_TOKEN = re.compile(r"<[^<>]*>|&#?[0-9A-Za-z]+;|.", re.DOTALL)
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)[^<>]*>")
_ROOM = 64  # for the tags closed at the end of a part and opened again in the next


def split_message(text: str, limit: int) -> list[str]:
    """Cut a long message into parts of at most `limit` characters, on line boundaries where it
    can and never inside a tag or an entity; a tag open at a cut is closed at the end of the
    part and opened again in the next. A part that would show nothing (only spaces or
    zero-width characters) is left out: Telegram refuses blank texts."""
    if len(text) <= limit:
        return [] if is_blank(_shown(text)) else [text]
    budget = max(limit - _ROOM, limit // 2)
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > budget:  # a single line longer than the budget: cut at a space if any
            cut = _cut(line, budget)
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:cut])
            line = line[cut:].lstrip(" ")
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > budget:
            pieces.append(current)
            current = line
        else:
            current = candidate
    pieces.append(current)
    return _balanced(pieces)


def _cut(line: str, budget: int) -> int:
    """Where to cut a long line: the last space in its second half, else as late as fits;
    always between tokens."""
    cut = space = 0
    for token in _TOKEN.finditer(line):
        if token.end() > budget:
            break
        cut = token.end()
        if token.group() == " " and token.start() > budget // 2:
            space = token.start()
    return space or cut or len(line[:1])


def _balanced(pieces: list[str]) -> list[str]:
    """Close the tags left open at the end of each piece and open them again in the next; drop
    pieces that show nothing."""
    parts = []
    opened: list[tuple[str, str]] = []  # (name, opening tag) of the tags open so far
    for piece in pieces:
        prefix = "".join(tag for _name, tag in opened)
        for match in _TAG.finditer(piece):
            if not match.group(1):
                opened.append((match.group(2), match.group(0)))
            elif opened and opened[-1][0] == match.group(2):
                opened.pop()
        part = prefix + piece + "".join(f"</{name}>" for name, _tag in reversed(opened))
        if not is_blank(_shown(part)):
            parts.append(part)
    return parts


def _shown(markup: str) -> str:
    """The text a person sees: without tags, entities decoded."""
    return html.unescape(re.sub(r"<[^<>]*>", "", markup))


SQL_MAX = 2**63 - 1  # the largest integer SQLite stores
_DIGITS = re.compile(r"[0-9]+")


def parse_id(text: str, low: int = 1, high: int = SQL_MAX) -> int | None:
    """The number `text` spells in the ASCII digits 0-9 and nothing else, if it lies in
    [low, high]; else None. The one parser for every number, id and choice a person types or a
    button carries: str.isdigit() also takes "²" and "①", which int() refuses, int() takes "٣"
    and "３", and an id beyond SQLite's 64 bits fails in the query."""
    if not _DIGITS.fullmatch(text) or len(text.lstrip("0")) > len(str(high)):
        return None
    number = int(text)
    return number if low <= number <= high else None


def is_blank(text: str) -> bool:
    """Nothing a person would see: spaces, line breaks, zero-width and other invisible marks
    (Telegram refuses to send such a text)."""
    return all(c.isspace() or unicodedata.category(c) in ("Cf", "Cc", "Zs", "Zl", "Zp")
               for c in text)


# Days before today: "ngày mai" (tomorrow) and "ngày kia" (the day after) are for questions
# about a day to come, such as when to send a notice.
_TODAY_WORDS = {"hom nay": 0, "today": 0, "hom qua": 1, "yesterday": 1, "hom kia": 2,
                "ngay mai": -1, "mai": -1, "tomorrow": -1, "ngay kia": -2}
_DATE_DMY = re.compile(r"([0-9]{1,2})[/.-]([0-9]{1,2})(?:[/.-]([0-9]{2}|[0-9]{4}))?")
_DATE_ISO = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})")


def parse_date(value: str, today: date) -> date | None:
    """dd/mm/yyyy, d/m (this year), dd-mm-yyyy, dd.mm.yyyy, yyyy-mm-dd, 'hôm nay', 'hôm qua',
    'ngày mai'."""
    folded = fold(value)
    if folded in _TODAY_WORDS:
        return today - timedelta(days=_TODAY_WORDS[folded])
    day = month = year = None
    if match := _DATE_ISO.fullmatch(folded):
        year, month, day = (int(g) for g in match.groups())
    elif match := _DATE_DMY.fullmatch(folded):
        day, month = int(match.group(1)), int(match.group(2))
        year = int(match.group(3)) if match.group(3) else today.year
        if year < 100:
            year += 2000
    else:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


_GROUPING = "., \u00a0\u202f"  # thousands separators: dot, comma, space, no-break spaces
_INTEGER = re.compile(rf"([+-]?)([0-9]{{1,3}}(?:[{_GROUPING}][0-9]{{3}})+|[0-9]+)")


def parse_integer(value: str) -> int | None:
    """Whole numbers written as 1200, 1.200, 1,200 or 1 200 (within SQLite's range)."""
    match = _INTEGER.fullmatch(value.strip())
    if match is None:
        return None
    number = parse_id(re.sub(f"[{_GROUPING}]", "", match.group(2)), 0)
    if number is None:
        return None
    return -number if match.group(1) == "-" else number


YES_WORDS = {"co", "yes", "y", "dong y", "ok", "c"}
NO_WORDS = {"khong", "no", "n", "k", "ko"}


def parse_yes_no(value: str) -> bool | None:
    folded = fold(value)
    if folded in YES_WORDS:
        return True
    if folded in NO_WORDS:
        return False
    return None


# Choices on a channel without buttons (Zalo, the console): numbered from 1 in the order
# offered, and a typed number picks the choice shown with it. The channels show them with
# `numbered` and typed answers are read with `numbered_choice`: one rule, in one place.

def numbered(options: Sequence[tuple[str, str]]) -> list[str]:
    """The lines that show (id, label) options where there are no buttons: "1. label"."""
    return [f"{number}. {label}" for number, (_id, label) in enumerate(options, start=1)]


def numbered_choice(value: str, options: Sequence[tuple[str, str]]) -> str | None:
    """The id of the option whose number (as `numbered` shows it) was typed: "2" or "2."."""
    number = parse_id(value.strip().rstrip("."), 1, len(options))
    return options[number - 1][0] if number is not None else None


def match_option(value: str, options: list[tuple[str, str]]) -> str | None:
    """The id of the option chosen by its number ('2') or its label (any case, no diacritics)."""
    by_number = numbered_choice(value, options)
    if by_number is not None:
        return by_number
    folded = fold(value)
    exact = [oid for oid, label in options if fold(label) == folded]
    if exact:
        return exact[0]
    starts = [oid for oid, label in options if folded and fold(label).startswith(folded)]
    return starts[0] if len(starts) == 1 else None


def person(t: Translator, name: str, erased: bool, unit: str) -> str:
    """How a person is named in a view (plain text: escape it for a message). Someone erased
    from the bot is "a former officer of UNIT": their unit's work stays, their name does not."""
    if not erased:
        return name
    return (t._("a former officer of {unit}").format(unit=unit) if unit
            else t._("a former officer"))
