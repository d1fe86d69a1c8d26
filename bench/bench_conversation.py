"""Conversation throughput: our durable form engine against python-telegram-bot's in-memory
ConversationHandler, both on the real Application with an offline request layer, each measured
after serving the same load once unmeasured (see warm_up).

The in-memory side is measured two ways. As deployed: an update goes the way PTB's webhook and
updater hand it over, onto the application's update queue, from which its fetcher task
processes it (Application.start); that is the same road ours takes, receipt then processing,
and the ratio the target is about. Called directly: process_update awaited by the feeder, with
no queue and no turn of the event loop at all; no deployed PTB bot runs so, but it is the
floor of PTB's own work, and its ratio is printed too.

Prints form steps/s with 1, 10 and 100 people at once, p50/p99 latencies, the ratios, peak RSS,
and the memory and disk cost of idle stored sessions.

    python bench/bench_conversation.py [--users 1 10 100] [--steps 1500] [--idle 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import glob
import itertools
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update  # noqa: E402
from telegram.ext import (  # noqa: E402
    Application,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bot.delivery import ChannelLimits  # noqa: E402
from bot.runtime import Runtime  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from bot.telegram import build_application, receive, start_channel  # noqa: E402
from handlers import core, forms  # noqa: E402
from handlers.forms import Form, Kind, Question  # noqa: E402
from locales.i18n import N_  # noqa: E402
from storage.db import CHECKPOINT_SECONDS  # noqa: E402
from storage.models import Role, UnitIn  # noqa: E402
from storage.repos import Tx  # noqa: E402
from tests.telegram_fakes import FakeClock, Harness, RecordingRequest  # noqa: E402

NOW = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
ANSWERS = ["Hội nghị quán triệt Nghị quyết", "1.200", "1", "1"]  # title, people, form, confirm


async def _submit(ctx, answers, _params):
    ctx.reply("OK")


BENCH_FORM = forms.register(Form(
    id="bench", title=N_("Test form"), submit=_submit, roles=frozenset({Role.OFFICER}),
    questions=(
        Question("title", Kind.TEXT, N_("Title"), N_("Title")),
        Question("people", Kind.INTEGER, N_("People"), N_("People")),
        Question("form", Kind.CHOICE, N_("Form"), N_("Form"),
                 options=(("online", "Trực tuyến"), ("onsite", "Trực tiếp"))),
    )))


async def _start_bench(ctx, _args):
    await forms.start(ctx, BENCH_FORM)


core.action(core.Action("bench", N_("Help"), N_("Help"), frozenset({Role.OFFICER}), _start_bench,
                        in_menu=False))


def raw_update(update_id: int, user_id: int, text: str, message_id: int | None = None) -> dict:
    """The JSON Telegram would post; each side reads it as its own production path does. As in
    Telegram, a chat's messages, the person's and the bot's, are numbered in one sequence
    (`message_id`, from the offline Bot API's count)."""
    message = {"message_id": message_id or update_id, "date": 1_773_000_000,
               "chat": {"id": user_id, "type": "private", "first_name": "Cán bộ"},
               "from": {"id": user_id, "is_bot": False, "first_name": "Cán bộ",
                        "language_code": "vi"}, "text": text}
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text)}]
    return {"update_id": update_id, "message": message}


STEPS = ["/bench", *ANSWERS]


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_kb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Replies(RecordingRequest):
    """The offline Bot API, telling each chat's waiting user that a message reached them. It
    does not check the messages' HTML as Telegram would: that is Telegram's work, not the
    program's, and only our side (HTML; the in-memory handler sends plain text) would pay it."""

    checks_markup = False

    def __init__(self) -> None:
        super().__init__()
        self.arrived: dict[int, asyncio.Queue[None]] = {}
        self.before_call = self._arrive

    def _arrive(self, api: str, params: dict) -> None:
        queue = self.arrived.get(int(params.get("chat_id", 0)))
        if queue is not None and api in ("sendMessage", "editMessageText"):
            queue.put_nowait(None)


# Takes an update as Telegram posts it (JSON) and returns once the update is received.
Feed = Callable[[dict], Awaitable[object]]


def production_feed(app: Application, runtime: Runtime) -> Feed:
    """How our fetch loop and webhook hand an update over (bot/telegram.py): read it, commit it
    to the inbox; processing and delivery run in the background."""
    async def feed(update: dict) -> None:
        await receive(app, runtime, [update])
    return feed


