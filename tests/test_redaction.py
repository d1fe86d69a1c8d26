"""No token, webhook secret or invite/link code in any log record or error message, at DEBUG
too (issue 13)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from bot import cli, redact
from bot.runtime import Runtime
from bot.settings import load_settings
from bot.telegram import serve
from handlers import core
from storage.models import Role
from tests.loopback import free_port, post_json
from tests.telegram_fakes import FakeClock, Harness, RecordingRequest

TOKEN = "7301234567:AAF-Xyz_abcdefghijklmnopqrstuvwx12345"
SECRET = "wh-Secret_0123456789abcdef"


def leaks(text: str, codes: list[str]) -> list[str]:
    return [s for s in (TOKEN, TOKEN.split(":")[1], SECRET, *codes) if s in text]


async def test_a_webhook_flow_at_debug_logs_no_token_secret_or_code(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    port = free_port()
    settings = load_settings(database_path=tmp_path / "bot.db", telegram_bot_token=TOKEN,
                             webhook_url="https://bot.example.org/tg", webhook_secret=SECRET,
                             webhook_listen="127.0.0.1", webhook_port=port, admin_ids=[1])
    redact.install(settings)  # as `baocao run` does at startup
    request, stop = RecordingRequest(), asyncio.Event()
    clock = FakeClock(datetime(2026, 3, 10, 2, tzinfo=UTC))
    runtime = Runtime(settings, clock)
    serving = asyncio.create_task(serve(settings, runtime, request=request, stop=stop))
    people = Harness(settings, clock)
    url = f"http://127.0.0.1:{port}/tg"
    codes: list[str] = []

    async def say(user: int, text: str) -> None:
        update = people.chat(user).message(text=text)
        assert await asyncio.to_thread(post_json, url, update,
                                       {"X-Telegram-Bot-Api-Secret-Token": SECRET}) == 200

    async def until(check) -> None:
        for _ in range(200):
            await asyncio.sleep(0.02)
            if check():
                return
        raise AssertionError("the bot did not answer")

    async def broken(ctx, _args):  # a handler error whose message quotes secrets
        raise RuntimeError(f"boom {TOKEN} {SECRET} {codes[0]}")

    core.action(core.Action("broken", "Help", "Help", core.ALL_ROLES, broken, in_menu=False))
    try:
        await until(lambda: any(c.method == "setWebhook" for c in request.calls))
        async with runtime.db.transaction() as tx:
            invite = await tx.invites.create(unit_id=None, role=Role.COORDINATOR,
                                             created_by="test", now=clock(), days=7)
        codes.append(invite.code)
        await say(77, f"/start {invite.code}")
        await until(lambda: request.sent(77))
        await say(77, "/link")
        await until(lambda: "/start " in request.sent(77)[-1].text)
        codes.append(request.sent(77)[-1].text.split("/start ")[1][:12])
        await say(77, "/broken")
        await until(lambda: "sự cố" in request.sent(77)[-1].text)
        assert await asyncio.to_thread(post_json, url, people.chat(77).message(text="x"),
                                       {"X-Telegram-Bot-Api-Secret-Token": "wrong"}) == 403
    finally:
        del core.ACTIONS["broken"]
        stop.set()
        await serving
    records = caplog.records
    assert logging.getLogger().isEnabledFor(logging.DEBUG) and records
    assert any("boom [redacted] [redacted] [redacted]" in (r.exc_text or "") for r in records)
    for record in records:
        text = f"{record.getMessage()} {record.exc_text or ''}"
        assert not leaks(text, codes), text
    assert not leaks(caplog.text, codes)


def test_a_failed_start_prints_no_token(tmp_path, monkeypatch, capsys, caplog):
    caplog.set_level(logging.INFO)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    request = RecordingRequest()
    request.script.append(("getMe", 401, "Unauthorized", None))

    def run_telegram(settings, runtime, also=None):  # the real serve, on the fake Bot API
        asyncio.run(serve(settings, runtime, also, request=request))

    monkeypatch.setattr("bot.telegram.run_telegram", run_telegram)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:  # `run` sets up the program's logging: put the test's back afterwards
        assert cli.main(["run"]) == 1
    finally:
        root.handlers = saved[0]
        root.setLevel(saved[1])
    err = capsys.readouterr().err
    assert "InvalidToken" in err and redact.MASK in err
    assert not leaks(err, []) and not leaks(caplog.text, [])
