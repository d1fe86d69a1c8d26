"""Text helpers shared by handlers: escaping, folding for comparison, parsing typed answers."""

from __future__ import annotations

import html
import re
from datetime import date, timedelta

from storage.text import fold


def esc(value: object) -> str:
    """Escape user text before it goes into a formatted message."""
    return html.escape(str(value), quote=False)


def split_message(text: str, limit: int) -> list[str]:
    """Cut a long message into parts of at most `limit` characters, on line boundaries."""
    if len(text) <= limit:
        return [text]
    parts: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:  # a single line longer than the limit: cut at a space if any
            cut = line.rfind(" ", 0, limit)
            cut = cut if cut > limit // 2 else limit
            if current:
                parts.append(current)
                current = ""
            parts.append(line[:cut])
            line = line[cut:].lstrip(" ")
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            parts.append(current)
            current = line
        else:
            current = candidate
    if current:
        parts.append(current)
    return parts


_TODAY_WORDS = {"hom nay": 0, "today": 0, "hom qua": 1, "yesterday": 1, "hom kia": 2}
_DATE_DMY = re.compile(r"^(\d{1,2})[/.-](\d{1,2})(?:[/.-](\d{2}|\d{4}))?$")
_DATE_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")


def parse_date(value: str, today: date) -> date | None:
    """dd/mm/yyyy, d/m (this year), dd-mm-yyyy, dd.mm.yyyy, yyyy-mm-dd, 'hôm nay', 'hôm qua'."""
    folded = fold(value)
    if folded in _TODAY_WORDS:
        return today - timedelta(days=_TODAY_WORDS[folded])
    day = month = year = None
    if match := _DATE_ISO.match(folded):
        year, month, day = (int(g) for g in match.groups())
    elif match := _DATE_DMY.match(folded):
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


_INTEGER = re.compile(r"^[+-]?\d{1,3}([.,\s]\d{3})+$|^[+-]?\d+$")


def parse_integer(value: str) -> int | None:
    """Whole numbers written as 1200, 1.200, 1,200 or 1 200."""
    cleaned = value.strip()
    if not _INTEGER.match(cleaned):
        return None
    return int(re.sub(r"[.,\s]", "", cleaned))


YES_WORDS = {"co", "yes", "y", "dong y", "ok", "c"}
NO_WORDS = {"khong", "no", "n", "k", "ko"}


def parse_yes_no(value: str) -> bool | None:
    folded = fold(value)
    if folded in YES_WORDS:
        return True
    if folded in NO_WORDS:
        return False
    return None


def match_option(value: str, options: list[tuple[str, str]]) -> str | None:
    """The id of the option chosen by its number ('2') or its label (any case, no diacritics)."""
    cleaned = value.strip().rstrip(".")
    if cleaned.isdigit() and 1 <= int(cleaned) <= len(options):
        return options[int(cleaned) - 1][0]
    folded = fold(value)
    exact = [oid for oid, label in options if fold(label) == folded]
    if exact:
        return exact[0]
    starts = [oid for oid, label in options if folded and fold(label).startswith(folded)]
    return starts[0] if len(starts) == 1 else None


def person(t, name: str, erased: bool, unit: str) -> str:
    """How a person is named in a view (plain text: escape it for a message). Someone erased
    from the bot is "a former officer of UNIT": their unit's work stays, their name does not."""
    if not erased:
        return name
    return (t._("a former officer of {unit}").format(unit=unit) if unit
            else t._("a former officer"))
