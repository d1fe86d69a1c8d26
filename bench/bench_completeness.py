"""Completeness and timeliness for 1,000 units over 5 years of reports (1,000,000 rows).

Builds the database once (a few seconds), then times the storage queries behind /status and the
digests (every unit's status for one obligation and period, the list of missing units, the
3-year review's status) beside a hand-written SQL query on a covering index that gives the same
answer, in the same run: the bench checks the answers are equal and prints the ratio (issue 15
asks for the product within 1.5x).

    python bench/bench_completeness.py [--units 1000] [--per-unit-year 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.dataset import build, unit_life  # noqa: E402
from bench.paired import line, paired  # noqa: E402
from handlers import periods  # noqa: E402
from handlers.context import Config  # noqa: E402
from handlers.programme import load_programme  # noqa: E402
from handlers.reminders import owed  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.tracking import Owed, UnitStatus  # noqa: E402

# The units that owe it: of the obligation's kinds, existing on the deadline.
_OWING = ("u.kind IN (SELECT value FROM json_each(:kinds)) "
          "AND (u.valid_from IS NULL OR u.valid_from <= :day) "
          "AND (u.valid_to IS NULL OR u.valid_to >= :day)")
# Every owing unit's first report by the period it names (periodic), on time or not.
STATUS_BY_PERIOD = (
    "WITH s AS MATERIALIZED (SELECT u.id, u.code, u.name, u.kind, "
    "(SELECT MIN(r.created_at) FROM reports r INDEXED BY reports_unit_period "
    "WHERE r.unit_id = u.id AND r.kind = :kind AND r.period_key = :period) AS first_at, "
    "e.due, e.on_time_before, u.valid_to FROM units u LEFT JOIN deadline_extensions e "
    "ON e.unit_id = u.id AND e.obligation = :obligation AND e.period_key = :period "
    f"WHERE {_OWING}) "
    "SELECT id, code, name, kind, first_at, first_at < COALESCE(on_time_before, :bound), "
    "due, valid_to FROM s ORDER BY kind, code")
# The same by activity date, for a level of review.
STATUS_BY_ACTIVITY = STATUS_BY_PERIOD.replace(
    "INDEXED BY reports_unit_period WHERE r.unit_id = u.id AND r.kind = :kind AND "
    "r.period_key = :period",
    "INDEXED BY reports_first_level WHERE r.unit_id = u.id AND r.kind = :kind AND "
    "r.level = :level AND r.activity_date BETWEEN :start AND :end")
MISSING_BY_PERIOD = (
    f"SELECT u.id, u.code, u.name FROM units u WHERE {_OWING} AND NOT EXISTS (SELECT 1 FROM "
    "reports r INDEXED BY reports_unit_period WHERE r.unit_id = u.id AND r.kind = :kind AND "
    "r.period_key = :period) ORDER BY u.code")


def _args(due: Owed) -> dict:
    return {"kinds": json.dumps(list(due.unit_kinds)), "kind": due.report_kind,
            "level": due.level, "period": due.period_key, "obligation": due.obligation,
            "start": due.start.isoformat(), "end": due.end.isoformat(),
            "day": due.valid_on.isoformat(),
            "bound": due.on_time_before.isoformat(timespec="milliseconds")}


def _product_rows(statuses: list[UnitStatus]) -> list[tuple]:
    return [(s.unit_id, s.code, s.name, s.kind, s.first_at, s.on_time, s.extended_to,
             s.valid_to) for s in statuses]


def _reference_rows(rows: list) -> list[tuple]:
    return [(r[0], r[1], r[2], r[3], datetime.fromisoformat(r[4]) if r[4] else None,
             bool(r[5]), date.fromisoformat(r[6]) if r[6] else None,
             date.fromisoformat(r[7]) if r[7] else None) for r in rows]


async def measure(path: Path) -> None:
    """Time and check the three queries on a built database."""
    config = Config(programme=load_programme())
    programme = config.programme
    annual = programme.obligation("annual")
    review = programme.obligation("review-2025")
    db = await Database(path).open()
    conn = db.conn
    async with db.read() as tx:
        annual_owed = owed(config, annual, periods.year(2025), date(2025, 12, 19))
        product_ms, reference_ms, status, rows = await paired(
            lambda: tx.tracking.status(annual_owed),
            lambda: conn.execute_fetchall(STATUS_BY_PERIOD, _args(annual_owed)))
        assert _product_rows(status) == _reference_rows(rows), "status: answers differ"
        print(line("annual report 2025, every unit's status", product_ms, reference_ms,
                   f"expected {len(status)}, submitted "
                   f"{sum(1 for s in status if s.first_at)}, on time "
                   f"{sum(1 for s in status if s.on_time)}, given more time "
                   f"{sum(1 for s in status if s.extended_to)}"))
        product_ms, reference_ms, missing, rows = await paired(
            lambda: tx.tracking.missing(annual_owed),
            lambda: conn.execute_fetchall(MISSING_BY_PERIOD, _args(annual_owed)))
        assert missing == [tuple(r) for r in rows], "missing units: answers differ"
        print(line("annual report 2025, missing units       ", product_ms, reference_ms,
                   f"{len(missing)} units"))
        review_owed = owed(config, review, programme.period("review-2025"),
                           date(2025, 12, 19))
        product_ms, reference_ms, status, rows = await paired(
            lambda: tx.tracking.status(review_owed),
            lambda: conn.execute_fetchall(STATUS_BY_ACTIVITY, _args(review_owed)))
        assert _product_rows(status) == _reference_rows(rows), "review: answers differ"
        print(line("3-year review (by activity date), status", product_ms, reference_ms,
                   f"{sum(1 for s in status if s.first_at)} of {len(status)} submitted"))
    await db.close()


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
        unit_life(path)
        print(f"built {count:,} reports for {args.units:,} units in "
              f"{time.perf_counter() - began:.1f} s")
        await measure(path)
    print("targets: under 200 ms for completeness over 1,000 units x 5 years (1,000,000 rows); "
          "the product within 1.5x of the hand-written SQL")


if __name__ == "__main__":
    asyncio.run(main())