def deployed_feed(app: Application) -> Feed:
    """How python-telegram-bot's own webhook and updater hand an update over
    (telegram/ext/_utils/webhookhandler.py, telegram/ext/_updater.py): build its `Update`,
    which its handlers need, and put it on the update queue; the application's fetcher task
    processes it."""
    async def feed(update: dict) -> None:
        await app.update_queue.put(Update.de_json(update, app.bot))
    return feed


def direct_feed(app: Application) -> Feed:
    """Build the `Update` and process it before returning: the reply is sent inside the call."""
    async def feed(update: dict) -> None:
        await app.process_update(Update.de_json(update, app.bot))
    return feed


FIRST_USER = 10_000
# The people of the warm-up (see warm_up), others than those measured.
WARM_UP_USER = 20_000


async def run_users(request: Replies, feed: Feed, users: int, forms_each: int,
                    wait_for_reply: bool, first_user: int = FIRST_USER,
                    ) -> tuple[int, float, list[float], list[float]]:
    """`users` people at once (ids from `first_user`), each filling the form `forms_each` times
    and reading each answer before typing the next: (steps, seconds, receipt latencies, reply
    latencies). The receipt is what the platform waits for (the update handled in memory, or
    committed to our inbox); the reply is when the person sees the answer."""
    # Update ids as Telegram numbers them, one sequence for the bot: a second run on the same
    # program (after the warm-up) goes on from the first's, or its updates would be dropped as
    # delivered twice.
    ids = itertools.count(first_user * 1000 + 1)
    receipts: list[float] = []
    replies: list[float] = []

    async def person(user_id: int) -> None:
        arrived = request.arrived.setdefault(user_id, asyncio.Queue())
        for _ in range(forms_each):
            for text in STEPS:
                update = raw_update(next(ids), user_id, text, request.next_message_id())
                began = time.perf_counter()
                await feed(update)
                receipts.append(time.perf_counter() - began)
                if wait_for_reply:
                    await arrived.get()
                replies.append(time.perf_counter() - began)

    began = time.perf_counter()
    await asyncio.gather(*(person(first_user + n) for n in range(users)))
    return users * forms_each * len(STEPS), time.perf_counter() - began, receipts, replies


async def warm_up(request: Replies, feed: Feed, users: int, forms_each: int,
                  wait_for_reply: bool, pause: float = 0.0) -> None:
    """The same load once, not measured, before the measure, on each side: each is measured in
    the state a running service is in, not in its first second. For ours this matters
    more: SQLite appends each commit's pages to the WAL file, and a new database's WAL grows
    for the whole first measure (the checkpoints never catch up under a steady load, so it is
    never restarted), each write extending the file, which costs the file system a good part
    of a commit more than writing over the WAL a running service has long grown to (SQLite
    keeps the file and writes it from the start again once a checkpoint has caught up).
    `pause`: time for that checkpoint, before the measure."""
    await run_users(request, feed, users, forms_each, wait_for_reply, WARM_UP_USER)
    await asyncio.sleep(pause)


async def register(tx: Tx, users: int, first_user: int = FIRST_USER) -> None:
    await tx.units.upsert_many([UnitIn(code="BENCH", name="Đơn vị", kind="district")], NOW)
    unit = await tx.units.by_code("BENCH")
    assert unit is not None
    for user in range(users):
        contact = await tx.contacts.create(unit_id=unit.id, role=Role.OFFICER, name="Cán bộ",
                                           language="vi", now=NOW)
        uid = str(first_user + user)
        await tx.contacts.bind(contact.id, "telegram", uid, uid, NOW)


@dataclass
class Result:
    rate: float  # steps/s
    receipts: list[float]
    replies: list[float]
    sent: int


def durable_settings(folder: Path, name: str):
    return load_settings(database_path=folder / name, telegram_bot_token="1:B",
                         flood_max_messages=1_000_000)


UNLIMITED = ChannelLimits(per_second=1e9, chat_per_second=1e9, chat_burst=10**9)


