"""The compiled report at scale: the final review (2023–2030) over 1,000 units and 1,000,000
reports, drafted in a fresh process so that its peak memory is its own.

    python bench/bench_compile.py [--units 1000] [--per-unit-year 200]

Nine reports in ten are approved; the report counts approved ones (the default), then all.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.dataset import build  # noqa: E402
from handlers.compile import write_report  # noqa: E402
from handlers.context import Config  # noqa: E402
from handlers.programme import load_programme  # noqa: E402
from locales.i18n import translator  # noqa: E402
from storage.db import Database  # noqa: E402


async def compile_only(path: Path, out: Path, period: str, everything: bool) -> None:
    config = Config(programme=load_programme())
    t = translator("vi")
    db = await Database(path).open()
    began = time.perf_counter()
    context = await write_report(db, config, t, config.programme.period(period), out,
                                 everything)
    elapsed = time.perf_counter() - began
    await db.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    size = await asyncio.to_thread(os.path.getsize, out)
    print(f"{period} ({'all reports' if everything else 'approved only'}): {elapsed:.1f} s, "
          f"peak RSS {peak:.0f} MB, {len(context['units']):,} units, "
          f"{context['f']['count_dissemination']} dissemination activities, "
          f"file {size / 1e6:.1f} MB")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--units", type=int, default=1000)
    parser.add_argument("--per-unit-year", type=int, default=200)
    parser.add_argument("--compile-only", nargs=4, metavar=("DB", "OUT", "PERIOD", "ALL"))
    args = parser.parse_args()
    if args.compile_only:
        db, out, period, everything = args.compile_only
        await compile_only(Path(db), Path(out), period, everything == "all")
        return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.db"
        await (await Database(path).open()).close()
        began = time.perf_counter()
        count = build(path, args.units, args.per_unit_year)
        with sqlite3.connect(path) as conn:
            conn.execute("UPDATE reports SET status = 'approved' WHERE id % 10 != 0")
        print(f"built {count:,} reports for {args.units:,} units in "
              f"{time.perf_counter() - began:.1f} s")
        for everything in ("approved", "all"):
            child = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--compile-only", str(path),
                str(Path(folder) / f"report-{everything}.docx"), "review-2030", everything)
            await child.wait()
    print("targets: the final review over 1,000 units and 1,000,000 reports under 10 s with "
          "peak memory under 300 MB")


if __name__ == "__main__":
    asyncio.run(main())
