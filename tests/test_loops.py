"""The background loops as the program runs them (Runtime.start with background=True): the
inbox consumer and the delivery workers answer what arrives, and the clock loop ticks on, with
its scheduled backups, after a tick that fails. The other tests drive the same steps by hand
(drain, tick_at); these check that the loops around them do."""

from __future__ import annotations

import logging

import pytest

from bot import backups
from bot import runtime as runtime_module
from bot.console import CHANNEL, ConsoleSender
from bot.runtime import Runtime
from bot.settings import load_settings
from handlers.types import Inbound
from tests.conftest import START
from tests.loopback import eventually
from tests.telegram_fakes import FakeClock


@pytest.fixture
async def running(tmp_path, monkeypatch):
    """A runtime with its loops started, printing to a list; its clock tick every few ms."""
    monkeypatch.setattr(runtime_module, "TICK_SECONDS", 0.005)
    settings = load_settings(database_path=tmp_path / "bot.db")
    runtime = Runtime(settings, FakeClock(START), check_floods=False)
    printed: list[str] = []
    runtime.printed = printed
    await runtime.open()
    yield runtime, ConsoleSender(write=printed.append)
    await runtime.stop()


async def test_what_arrives_is_answered_by_the_loops_alone(running):
    runtime, sender = running
    await runtime.start([sender], background=True)
    # A stranger writes; receive() returns once the update is committed (a lone one is
    # handled in that commit), and the delivery loop sends the answer.
    await runtime.receive([Inbound(CHANNEL, "1", "guest:1", "guest:1", text="xin chào")])
    await eventually(lambda: runtime.printed, "an answer printed")
    assert "mã mời" in runtime.printed[0]  # the invite code is asked for
    async with runtime.db.read() as tx:
        assert await tx.updates.seen(CHANNEL, "1")
        rows = await tx.conn.execute_fetchall("SELECT status, attempts FROM outbox")
    assert [tuple(r) for r in rows] == [("sent", 1)]


async def test_the_clock_loop_ticks_on_after_a_failing_tick(running, tmp_path, caplog):
    runtime, sender = running
    folder = tmp_path / "backups"
    runtime.backups = backups.Scheduler(folder, every_hours=6, keep=2)
    ticks = completed = 0
    tick = runtime.tick

    async def failing_once() -> None:
        nonlocal ticks, completed
        ticks += 1
        if ticks == 1:
            raise OSError("disk full")
        await tick()
        completed += 1

    runtime.tick = failing_once
    with caplog.at_level(logging.ERROR, logger="bot.runtime"):
        await runtime.start([sender], background=True)
        # The ticks after the failing one run to their end.
        await eventually(lambda: completed >= 2, "two ticks done after the failing one")
    assert any(r.getMessage() == "clock tick failed" for r in caplog.records)
    # A later tick did its work: the first scheduled backup, and only one (not yet due again).
    # (On PostgreSQL the bot makes no backups: they are pg_dump's.)
    assert len(backups.existing(folder)) == (0 if runtime.db.shared else 1)
