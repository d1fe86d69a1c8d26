"""The delivery worker: drains the outbox of one channel within the platform's rate limits.

Rows are sent oldest first, one at a time per chat (so a chat sees its messages in order), several
chats at once. Each outcome is committed as soon as the platform answers; a crash can repeat only
the messages in flight at that moment, and a row recorded as sent is never sent again.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import sqlite3
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from bot import logs, metrics
from handlers.text import split_message
from handlers.types import Reply
from storage.conversations import record_outcomes
from storage.db import Database
from storage.messages import Edit, Files, Message, Text
from storage.models import OutboxRow

log = logging.getLogger(__name__)
# Processes sharing a database (PostgreSQL): how often the elected sender looks for rows the
# others committed, and how often the others ask whether the sender is gone.
ELECTION_SECONDS = 1.0
# How often, and how far apart, the outcome of sends is tried to be recorded before the rows
# are given back to be sent again.
RECORD_ATTEMPTS, RECORD_PAUSE = 5, 1.0


class TransientSendError(Exception):
    """Try again later (network trouble, 5xx, or the platform asked us to slow down)."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class UnreachableError(Exception):
    """The person blocked the bot or the chat no longer exists."""


class RejectedError(Exception):
    """The platform refused this message for good (malformed, too long...)."""


@dataclass(frozen=True)
class ChannelLimits:
    """A channel's pace and message sizes: each channel module declares its own (bot/telegram.py,
    bot/zalo.py, bot/console.py). The defaults are a cautious pace and sizes that fit every
    channel: they cut a message written for a channel this process does not run, and pace the
    test senders that set only what they measure."""

    per_second: float = 29.7
    chat_per_second: float = 1.0
    chat_burst: int = 3
    group_per_minute: float = 20.0
    group_burst: int = 3
    max_text: int = 2000
    # The longest text that goes with one file as its caption (longer: a message of its own).
    max_caption: int = 1024
    concurrency: int = 16
    # A message that keeps failing is given up after this many tries or this age, so that the
    # messages after it in its chat can go.
    max_attempts: int = 8
    max_age: timedelta = timedelta(hours=6)


class Sender(Protocol):
    channel: str
    limits: ChannelLimits

    def is_group(self, chat_id: str) -> bool: ...

    async def send(self, chat_id: str, message: Message) -> str | None:
        """Deliver one message; return the platform's message id if there is one."""


