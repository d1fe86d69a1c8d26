"""Shared fixtures: a real SQLite file in a temp folder and a clean environment per test."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.i18n import translator
from bot.settings import Settings, load_settings
from bot.units_file import SAMPLE_UNITS, read_units_file
from storage.db import Database
from tests.telegram_fakes import FakeClock, Harness

START = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)  # 09:00 on a Tuesday in Hà Nội

SETTING_NAMES = [name.upper() for name in Settings.model_fields]


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
