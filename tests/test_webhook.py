"""Webhook mode: Telegram's secret token is checked before an update is handled."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from bot.settings import load_settings
from tests.loopback import free_port, post_json
from tests.telegram_fakes import FakeClock, Harness


def post(url: str, body: dict, secret: str | None) -> int:
    header = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    return post_json(url, body, header)


async def test_webhook_refuses_a_wrong_secret(tmp_path):
    port = free_port()
    settings = load_settings(database_path=tmp_path / "bot.db", telegram_bot_token="123:TEST",
                             webhook_url="https://bot.example.org/tg", webhook_secret="s3cret",
                             webhook_listen="127.0.0.1", webhook_port=port)
    h = await Harness(settings, FakeClock(datetime(2026, 3, 10, 2, tzinfo=UTC))).start()
    await h.app.start()
    await h.app.updater.start_webhook(listen="127.0.0.1", port=port, url_path="tg",
                                      webhook_url=settings.webhook_url, secret_token="s3cret")
    try:
        url = f"http://127.0.0.1:{port}/tg"
        update = h.chat(77).message(text="xin chào")
        assert await asyncio.to_thread(post, url, update, "wrong") == 403
        assert await asyncio.to_thread(post, url, update, None) == 403
        assert await asyncio.to_thread(post, url, update, "s3cret") == 200
        for _ in range(50):
            await asyncio.sleep(0.05)
            await h.drain()
            if h.request.sent(77):
                break
        assert len(h.request.sent(77)) == 1  # only the update with the right secret was handled
        assert any(c.method == "setWebhook" and c.params.get("secret_token") == "s3cret"
                   for c in h.request.calls)
    finally:
        await h.app.updater.stop()
        await h.app.stop()
        await h.stop()
