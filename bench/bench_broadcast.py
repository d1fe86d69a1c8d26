"""A notice to 5,000 recipients through the real Telegram channel, against a local fake Bot API
server (loopback only) that answers 429 with retry_after whenever more than 30 messages arrive
within one second. Prints the sustained rate, 429s after the first second, duplicates, losses.

    python bench/bench_broadcast.py [--recipients 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import tornado.web  # noqa: E402  (python-telegram-bot's webhooks extra brings it)

from bot.runtime import Runtime  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from bot.telegram import build_application, start_channel  # noqa: E402
from handlers import broadcasts  # noqa: E402
from storage.models import Role, UnitIn  # noqa: E402

LIMIT_PER_SECOND = 30
BOT = {"id": 1, "is_bot": True, "first_name": "Bench", "username": "bench_bot"}


class FakeBotApi:
    """Counts what arrives and enforces Telegram's overall limit like the real thing."""

    def __init__(self) -> None:
        self.accepted: deque[float] = deque()
        self.times: list[float] = []
        self.chats: Counter = Counter()
        self.refused: list[float] = []
        self.message_id = 0

    def app(self) -> tornado.web.Application:
        api = self

        class Handler(tornado.web.RequestHandler):
            def post(self, method: str) -> None:
                body = self.request.body.decode()
                try:
                    params = json.loads(body) if body.startswith("{") else {
                        k: v[0] for k, v in parse_qs(body).items()}
                except ValueError:
                    params = {}
                self.set_header("Content-Type", "application/json")
                if method == "getMe":
                    self.write({"ok": True, "result": BOT})
                    return
                now = time.monotonic()
                while api.accepted and api.accepted[0] <= now - 1:
                    api.accepted.popleft()
                if len(api.accepted) >= LIMIT_PER_SECOND:
                    api.refused.append(now)
                    self.set_status(429)
                    self.write({"ok": False, "error_code": 429, "parameters": {"retry_after": 1},
                                "description": "Too Many Requests: retry after 1"})
                    return
                api.accepted.append(now)
                api.times.append(now)
                api.chats[str(params.get("chat_id"))] += 1
                api.message_id += 1
                self.write({"ok": True, "result": {
                    "message_id": api.message_id, "date": int(time.time()),
                    "chat": {"id": int(params.get("chat_id", 0)), "type": "private"},
                    "text": params.get("text", "")}})

        return tornado.web.Application([(r"/bot[^/]+/(\w+)", Handler)])


class FakeServer:
    """The fake Bot API on its own event loop in its own thread, so that when a request arrives
    is measured apart from the bot's loop (in one loop, a busy moment of the bot's would bunch
    the arrivals and count against it)."""

    def __init__(self, api: FakeBotApi, port: int):
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(self.loop)
            self.server = api.app().listen(port, address="127.0.0.1")
            self.loop.call_soon(ready.set)
            self.loop.run_forever()

        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()
        ready.wait()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.server.stop)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def time_pass_reads(runtime: Runtime, repeat: int = 20) -> float:
    """Milliseconds a delivery pass spends reading what to send, with the whole notice pending."""
    began = time.perf_counter()
    for _ in range(repeat):
        async with runtime.db.read() as tx:
            now = datetime.now(UTC)
            await tx.outbox.due("telegram", now, limit=16)
            await tx.outbox.next_due_at("telegram", now)
    return (time.perf_counter() - began) * 1000 / repeat


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=5000)
    args = parser.parse_args()
    api = FakeBotApi()
    port = free_port()
    server = FakeServer(api, port)
    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings(database_path=Path(folder) / "bench.db",
                                 telegram_bot_token="1:BENCH",
                                 telegram_base_url=f"http://127.0.0.1:{port}/bot")
        runtime = Runtime(settings)
        app = build_application(settings)
        await start_channel(app, runtime, background=False)
        now = datetime.now(UTC)
        async with runtime.db.transaction() as tx:
            await tx.units.upsert_many([UnitIn(code="U1", name="Đơn vị", kind="district")], now)
            unit = await tx.units.by_code("U1")
            admin = await tx.contacts.create(unit_id=None, role=Role.ADMIN, name="Admin",
                                             language="vi", now=now)
            for n in range(args.recipients):
                contact = await tx.contacts.create(unit_id=unit.id, role=Role.OFFICER,
                                                   name=f"Cán bộ {n}", language="vi", now=now)
                await tx.contacts.bind(contact.id, "telegram", str(10_000 + n),
                                       str(10_000 + n), now)
            broadcast_id = await tx.broadcasts.create(
                created_by=admin.id, text="Thông báo họp giao ban", audience={"scope": "all"},
                attachment=None, scheduled_at=None, now=now)
            messages = await broadcasts.dispatch(tx, runtime.config, broadcast_id, now)
            await runtime.write(tx, messages, now)
        worker = runtime.workers["telegram"]
        pass_ms = await time_pass_reads(runtime)
        began, cpu_began = time.monotonic(), time.thread_time()
        await worker.drain(within=3600)
        elapsed = time.monotonic() - began
        # The event loop's own CPU (this thread: not the fake API's, not the database's).
        cpu_ms = (time.thread_time() - cpu_began) * 1000 / max(1, len(api.times))
        async with runtime.db.read() as tx:
            figures = await tx.broadcasts.figures(broadcast_id)
        await runtime.stop()
        await app.shutdown()
    server.stop()
    first, last = api.times[0], api.times[-1]
    rate = (len(api.times) - 1) / (last - first) if last > first else 0
    late_429 = sum(1 for t in api.refused if t > first + 1)
    duplicates = sum(n - 1 for n in api.chats.values() if n > 1)
    lost = args.recipients - len(api.chats)
    print(f"recipients {args.recipients}, delivered {len(api.times)} in {elapsed:.1f} s")
    print(f"event loop CPU per message sent: {cpu_ms:.2f} ms")
    print(f"one delivery pass reads what to send in {pass_ms:.2f} ms with "
          f"{args.recipients} messages pending")
    print(f"sustained rate: {rate:.2f} messages/s ({rate / LIMIT_PER_SECOND:.3f} of the "
          f"{LIMIT_PER_SECOND}/s limit; target >= 29.1, 0.97x)")
    print(f"429 answers: {len(api.refused)} in all, {late_429} after the first second "
          f"(target 0)")
    print(f"duplicates: {duplicates}, lost: {lost} (targets 0, 0)")
    print(f"figures recorded: sent {figures.sent}, failed {figures.failed}, queued "
          f"{figures.queued}")


if __name__ == "__main__":
    asyncio.run(main())
