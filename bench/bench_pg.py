"""SQLite beside PostgreSQL in one run: durable form steps/s (bench_conversation's production
path: inbox, batches, outbox, delivery worker) and a notice's delivery rate (bench_broadcast:
the real Telegram channel against a fake Bot API that answers 429 past 30 messages a second).

    python bench/bench_pg.py [--server postgresql://postgres@127.0.0.1:5432] [--users 1 10]
                             [--steps 600] [--recipients 1500]

Each PostgreSQL measure runs on a fresh database of its own, dropped after.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import secrets
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg  # noqa: E402

from bench import bench_broadcast, bench_conversation  # noqa: E402


@contextlib.asynccontextmanager
async def backend(server: str | None):
    """DATABASE_URL set to a fresh PostgreSQL database (server given), or unset (SQLite)."""
    if server is None:
        os.environ.pop("DATABASE_URL", None)
        yield "SQLite"
        return
    name = f"baocao_bench_{secrets.token_hex(5)}"
    admin = await asyncpg.connect(f"{server}/postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = f"{server}/{name}"
    try:
        yield "PostgreSQL"
    finally:
        os.environ.pop("DATABASE_URL", None)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def steps_per_second(server: str | None, users: int, steps: int) -> float:
    forms_each = max(1, round(steps / len(bench_conversation.STEPS) / users))
    async with backend(server):
        with tempfile.TemporaryDirectory() as folder:
            result = await bench_conversation.bench_durable(Path(folder), users, forms_each)
    return result.rate


async def broadcast_rate(server: str | None, recipients: int) -> str:
    async with backend(server):
        sys.argv = ["bench_broadcast", "--recipients", str(recipients)]
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            await bench_broadcast.main()
    lines = printed.getvalue().splitlines()
    return "; ".join(line for line in lines if line.startswith(("sustained", "duplicates")))


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--users", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--recipients", type=int, default=1500)
    args = parser.parse_args()
    server = args.server.rstrip("/")
    print("durable form steps/s (inbox, batched commits, outbox, delivery worker):")
    for users in args.users:
        lite = await steps_per_second(None, users, args.steps)
        post = await steps_per_second(server, users, args.steps)
        print(f"  {users:>3} people at once: SQLite {lite:7.0f}   PostgreSQL {post:7.0f}  "
              f"({post / lite:.2f}x)")
    print(f"a notice to {args.recipients} people:")
    for server_or_none, name in ((None, "SQLite"), (server, "PostgreSQL")):
        print(f"  {name:<10} {await broadcast_rate(server_or_none, args.recipients)}")


if __name__ == "__main__":
    asyncio.run(main())
