"""One bot per SQLite database: `baocao run` holds an exclusive lock on a file next to the
database, so a second instance started by mistake (an old service left running during an
upgrade, a second container) refuses instead of sending everything twice."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from storage.db import DatabasePathError


class LockedError(Exception):
    """Another process holds the database's lock."""

    def __init__(self, holder: str, database: Path, path: Path):
        super().__init__(f"another Baocao (pid {holder}) is already running on {database}; "
                         f"stop it first (lock file {path})")
        self.holder, self.database, self.path = holder, database, path


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".lock")


def hold(database: Path) -> IO[str]:
    """Take the lock (released when the returned file is closed or the process ends, even by
    kill -9); raise LockedError naming the holder's pid if another process has it."""
    path = lock_path(database)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatabasePathError(f"{database}: {exc.strerror or exc}") from None
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        handle.close()
        raise LockedError(holder, database, path) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle
