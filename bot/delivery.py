"""The delivery worker: drains the outbox of one channel within the platform's rate limits.

Rows are sent oldest first, one at a time per chat (so a chat sees its messages in order), several
chats at once. Outcomes are recorded within milliseconds of the platform accepting a message, in
small batches; a crash inside that window can repeat those messages, but a row recorded as sent is
never sent again.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from storage.db import Database
from storage.models import OutboxRow

log = logging.getLogger(__name__)


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
    # Telegram: about 30 messages a second overall, 1 a second in a chat, 20 a minute in a group.
    # Sending evenly a little under 30/s keeps every one-second window at 30 or fewer.
    per_second: float = 29.5
    chat_per_second: float = 1.0
    chat_burst: int = 3
    group_per_minute: float = 20.0
    group_burst: int = 3
    max_text: int = 4096
    concurrency: int = 16
    max_attempts: int = 12


class Sender(Protocol):
    channel: str
    limits: ChannelLimits

    def is_group(self, chat_id: str) -> bool: ...

    async def send(self, chat_id: str, payload: dict) -> str | None:
        """Deliver one payload; return the platform's message id if there is one."""


class TokenBucket:
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


def utcnow() -> datetime:
    return datetime.now(UTC)


class DeliveryWorker:
    """Sends one channel's outbox rows; `wake()` after a commit makes replies go out at once."""

    def __init__(self, db: Database, sender: Sender, now: Callable[[], datetime] = utcnow):
        self.db, self.sender, self.now = db, sender, now
        self.limits = sender.limits
        self._overall = TokenBucket(self.limits.per_second, 1, time.monotonic())
        self._chats: dict[str, TokenBucket] = {}
        self._inflight_rows: set[int] = set()
        self._unflushed: set[int] = set()
        self._results: list[tuple[OutboxRow, tuple]] = []
        self._inflight_chats: set[str] = set()
        self._tasks: set[asyncio.Task] = set()
        self._slots = asyncio.Semaphore(self.limits.concurrency)
        self._paused_until = 0.0
        self._wake = asyncio.Event()
        self._stopped = False

    def wake(self) -> None:
        self._wake.set()

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

    async def pump(self) -> float | None:
        """Start sending every row that may go now; return seconds until more may, if any."""
        await self._flush()
        async with self.db.read() as tx:
            # A pass sends at most `budget` rows; a few times that covers those held back.
            rows = await tx.outbox.due(self.sender.channel, self.now(),
                                       limit=4 * self.limits.concurrency)
            next_due = None if rows else await tx.outbox.next_due_at(self.sender.channel)
        waits: list[float] = []
        held: set[str] = set()
        # A pass starts at most a quarter second's worth of sends, then looks again, so a row
        # held behind its chat's message in flight is not left waiting for a long pass.
        budget = max(1, min(self.limits.concurrency, int(self.limits.per_second / 4)))
        for row in rows:
            if budget == 0:
                waits.append(0.0)
                break
            if row.id in self._unflushed:
                continue  # sent; its outcome is about to be written
            if row.id in self._inflight_rows or row.chat_id in self._inflight_chats \
                    or row.chat_id in held:
                held.add(row.chat_id)  # keep each chat's messages in order
                continue
            chat_wait = self._chat_bucket(row.chat_id).wait(time.monotonic())
            if chat_wait > 0:
                held.add(row.chat_id)
                waits.append(chat_wait)
                continue
            await self._slots.acquire()
            while True:  # the overall limit and any pause the platform asked for
                now = time.monotonic()
                delay = max(self._overall.wait(now), self._paused_until - now)
                if delay <= 0:
                    break
                await asyncio.sleep(delay)
            if self._stopped:
                self._slots.release()
                return None
            self._overall.take()
            self._chat_bucket(row.chat_id).take()
            self._inflight_rows.add(row.id)
            self._inflight_chats.add(row.chat_id)
            budget -= 1
            task = asyncio.create_task(self._deliver(row))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if held and not waits:
            waits.append(0.05)
        if next_due is not None:
            waits.append(max(0.0, (next_due - self.now()).total_seconds()))
        return min(waits) if waits else None

    async def _deliver(self, row: OutboxRow) -> None:
        try:
            outcome = await self._attempt(row)
        except Exception as exc:  # a bug of ours must not lose the row: try again later
            log.exception("delivery of outbox row %s failed", row.id)
            outcome = ("retry", repr(exc), self.now() + timedelta(seconds=60))
        finally:
            self._slots.release()
        self._results.append((row, outcome))
        self._unflushed.add(row.id)
        self._inflight_rows.discard(row.id)
        self._inflight_chats.discard(row.chat_id)
        # Outcomes are written in batches (one transaction, one statement for all the sent
        # ones) at the start of the next pass, which this wakes at once. Only there: a pass
        # still walking its list must see this row as sent-but-unrecorded, never as pending.
        self.wake()

    async def _flush(self) -> None:
        results, self._results = self._results, []
        if not results:
            return
        try:
            async with self.db.transaction() as tx:
                now = self.now()
                await tx.outbox.mark_sent_many(
                    [(row.id, o[1]) for row, o in results if o[0] == "sent"], now)
                for row, outcome in results:
                    if outcome[0] == "retry":
                        await tx.outbox.retry_later(row.id, outcome[2], outcome[1])
                    elif outcome[0] == "unreachable":
                        await tx.outbox.give_up(row.id, "unreachable", outcome[1])
                        await tx.contacts.set_reachable(row.channel, row.chat_id, False)
                    elif outcome[0] == "failed":
                        await tx.outbox.give_up(row.id, "failed", outcome[1])
        except Exception:
            log.exception("could not record the outcome of %s outbox rows", len(results))
        finally:
            self._unflushed.difference_update(row.id for row, _o in results)

    async def _attempt(self, row: OutboxRow) -> tuple:
        try:
            message_id = await self.sender.send(row.chat_id, row.payload)
        except TransientSendError as exc:
            if exc.retry_after is not None:
                # A 429 is about the whole bot, not this chat: everyone waits.
                self._paused_until = max(self._paused_until, time.monotonic() + exc.retry_after)
                delay = exc.retry_after
            else:
                delay = min(2 ** row.attempts, 300) * random.uniform(0.8, 1.2)
            if row.attempts + 1 >= self.limits.max_attempts:
                log.warning("outbox row %s: giving up after %s attempts", row.id, row.attempts + 1)
                return ("failed", str(exc))
            log.info("outbox row %s: retry in %.1fs (%s)", row.id, delay, exc)
            return ("retry", str(exc), self.now() + timedelta(seconds=delay))
        except UnreachableError as exc:
            log.info("outbox row %s: chat %s unreachable", row.id, row.chat_id)
            return ("unreachable", str(exc))
        except RejectedError as exc:
            log.warning("outbox row %s rejected: %s", row.id, exc)
            return ("failed", str(exc))
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
            self._wake.clear()
            try:
                wait = await self.pump()
            except Exception:
                log.exception("delivery loop error on %s", self.sender.channel)
                wait = 5.0
            if wait == 0:
                continue
            try:
                await asyncio.wait_for(self._wake.wait(),
                                       timeout=30.0 if wait is None else min(wait, 30.0))
            except TimeoutError:
                pass

    async def stop(self) -> None:
        self._stopped = True
        self.wake()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=10)
        await self._flush()
