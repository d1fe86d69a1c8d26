"""Reading a units file (CSV or YAML) into validated rows, all or nothing.

Columns: code, name, kind, parent_code, and for a unit's life short_name, valid_from, valid_to
(yyyy-mm-dd, both days inclusive) and successors (codes separated by ";": one for a rename or
a merger, which passes the unit's history on when figures are rolled up; several for a split,
whose history stays apart, see handlers.units.rolled_up). A column left out of the file leaves
what is stored alone, so importing the 2023 list again changes no unit's dates. A YAML file may
name the kinds of unit in both languages (`kinds: {commune: {vi: ..., en: ...}}`).
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import yaml
from pydantic import ValidationError

from locales.i18n import Translator, translator
from storage.db import Database
from storage.models import UnitIn
from storage.units import KindIn

DATA = Path(__file__).resolve().parent / "data"
# The addressees of the 2023 letter, as they were (tests and the history of a 2023 database).
SAMPLE_UNITS = DATA / "units_haiphong.csv"
# Hải Phòng as of 2026, with the 2023 units mapped to their successors (the demo's default).
CURRENT_UNITS = DATA / "units_haiphong_2026.yaml"
# The demo's officer by default: a department in the 2023 list and in that of 2026 alike.
DEMO_UNIT = "SO-NV"
COLUMNS = ("code", "name", "kind", "parent_code", "short_name", "valid_from", "valid_to",
           "successors")
OPTIONAL = ("parent_code", "short_name", "valid_from", "valid_to")


class UnitsFileError(Exception):
    """The file cannot be imported; the message is translated and names the line."""


def _yaml(path: Path, t: Translator) -> object:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8-sig")) or []
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", -1) + 1
        raise UnitsFileError(t._("Line {line}: not valid YAML.").format(line=line)) from None


def _is_yaml(path: Path) -> bool:
    return path.suffix.lower() in (".yaml", ".yml")


def _rows(path: Path, t: Translator) -> list[tuple[int, dict]]:
    if _is_yaml(path):
        data = _yaml(path, t)
        if isinstance(data, dict):
            data = data.get("units", [])
        if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
            raise UnitsFileError(t._("The YAML file must be a list of units."))
        # YAML loses line numbers once parsed; the position in the list is what a reader can find.
        return [(index, item) for index, item in enumerate(data, start=1)]
    reader = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig")))
    missing = [c for c in ("code", "name", "kind") if c not in (reader.fieldnames or [])]
    if missing:
        raise UnitsFileError(t._("Line 1: missing column(s): {columns}.").format(
            columns=", ".join(missing)))
    return [(reader.line_num, row) for row in reader]


def read_kinds(path: Path, t: Translator) -> list[KindIn]:
    """The kinds a YAML units file names (`kinds:`), in its order; none for CSV."""
    if not _is_yaml(path) or not path.is_file():
        return []
    data = _yaml(path, t)
    kinds = data.get("kinds") if isinstance(data, dict) else None
    found = []
    for position, (code, names) in enumerate((kinds or {}).items()):
        if not (isinstance(names, dict) and isinstance(names.get("vi"), str)
                and isinstance(names.get("en"), str)):
            raise UnitsFileError(t._("Kind {kind}: give its name as {{vi: ..., en: ...}}.")
                                 .format(kind=code))
        found.append(KindIn(str(code), names["vi"].strip(), names["en"].strip(), position * 10))
    return found


def _cleaned(row: dict) -> dict:
    """A row's values as the model takes them; the columns the row has no key for are left
    out, so that the stored values stay."""
    cleaned = {}
    for key in COLUMNS:
        if key not in row:
            continue
        value = row[key]
        if key == "successors":
            parts = value if isinstance(value, list) else str(value or "").split(";")
            cleaned[key] = tuple(str(p).strip() for p in parts if str(p).strip())
        else:
            text = str(value).strip() if value is not None else ""
            cleaned[key] = text or (None if key in OPTIONAL else "")
    return cleaned


def read_units_file(path: Path, t: Translator, known_codes: set[str],
                    kinds: list[str] | None = None) -> list[UnitIn]:
    """Every unit of the file, or UnitsFileError for the first bad row (nothing half-read).
    With `kinds`, a unit of any other kind is refused: no obligation would ever chase it (the
    file's own `kinds:` are added to them)."""
    if not path.is_file():
        raise UnitsFileError(t._("File not found: {path}").format(path=path))
    if kinds is not None:
        kinds = sorted(set(kinds) | {k.code for k in read_kinds(path, t)})
    units: list[UnitIn] = []
    seen: dict[str, int] = {}
    for line, row in _rows(path, t):
        cleaned = _cleaned(row)
        try:
            unit = UnitIn.model_validate(cleaned)
        except ValidationError as exc:
            field = str(exc.errors()[0]["loc"][0])
            raise UnitsFileError(t._("Line {line}: the value of \u201c{field}\u201d is not valid "
                                     "({value!r}).").format(line=line, field=field,
                                                           value=cleaned.get(field))) from None
        if kinds is not None and unit.kind not in kinds:
            raise UnitsFileError(t._("Line {line}: unknown kind of unit \u201c{kind}\u201d; use "
                                     "one of: {kinds}.").format(line=line, kind=unit.kind,
                                                                kinds=", ".join(kinds)))
        if unit.code in seen:
            raise UnitsFileError(t._("Line {line}: code {code} already appears on line {first}.")
                                 .format(line=line, code=unit.code, first=seen[unit.code]))
        if unit.valid_from and unit.valid_to and unit.valid_to < unit.valid_from:
            raise UnitsFileError(t._("Line {line}: {code} ends ({end}) before it begins "
                                     "({start}).").format(line=line, code=unit.code,
                                                         end=unit.valid_to,
                                                         start=unit.valid_from))
        seen[unit.code] = line
        units.append(unit)
    for unit in units:
        parent = unit.parent_code
        if parent and parent not in seen and parent not in known_codes:
            raise UnitsFileError(t._("Line {line}: parent unit {code} does not exist.").format(
                line=seen[unit.code], code=unit.parent_code))
        for other in unit.successors:
            if other not in seen and other not in known_codes:
                raise UnitsFileError(t._("Line {line}: successor unit {code} does not exist.")
                                     .format(line=seen[unit.code], code=other))
    return units


async def import_units(tx, path: Path, t: Translator, kinds: list[str] | None, now: datetime):
    """Read a units file and store it (its kinds, then its units), in the caller's
    transaction; the import counts."""
    known = {u.code for u in await tx.units.list()}
    named = list(await tx.units.kinds()) if kinds is not None else None
    units = read_units_file(path, t, known, None if named is None else [*named, *kinds])
    await tx.units.upsert_kinds(read_kinds(path, t))
    return await tx.units.upsert_many(units, now)


async def ensure_sample_units(db: Database, path: Path = CURRENT_UNITS) -> int:
    """Import a shipped units file into an empty database; return how many were added."""
    async with db.transaction() as tx:
        if await tx.units.count():
            return 0
        return (await import_units(tx, path, translator("vi"), None, datetime.now(UTC))).added