def compose(reply: Reply, limits: ChannelLimits) -> list[Message]:
    """A reply as the messages the outbox holds, cut to fit the channel: one file with a short
    text as its caption; else the text in parts (the choices and the question it asks with the
    last part, the edit of an earlier message with the first), then the files."""
    choices = tuple((choice.id, choice.label) for choice in reply.choices)
    files = reply.attachments
    if len(files) == 1 and not choices and len(reply.text) <= limits.max_caption:
        return [Files(files, reply.text)]
    # Channels may print the choices under the text (numbered, or in full where a button cuts
    # them): leave them room.
    room = sum(len(label) + 6 for _id, label in choices)
    parts = (split_message(reply.text, max(limits.max_text - room, limits.max_text // 2))
             if reply.text else [])
    out: list[Message] = []
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        offered, asks = (choices, reply.asks) if last else ((), None)
        if reply.edit_message_id and index == 0:
            out.append(Edit(reply.edit_message_id, part, offered, asks))
        else:
            out.append(Text(part, offered, asks))
    if files:
        out.append(Files(files))
    return out


class TokenBucket:
    """A chat's own limit: `capacity` messages at once, then `rate` a second."""

    def __init__(self, rate: float, capacity: float, now: float):
        self.rate, self.capacity = rate, capacity
        self.tokens, self.stamp = capacity, now

    def wait(self, now: float) -> float:
        """Seconds until one token is available."""
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self) -> None:
        self.tokens -= 1

    def give_back(self) -> None:
        """A token taken for a send that did not start."""
        self.tokens = min(self.capacity, self.tokens + 1)

    def full(self, now: float) -> bool:
        return self.tokens + (now - self.stamp) * self.rate >= self.capacity


class Pacer:
    """The overall rate: sends spaced 1/rate seconds apart. A late wake-up is made up, up to
    `slack` seconds' worth, so lateness is not lost (a one-token bucket loses it); the hard
    limit per second is AnsweredWindow's."""

    def __init__(self, rate: float, slack: float = 0.1):
        self.interval, self.slack = 1 / rate, slack
        self.next = 0.0

    def wait(self, now: float) -> float:
        return max(0.0, self.next - now)

    def take(self, now: float) -> None:
        self.next = max(self.next, now - self.slack) + self.interval


class AnsweredWindow:
    """A send starts only a second after the send `count` places before it was answered. The
    platform then never receives more than `count` in any second, whatever delays its requests
    meet on the way (the pacer alone spaces the starts, not the arrivals)."""

    def __init__(self, count: int):
        self.count = count
        self.sends: deque[list[float | None]] = deque()

    def wait(self, now: float) -> float:
        while len(self.sends) >= self.count:
            answered = self.sends[0][0]
            if answered is None:
                return 0.005  # still on its way
            if answered + 1.0 > now:
                return answered + 1.0 - now
            self.sends.popleft()
        return 0.0

    def start(self) -> list[float | None]:
        """Record a send starting; set the returned entry's [0] when it is answered."""
        entry: list[float | None] = [None]
        self.sends.append(entry)
        return entry


def utcnow() -> datetime:
    return datetime.now(UTC)


# ("sent", message id) | ("retry", error, not before, "retried" or "429") | (status, error)
Outcome = tuple


class Recording:
    """Send outcomes on their way to the database: written by the worker's own commit, or by
    a batch of steps that commits first (DeliveryWorker.take_outcomes)."""

    def __init__(self, channel: str, batch: list[tuple[OutboxRow, Outcome]],
                 waiting_chats: set[str], now: Callable[[], datetime]):
        self.channel, self.batch, self.now = channel, batch, now
        self.chats = sorted({row.chat_id for row, _o in batch})
        # Whether a pass may send something it could not before: a retry changes when the
        # next row falls due, and a chat freed may have its next row waiting (a chat's later
        # rows are not read while its head is in flight). Not a whole pass for every reply,
        # most of which leave their chat with nothing waiting: the outbox is asked which of
        # these chats have rows waiting, in the transaction that records the outcomes.
        self.waiting = (any(o[0] != "sent" for _r, o in batch)
                        or any(chat in waiting_chats for chat in self.chats))

    def write(self, conn: sqlite3.Connection) -> None:
        """The outcomes' statements, in the caller's transaction."""
        batch = self.batch
        found = record_outcomes(
            conn, self.channel, [(row.id, o[1]) for row, o in batch if o[0] == "sent"],
            [(row.id, o[2], o[1]) for row, o in batch if o[0] == "retry"],
            [(row.id, o[0], o[1]) for row, o in batch if o[0] in ("failed", "unreachable")],
            [row.chat_id for row, o in batch if o[0] == "unreachable"], self.now(),
            [] if self.waiting else self.chats)
        self.waiting = self.waiting or bool(found)


class DeliveryWorker:
    """Sends one channel's outbox rows; `wake()` after a commit makes replies go out at once.

    A row is claimed from the moment it is picked until its outcome is committed, and its
    outcome is committed as soon as the platform answers (sends finishing together share one
    commit), so a crash repeats at most the sends in flight at that moment."""

    def __init__(self, db: Database, sender: Sender, now: Callable[[], datetime] = utcnow,
                 on_failed: Callable[[list[tuple[OutboxRow, str]]], Awaitable[None]]
                 | None = None):
        self.db, self.sender, self.now = db, sender, now
        self.limits = sender.limits
        self.on_failed = on_failed
        self._overall = Pacer(self.limits.per_second)
        self._window = AnsweredWindow(math.ceil(self.limits.per_second))  # 30 on Telegram
        self._chats: dict[str, TokenBucket] = {}
        self._claimed: set[int] = set()
        # Recorded since the current pass began reading: the pass may still hold them as pending.
        self._recorded: set[int] = set()
        self._inflight_chats: set[str] = set()
        # Chats whose rows the current (or last) pass left waiting: when a send to one of
        # them ends, another pass may send the next (see _record).
        self._waiting_chats: set[str] = set()
        self._outcomes: list[tuple[OutboxRow, Outcome]] = []
        self._recording = False  # a send is committing the outcomes (see _finish)
        self._pump_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task] = set()
        # A send holds a slot until its outcome is committed, not just until the platform
        # answers: so at most `concurrency` messages are ever sent and not yet recorded, which
        # bounds what a crash can make the next process send again, however slow the commits.
        self._slots = asyncio.Semaphore(self.limits.concurrency)
        self._holding: set[int] = set()  # rows whose send holds a slot
        self._paused_until = 0.0
        self._wake = asyncio.Event()
        # Whether the next pass must read the outbox (see offer), what was offered to it, and
        # whether the last pass left nothing behind but rows waiting for their time, the
        # next of which is due at _next_due.
        self._read = True
        self._wakes = 0  # wake() calls so far (see offer)
        self._offered: list[OutboxRow] = []
        self._idle = False
        self._next_due: datetime | None = None
        self._stopped = False
        self._passes = 0
        # For /readyz: when the delivery loop last came round, and when each send in flight
        # started (time.monotonic).
        self.beat: float | None = None
        self._sending: dict[int, float] = {}

    def wake(self) -> None:
        """Something may be due that only a read of the outbox finds."""
        self._read = True
        self._wakes += 1
        self._wake.set()

    def stuck_for(self, now: float) -> float:
        """Seconds the worker has made no progress: its loop has not come round, or its oldest
        send has not been answered (0 when neither)."""
        waits = [now - started for started in self._sending.values()]
        if self.beat is not None:
            waits.append(now - self.beat - 30.0)  # the loop sleeps up to 30 s when idle
        return max([0.0, *waits])

    def _chat_bucket(self, chat_id: str) -> TokenBucket:
        bucket = self._chats.get(chat_id)
        if bucket is None:
            if self.sender.is_group(chat_id):
                bucket = TokenBucket(self.limits.group_per_minute / 60, self.limits.group_burst,
                                     time.monotonic())
            else:
                bucket = TokenBucket(self.limits.chat_per_second, self.limits.chat_burst,
                                     time.monotonic())
            self._chats[chat_id] = bucket
        return bucket

    def forget_idle_chats(self) -> None:
        """A chat whose bucket is full again is like one never seen: drop it."""
        now = time.monotonic()
        for chat_id in [c for c, b in self._chats.items()
                        if b.full(now) and c not in self._inflight_chats]:
            del self._chats[chat_id]

    async def pump(self) -> float | None:
        """Start sending every row that may go now; return seconds until more may, if any.
        One pass at a time, so no two passes can pick the same row."""
        async with self._pump_lock:
            return await self._pass()

    async def _pass(self) -> float | None:
        self._passes += 1
        if self._passes % 1000 == 0:
            self.forget_idle_chats()
        # Rows recorded before this read are no longer pending in it.
        self._recorded.clear()
        # A pass starts at most a quarter second's worth of sends, then looks again, so a row
        # held behind its chat's message in flight is not left waiting for a long pass.
        budget = max(1, min(self.limits.concurrency, int(self.limits.per_second / 4)))
        now = self.now()
        offered, self._offered = self._offered, []
        if offered and self._idle and not self._read:
            # Nothing else can be due: the rows offered are all there is to read.
            rows, next_due = offered, self._next_due
        else:
            self._read = False  # a wake from now on asks for another read
            async with self.db.read() as tx:
                # Rows being sent are still pending there: they are read past (the limit
                # leaves room for them) but not into messages; their chats are in flight,
                # which holds their other rows back below.
                rows, next_due = await tx.outbox.due_and_next(
                    self.sender.channel, now, limit=budget + 8 + len(self._claimed),
                    skip=self._claimed)
            self._next_due = next_due
        waits: list[float] = []
        held = self._waiting_chats = set()
        for row in rows:
            if budget == 0:
                waits.append(0.0)
                break
            if row.id in self._claimed or row.id in self._recorded:
                held.add(row.chat_id)
                continue
            if row.chat_id in self._inflight_chats or row.chat_id in held:
                held.add(row.chat_id)  # keep each chat's messages in order
                continue
            if self._too_old(row, now):
                self._start(row, give_up=True)
                continue
            chat_wait = self._chat_bucket(row.chat_id).wait(time.monotonic())
            if chat_wait > 0:
                held.add(row.chat_id)
                waits.append(chat_wait)
                continue
            await self._slots.acquire()
            while True:  # the overall limit and any pause the platform asked for
                moment = time.monotonic()
                delay = max(self._overall.wait(moment), self._window.wait(moment),
                            self._paused_until - moment)
                if delay <= 0:
                    break
                await asyncio.sleep(delay)
            if self._stopped:
                self._slots.release()
                return None
            self._overall.take(time.monotonic())
            self._chat_bucket(row.chat_id).take()
            budget -= 1
            self._holding.add(row.id)
            self._start(row, answered=self._window.start())
        self._idle = not held and not waits
        if held and not waits:
            waits.append(0.05)
        if next_due is not None:
            waits.append(max(0.0, (next_due - self.now()).total_seconds()))
        return min(waits) if waits else None

    def _too_old(self, row: OutboxRow, now: datetime) -> bool:
        return now - row.created_at > self.limits.max_age

    def _start(self, row: OutboxRow, give_up: bool = False,
               answered: list[float | None] | None = None, wakes: int | None = None) -> None:
        """`wakes`: the count of wake() calls when a row offered was started (see offer)."""
        self._claimed.add(row.id)
        self._inflight_chats.add(row.chat_id)
        if give_up:
            task = asyncio.create_task(self._finish(row, ("failed", "too old to send")))
        else:
            task = asyncio.create_task(self._deliver(row, answered or [None], wakes))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, row: OutboxRow, answered: list[float | None],
                       wakes: int | None = None) -> None:
        if wakes is not None and wakes != self._wakes:
            # Offered and started at once, but something woke the worker since: the pass
            # that reads the outbox decides what goes first.
            answered[0] = time.monotonic()
            self._chat_bucket(row.chat_id).give_back()
            self._release([row])
            self._read = True  # in case that pass has read already, and held the row's chat
            self._wake.set()
            return
        logs.resume(row.rid, row.channel)
        self._sending[row.id] = time.monotonic()
        try:
            outcome = await self._attempt(row)
        except Exception as exc:  # a bug of ours must not lose the row: try again later
            log.exception("delivery of outbox row %s failed", row.id)
            outcome = self._retry(row, repr(exc), 60.0)
        finally:
            self._sending.pop(row.id, None)
            answered[0] = time.monotonic()
        await self._finish(row, outcome)

    async def _finish(self, row: OutboxRow, outcome: Outcome) -> None:
        """Commit the outcome at once (group commit: a send that finds no commit under way
        writes every outcome waiting, again until none is left; the others leave theirs to
        it), then free the rows and their chats."""
        metrics.child(metrics.SENDS, self.sender.channel,
                      {"sent": "sent", "unreachable": "blocked", "failed": "failed"}.get(outcome[0])
                      or outcome[3]).inc()
        self._outcomes.append((row, outcome))
        # Not a lock: its waiters would be woken one by one, a turn of the event loop each,
        # their chats held meanwhile though their rows were recorded long before.
        if not self._recording:
            await self._flush()

    async def _flush(self) -> None:
        self._recording = True
        try:
            # One turn of the event loop first: the sends answered in the same turn (a pass
            # starts up to 16 at once) share the commit, and a batch of steps committing
            # meanwhile takes them along (take_outcomes).
            await asyncio.sleep(0)
            while self._outcomes:
                batch, self._outcomes = self._outcomes, []
                await self._record(self._recording_of(batch))
        finally:
            self._recording = False

    def take_outcomes(self) -> Recording | None:
        """The outcomes waiting to be committed, for a transaction about to commit to write
        (Recording.write) ahead of its own writes: one commit less, and the steps of that
        transaction read their chats' last messages as sent. The taker then calls settle()
        once committed, or give_back() if not."""
        if not self._outcomes:
            return None
        batch, self._outcomes = self._outcomes, []
        return self._recording_of(batch)

    def _recording_of(self, batch: list[tuple[OutboxRow, Outcome]]) -> Recording:
        return Recording(self.sender.channel, batch, self._waiting_chats, self.now)

    def give_back(self, recording: Recording) -> None:
        """The transaction that took these outcomes did not commit: record them here."""
        self._outcomes[:0] = recording.batch
        if not self._recording:
            task = asyncio.create_task(self._flush())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _record(self, recording: Recording) -> None:
        for attempt in range(1, RECORD_ATTEMPTS + 1):
            try:
                await self.db.commit_with(recording.write)
                break
            except Exception:
                # Not recorded: the rows stay pending, and unclaimed they would be sent again.
                # Most failures pass (PostgreSQL ends one of two deadlocked transactions, a
                # server restarts), so the same outcomes are tried again, claimed meanwhile;
                # only when the database stays unusable are they left to be sent again.
                log.exception("could not record the outcome of %s outbox rows (try %s of %s)",
                              len(recording.batch), attempt, RECORD_ATTEMPTS)
                await asyncio.sleep(RECORD_PAUSE)
        else:
            recording.waiting = True  # the rows are still pending: a pass sends them again
        await self.settle(recording)

    async def settle(self, recording: Recording) -> None:
        """Free the rows and chats of outcomes committed (or given up on), and wake a pass if
        that may send something it could not before."""
        batch = recording.batch
        self._recorded.update(row.id for row, _o in batch)
        self._release([row for row, _o in batch])
        if recording.waiting or any(chat in self._waiting_chats for chat in recording.chats):
            self.wake()
        failed = [(row, o[1]) for row, o in batch if o[0] == "failed"]
        if failed and self.on_failed is not None:
            try:
                await self.on_failed(failed)
            except Exception:
                log.exception("could not report %s failed messages", len(failed))

    def _release(self, rows: list[OutboxRow]) -> None:
        """Free the claims, slots and chats of rows no longer in flight."""
        ids = [row.id for row in rows]
        self._claimed.difference_update(ids)
        for row_id in self._holding.intersection(ids):
            self._holding.discard(row_id)
            self._slots.release()
        for row in rows:
            self._inflight_chats.discard(row.chat_id)

    async def offer(self, rows: list[OutboxRow], at_once: bool = True) -> None:
        """Rows just committed that head their chat's queue, handed over by the batch of steps
        that queued them. With `at_once` (the worker runs in the background), where the worker
        is idle (its last pass left nothing behind, and nothing woke it since) and no limit
        asks to wait, a row is sent at once; a send so started first looks whether something
        woke the worker meanwhile (an urgent row, a cancel), and then leaves the row to the
        pass that reads the outbox. Other rows go to the next pass, which takes them without
        reading the outbox if nothing else woke the worker. Only when this process alone
        sends (a database not shared)."""
        for row in rows:
            moment = time.monotonic()
            if (at_once and self._idle and not self._read and not self._stopped
                    and not self._pump_lock.locked() and not self._slots.locked()
                    and row.chat_id not in self._inflight_chats
                    and self._chat_bucket(row.chat_id).wait(moment) <= 0
                    and max(self._overall.wait(moment), self._window.wait(moment),
                            self._paused_until - moment) <= 0):
                await self._slots.acquire()  # not locked: no turn of the event loop
                self._overall.take(moment)
                self._chat_bucket(row.chat_id).take()
                self._holding.add(row.id)
                self._start(row, answered=self._window.start(), wakes=self._wakes)
            else:
                self._offered.append(row)
                self._wake.set()

    def _retry(self, row: OutboxRow, error: str, delay: float, why: str = "retried") -> Outcome:
        """`why`: the metrics' outcome, "retried" or "429"."""
        if row.attempts + 1 >= self.limits.max_attempts:
            log.warning("outbox row %s: giving up after %s attempts", row.id, row.attempts + 1)
            return ("failed", error)
        log.info("outbox row %s: retry in %.1fs (%s)", row.id, delay, error)
        return ("retry", error, self.now() + timedelta(seconds=delay), why)

    async def _attempt(self, row: OutboxRow) -> Outcome:
        try:
            message_id = await self.sender.send(row.chat_id, row.message)
        except TransientSendError as exc:
            if exc.retry_after is not None:
                # A 429 is about the whole bot, not this chat: everyone waits.
                self._paused_until = max(self._paused_until, time.monotonic() + exc.retry_after)
                return self._retry(row, str(exc), exc.retry_after, "429")
            delay = min(2 ** row.attempts, 300) * random.uniform(0.8, 1.2)
            return self._retry(row, str(exc), delay)
        except UnreachableError as exc:
            log.info("outbox row %s: chat %s unreachable", row.id, row.chat_id)
            return ("unreachable", str(exc))
        except RejectedError as exc:
            log.warning("outbox row %s rejected: %s", row.id, exc)
            return ("failed", str(exc))
        log.debug("outbox row %s sent", row.id)
        return ("sent", message_id)

    async def drain(self, within: float = 10.0) -> None:
        """Send until nothing is due now, for at most `within` seconds (tests, the console)."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            wait = await self.pump()
            if wait == 0:
                continue  # a full pass: more can go at once
            if self._tasks:
                await asyncio.wait(self._tasks)
                continue
            async with self.db.read() as tx:
                if not await tx.outbox.due(self.sender.channel, self.now(), limit=1):
                    return
            await asyncio.sleep(min(wait or 0.05, max(0.0, deadline - time.monotonic())))

    async def run(self) -> None:
        """Deliver until stopped, sleeping until woken or until the next row is due."""
        while not self._stopped:
            self.beat = time.monotonic()
            self._wake.clear()
            try:
                # Processes sharing a PostgreSQL database elect one sender per channel: the
                # platform's overall rate and each chat's order then hold as for one process,
                # with no write per send to share a budget. Another takes over within
                # ELECTION_SECONDS of the sender's death.
                if await self.db.leads(f"delivery:{self.sender.channel}"):
                    wait = await self.pump()
                    # Rows committed by the other processes wake no one here: look again soon.
                    if self.db.shared:
                        wait = ELECTION_SECONDS if wait is None else min(wait, ELECTION_SECONDS)
                else:
                    wait = ELECTION_SECONDS
            except Exception:
                log.exception("delivery loop error on %s", self.sender.channel)
                wait = 5.0
            if wait == 0:
                continue
            # The wait ends by the timer setting the event itself: no task (wait_for) nor
            # Timeout object (asyncio.timeout) made for each wait, one per reply; a timer that
            # fires late only makes one pass more.
            timer = asyncio.get_running_loop().call_later(
                30.0 if wait is None else min(wait, 30.0), self._wake.set)
            try:
                await self._wake.wait()
            finally:
                timer.cancel()

    async def stop(self) -> None:
        """Let the sends in flight finish and their outcomes be recorded."""
        self._stopped = True
        self.wake()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=10)
