"""One chat's backlog against everyone else: the time a delivery pass spends reading what to send
when one chat has N messages waiting and another chat has one reply waiting behind them.

    python bench/bench_backlog.py [--sizes 300 5000 50000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from storage.db import Database  # noqa: E402


async def pass_read_ms(backlog: int, repeat: int = 20) -> tuple[float, list[str]]:
    with tempfile.TemporaryDirectory() as folder:
        async with Database(Path(folder) / "bench.db") as db:
            now = datetime(2026, 3, 10, tzinfo=UTC)
            async with db.transaction() as tx:
                for n in range(backlog):
                    tx.outbox.add("telegram", "777", None, {"text": f"file {n}"}, now)
                tx.outbox.add("telegram", "501", None, {"text": "reply"}, now)
            start = time.perf_counter()
            for _ in range(repeat):
                async with db.read() as tx:
                    rows = await tx.outbox.due("telegram", now, limit=15)
            return (time.perf_counter() - start) / repeat * 1000, [r.chat_id for r in rows]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[300, 5000, 50000])
    args = parser.parse_args()
    for size in args.sizes:
        ms, chats = await pass_read_ms(size)
        print(f"backlog {size:>6} in one chat: a pass reads in {ms:.2f} ms; "
              f"chats served: {', '.join(chats)}")


if __name__ == "__main__":
    asyncio.run(main())