async def bench_durable(folder: Path, users: int, forms_each: int) -> Result:
    """The program as it runs in production: updates committed to the inbox, processed in the
    background, replies delivered from the outbox by the delivery worker."""
    settings = durable_settings(folder, "bench.db")
    runtime = Runtime(settings, FakeClock(NOW))
    request = Replies()
    app = build_application(settings, request)
    await start_channel(app, runtime, limits=UNLIMITED, background=True)
    # People write once the program has started: its first clock tick (tens of milliseconds
    # of clock jobs holding the database, which the receipts queue behind) comes once at
    # start and then every 30 s, never inside a measure this short but for the first.
    await runtime.ticked.wait()
    async with runtime.db.transaction() as tx:
        await register(tx, users)
        await register(tx, users, first_user=WARM_UP_USER)
    feed = production_feed(app, runtime)
    await warm_up(request, feed, users, forms_each, True, pause=2 * CHECKPOINT_SECONDS)
    request.calls.clear()
    steps, seconds, receipts, replies = await run_users(request, feed, users, forms_each, True)
    sent = len(request.sent())
    await runtime.stop()
    await app.shutdown()
    return Result(steps / seconds, receipts, replies, sent)


async def bench_conversation_handler(users: int, forms_each: int, deployed: bool) -> Result:
    """PTB's ConversationHandler with the same form and messages; `deployed`: fed through its
    update queue (see deployed_feed), else called directly (direct_feed)."""
    request = Replies()
    app = (Application.builder().token("1:B").request(request).get_updates_request(request)
           .build())
    title, people, kind, confirm = range(4)

    async def start(update, context):
        await update.message.reply_text("Title")
        return title

    async def on_title(update, context):
        context.user_data["title"] = update.message.text
        await update.message.reply_text("People")
        return people

    # The same buttons as our form shows, so both send the same messages.
    options = InlineKeyboardMarkup([[InlineKeyboardButton("Trực tuyến", callback_data="online"),
                                     InlineKeyboardButton("Trực tiếp", callback_data="onsite")]])
    confirm_buttons = InlineKeyboardMarkup([
        [InlineKeyboardButton("Xác nhận", callback_data="ok"),
         InlineKeyboardButton("Sửa một câu trả lời", callback_data="chg")],
        [InlineKeyboardButton("Hủy", callback_data="cxl")]])

    async def on_people(update, context):
        context.user_data["people"] = int(update.message.text.replace(".", ""))
        await update.message.reply_text("Form", reply_markup=options)
        return kind

    async def on_kind(update, context):
        context.user_data["form"] = update.message.text
        await update.message.reply_text("Confirm?", reply_markup=confirm_buttons)
        return confirm

    async def on_confirm(update, context):
        await update.message.reply_text("OK")
        return ConversationHandler.END

    text = filters.TEXT & ~filters.COMMAND
    app.add_handler(ConversationHandler(
        entry_points=[CommandHandler("bench", start)],
        states={title: [MessageHandler(text, on_title)], people: [MessageHandler(text, on_people)],
                kind: [MessageHandler(text, on_kind)], confirm: [MessageHandler(text, on_confirm)]},
        fallbacks=[]))
    await app.initialize()
    if deployed:
        await app.start()  # the fetcher task (not the updater: the feed is the webhook's part)
    # Called directly, the reply is sent inside process_update: its receipt is its reply.
    feed = deployed_feed(app) if deployed else direct_feed(app)
    await warm_up(request, feed, users, forms_each, deployed)
    request.calls.clear()
    steps, seconds, receipts, replies = await run_users(request, feed, users, forms_each,
                                                        deployed)
    sent = len(request.sent())
    if deployed:
        await app.stop()
    await app.shutdown()
    return Result(steps / seconds, receipts, replies, sent)


async def leave_half_way(h: Harness, count: int, first_user: int) -> None:
    """`count` people start the form and answer its first question, then go quiet."""
    feed = production_feed(h.app, h.runtime)
    ids = itertools.count(first_user * 10)
    for text in STEPS[:2]:
        for user in range(count):
            await feed(raw_update(next(ids), first_user + user, text, h.request.next_message_id()))
    await h.drain()


async def bench_idle_sessions(folder: Path, count: int) -> tuple[float, float]:
    """Leave `count` people half-way through the form; memory and disk per stored session, once
    they have been quiet longer than the flood window (the per-person state kept for active
    people is dropped on the clock tick). Measured as the growth from a first `count` people
    left the same way (so the heap the processing itself needs is there already) to a second
    `count`; the offline Bot API's record of the calls it answered is not the program's."""
    settings = durable_settings(folder, "idle.db")
    clock = FakeClock(NOW)
    h = Harness(settings, clock, limits=UNLIMITED)
    await h.start()
    async with h.runtime.db.transaction() as tx:
        await register(tx, 2 * count, first_user=500_000)
    await leave_half_way(h, count, 500_000)

    async def settle() -> None:
        clock.advance(seconds=settings.flood_window_seconds + 1)
        h.runtime.forget_idle()
        h.request.calls.clear()
        async with h.runtime.db.read() as tx:
            await tx.conn.execute_fetchall("PRAGMA wal_checkpoint(TRUNCATE)")
        gc.collect()

    await settle()
    rss_before = current_rss_kb()
    db_before = disk_bytes(folder)
    await leave_half_way(h, count, 500_000 + count)
    await settle()
    rss_after = current_rss_kb()
    db_after = disk_bytes(folder)
    async with h.runtime.db.read() as tx:
        stored = (await tx.conn.execute_fetchall(
            "SELECT COUNT(*) FROM sessions WHERE flow = 'bench'"))[0][0]
    await h.stop()
    assert stored == 2 * count, stored
    return (rss_after - rss_before) / count, (db_after - db_before) / 1024 / count


