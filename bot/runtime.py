"""The running program, whatever the channels: database, dispatch, delivery workers, clock."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import handlers.all  # noqa: F401  (registers every action, callback and form)
from bot import backups, logs, metrics, redact
from bot.delivery import ChannelLimits, DeliveryWorker, Recording, Sender, compose
from bot.settings import Settings
from handlers import admin, compile, core, desk, export, scheduler
from handlers.context import Config, Letterhead
from handlers.programme import load_programme
from handlers.types import Inbound, Outgoing, Reply
from storage.conversations import store_inbox
from storage.db import Batch, BatchCommitError, Contention, Database, SpeakerKey
from storage.messages import Text
from storage.models import OutboxRow
from storage.repos import Tx
from storage.units import iso

log = logging.getLogger(__name__)

TICK_SECONDS = 30
# Processes sharing a PostgreSQL database: how often one that does not tick asks whether the
# one that does is gone.
TAKEOVER_SECONDS = 5
# An update whose processing failed this many times (not even an apology could be stored) is
# dropped, so that one poisoned update cannot hold up everyone after it.
INBOX_ATTEMPTS = 3
# Steps of different chats that share one commit; each still undoes alone when it fails.
STEPS_PER_COMMIT = 16
INBOX_READ = 1000  # updates read from the inbox table at a time


class FloodGuard:
    """At most `limit` events per `window` seconds from one person; kept in memory on purpose:
    refusing a flood must not cost a database write."""

    def __init__(self, limit: int, window: float):
        self.limit, self.window = limit, window
        self._seen: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._warned: dict[tuple[str, str], float] = {}
        self._checks = 0

    def forget(self, now: float) -> None:
        """Drop people quiet for a whole window, so memory follows the active users only (the
        dicts are rebuilt: a dict keeps its size after deletions)."""
        active = {k: stamps for k, stamps in self._seen.items()
                  if stamps and stamps[-1] > now - self.window}
        self._seen = defaultdict(deque, active)
        self._warned = {k: v for k, v in self._warned.items() if k in active}

    def check(self, channel: str, user_id: str, now: float) -> str:
        """'ok', 'warn' (first refusal in this window) or 'drop'; `now` in seconds."""
        self._checks += 1
        if self._checks % 1000 == 0:
            self.forget(now)
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


def delete_old_files(folder: Path, before: datetime) -> int:
    """Delete the made files (spreadsheets, charts) last written before `before`."""
    deleted = 0
    for path in folder.glob("*") if folder.is_dir() else ():
        try:
            if path.is_file() and path.stat().st_mtime < before.timestamp():
                path.unlink()
                deleted += 1
        except FileNotFoundError:  # gone meanwhile
            continue
    return deleted


def _lines(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split("|") if part.strip())


def letterhead_from(settings: Settings) -> Letterhead:
    return Letterhead(issuing_body=settings.coordinating_body,
                      issuing_body_en=settings.coordinating_body_en,
                      superior=settings.city_body, superior_en=settings.city_body_en,
                      place=settings.city, place_en=settings.city_en,
                      unit_code=settings.coordinating_unit, symbol=settings.compile_symbol,
                      signer=_lines(settings.compile_signer),
                      signer_name=settings.compile_signer_name,
                      recipients=_lines(settings.compile_recipients),
                      template=settings.compile_template)


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
                  max_files_per_answer=settings.max_files_per_answer,
                  max_files_per_form=settings.max_files_per_form,
                  message_retention=timedelta(days=settings.message_retention_days),
                  file_retention=timedelta(days=settings.file_retention_days),
                  letterhead=letterhead_from(settings),
                  web_url=settings.web_url if settings.web_port else None,
                  web_link_minutes=settings.web_link_minutes,
                  web_public_url=(settings.web_url if settings.web_port and
                                  settings.web_public_url else None),
                  bot_username=bot_username or settings.telegram_bot_username)


class Runtime:
    """Owns the database and the workers for the lifetime of the program."""

    def __init__(self, settings: Settings, clock: Callable[[], datetime] | None = None,
                 check_floods: bool = True):
        self.settings = settings
        # Whatever starts the program (CLI, tests, an embedding): its secrets stay out of logs.
        redact.install(settings)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.db = Database(settings.database)
        self.config = config_from(settings)
        # The console is one person at their own keyboard (or a script): no flood to fear.
        self.flood = (FloodGuard(settings.flood_max_messages, settings.flood_window_seconds)
                      if check_floods else None)
        self.workers: dict[str, DeliveryWorker] = {}
        # How each channel acknowledges a handled button press (see Inbound.ack).
        self.acknowledgers: dict[str, Callable[[str], Awaitable[object]]] = {}
        self.background = False
        self._tasks: list[asyncio.Task] = []  # delivery workers
        self._loops: list[asyncio.Task] = []  # the inbox and the clock
        self._jobs: asyncio.Task | None = None
        self._inbox_lock = asyncio.Lock()
        self._inbox_wake = asyncio.Event()
        # Received updates waiting to be processed, a queue per chat (channel, chat id) kept
        # only while it holds some; the inbox table is read for those not queued (after a
        # restart or a failure) when `_reread` says so.
        self._queues: dict[tuple[str, str], deque[Inbound]] = {}
        self._queued: set[tuple[str, str]] = set()  # (channel, update id) in the queues
        self._reread = True
        self._arriving: list[tuple[list[Inbound], asyncio.Future[None]]] = []
        self._committing = False  # a receipt commit is under way (see _store)
        self._stepped_this_turn = False  # see _step_at_once
        # Polled channels: when their last poll was answered (time.monotonic), for /readyz.
        self.polled: dict[str, float] = {}
        # Set once the clock loop's first tick (which catches up what fell due while the
        # program was down) is over: from then on the program is in its steady state.
        self.ticked = asyncio.Event()
        self.backups = backups.Scheduler(settings.backup_dir, settings.backup_every_hours,
                                         settings.backup_keep)

    async def open(self) -> None:
        await self.db.open()
        last = self.config.programme.holidays_run_out(self.clock().astimezone(
            self.config.zone).date())
        if last is not None:
            log.warning("the programme lists holidays only until %s: add next year's to the "
                        "programme file (PROGRAMME_FILE)", last.isoformat())

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
            self.workers[sender.channel] = DeliveryWorker(self.db, sender, self.clock,
                                                          self.report_failed)
        self.background = background
        if background:
            # Updates received before a restart are processed first, in their chats' order.
            await self._read_inbox()
            self._tasks = [asyncio.create_task(w.run()) for w in self.workers.values()]
            self._loops = [asyncio.create_task(self._consume_inbox()),
                           asyncio.create_task(self._tick_forever())]
        else:
            await self.process_inbox()

    async def stop(self) -> None:
        for task in self._loops:  # no new work: stop taking updates and ticking first
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        self._loops = []
        if self._jobs is not None:
            await asyncio.gather(self._jobs, return_exceptions=True)
        for worker in self.workers.values():
            await worker.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self.db.close()

    def alive(self, channel: str) -> None:
        """A poll of `channel` was answered (with updates or without)."""
        self.polled[channel] = time.monotonic()

    def wake(self) -> None:
        for worker in self.workers.values():
            worker.wake()

    def forget_idle(self) -> None:
        """Drop the per-person state of people gone quiet (flood counts, chats' send rates), so
        that memory follows the active people, not everyone who ever wrote."""
        if self.flood is not None:
            self.flood.forget(self.clock().timestamp())
        for worker in self.workers.values():
            worker.forget_idle_chats()

    async def write(self, tx: Tx, messages: list[Outgoing], now: datetime,
                    bulk: bool = False) -> None:
        """Put messages in the outbox, in the caller's transaction, cut to fit the channel.
        `bulk`: messages to many that nobody is waiting for (the clock's reminders, digests,
        escalations), sent after the replies to people."""
        rid = logs.request_id()  # the send logs the request that caused it
        for message in messages:
            worker = self.workers.get(message.channel)
            reply = message.reply
            in_group = worker is not None and worker.sender.is_group(message.chat_id)
            if reply.choices and message.contact_id is not None and not in_group:
                tx.sessions.offer(message.contact_id, [[c.id, c.label] for c in reply.choices],
                                  now)
            if reply.asks:
                metrics.child(metrics.FORM_STEPS, metrics.form_of(reply.asks)).inc()
            if message.urgent:  # ahead of its chat's queue, where only a read finds it
                tx.signals.add("delivery")
            parts = compose(reply, worker.limits if worker else ChannelLimits())
            for index, part in enumerate(parts):
                if message.status_of is not None and index == len(parts) - 1:
                    # The part with the buttons is the one whose figures are rewritten.
                    await tx.outbox.add_status(message.channel, message.chat_id,
                                               message.contact_id, part, now, message.status_of,
                                               rid)
                else:
                    # An edit rewrites what is on someone's screen (a notice's live figures):
                    # it goes with the replies, bulk or not.
                    tx.outbox.add(message.channel, message.chat_id, message.contact_id, part,
                                  now, message.delivery_id, message.urgent, rid,
                                  bulk and not reply.edit_message_id)

    async def receive(self, events: list[Inbound], wait: bool = False) -> None:
        """Store inbound events in the inbox and commit: only after this returns may the
        platform be told they were received. Then have them processed: in the background, or
        before returning with `wait` (and always when the runtime runs no background tasks).
        A lone update arriving while nothing else is waiting is processed at once instead, in
        the commit that receives it (_step_at_once)."""
        # The commit makes no thread hop (nor do most steps), so the update may be committed
        # without a turn of the event loop in between: a loop that calls this and waits for
        # nothing else must yield itself (the fetch loops do).
        if events:
            for event in events:
                metrics.child(metrics.UPDATES, event.channel).inc()
            if not await self._step_at_once(events):
                await self._store(events)
        if self.background and not wait:
            if self._queues or self._reread:  # not for an update already processed
                self._inbox_wake.set()
        else:
            await self.process_inbox()

    async def _step_at_once(self, events: list[Inbound]) -> bool:
        """Process a lone update at once, its receipt and step in one transaction, when nothing
        is waiting nor under way: it then never goes through the inbox (no row written, then
        deleted: one commit of two and several turns of the event loop saved). Whether it was
        taken care of (processed, or stored in the inbox after failing); if not, it is to be
        stored in the inbox as usual.

        Safe because the receipt is this commit: until it is in, the platform has not been
        told the update arrived and delivers it again after a crash; the processed_updates key
        stops a second processing. Nothing of the chat can be ahead of it: no queue, no
        receipt being committed, no inbox left to read, no batch under way. Only on a
        database no other process shares (another's inbox may hold the chat's earlier
        updates)."""
        if (len(events) != 1 or self.db.shared or self._reread or self._queues
                or self._committing or self._inbox_lock.locked() or self._stepped_this_turn):
            return False
        event = events[0]
        if event.ack:  # its acknowledgement, a call to the platform, must not hold the receipt
            return False
        # One a turn of the event loop: updates arriving together (many people at once) go
        # through the inbox, whose batches share one commit, and so the pages it writes.
        self._stepped_this_turn = True
        asyncio.get_running_loop().call_soon(self._next_turn)
        async with self._inbox_lock:
            try:
                jobs = await self._steps(events, stored=False)
            except Exception:
                # Stored and counted as a failed attempt, as in the inbox (see _process).
                log.exception("update %s on %s could not be processed", event.update_id,
                              event.channel)
                await self._store(events)
                async with self.db.transaction() as tx:
                    await tx.inbox.failed(event.channel, event.update_id)
                return True
        if jobs:
            self.start_jobs()
        return True

    def _next_turn(self) -> None:
        self._stepped_this_turn = False

    async def _store(self, events: list[Inbound]) -> None:
        """Commit `events` to the inbox and queue those stored (not already waiting nor
        processed). Events received at once (several webhooks, channels) share one commit:
        whoever finds no commit under way commits every event waiting, again until none is
        left, while the others wait for their own result only (not for a lock each: the
        waiters of a lock are woken one by one, a turn of the event loop each)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._arriving.append((events, done))
        if not self._committing:
            self._committing = True
            try:
                while self._arriving:
                    arriving, self._arriving = self._arriving, []
                    await self._store_group(arriving)
            except BaseException as exc:  # cancelled: no one left waiting
                for _group, future in self._arriving:
                    if not future.done():
                        future.set_exception(exc)
                self._arriving = []
                if done.done() and not done.cancelled():
                    done.exception()  # raised here, not from it
                raise
            finally:
                self._committing = False
        await done

    async def _store_group(self, arriving: list[tuple[list[Inbound],
                                                      asyncio.Future[None]]]) -> None:
        rows = [(e.channel, e.update_id, e.to_json()) for group, _f in arriving for e in group]
        try:
            stored = set(await self.db.commit_with(store_inbox, rows, iso(self.clock())))
        except BaseException as exc:
            for _group, future in arriving:
                if not future.done():
                    future.set_exception(exc)
            if isinstance(exc, Exception):
                return  # each of these raises it; the events arrived since are committed next
            raise
        for group, future in arriving:
            # Queued here, not by each waiter: one whose caller gave up still had its events
            # committed, and they must be processed.
            self._enqueue([e for e in group if (e.channel, e.update_id) in stored])
            if not future.done():
                future.set_result(None)

    def _enqueue(self, events: list[Inbound]) -> None:
        """Queue stored events behind their chat's, for process_inbox."""
        for event in events:
            key = (event.channel, event.update_id)
            if key not in self._queued:
                self._queued.add(key)
                self._queues.setdefault((event.channel, event.chat_id), deque()).append(event)

    async def _read_inbox(self) -> None:
        """Queue the updates the inbox holds that are not queued: those received before a
        restart, and those whose processing failed (tried again, up to INBOX_ATTEMPTS)."""
        self._reread = False
        async with self.db.read() as tx:
            waiting = await tx.inbox.waiting(limit=INBOX_READ)
        self._reread = len(waiting) == INBOX_READ  # more after these
        for channel, update_id, event_json, attempts in waiting:
            if (channel, update_id) in self._queued:
                continue
            if attempts >= INBOX_ATTEMPTS:
                log.error("update %s on %s dropped after %s failed attempts",
                          update_id, channel, attempts)
                async with self.db.transaction() as tx:
                    await tx.inbox.drop(channel, update_id)
                continue
            self._enqueue([Inbound.from_json(event_json)])

    async def process_inbox(self) -> None:
        """Handle every received update: different chats' together, up to STEPS_PER_COMMIT
        steps sharing one commit (taken in turn from each chat's queue, so a chat's burst holds
        up no one else's message), each chat's one at a time in the order received. Also what
        a restart does with updates received before a crash."""
        async with self._inbox_lock:
            while True:
                if self._reread and not self._queues:
                    await self._read_inbox()
                if not self._queues:
                    return
                batch = []
                for chat in list(self._queues)[:STEPS_PER_COMMIT]:
                    queue = self._queues.pop(chat)  # an empty queue is dropped
                    batch.append(queue.popleft())
                    if queue:  # to the back of the line
                        self._queues[chat] = queue
                try:
                    await self._process(batch)
                finally:
                    self._queued.difference_update((e.channel, e.update_id) for e in batch)

    async def _consume_inbox(self) -> None:
        while True:
            self._inbox_wake.clear()
            try:
                await self.process_inbox()
            except Exception:
                log.exception("inbox processing failed")
                await asyncio.sleep(1.0)
            await self._inbox_wake.wait()

    async def _process(self, events: list[Inbound]) -> None:
        """Handle `events` (of different chats) as one batch: each step in a savepoint of its
        own, one commit for all, then the buttons acknowledged and delivery woken. If the batch
        cannot commit, each event is tried alone, so that one update that breaks the commit
        holds back no other."""
        try:
            jobs = await self._steps(events)
        except Exception:
            if len(events) == 1:
                event = events[0]
                log.exception("update %s on %s could not be processed", event.update_id,
                              event.channel)
                self._reread = True  # it stays in the inbox, to be tried again
                async with self.db.transaction() as tx:
                    await tx.inbox.failed(event.channel, event.update_id)
                return
            log.exception("a batch of %s updates could not be committed; one at a time",
                          len(events))
            for event in events:
                await self._process([event])
            return
        # Only button presses are acknowledged: no task for each of the others.
        presses = [e for e in events if e.ack]
        if presses:
            await asyncio.gather(*(self._acknowledge(e) for e in presses))
        else:
            # Still a turn of the loop between batches, as the acknowledgements give: the
            # receipts and the deliveries waiting go on (a step on SQLite never yields).
            await asyncio.sleep(0)
        if jobs:
            self.start_jobs()

    async def _steps(self, events: list[Inbound], stored: bool = True) -> bool:
        """Run the steps of `events` in one batch, then have their replies delivered; whether
        any queued a background job. `stored`: whether they are in the inbox (each step then
        removes its own).

        When this process alone sends (a database no other shares), the batch also commits
        the outcomes of the sends waiting to be recorded (one commit for both, and the steps
        read their chats' last messages as sent), and the rows it queues at the head of their
        chat's queue are handed straight to the delivery workers: no pass has to find them."""
        keys = [(e.channel, e.user_id, e.update_id) for e in events]
        signals: set[str] = set()
        alone = not self.db.shared
        taken: list[tuple[DeliveryWorker, Recording]] = []

        def record(conn: sqlite3.Connection) -> None:
            # Taken once the batch holds the database, not while it waits for it.
            for worker in self.workers.values():
                recording = worker.take_outcomes()
                if recording is not None:
                    taken.append((worker, recording))
                    recording.write(conn)

        try:
            async with self.db.batch(record if alone else None, heads=alone) as batch:
                for index, event in enumerate(events):
                    then = keys[index + 1] if index + 1 < len(keys) else None
                    signals |= await self._step(batch, event, keys[index], then, stored)
        except BaseException:
            for worker, recording in taken:
                worker.give_back(recording)
            raise
        for worker, recording in taken:
            await worker.settle(recording)
        await self._hand_over(batch.heads, "delivery" in signals)
        return "jobs" in signals

    async def _hand_over(self, heads: list[OutboxRow] | None, read: bool) -> None:
        """Offer the rows a batch queued at the head of their chats' queues to their workers,
        unless the batch changed the outbox in a way only a read of it shows (`read`)."""
        if heads is None or read:
            self.wake()
            return
        for row in heads:
            worker = self.workers.get(row.channel)
            if worker is not None:
                # Without background delivery, sends go when the caller drains (tests, the
                # console): none is started here.
                await worker.offer([row], at_once=self.background)

    async def handle(self, event: Inbound) -> None:
        """Handle one inbound event on its own (a batch of one)."""
        await self._process([event])

    async def _step(self, batch: Batch, event: Inbound, key: SpeakerKey,
                    then: SpeakerKey | None, stored: bool) -> set[str]:
        """One event's step: its state changes and replies, with the removal of the event from
        the inbox (if `stored` there), in a savepoint of `batch`. Raises only if not even an
        apology could be written (the event then stays in, or goes to, the inbox). Returns
        its transaction's signals (Tx.signals)."""
        logs.new_request(event.channel, event.update_id)
        started = time.perf_counter()
        try:
            form, signals = await self._handle(batch, event, key, then, stored)
            log.debug("update handled")
        finally:
            logs.CURRENT.set(None)
        metrics.child(metrics.HANDLED, form).observe(time.perf_counter() - started)
        return signals

    async def _handle(self, batch: Batch, event: Inbound, key: SpeakerKey,
                      then: SpeakerKey | None, stored: bool) -> tuple[str, set[str]]:
        """_step(); returns the form the event's replies ask in ('none' if none) and the
        step's signals."""
        form = "none"
        if not stored:
            speaker = await batch.speaker(key)
            if speaker is not None and speaker.duplicate:
                # Delivered again, and not stopped at the inbox's door (see store_inbox):
                # dropped here, before it counts against the sender's flood limit.
                return form, set()
        now = self.clock()
        last = then is None
        text = event.text or ""
        verdict = (self.flood.check(event.channel, event.user_id, now.timestamp())
                   if self.flood else "ok")
        refusal = None
        if verdict == "drop":
            if stored:
                async with batch.step(None, then, commit=last) as tx:
                    tx.inbox.done(event.channel, event.update_id, now)
            return form, set()
        t = self.config.translator(event.language_code)
        if verdict == "warn":
            refusal = t._("You are sending messages too quickly. Please wait a minute and try "
                          "again.")
        elif len(text) > self.settings.max_message_chars:
            refusal = t._("This message is too long ({n} characters; the limit is {limit}). "
                          "Please shorten it.").format(n=t.number(len(text)),
                                                       limit=t.number(
                                                           self.settings.max_message_chars))
        try:
            async with batch.step(key if refusal is None else None, then, commit=last) as tx:
                if stored:
                    tx.inbox.done(event.channel, event.update_id, now)
                if refusal is not None:
                    # Ahead of the replies already queued: they would make it wait a minute.
                    messages = [Outgoing(event.channel, event.chat_id, Reply(refusal),
                                         urgent=verdict == "warn")]
                else:
                    messages = await core.handle(event, tx, self.config, now)
                    messages = await self._collapse_repeats(tx, messages)
                form = next((metrics.form_of(m.reply.asks) for m in messages if m.reply.asks),
                            form)
                await self.write(tx, messages, now)
            return form, tx.signals
        except (BatchCommitError, Contention):
            # Not the step's fault: the batch is rolled back and its updates tried again
            # (see _process), with no apology to the person.
            raise
        except Exception:
            log.exception("update %s on %s failed", event.update_id, event.channel)
            await self._apologise(batch, event, now, last, stored)
        return form, set()

    async def _collapse_repeats(self, tx: Tx, messages: list[Outgoing]) -> list[Outgoing]:
        """A burst of messages the bot cannot use gets one "not understood" and one menu, not
        one per message: a reply already waiting, unchanged, in the chat's queue is not
        queued again."""
        # A form's question is never collapsed (it is the answer asked for), which also spares
        # every form step this look at the queue.
        if not messages or any(m.reply.edit_message_id or m.reply.attachments or m.delivery_id
                               or m.reply.asks for m in messages):
            return messages
        for message in messages:
            choices = tuple((c.id, c.label) for c in message.reply.choices)
            if not await tx.outbox.has_pending(message.channel, message.chat_id,
                                               Text(message.reply.text, choices)):
                return messages
        return []

    async def _acknowledge(self, event: Inbound) -> None:
        """Tell the platform a button press was handled (it stops the button's spinner)."""
        acknowledge = self.acknowledgers.get(event.channel)
        if event.ack and acknowledge is not None:
            try:
                await acknowledge(event.ack)
            except Exception as exc:  # the spinner stops by itself; nothing else depends on it
                log.info("could not acknowledge update %s: %s", event.update_id, exc)

    async def _apologise(self, batch: Batch, event: Inbound, now: datetime, last: bool,
                         stored: bool) -> None:
        t = self.config.translator(event.language_code)
        text = t._("Sorry, something went wrong on our side and your last message was not "
                   "processed. Please try again; what you entered before is kept.")
        async with batch.step(commit=last) as tx:
            if stored:
                tx.inbox.done(event.channel, event.update_id, now)
            if not await tx.updates.seen(event.channel, event.update_id):
                tx.updates.record(event.channel, event.update_id, now)
            await self.write(tx, [Outgoing(event.channel, event.chat_id, Reply(text))], now)

    async def report_failed(self, failed: list[tuple[OutboxRow, str]]) -> None:
        """Messages given up for a reason that is not the person's doing: tell the admins."""
        now = self.clock()
        async with self.db.transaction() as tx:
            messages = await admin.delivery_failed(tx, self.config, failed, now)
            await self.write(tx, messages, now)
        self.wake()

    async def jobs_done(self) -> None:
        """Wait for the background jobs started so far (tests, the console)."""
        if self._jobs is not None:
            await asyncio.gather(self._jobs, return_exceptions=True)

    def start_jobs(self) -> None:
        """Run pending background jobs (exports), one at a time, without blocking chats."""
        if self._jobs is None or self._jobs.done():
            self._jobs = asyncio.create_task(self.run_jobs())

    async def run_jobs(self) -> None:
        """Every pending job, oldest first, including those added while it runs."""
        while True:
            async with self.db.read() as tx:
                jobs = await tx.jobs.pending()
            if not jobs:
                return
            ran = 0
            for job in jobs:
                # Claimed once across processes: another may have it, or have finished it.
                async with self.db.claim("job", job["id"]) as mine:
                    if not mine:
                        continue
                    async with self.db.read() as tx:
                        if job["id"] not in {j["id"] for j in await tx.jobs.pending()}:
                            continue
                    await self._run_job(job)
                    ran += 1
            if not ran:
                return

    async def _run_job(self, job: dict) -> None:
        status = "done"
        run = {"chart": desk.run_chart_job, "compile": compile.run_compile_job}.get(
            job["kind"], export.run_export_job)
        try:
            await run(self.db, self.config, job, self.clock(), self.send)
        except Exception:
            log.exception("job %s (%s) failed", job["id"], job["kind"])
            status = "failed"
            if job["kind"] != "chart":  # a missing chart is not worth a message
                t = self.config.translator(None)
                await self.send([Outgoing(job["channel"], job["chat_id"], Reply(
                    t._("Sorry, the report could not be drafted. Please try again later.")
                    if job["kind"] == "compile" else
                    t._("Sorry, the spreadsheet could not be made. Please try again later.")),
                    job["contact_id"])])
        async with self.db.transaction() as tx:
            await tx.jobs.finish(job["id"], status, self.clock())
        metrics.JOBS.labels(job["kind"], status).inc()

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
                    await self.write(tx, await job.run(tx, self.config, now), now, bulk=True)
                    await scheduler.succeeded(tx, job)
            except Exception:
                log.exception("clock job %s failed", job.key)
                metrics.CLOCK_FAILURES.labels(job.key).inc()
                try:
                    async with self.db.transaction() as tx:
                        await self.write(tx, await scheduler.failed(tx, self.config, job), now)
                except Exception:
                    log.exception("could not record the failure of clock job %s", job.key)
        self.forget_idle()
        try:
            await self.backups.tick(self, now)
        except Exception:
            log.exception("scheduled backup could not be handled")
        self.wake()
        self.start_jobs()
        await asyncio.to_thread(delete_old_files, self.config.files_dir,
                                now - self.config.file_retention)

    async def _tick_forever(self) -> None:
        while True:
            lead = False
            try:
                # Several processes on one PostgreSQL database: one ticks at a time, and
                # another takes over within TAKEOVER_SECONDS of its death (Database.leads).
                lead = await self.db.leads("clock")
                if lead:
                    if self.db.shared:
                        # Updates a dead process had received and not processed are in the
                        # inbox: read it again (a live one's, processed twice, take effect
                        # once: the processed_updates key).
                        self._reread = True
                        self._inbox_wake.set()
                    await self.tick()
            except Exception:
                log.exception("clock tick failed")
            self.ticked.set()
            await asyncio.sleep(TICK_SECONDS if lead or not self.db.shared else TAKEOVER_SECONDS)
