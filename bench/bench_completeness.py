"""Completeness and timeliness for 1,000 units over 5 years of reports (1,000,000 rows).

Builds the database once (a few seconds), then times the storage queries behind /status and the
digests: every unit's status for one obligation and period, and the list of missing units.

    python bench/bench_completeness.py [--units 1000] [--per-unit-year 200]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.dataset import build  # noqa: E402
from handlers import periods  # noqa: E402
from handlers.context import Config  # noqa: E402
from handlers.programme import load_programme  # noqa: E402
from handlers.reminders import owed  # noqa: E402
from storage.db import Database  # noqa: E402


async def timed(call, repeat: int = 7) -> tuple[float, object]:
    """Median milliseconds over `repeat` runs, and the last result."""
    durations, result = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        result = await call()
        durations.append((time.perf_counter() - began) * 1000)
    return statistics.median(durations), result


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--units", type=int, default=1000)
    parser.add_argument("--per-unit-year", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.db"
        await (await Database(path).open()).close()  # the real schema, by the migrations
        began = time.perf_counter()
        count = build(path, args.units, args.per_unit_year)
        print(f"built {count:,} reports for {args.units:,} units in "
              f"{time.perf_counter() - began:.1f} s")
        config = Config(programme=load_programme())
        programme = config.programme
        annual = programme.obligation("annual")
        review = programme.obligation("review-2025")
        db = await Database(path).open()
        async with db.read() as tx:
            annual_owed = owed(config, annual, periods.year(2025), date(2025, 12, 19))
            ms, status = await timed(lambda: tx.tracking.status(annual_owed))
            submitted = sum(1 for s in status if s.first_at)
            on_time = sum(1 for s in status if s.on_time)
            print(f"annual report 2025, every unit's status: {ms:.1f} ms  "
                  f"(expected {len(status)}, submitted {submitted}, on time {on_time})")
            ms, missing = await timed(lambda: tx.tracking.missing(annual_owed))
            print(f"annual report 2025, missing units:       {ms:.1f} ms  ({len(missing)} units)")
            review_owed = owed(config, review, programme.period("review-2025"),
                               date(2025, 12, 19))
            ms, status = await timed(lambda: tx.tracking.status(review_owed))
            print(f"3-year review (by activity date), status: {ms:.1f} ms  "
                  f"({sum(1 for s in status if s.first_at)} of {len(status)} submitted)")
        await db.close()
    print("target: under 200 ms for completeness over 1,000 units x 5 years (1,000,000 rows)")


if __name__ == "__main__":
    asyncio.run(main())
