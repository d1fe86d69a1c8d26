"""The coordinator's desk at scale: a digest over 1,000 units and 1,000,000 reports, beside
hand-written SQL queries on covering indexes that give the same figures (checked equal, the
ratio printed: issue 15 asks for the product within 1.5x), and the spreadsheet export of about
100,000 reports (time and peak memory, in its own process).

    python bench/bench_desk.py [--units 1000] [--per-unit-year 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import aiosqlite

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.dataset import build, unit_life  # noqa: E402
from bench.paired import line, paired  # noqa: E402
from handlers import desk  # noqa: E402
from handlers.context import Config  # noqa: E402
from handlers.export import write_workbook  # noqa: E402
from handlers.programme import RECURRING, load_programme  # noqa: E402
from handlers.reminders import current_obligations, in_view, owed  # noqa: E402
from locales.i18n import translator  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.repos import Tx  # noqa: E402
from storage.tracking import Owed  # noqa: E402
from storage.units import iso  # noqa: E402

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # the data set's last reports are just before

# ---------------------------------------------------------------------------------------------
# The digest's figures by hand-written SQL

_OWING = ("u.kind IN (SELECT value FROM json_each(:kinds)) "
          "AND (u.valid_from IS NULL OR u.valid_from <= :day) "
          "AND (u.valid_to IS NULL OR u.valid_to >= :day)")
# A unit's satisfying reports, by the obligation's shape, each on its covering index.
_FIRST = {
    "period": "reports r INDEXED BY reports_unit_period WHERE r.unit_id = u.id AND "
              "r.kind = :kind AND r.period_key = :period",
    "level": "reports r INDEXED BY reports_first_level WHERE r.unit_id = u.id AND "
             "r.kind = :kind AND r.level = :level AND r.activity_date BETWEEN :start AND :end",
    "dated": "reports r INDEXED BY reports_first WHERE r.unit_id = u.id AND r.kind = :kind "
             "AND r.activity_date BETWEEN :start AND :end",
}
# Sent and on time per kind of unit, of the units that owe it.
TALLY = ("WITH s AS MATERIALIZED (SELECT u.kind, (SELECT MIN(r.created_at) FROM {first}) AS "
         "first_at, e.on_time_before FROM units u LEFT JOIN deadline_extensions e ON "
         "e.unit_id = u.id AND e.obligation = :obligation AND e.period_key = :period "
         f"WHERE {_OWING}) SELECT kind, COUNT(*), COUNT(first_at), "
         "COALESCE(SUM(first_at < COALESCE(on_time_before, :bound)), 0) FROM s GROUP BY kind "
         "ORDER BY kind")
# The names of the owing units that sent nothing and still exist on :today.
MISSING = (f"SELECT u.name FROM units u WHERE {_OWING} AND (u.valid_to IS NULL OR "
           "u.valid_to >= :today) AND NOT EXISTS (SELECT 1 FROM {first}) ORDER BY u.code")
# The units of its kinds that sent it but ceased to exist before the deadline.
APART = ("SELECT u.name FROM units u WHERE u.kind IN (SELECT value FROM json_each(:kinds)) "
         "AND u.valid_to < :day AND EXISTS (SELECT 1 FROM {first}) ORDER BY u.code")
COUNTS = ("SELECT r.kind, u.kind, COUNT(*) FROM reports r INDEXED BY reports_created JOIN "
          "units u ON u.id = r.unit_id WHERE r.created_at >= :since GROUP BY r.kind, u.kind "
          "ORDER BY r.kind, u.kind")
MODELS = ("SELECT COALESCE(json_extract(r.answers, '$.name'), ''), u.name FROM reports r "
          "INDEXED BY reports_created JOIN units u ON u.id = r.unit_id WHERE r.kind = 'model' "
          "AND r.created_at >= :since ORDER BY r.id DESC LIMIT 10")
ACTIVITY = ("SELECT kind, COUNT(DISTINCT difficulty_id) FROM difficulty_events WHERE "
            "at >= :since AND kind IN ('opened', 'answer', 'resolved') GROUP BY kind")
AWAITING = ("SELECT opened_at, urgency FROM difficulties WHERE status IN ('open', "
            "'acknowledged')")
# Per week (its Monday, by the UTC day): one count of an index range per week, not a week
# computed for each of the tens of thousands of rows.
WEEKLY = ("WITH RECURSIVE w(monday) AS (VALUES (date(substr(:since, 1, 10), '-6 days', "
          "'weekday 1')) UNION ALL SELECT date(monday, '+7 days') FROM w WHERE monday < "
          "(SELECT date(substr(MAX(created_at), 1, 10), '-6 days', 'weekday 1') FROM reports)) "
          "SELECT monday, n FROM (SELECT monday, (SELECT COUNT(*) FROM reports INDEXED BY "
          "reports_created WHERE created_at >= MAX(:since, monday) AND created_at < "
          "date(monday, '+7 days')) AS n FROM w) WHERE n > 0 ORDER BY monday")


def _shape(due: Owed) -> str:
    return "period" if due.by_period else "level" if due.level else "dated"


def _args(due: Owed, today: date) -> dict:
    return {"kinds": json.dumps(list(due.unit_kinds)), "kind": due.report_kind,
            "level": due.level, "period": due.period_key, "obligation": due.obligation,
            "start": due.start.isoformat(), "end": due.end.isoformat(),
            "day": due.valid_on.isoformat(), "bound": iso(due.on_time_before),
            "today": today.isoformat()}


async def reference(conn: aiosqlite.Connection, config: Config, now: datetime,
                    since: datetime, with_chart: bool) -> dict:
    """The digest's figures: what arrived, difficulties, overdue units, every obligation's
    rates in its period in view (and the chart's data)."""
    programme, today = config.programme, now.astimezone(config.zone).date()
    found: dict = {"counts": [tuple(r) for r in await conn.execute_fetchall(
        COUNTS, {"since": iso(since)})]}
    found["models"] = [tuple(r) for r in await conn.execute_fetchall(
        MODELS, {"since": iso(since)})]
    found["activity"] = {r[0]: r[1] for r in await conn.execute_fetchall(
        ACTIVITY, {"since": iso(since)})}
    local = now.astimezone(config.zone)
    found["overdue"] = sum(1 for r in await conn.execute_fetchall(AWAITING) if
                           programme.add_working_hours(
                               datetime.fromisoformat(r[0]).astimezone(config.zone),
                               programme.difficulties.answer_hours[r[1]]) <= local)
    moved = {(r[0], r[1]): date.fromisoformat(r[2]) for r in await conn.execute_fetchall(
        "SELECT obligation, period_key, due FROM deadline_overrides")}
    late, rates, sent = [], [], defaultdict(lambda: [0, 0])
    for obligation in programme.obligations:
        shown = None
        for period in programme.periods_due_around(obligation, today, moved):
            deadline = programme.due(obligation, period, moved)
            if deadline >= today:
                continue
            due = owed(config, obligation, period, deadline)
            names = await conn.execute_fetchall(MISSING.format(first=_FIRST[_shape(due)]),
                                                _args(due, today))
            late += [(r[0], obligation.id, (today - deadline).days) for r in names]
            if names and shown is None:
                shown = period, deadline
        period, deadline = shown or programme.upcoming(obligation, today, moved)
        due = owed(config, obligation, period, deadline)
        tally = await conn.execute_fetchall(TALLY.format(first=_FIRST[_shape(due)]),
                                            _args(due, today))
        apart = await conn.execute_fetchall(APART.format(first=_FIRST[_shape(due)]),
                                            _args(due, today))
        rates.append((obligation.id, period.key, sum(r[1] for r in tally),
                      sum(r[2] for r in tally), sum(r[3] for r in tally),
                      [r[0] for r in apart]))
        if obligation.period in RECURRING:
            for kind, expected, sent_, _on_time in tally:
                sent[kind][0] += sent_
                sent[kind][1] += expected
    found |= {"late": late, "rates": rates}
    if with_chart:
        found["sent"] = dict(sent)
        found["weekly"] = [tuple(r) for r in await conn.execute_fetchall(
            WEEKLY, {"since": iso(now - timedelta(weeks=8))})]
    return found


async def product_figures(tx: Tx, config: Config, now: datetime, since: datetime,
                          chart: dict | None) -> dict:
    """The same figures read through /status's path (every unit's status, outside the timing),
    and the digest's chart data, to check the two agree."""
    programme, today = config.programme, now.astimezone(config.zone).date()
    local = now.astimezone(config.zone)
    found: dict = {"counts": await tx.reports.counts_since(since),
                   "models": [(answers.get("name") or "", unit) for answers, unit in
                              await tx.reports.received_since("model", since)],
                   "activity": await tx.difficulties.activity_since(since),
                   "overdue": sum(1 for d in await tx.difficulties.awaiting() if
                                  programme.add_working_hours(
                                      d.opened_at.astimezone(config.zone),
                                      programme.difficulties.answer_hours[d.urgency]) <= local)}
    late = []
    for obligation, period, deadline in await current_obligations(tx, programme, today):
        if deadline < today:
            late += [(name, obligation.id, (today - deadline).days) for _i, _c, name in
                     await tx.tracking.missing(owed(config, obligation, period, deadline),
                                               still_on=today)]
    moved = await tx.tracking.moved_deadlines()
    rates = []
    for obligation in programme.obligations:
        period, deadline = await in_view(tx, config, obligation, today, moved)
        shown = await desk.statuses_of(tx, config, obligation, period, deadline)
        rates.append((obligation.id, period.key, len(shown.statuses),
                      sum(1 for s in shown.statuses if s.first_at),
                      sum(1 for s in shown.statuses if s.on_time),
                      [u.name for u in shown.apart]))
    found |= {"late": late, "rates": rates}
    if chart is not None:
        found["sent"] = chart["sent"]
        found["weekly"] = [tuple(w) for w in chart["weekly"]]
    return found


async def digest_times(path: Path, folder: Path) -> None:
    config = Config(programme=load_programme(), files_dir=folder / "files")
    t = translator("vi")
    db = await Database(path).open()
    since = NOW - timedelta(days=7)
    for with_chart in (False, True):
        async with db.read() as tx:
            product_ms, reference_ms, (reply, chart), figures = await paired(
                lambda: desk.digest(tx, config, t, NOW, since, with_chart),  # noqa: B023
                lambda: reference(db.conn, config, NOW, since, with_chart), repeat=7)  # noqa: B023
            assert await product_figures(tx, config, NOW, since, chart) == figures, \
                "digest: the figures differ"
        for _obligation, _period, expected, sent, _on_time, apart in figures["rates"]:
            assert f"{t.number(sent)}/{t.number(expected)}" in reply.text, "digest: rates"
            assert all(name in reply.text for name in apart[:desk.APART_LISTED]), "apart"
        label = "weekly digest with chart" if with_chart else "daily digest (text)     "
        print(line(label, product_ms, reference_ms, f"{len(reply.text)} characters"))
    await db.close()
async def export_only(path: Path, out: Path, period: str) -> None:
    """Run in a fresh process, so its peak memory is the export's own."""
    config = Config(programme=load_programme())
    t = translator("vi")
    db = await Database(path).open()
    began = time.perf_counter()
    counts = await write_workbook(db, config, t, config.programme.period(period), out)
    elapsed = time.perf_counter() - began
    await db.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    size = await asyncio.to_thread(os.path.getsize, out)
    print(f"export of {sum(counts.values()):,} reports ({period}): {elapsed:.1f} s, "
          f"peak RSS {peak:.0f} MB, file {size / 1e6:.1f} MB")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--units", type=int, default=1000)
    parser.add_argument("--per-unit-year", type=int, default=200)
    parser.add_argument("--export-only", nargs=3, metavar=("DB", "OUT", "PERIOD"))
    args = parser.parse_args()
    if args.export_only:
        db, out, period = args.export_only
        await export_only(Path(db), Path(out), period)
        return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.db"
        await (await Database(path).open()).close()
        began = time.perf_counter()
        count = build(path, args.units, args.per_unit_year)
        unit_life(path)
        print(f"built {count:,} reports for {args.units:,} units in "
              f"{time.perf_counter() - began:.1f} s")
        await digest_times(path, Path(folder))
        child = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--export-only", str(path),
            str(Path(folder) / "export.xlsx"), "2026-H1")
        await child.wait()
    print("targets: digest over 1,000 units and 1,000,000 reports under 1 s; export of 100,000 "
          "reports under 20 s with peak memory under 300 MB")


if __name__ == "__main__":
    asyncio.run(main())
