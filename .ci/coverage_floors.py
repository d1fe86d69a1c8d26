"""CI: fail when a package's statement coverage is below its floor (issue 15).

Reads the data the README's test command leaves (`python -m pytest` measures bot/, handlers/
and storage/: see [tool.coverage] in pyproject.toml) and prints each package's figure. One
total would let a well-covered package hide a falling one, so each package has its own floor.
"""

from __future__ import annotations

import sys
from pathlib import Path

import coverage

FLOORS = {"handlers": 90.0, "storage": 90.0, "bot": 85.0}
ROOT = Path(__file__).resolve().parent.parent


def figures(data_file: Path) -> dict[str, tuple[int, int]]:
    """Package → (statements run, statements) over the files the data holds."""
    cov = coverage.Coverage(data_file=str(data_file))
    cov.load()
    found: dict[str, tuple[int, int]] = {}
    for name in cov.get_data().measured_files():
        package = Path(name).resolve().relative_to(ROOT).parts[0]
        _file, statements, _excluded, missing, _text = cov.analysis2(name)
        run, total = found.get(package, (0, 0))
        found[package] = (run + len(statements) - len(missing), total + len(statements))
    return found


def main() -> int:
    data_file = ROOT / ".coverage"
    if not data_file.exists():
        print(f"coverage floors: no {data_file.name}; run `python -m pytest` first")
        return 1
    found, failed = figures(data_file), False
    for package, floor in FLOORS.items():
        run, total = found.get(package, (0, 0))
        percent = 100 * run / total if total else 0.0
        below = percent < floor
        failed |= below
        print(f"{package + '/':<10} {percent:5.1f} % of {total} statements "
              f"(floor {floor:.0f} %){'  BELOW THE FLOOR' if below else ''}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