def disk_bytes(folder: Path) -> int:
    return sum(os.path.getsize(p) for p in glob.glob(str(folder / "idle.db*")))


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000


def best(results: list[Result]) -> Result:
    return max(results, key=lambda result: result.rate)


def latencies(name: str, result: Result, receipt: bool) -> str:
    shown = (f"receipt p50 {pct(result.receipts, 50):.2f} p99 {pct(result.receipts, 99):.2f} ms  "
             if receipt else "")
    return (f"  {name:<30} {result.rate:7.0f} steps/s  {shown}reply p50 "
            f"{pct(result.replies, 50):.2f} p99 {pct(result.replies, 99):.2f} ms  "
            f"messages {result.sent}")


def ratios(paired: list[float]) -> str:
    return (f"median {statistics.median(paired):.2f}, from {min(paired):.2f} to "
            f"{max(paired):.2f}")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--steps", type=int, default=1500, help="form steps per measure")
    parser.add_argument("--idle", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"Each user fills the bench form ({len(STEPS)} steps) and reads each answer before "
          f"typing the next; about {args.steps} steps per measure, each side first warmed up "
          f"with the same load unmeasured, best of {args.rounds} alternating rounds (a noisy "
          "neighbour on a shared machine does not decide a ratio).")
    print("durable: SQLite WAL, inbox, outbox, delivery worker; in memory: python-telegram-bot's "
          "ConversationHandler, as deployed (its update queue) and called directly (no queue). "
          "Receipt: until the update is committed to the inbox, or on PTB's queue (what "
          "Telegram's webhook waits for); reply: until the answer reaches the person.")
    with tempfile.TemporaryDirectory() as folder:
        for users in args.users:
            forms_each = max(1, round(args.steps / len(STEPS) / users))
            ours: list[Result] = []
            deployed: list[Result] = []
            direct: list[Result] = []
            for round_ in range(args.rounds):
                ours.append(await bench_durable(Path(folder) / f"{users}-{round_}", users,
                                                forms_each))
                deployed.append(await bench_conversation_handler(users, forms_each, True))
                direct.append(await bench_conversation_handler(users, forms_each, False))
            # Each round's ratios, of runs side by side: how far a busy machine moves them.
            paired_deployed = [o.rate / d.rate for o, d in zip(ours, deployed, strict=True)]
            paired_direct = [o.rate / d.rate for o, d in zip(ours, direct, strict=True)]
            print(f"\n{users} concurrent users, {users * forms_each * len(STEPS)} steps")
            print(latencies("durable:", best(ours), True))
            print(latencies("in memory, as deployed:", best(deployed), True))
            print(latencies("in memory, called directly:", best(direct), False))
            print(f"  ratio durable / in memory as deployed: "
                  f"{best(ours).rate / best(deployed).rate:.2f}  (target >= 0.5, aim 0.75); "
                  f"receipt p99 {pct(best(ours).receipts, 99):.2f} ms (target < 5 ms)")
            print(f"  ratio durable / in memory called directly: "
                  f"{best(ours).rate / best(direct).rate:.2f}")
            print(f"  each round's ratios: as deployed {ratios(paired_deployed)}; called "
                  f"directly {ratios(paired_direct)}")
        peak = rss_mb()
        idle_kb, idle_disk_kb = await bench_idle_sessions(Path(folder), args.idle)
    print(f"\nidle stored sessions: {args.idle}; memory {idle_kb * 1024:.0f} bytes each, "
          f"disk {idle_disk_kb:.2f} KB each  (target < 1 KB memory)")
    print(f"peak RSS: {max(peak, rss_mb()):.0f} MB")


if __name__ == "__main__":
    asyncio.run(main())
