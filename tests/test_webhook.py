"""Webhook mode: Telegram's secret token is checked before an update is handled, and the 200
that confirms an update goes only once it is committed to the inbox."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from bot.runtime import Runtime
from bot.settings import SettingsError, load_settings
from bot.telegram import serve
from tests.dbquery import query
from tests.loopback import free_port, post_json
from tests.telegram_fakes import FakeClock, Harness, RecordingRequest


def post(url: str, body: object, secret: str | None) -> int:
    header = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    return post_json(url, body, header)


async def test_webhook_refuses_a_wrong_secret(tmp_path):
    port = free_port()
    settings = load_settings(database_path=tmp_path / "bot.db", telegram_bot_token="123:TEST",
                             webhook_url="https://bot.example.org/tg", webhook_secret="s3cret",
                             webhook_listen="127.0.0.1", webhook_port=port)
    request, stop = RecordingRequest(), asyncio.Event()
    clock = FakeClock(datetime(2026, 3, 10, 2, tzinfo=UTC))
    serving = asyncio.create_task(serve(settings, Runtime(settings, clock), request=request,
                                        stop=stop))
    try:
        for _ in range(100):  # until the webhook is set and listening
            await asyncio.sleep(0.02)
            if any(c.method == "setWebhook" for c in request.calls):
                break
        assert any(c.method == "setWebhook" and c.params.get("secret_token") == "s3cret"
                   for c in request.calls)
        url = f"http://127.0.0.1:{port}/tg"
        update = Harness(settings, clock).chat(77).message(text="xin chào")
        assert await asyncio.to_thread(post, url, update, "wrong") == 403
        assert await asyncio.to_thread(post, url, update, None) == 403
        # Well signed but not an update: confirmed (sending it again would not help), ignored.
        assert await asyncio.to_thread(post, url, ["not", "an update"], "s3cret") == 200
        assert await asyncio.to_thread(post, url, update, "s3cret") == 200
        # The 200 came after the commit: the update is in the database already.
        stored = query(tmp_path / "bot.db", "SELECT (SELECT COUNT(*) FROM inbox) + "
                       "(SELECT COUNT(*) FROM processed_updates)")[0][0]
        assert stored == 1
        for _ in range(100):
            await asyncio.sleep(0.02)
            if request.sent(77):
                break
        assert len(request.sent(77)) == 1  # only the update with the right secret was handled
    finally:
        stop.set()
        await serving


def test_webhook_without_a_secret_is_refused(tmp_path):
    with pytest.raises(SettingsError, match="WEBHOOK_SECRET"):
        load_settings(telegram_bot_token="123:TEST", webhook_url="https://bot.example.org/tg")
