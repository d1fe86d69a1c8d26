"""Which database a setting names: a SQLite file (the embedded default) or a PostgreSQL server.

Kept apart from storage/pg.py so that choosing costs no import of asyncpg."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

SQLITE_PREFIX = "sqlite:///"
POSTGRES_PREFIXES = ("postgresql://", "postgres://")
# Tests only: every SQLite path a test opens becomes a fresh PostgreSQL database on this server
# (tests/conftest.py sets it from BAOCAO_TEST_DATABASE), so the whole suite runs on both.
TEST_SERVER_ENV = "BAOCAO_TEST_PG_SERVER"
TEST_RUN_ENV = "BAOCAO_TEST_PG_RUN"
# Tests only: a database the test session migrated once; a test database opened at the latest
# version is made as its copy (CREATE DATABASE ... TEMPLATE), much faster than migrating anew.
TEST_TEMPLATE_ENV = "BAOCAO_TEST_PG_TEMPLATE"


def is_postgres(target: object) -> bool:
    return isinstance(target, str) and target.startswith(POSTGRES_PREFIXES)


def sqlite_path(target: Path | str) -> Path:
    """The file a `sqlite:///path` URL (or a plain path) names."""
    text = str(target)
    return Path(text[len(SQLITE_PREFIX):] if text.startswith(SQLITE_PREFIX) else text)


def postgres_url(target: Path | str) -> str | None:
    """The PostgreSQL URL to use for `target`, or None for SQLite."""
    if is_postgres(target):
        return str(target)
    server = os.environ.get(TEST_SERVER_ENV)
    if server and not str(target).startswith(SQLITE_PREFIX):  # an explicit sqlite:/// stays
        return server.rstrip("/") + "/" + test_database_name(sqlite_path(target))
    return None


def test_database_name(path: Path) -> str:
    """The database a test's SQLite path stands for (the same in the test's subprocesses)."""
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:16]
    return f"baocao_t_{os.environ.get(TEST_RUN_ENV, 'x')}_{digest}"
