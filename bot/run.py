"""`baocao run`: the bot on Telegram, Zalo, or both, in one process on one database."""

from __future__ import annotations

import asyncio
import logging
import signal
from urllib.parse import urlparse

from bot import health, logs, redact, zalo
from bot.runtime import Runtime
from bot.settings import Settings

log = logging.getLogger(__name__)


class ZaloChannel:
    """Zalo's sender, and its poller or webhook server, started and stopped with the runtime."""

    def __init__(self, settings: Settings, runtime: Runtime):
        self.settings, self.runtime = settings, runtime
        self.client = zalo.ZaloClient(settings.zalo_base_url,
                                      settings.zalo_bot_token.get_secret_value())
        self.sender = zalo.ZaloSender(self.client, settings.zalo_per_second)
        self._stop = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._server = None

    async def start(self) -> None:
        settings = self.settings
        if settings.zalo_webhook_url:
            secret = settings.zalo_webhook_secret.get_secret_value() \
                if settings.zalo_webhook_secret else ""
            await self.client.call("setWebhook", url=settings.zalo_webhook_url,
                                   secret_token=secret)
            app = zalo.webhook_app(secret, urlparse(settings.zalo_webhook_url).path,
                                   self.runtime.receive)
            self._server = app.listen(settings.zalo_webhook_port,
                                      address=settings.webhook_listen)
        else:
            try:
                await self.client.call("deleteWebhook")
            except Exception as exc:  # no webhook set is fine
                log.info("zalo deleteWebhook: %s", exc)
            self.runtime.alive(zalo.CHANNEL)  # polling from now: /readyz watches it
            self._task = asyncio.create_task(zalo.poll(
                self.client, self.runtime.receive, self._stop,
                alive=lambda: self.runtime.alive(zalo.CHANNEL)))

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._server is not None:
            self._server.stop()
        await self.client.close()


class StartError(Exception):
    """A channel could not start (a wrong token, the platform unreachable)."""


def run(settings: Settings) -> None:
    """The bot until SIGTERM; the caller holds the database's lock (bot.lockfile)."""
    logs.setup(settings.log_level, settings.log_format)
    # httpx logs every request URL, and Bot API URLs contain the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    redact.install(settings)
    runtime = Runtime(settings)
    zalo_channel = ZaloChannel(settings, runtime) if settings.zalo_bot_token else None
    if settings.telegram_bot_token:
        from bot.telegram import START_ERRORS, run_telegram
        try:
            run_telegram(settings, runtime, zalo_channel)
        except (*START_ERRORS, zalo.ZaloApiError) as exc:
            # PTB's InvalidToken quotes the token; a network error may quote the URL with it.
            raise StartError(redact.redact(f"{type(exc).__name__}: {exc}")) from None
        except health.PortError as exc:
            raise StartError(str(exc)) from None
    elif zalo_channel is not None:
        asyncio.run(_run_zalo_only(runtime, zalo_channel))


async def _run_zalo_only(runtime: Runtime, channel: ZaloChannel) -> None:
    await runtime.start([channel.sender])
    try:
        server = health.start(runtime)
    except health.PortError as exc:
        await runtime.stop()
        raise StartError(str(exc)) from None
    try:
        await channel.client.call("getMe")  # a wrong token shows now, not in the poll loop
        await channel.start()
    except (zalo.ZaloApiError, zalo.TransientSendError) as exc:
        await channel.stop()
        await runtime.stop()
        raise StartError(redact.redact(f"Zalo: {exc}")) from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await channel.stop()
    if server is not None:
        server.stop()
    await runtime.stop()
