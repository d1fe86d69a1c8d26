"""Shared fixtures: a real SQLite file in a temp folder and a clean environment per test."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import re
import secrets
from datetime import UTC, datetime

import aiosqlite
import pytest

from bot.settings import Settings, load_settings
from bot.units_file import SAMPLE_UNITS, read_units_file
from locales.i18n import translator
from storage.backend import TEST_RUN_ENV, TEST_SERVER_ENV, TEST_TEMPLATE_ENV
from storage.db import Database
from tests.telegram_fakes import FakeClock, Harness

START = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)  # 09:00 on a Tuesday in Hà Nội

# An invite or link code as the program makes them (storage.units.INVITE_ALPHABET, 12 long).
INVITE_CODE = re.compile(r"(?<![A-Za-z0-9])[2-9A-HJKMNP-Z]{12}(?![A-Za-z0-9])")

# Every name a setting is read from: its own and its older ones (HEALTH_PORT for WEB_PORT...).
WEB_CODE = re.compile(r"code=[A-Za-z0-9_-]{16,}")

SETTING_NAMES = [name.upper() for name, field in Settings.model_fields.items()
                 for name in (name, *getattr(field.validation_alias, "choices", ()))]


# The whole suite on PostgreSQL: BAOCAO_TEST_DATABASE=postgresql://postgres@127.0.0.1:5432/
# makes every database a test opens (by its SQLite path) a fresh PostgreSQL database, dropped
# after the test (storage/backend.py). Tests marked sqlite_only say why they cannot apply.
# The migrations run once per session, into a template each fresh database is copied from.
PG_SERVER = os.environ.get("BAOCAO_TEST_DATABASE", "").rstrip("/")


def pytest_configure(config):
    config.addinivalue_line("markers", "sqlite_only(reason): the test checks SQLite itself")
    config.addinivalue_line("markers", "alone(reason): no other test runs alongside (xdist)")
    if not PG_SERVER:
        return
    try:
        asyncio.run(_probe_server())
    except Exception as exc:  # noqa: BLE001 (whatever it is, the suite cannot run there)
        pytest.exit(f"BAOCAO_TEST_DATABASE: no PostgreSQL server answers at "
                    f"{PG_SERVER.split('@')[-1]} ({exc})", returncode=2)
    os.environ[TEST_SERVER_ENV] = PG_SERVER
    # Each process of the run (each pytest-xdist worker) has its own: the databases dropped
    # after a test are those of its own process only.
    os.environ[TEST_RUN_ENV] = secrets.token_hex(4)


def pytest_report_header(config):
    if PG_SERVER:
        return f"database: PostgreSQL at {PG_SERVER.split('@')[-1]} (BAOCAO_TEST_DATABASE)"
    return "database: SQLite (set BAOCAO_TEST_DATABASE=postgresql://... to run on PostgreSQL)"


def pytest_collection_modifyitems(config, items):
    if not PG_SERVER:
        return
    for item in items:
        marker = item.get_closest_marker("sqlite_only")
        if marker is not None:
            reason = marker.args[0] if marker.args else marker.kwargs.get("reason", "")
            item.add_marker(pytest.mark.skip(reason=f"SQLite only: {reason}"))


async def _probe_server() -> None:
    import asyncpg
    await (await asyncpg.connect(PG_SERVER + "/postgres", timeout=5)).close()


async def _make_template(name: str) -> None:
    import asyncpg
    admin = await asyncpg.connect(PG_SERVER + "/postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    # Closed before use: PostgreSQL copies a template only while nobody is connected to it.
    await (await Database(f"{PG_SERVER}/{name}").open()).close()


async def _drop_databases(pattern: str) -> None:
    import asyncpg
    admin = await asyncpg.connect(PG_SERVER + "/postgres")
    try:
        names = await admin.fetch("SELECT datname FROM pg_database WHERE datname LIKE $1",
                                  pattern)
        for (name,) in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session", autouse=True)
def pg_template():
    """On PostgreSQL, the database every fresh test database at the latest version is copied
    from, migrated once per session (per process: made where tests run, not in the
    pytest-xdist controller)."""
    if not PG_SERVER:
        yield
        return
    name = os.environ[TEST_TEMPLATE_ENV] = f"baocao_template_{os.environ[TEST_RUN_ENV]}"
    asyncio.run(_make_template(name))
    yield
    del os.environ[TEST_TEMPLATE_ENV]
    asyncio.run(_drop_databases(name))


@pytest.fixture(autouse=True)
def pg_databases(pg_template):
    """On PostgreSQL, drop the databases the test made."""
    yield
    if PG_SERVER:
        asyncio.run(_drop_databases(f"baocao_t_{os.environ[TEST_RUN_ENV]}_%"))


@pytest.fixture(autouse=True)
def alone_when_marked(request, tmp_path_factory):
    """With pytest-xdist (`-n 2`: two tests at a time), a test marked alone runs while no other
    test does: it holds the room's lock exclusively, every other test holds it shared. Such a
    test times real processes against each other and is sized for a 2-core machine of its own.
    The gate keeps the next shared tests from overtaking an alone test that waits."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        yield
        return
    alone = request.node.get_closest_marker("alone") is not None
    shared = tmp_path_factory.getbasetemp().parent  # the run's folder, above each worker's
    with open(shared / "alone.gate", "a") as gate, open(shared / "alone.room", "a") as room:
        fcntl.flock(gate, fcntl.LOCK_EX)
        fcntl.flock(room, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        if not alone:
            fcntl.flock(gate, fcntl.LOCK_UN)
        yield  # the locks go with the files when they close


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No real .env or environment setting leaks into a test."""
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_PATH", str(tmp_path / "baocao.db"))


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "baocao.db"


@pytest.fixture
async def db(db_path):
    database = await Database(db_path).open()
    yield database
    await database.close()


@pytest.fixture
async def harness(tmp_path):
    """The real Application and runtime on a SQLite file, with the sample units and admin 1."""
    settings = load_settings(database_path=tmp_path / "bot.db", admin_ids=[1],
                             telegram_bot_token="123:TEST", coordinator_chat_id=-100900)
    h = await Harness(settings, FakeClock(START)).start()
    async with h.runtime.db.transaction() as tx:
        await tx.units.upsert_many(read_units_file(SAMPLE_UNITS, translator("vi"), set()), START)
    yield h
    await h.stop()



class ThreadHops:
    """Calls handed to aiosqlite's database thread (each a hop there and back), counted."""

    count = 0

    async def each(self, acts) -> list[int]:
        """The hops each act (a coroutine function: a message, a press) took."""
        counts = []
        for act in acts:
            self.count = 0
            await act()
            counts.append(self.count)
        return counts


@pytest.fixture
def thread_hops(monkeypatch) -> ThreadHops:
    hops = ThreadHops()
    execute = aiosqlite.Connection._execute

    async def counted(self, fn, *args, **kwargs):
        hops.count += 1
        return await execute(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return hops

# Secrets the tests give the program; none may reach a log record (issue 13).
TEST_SECRETS = ("123:TEST", "12345:ZALO-TEST", "s3cret", "zalo-secret")


class _Everything(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        self.texts.append(text + (record.exc_text or ""))


@pytest.fixture(autouse=True)
def no_secret_in_logs():
    """Every test's log records, at whatever level is on, carry no token, webhook secret or
    invite/link code (the codes of the database under test are read back as they were
    issued: the database keeps only their hashes, so the records are checked for the shape)."""
    seen = _Everything()
    root = logging.getLogger()
    level = root.level
    root.addHandler(seen)
    root.setLevel(logging.DEBUG)  # the worst case: everything the program may log
    yield
    root.setLevel(level)
    root.removeHandler(seen)
    for text in seen.texts:
        assert not [s for s in TEST_SECRETS if s in text], text
        assert not INVITE_CODE.search(text), text
        assert not WEB_CODE.search(text), text  # a web desk sign-in link's code
