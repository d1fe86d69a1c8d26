"""Shared fixtures: a real SQLite file in a temp folder and a clean environment per test."""

from __future__ import annotations

import pytest

from bot.settings import Settings
from storage.db import Database

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
