"""Completeness and timeliness for 1,000 units over 5 years of reports (1,000,000 rows).

Builds the database once (a few seconds), then times the storage queries behind /status and the
digests: every unit's status for one obligation and period, and the list of missing units.

    python bench/bench_completeness.py [--units 1000] [--per-unit-year 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from handlers import periods  # noqa: E402
from handlers.context import Config  # noqa: E402
from handlers.programme import load_programme  # noqa: E402
from handlers.reminders import owed  # noqa: E402
from storage.db import Database  # noqa: E402

KINDS = ["dissemination", "study", "inspection", "review", "model", "plan"]
YEARS = [2022, 2023, 2024, 2025, 2026]


def build(path: Path, units: int, per_unit_year: int) -> int:
    """Fill the schema with units and reports, with plain sqlite3 for speed."""
    conn = sqlite3.connect(path)
    now = "2026-12-01T00:00:00.000+00:00"
    conn.executemany(
        "INSERT INTO units (code, name, kind, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
        [(f"U{n:04d}", f"Đơn vị {n}", "district" if n % 3 else "department", now, now)
         for n in range(units)])
    conn.execute("INSERT INTO contacts (unit_id, role, name, language, created_at) "
                 "VALUES (1, 'officer', 'Bench', 'vi', ?)", (now,))
    rng = random.Random(7)
    rows, number = [], 0
    for unit in range(1, units + 1):
        for year in YEARS:
            period = periods.year(year)
            # Most units send their annual report, some late, some never.
            if rng.random() < 0.9:
                sent = datetime(year, 12, 14, tzinfo=UTC) + timedelta(days=rng.randint(0, 12))
                number += 1
                rows.append((f"BC-{year}-{number:07d}", unit, 1, "periodic", str(year), None,
                             "{}", sent.isoformat(timespec="milliseconds")))
            for _ in range(per_unit_year - 1):
                day = period.start + timedelta(days=rng.randint(0, 364))
                kind = rng.choice(KINDS)
                answers = json.dumps({"reached": rng.randint(10, 500), "level": "preliminary"})
                number += 1
                rows.append((f"BC-{year}-{number:07d}", unit, 1, kind, str(year),
                             day.isoformat(), answers,
                             datetime.combine(day, datetime.min.time(), UTC).isoformat(
                                 timespec="milliseconds")))
        if len(rows) > 50_000:
            _flush(conn, rows)
    _flush(conn, rows)
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()
    return number


def _flush(conn: sqlite3.Connection, rows: list) -> None:
    conn.executemany(
        "INSERT INTO reports (number, unit_id, contact_id, kind, period_key, activity_date, "
        "answers, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(*row, row[-1]) for row in rows])
    rows.clear()


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
