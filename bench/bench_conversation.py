"""Conversation throughput: our durable form engine against python-telegram-bot's in-memory
ConversationHandler, both on the real Application with an offline request layer.

Prints form steps/s, p50/p99 handling latency, peak RSS, the ratio of the two, and the memory and
disk cost of idle stored sessions.

    python bench/bench_conversation.py [--users 300] [--idle 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import glob
import os
import resource
import statistics
import sys
import tempfile
import time
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
from bot.settings import load_settings  # noqa: E402
from handlers import core, forms  # noqa: E402
from handlers.forms import Form, Kind, Question  # noqa: E402
from locales.i18n import N_  # noqa: E402
from storage.models import Role, UnitIn  # noqa: E402
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


def raw_update(update_id: int, user_id: int, text: str) -> dict:
    """The JSON Telegram would post, parsed below exactly as in production."""
    message = {"message_id": update_id, "date": 1_773_000_000,
               "chat": {"id": user_id, "type": "private", "first_name": "Cán bộ"},
               "from": {"id": user_id, "is_bot": False, "first_name": "Cán bộ",
                        "language_code": "vi"}, "text": text}
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text)}]
    return {"update_id": update_id, "message": message}


def script(users: int, first_user: int = 10_000) -> list[dict]:
    """Every user runs the form once; their steps interleave as real traffic would."""
    updates, update_id = [], 1
    for step in ["/bench", *ANSWERS]:
        for user in range(users):
            updates.append(raw_update(update_id, first_user + user, step))
            update_id += 1
    return updates


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_kb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def register(h: Harness, users: int, first_user: int = 10_000) -> None:
    async with h.runtime.db.transaction() as tx:
        await tx.units.upsert_many([UnitIn(code="BENCH", name="Đơn vị", kind="district")], NOW)
        unit = await tx.units.by_code("BENCH")
        for user in range(users):
            contact = await tx.contacts.create(unit_id=unit.id, role=Role.OFFICER, name="Cán bộ",
                                               language="vi", now=NOW)
            uid = str(first_user + user)
            await tx.contacts.bind(contact.id, "telegram", uid, uid, NOW)


async def timed(app: Application, updates: list[dict]) -> list[float]:
    latencies = []
    for data in updates:
        update = Update.de_json(data, app.bot)
        began = time.perf_counter()
        await app.process_update(update)
        latencies.append(time.perf_counter() - began)
    return latencies


async def bench_durable(folder: Path, users: int) -> tuple[float, list[float], int]:
    settings = load_settings(database_path=folder / "bench.db", telegram_bot_token="1:B",
                             flood_max_messages=1_000_000)
    h = Harness(settings, FakeClock(NOW), limits=ChannelLimits(
        per_second=1e9, chat_per_second=1e9, chat_burst=10**9))
    await h.start()
    await register(h, users)
    updates = script(users)
    began = time.perf_counter()
    latencies = await timed(h.app, updates)
    await h.drain()
    elapsed = time.perf_counter() - began
    sent = len(h.request.sent())
    await h.stop()
    return len(updates) / elapsed, latencies, sent


async def bench_conversation_handler(users: int) -> tuple[float, list[float], int]:
    request = RecordingRequest()
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
    updates = script(users)
    began = time.perf_counter()
    latencies = await timed(app, updates)
    elapsed = time.perf_counter() - began
    sent = len(request.sent())
    await app.shutdown()
    return len(updates) / elapsed, latencies, sent


async def bench_idle_sessions(folder: Path, count: int) -> tuple[float, float]:
    """Leave `count` people half-way through the form; memory and disk per stored session."""
    settings = load_settings(database_path=folder / "idle.db", telegram_bot_token="1:B",
                             flood_max_messages=1_000_000)
    h = Harness(settings, FakeClock(NOW), limits=ChannelLimits(
        per_second=1e9, chat_per_second=1e9, chat_burst=10**9))
    await h.start()
    await register(h, count, first_user=500_000)
    await h.drain()
    gc.collect()
    rss_before = current_rss_kb()
    db_before = disk_bytes(folder)
    updates = [u for u in script(count, first_user=500_000)
               if u["message"]["text"] in ("/bench", ANSWERS[0])]
    for data in updates:
        await h.app.process_update(Update.de_json(data, h.app.bot))
    await h.drain()
    await h.runtime.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    async with h.runtime.db.transaction() as tx:
        stored = (await tx.conn.execute_fetchall(
            "SELECT COUNT(*) FROM sessions WHERE flow = 'bench'"))[0][0]
    gc.collect()
    rss_after = current_rss_kb()
    db_after = disk_bytes(folder)
    await h.stop()
    assert stored == count, stored
    return (rss_after - rss_before) / count, (db_after - db_before) / 1024 / count


def disk_bytes(folder: Path) -> int:
    return sum(os.path.getsize(p) for p in glob.glob(str(folder / "idle.db*")))


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--idle", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    # The two are run alternately and the best round of each is kept, so a noisy neighbour on a
    # shared machine does not decide the ratio.
    ours, theirs, our_lat, their_lat = 0.0, 0.0, [], []
    with tempfile.TemporaryDirectory() as folder:
        for round_ in range(args.rounds):
            rate, latencies, our_sent = await bench_durable(Path(folder) / str(round_), args.users)
            if rate > ours:
                ours, our_lat = rate, latencies
            rate, latencies, their_sent = await bench_conversation_handler(args.users)
            if rate > theirs:
                theirs, their_lat = rate, latencies
        peak = rss_mb()
        idle_kb, idle_disk_kb = await bench_idle_sessions(Path(folder), args.idle)
    steps = args.users * 5
    print(f"form steps: {steps} ({args.users} users x 5 steps, interleaved), best of "
          f"{args.rounds} alternating rounds")
    print(f"durable engine (SQLite WAL, outbox, delivery): {ours:8.0f} steps/s  "
          f"p50 {pct(our_lat, 50):.2f} ms  p99 {pct(our_lat, 99):.2f} ms  messages {our_sent}")
    print(f"ConversationHandler (in memory):               {theirs:8.0f} steps/s  "
          f"p50 {pct(their_lat, 50):.2f} ms  p99 {pct(their_lat, 99):.2f} ms  "
          f"messages {their_sent}")
    print(f"ratio durable / in-memory: {ours / theirs:.2f}  (target >= 0.30)")
    print(f"p99 handling latency: {pct(our_lat, 99):.2f} ms  (target < 20 ms)")
    print(f"idle stored sessions: {args.idle}; memory {idle_kb:.2f} KB each, "
          f"disk {idle_disk_kb:.2f} KB each  (target < 5 KB memory)")
    print(f"peak RSS: {max(peak, rss_mb()):.0f} MB")


if __name__ == "__main__":
    asyncio.run(main())
