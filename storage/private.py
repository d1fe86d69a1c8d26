"""Owner-only files: the database (with its WAL and shared-memory files), backups, exports and
charts hold personal data and, before they are used, invite codes. They are created readable by
the program's own user only, whatever the umask."""

from __future__ import annotations

import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path) -> Path:
    """Create the folder (and its parents) if missing; a folder made here is owner-only."""
    if not path.exists():
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        os.chmod(path, DIR_MODE)  # mkdir's mode is filtered by the umask
    return path


def private_file(path: Path) -> Path:
    """Create the file empty, owner-only, if missing (so whatever writes it next keeps that
    mode), or make an existing one owner-only."""
    private_dir(path.parent)
    descriptor = os.open(path, os.O_CREAT | os.O_WRONLY, FILE_MODE)
    os.close(descriptor)
    os.chmod(path, FILE_MODE)
    return path
