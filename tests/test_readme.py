"""The README's commands work as written on a fresh Debian or Ubuntu machine, whose system
Python refuses `pip install` ("externally-managed-environment"): every install goes into a
virtual environment made and activated by the same command, and the Python needed is named."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def shell_lines() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```sh\n(.*?)```", readme, flags=re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_every_install_command_makes_and_uses_a_virtual_environment():
    installs = [line for line in shell_lines() if "pip install" in line]
    # The quickstart and the test suite, and the service install of the operations section.
    assert len(installs) >= 2, installs
    for line in installs:
        steps = [step.strip().removeprefix("sudo ") for step in line.split("&&")]
        assert steps[0] == "python3 -m venv .venv", line
        # Then either activate it, or call the environment's own pip.
        assert steps[1] == ". .venv/bin/activate" or steps[1].startswith(
            ".venv/bin/pip install"), line
        # After activation `python` is the environment's; a bare python3 could be the system's.
        assert all(not step.startswith("python3") for step in steps[1:]), line


def test_the_python_needed_is_the_one_the_package_requires():
    required = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    version = required.removeprefix(">=")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"Needs Python {version} or newer with its `venv` module" in readme
