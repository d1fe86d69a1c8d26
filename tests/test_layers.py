"""Imports flow one way: bot/ → handlers/ → storage/, everything may use locales/, and a channel
SDK is imported only in its own channel module."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "handlers", "storage", "locales")
# What each layer must never import (its own package and those below it are fine).
ABOVE = {"bot": (), "handlers": ("bot",), "storage": ("handlers", "bot"),
         "locales": ("bot", "handlers", "storage")}
# A channel's SDK -> the one module that may import it.
SDKS = {"telegram": "bot/telegram.py"}


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, top-level module) of every import in the file, at any depth (a function's
    deferred import climbs the layers as much as one at the top)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def climbing(path: Path, root: Path = ROOT) -> list[str]:
    name = path.relative_to(root).as_posix()
    layer = name.split("/")[0]
    wrong = []
    for line, module in imports(path):
        if module in ABOVE[layer]:
            wrong.append(f"{name}:{line} imports {module} (above {layer})")
        if module in SDKS and SDKS[module] != name:
            wrong.append(f"{name}:{line} imports {module} (only {SDKS[module]} may)")
    return wrong


def test_no_import_climbs_the_layers_or_reaches_a_channel_sdk():
    wrong = [problem for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))
             for problem in climbing(path)]
    assert wrong == []


@pytest.mark.parametrize(("name", "source", "problem"), [
    ("handlers/x.py", "from bot.runtime import Runtime", "imports bot (above handlers)"),
    ("storage/x.py", "def f():\n    import handlers.core", "imports handlers (above storage)"),
    ("locales/x.py", "import storage.db", "imports storage (above locales)"),
    ("bot/x.py", "from telegram.error import NetworkError",
     "imports telegram (only bot/telegram.py may)"),
])
def test_the_check_sees_each_kind_of_climb(tmp_path, name, source, problem):
    path = tmp_path / name
    path.parent.mkdir()
    path.write_text(source, encoding="utf-8")
    assert [p.split(" ", 1)[1] for p in climbing(path, tmp_path)] == [problem]
