"""Reading a units file (CSV or YAML) into validated rows, all or nothing."""

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

SAMPLE_UNITS = Path(__file__).resolve().parent / "data" / "units_haiphong.csv"
COLUMNS = ("code", "name", "kind", "parent_code")


class UnitsFileError(Exception):
    """The file cannot be imported; the message is translated and names the line."""


def _rows(path: Path, t: Translator) -> list[tuple[int, dict]]:
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(text) or []
        except yaml.YAMLError as exc:
            line = getattr(getattr(exc, "problem_mark", None), "line", -1) + 1
            raise UnitsFileError(t._("Line {line}: not valid YAML.").format(line=line)) from None
        if isinstance(data, dict):
            data = data.get("units", [])
        if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
            raise UnitsFileError(t._("The YAML file must be a list of units."))
        # YAML loses line numbers once parsed; the position in the list is what a reader can find.
        return [(index, item) for index, item in enumerate(data, start=1)]
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in ("code", "name", "kind") if c not in (reader.fieldnames or [])]
    if missing:
        raise UnitsFileError(t._("Line 1: missing column(s): {columns}.").format(
            columns=", ".join(missing)))
    return [(reader.line_num, row) for row in reader]


def read_units_file(path: Path, t: Translator, known_codes: set[str],
                    kinds: list[str] | None = None) -> list[UnitIn]:
    """Every unit of the file, or UnitsFileError for the first bad row (nothing half-read).
    With `kinds`, a unit of any other kind is refused: no obligation would ever chase it."""
    if not path.is_file():
        raise UnitsFileError(t._("File not found: {path}").format(path=path))
    units: list[UnitIn] = []
    seen: dict[str, int] = {}
    for line, row in _rows(path, t):
        cleaned = {k: (str(row.get(k)).strip() if row.get(k) is not None else "") for k in COLUMNS}
        cleaned["parent_code"] = cleaned["parent_code"] or None
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
        seen[unit.code] = line
        units.append(unit)
    for unit in units:
        parent = unit.parent_code
        if parent and parent not in seen and parent not in known_codes:
            raise UnitsFileError(t._("Line {line}: parent unit {code} does not exist.").format(
                line=seen[unit.code], code=unit.parent_code))
    return units


async def ensure_sample_units(db: Database) -> int:
    """Import the shipped Hải Phòng units into an empty database; return how many were added."""
    async with db.transaction() as tx:
        if await tx.units.count():
            return 0
        units = read_units_file(SAMPLE_UNITS, translator("vi"), set())
        return (await tx.units.upsert_many(units, datetime.now(UTC))).added
