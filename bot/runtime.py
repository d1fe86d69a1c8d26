"""The running program, whatever the channels: database, dispatch, delivery workers, clock."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict, deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import handlers.all  # noqa: F401  (registers every action, callback and form)
from bot.delivery import DeliveryWorker, Sender
from bot.settings import Settings
from handlers import core, export, scheduler
from handlers.context import Config
from handlers.programme import load_programme
from handlers.text import split_message
from handlers.types import Inbound, Outgoing, Reply
from storage.db import Database
from storage.repos import Tx

log = logging.getLogger(__name__)

TICK_SECONDS = 30
CAPTION_LIMIT = 1024  # Telegram's longest caption


class FloodGuard:
    """At most `limit` events per `window` seconds from one person; kept in memory on purpose:
    refusing a flood must not cost a database write."""

    def __init__(self, limit: int, window: float):
        self.limit, self.window = limit, window
        self._seen: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._warned: dict[tuple[str, str], float] = {}
        self._checks = 0

    def _forget(self, now: float) -> None:
        """Drop people quiet for a whole window, so memory follows the active users only."""
        for key in [k for k, stamps in self._seen.items()
                    if not stamps or stamps[-1] <= now - self.window]:
            del self._seen[key]
            self._warned.pop(key, None)

    def check(self, channel: str, user_id: str, now: float) -> str:
        """'ok', 'warn' (first refusal in this window) or 'drop'; `now` in seconds."""
        self._checks += 1
        if self._checks % 1000 == 0:
            self._forget(now)
        key = (channel, user_id)
        stamps = self._seen[key]
        while stamps and stamps[0] <= now - self.window:
            stamps.popleft()
        if len(stamps) < self.limit:
            stamps.append(now)
            return "ok"
        if now - self._warned.get(key, -self.window) >= self.window:
            self._warned[key] = now
            return "warn"
        return "drop"


def config_from(settings: Settings, bot_username: str | None = None) -> Config:
    return Config(admin_ids=frozenset(str(i) for i in settings.admin_ids),
                  coordinator_chat_id=(str(settings.coordinator_chat_id)
                                       if settings.coordinator_chat_id else None),
                  default_locale=settings.default_locale, zone=settings.zone,
                  session_idle=timedelta(minutes=settings.session_idle_minutes),
                  invite_days=settings.invite_expiry_days,
                  programme_start=settings.programme_start,
                  programme=load_programme(settings.programme_file),
                  files_dir=settings.database_path.parent / "files",
                  bot_username=bot_username or settings.telegram_bot_username)


class Runtime:
    """Owns the database and the workers for the lifetime of the program."""

    def __init__(self, settings: Settings, clock: Callable[[], datetime] | None = None,
                 check_floods: bool = True):
        self.settings = settings
        self.clock = clock or (lambda: datetime.now(UTC))
        self.db = Database(settings.database_path)
        self.config = config_from(settings)
        # The console is one person at their own keyboard (or a script): no flood to fear.
        self.flood = (FloodGuard(settings.flood_max_messages, settings.flood_window_seconds)
                      if check_floods else None)
        self.workers: dict[str, DeliveryWorker] = {}
        self._tasks: list[asyncio.Task] = []
        self._jobs: asyncio.Task | None = None

    async def open(self) -> None:
        await self.db.open()

    async def start(self, senders: list[Sender], bot_username: str | None = None,
                    background: bool = True) -> None:
        """Open the database (if needed) and start a worker per channel and the clock tick."""
        if not self.db.is_open:
            await self.open()
        if bot_username:
            self.config = config_from(self.settings, bot_username)
            async with self.db.transaction() as tx:
                await tx.meta.set("telegram_username", bot_username)
        for sender in senders:
            self.workers[sender.channel] = DeliveryWorker(self.db, sender, self.clock)
        if background:
            self._tasks = [asyncio.create_task(w.run()) for w in self.workers.values()]
            self._tasks.append(asyncio.create_task(self._tick_forever()))

    async def stop(self) -> None:
        if self._jobs is not None:
            await asyncio.gather(self._jobs, return_exceptions=True)
        for worker in self.workers.values():
            await worker.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self.db.close()

    def wake(self) -> None:
        for worker in self.workers.values():
            worker.wake()

    async def write(self, tx: Tx, messages: list[Outgoing], now: datetime) -> None:
        """Put messages in the outbox, in the caller's transaction, split to fit the channel."""
        for message in messages:
            worker = self.workers.get(message.channel)
            limit = worker.limits.max_text if worker else 4096
            reply = message.reply
            in_group = worker is not None and worker.sender.is_group(message.chat_id)
            if reply.choices and message.contact_id is not None and not in_group:
                tx.sessions.offer(message.contact_id, [[c.id, c.label] for c in reply.choices],
                                  now)
            files = [{"kind": a.kind, "file_id": a.file_id, "name": a.name, "path": a.path}
                     for a in reply.attachments]
            if len(files) == 1 and not reply.choices and len(reply.text) <= CAPTION_LIMIT:
                # One file with a short text: the text is its caption, in one message.
                tx.outbox.add(message.channel, message.chat_id, message.contact_id,
                              {"attachment": files[0], "text": reply.text}, now,
                              message.delivery_id)
                continue
            # Channels without buttons print the choices under the text: leave them room.
            room = sum(len(c.label) + 6 for c in reply.choices)
            parts = split_message(reply.text, max(limit - room, limit // 2)) if reply.text else []
            for index, part in enumerate(parts):
                last = index == len(parts) - 1
                payload: dict = {"text": part}
                if last and reply.choices:
                    payload["choices"] = [[c.id, c.label] for c in reply.choices]
                if reply.edit_message_id and index == 0:
                    payload["edit"] = reply.edit_message_id
                tx.outbox.add(message.channel, message.chat_id, message.contact_id,
                              payload, now, message.delivery_id)
            for file in files:
                tx.outbox.add(message.channel, message.chat_id, message.contact_id,
                              {"attachment": file}, now, message.delivery_id)

    async def handle(self, event: Inbound) -> None:
        """Handle one inbound event: its state changes and replies commit together."""
        now = self.clock()
        text = event.text or ""
        verdict = (self.flood.check(event.channel, event.user_id, now.timestamp())
                   if self.flood else "ok")
        refusal = None
        if verdict == "drop":
            return
        t = self.config.translator(event.language_code)
        if verdict == "warn":
            refusal = t._("You are sending messages too quickly. Please wait a minute and try "
                          "again.")
        elif len(text) > self.settings.max_message_chars:
            refusal = t._("This message is too long ({n} characters; the limit is {limit}). "
                          "Please shorten it.").format(n=t.number(len(text)),
                                                       limit=t.number(
                                                           self.settings.max_message_chars))
        new_jobs = False
        try:
            async with self.db.transaction() as tx:
                if refusal is not None:
                    messages = [Outgoing(event.channel, event.chat_id, Reply(refusal))]
                else:
                    messages = await core.handle(event, tx, self.config, now)
                await self.write(tx, messages, now)
            new_jobs = "jobs" in tx.signals
        except Exception:
            log.exception("update %s on %s failed", event.update_id, event.channel)
            await self._apologise(event, now)
        self.wake()
        if new_jobs:
            self.start_jobs()

    async def _apologise(self, event: Inbound, now: datetime) -> None:
        t = self.config.translator(event.language_code)
        text = t._("Sorry, something went wrong on our side and your last message was not "
                   "processed. Please try again; what you entered before is kept.")
        try:
            async with self.db.transaction() as tx:
                if not await tx.updates.seen(event.channel, event.update_id):
                    tx.updates.record(event.channel, event.update_id, now)
                await self.write(tx, [Outgoing(event.channel, event.chat_id, Reply(text))], now)
        except Exception:
            log.exception("could not apologise for update %s", event.update_id)

    def start_jobs(self) -> None:
        """Run pending background jobs (exports), one at a time, without blocking chats."""
        if self._jobs is None or self._jobs.done():
            self._jobs = asyncio.create_task(self.run_jobs())

    async def run_jobs(self) -> None:
        async with self.db.read() as tx:
            jobs = await tx.jobs.pending()
        for job in jobs:
            status = "done"
            try:
                await export.run_export_job(self.db, self.config, job, self.clock(), self.send)
            except Exception:
                log.exception("job %s (%s) failed", job["id"], job["kind"])
                status = "failed"
                t = self.config.translator(None)
                await self.send([Outgoing(job["channel"], job["chat_id"], Reply(t._(
                    "Sorry, the spreadsheet could not be made. Please try again later.")),
                    job["contact_id"])])
            async with self.db.transaction() as tx:
                await tx.jobs.finish(job["id"], status, self.clock())

    async def send(self, messages: list[Outgoing]) -> None:
        """Messages that no inbound event caused (jobs): written and delivered."""
        async with self.db.transaction() as tx:
            await self.write(tx, messages, self.clock())
        self.wake()

    async def tick(self) -> None:
        """Clock tick: everything that is due because time passed. Each job commits with its
        messages in its own transaction, so one that fails holds back none of the others."""
        now = self.clock()
        for job in scheduler.jobs():
            try:
                async with self.db.transaction() as tx:
                    await self.write(tx, await job.run(tx, self.config, now), now)
                    await scheduler.succeeded(tx, job)
            except Exception:
                log.exception("clock job %s failed", job.key)
                try:
                    async with self.db.transaction() as tx:
                        await self.write(tx, await scheduler.failed(tx, self.config, job), now)
                except Exception:
                    log.exception("could not record the failure of clock job %s", job.key)
        self.wake()
        self.start_jobs()

    async def _tick_forever(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("clock tick failed")
            await asyncio.sleep(TICK_SECONDS)
