"""The coordinator's desk at scale: a digest over 1,000 units and 1,000,000 reports, and the
spreadsheet export of about 100,000 reports (time and peak memory, in its own process).

    python bench/bench_desk.py [--units 1000] [--per-unit-year 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.dataset import build  # noqa: E402
from handlers import desk  # noqa: E402
from handlers.context import Config  # noqa: E402
from handlers.export import write_workbook  # noqa: E402
from handlers.programme import load_programme  # noqa: E402
from locales.i18n import translator  # noqa: E402
from storage.db import Database  # noqa: E402

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # the data set's last reports are just before


async def digest_times(path: Path, folder: Path) -> None:
    config = Config(programme=load_programme(), files_dir=folder / "files")
    t = translator("vi")
    db = await Database(path).open()
    for with_chart in (False, True):
        durations = []
        for _ in range(5):
            began = time.perf_counter()
            async with db.transaction() as tx:
                reply = await desk.digest(tx, config, t, NOW, NOW - timedelta(days=7), with_chart)
            durations.append(time.perf_counter() - began)
        label = "weekly digest with chart" if with_chart else "daily digest (text)     "
        print(f"{label}: {statistics.median(durations) * 1000:7.0f} ms  "
              f"({len(reply.text)} characters)")
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
