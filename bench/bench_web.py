"""The web desk at scale: the status grid and the filtered report list over 1,000 units and
1,000,000 reports, through the real web server (tornado, a signed-in session), p50/p95 printed.

    python bench/bench_web.py [--units 1000] [--per-unit-year 200] [--rounds 20]
                              [--server postgresql://postgres@127.0.0.1:5432]

With --server, the data set (built in SQLite) is copied (`db copy`) into a fresh PostgreSQL
database of that server, analysed, measured there and dropped after.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
import tornado.httpserver  # noqa: E402
import tornado.netutil  # noqa: E402

from bench.dataset import build  # noqa: E402
from bot import health  # noqa: E402
from bot.runtime import Runtime  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.models import Role  # noqa: E402

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # the data set's last reports are just before
TARGET_MS = 300

PAGES = {
    "status grid, every unit": "/desk/?year=2026",
    "status grid, one kind": "/desk/?year=2026&kind=department",
    "reports, no filter": "/desk/reports",
    "reports, period 2026": "/desk/reports?period=2026",
    "reports, kind": "/desk/reports?kind=inspection",
    "reports, unit": "/desk/reports?unit=U0500",
    "reports, unit kind": "/desk/reports?unit_kind=department",
    "reports, review state": "/desk/reports?status=received",
    "reports, all filters": "/desk/reports?period=2025&kind=model&unit_kind=district"
                            "&status=received",
    "reports, words": "/desk/reports?q=preliminary",
    "reports, words (none match)": "/desk/reports?q=khongcotu",
    "reports, words (one report)": "/desk/reports?q=0000007",
    "reports, words (all, none)": "/desk/reports?q=preliminary+khongcotu",
    "reports, older page": "/desk/reports?kind=study&before=500000",
}


async def measure(base: str, token: str, rounds: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in PAGES}
    async with httpx.AsyncClient(base_url=base, cookies={"baocao_session": token},
                                 timeout=60) as client:
        for path in PAGES.values():  # one warm-up each (templates compiled, pages cached)
            answer = await client.get(path)
            assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
        for _ in range(rounds):
            for name, path in PAGES.items():
                began = time.perf_counter()
                answer = await client.get(path)
                times[name].append((time.perf_counter() - began) * 1000)
                assert answer.status_code == 200
    return times


@contextlib.asynccontextmanager
async def on_server(path: Path, server: str | None) -> AsyncIterator[str | None]:
    """A fresh PostgreSQL database holding the data set at `path` (None: measure `path`)."""
    if server is None:
        yield None
        return
    import asyncpg

    from storage.copy import copy_database
    server = server.rstrip("/")
    name = f"baocao_bench_{secrets.token_hex(5)}"
    admin = await asyncpg.connect(f"{server}/postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{server}/{name}"
    try:
        began = time.perf_counter()
        await copy_database(f"sqlite:///{path}", url)
        conn = await asyncpg.connect(url)
        await conn.execute("ANALYZE")
        indexed = await conn.fetchval("SELECT to_regclass('report_words_trgm') IS NOT NULL")
        await conn.close()
        print(f"copied to PostgreSQL in {time.perf_counter() - began:.1f} s "
              f"(word search index: {'yes' if indexed else 'no'})")
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def run(path: Path, url: str | None, rounds: int) -> dict[str, list[float]]:
    settings = load_settings(database_path=path, web_port=0, **(
        {"database_url": url} if url else {}))
    runtime = Runtime(settings, clock=lambda: NOW)
    await runtime.open()
    token = secrets.token_urlsafe(16)
    async with runtime.db.transaction() as tx:  # a coordinator, signed in
        contact = await tx.contacts.create(unit_id=None, role=Role.COORDINATOR,
                                           name="Bench", language="vi", now=NOW)
        await tx.web.open_session(token, contact.id, "coordinator", None, "csrf",
                                  NOW, NOW + timedelta(hours=12))
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    server = tornado.httpserver.HTTPServer(health.health_app(runtime))
    server.add_sockets(sockets)
    try:
        return await measure(f"http://127.0.0.1:{sockets[0].getsockname()[1]}",
                             token, rounds)
    finally:
        server.stop()
        await runtime.stop()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--units", type=int, default=1000)
    parser.add_argument("--per-unit-year", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--keep", type=Path, help="build the data set here once, reuse it then")
    parser.add_argument("--server", help="measure on this PostgreSQL server (a fresh database)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = args.keep or Path(folder) / "bench.db"
        if not path.exists():
            await (await Database(path).open()).close()
            began = time.perf_counter()
            count = build(path, args.units, args.per_unit_year)
            print(f"built {count:,} reports for {args.units:,} units in "
                  f"{time.perf_counter() - began:.1f} s")
        async with on_server(path, args.server) as url:
            times = await run(path, url, args.rounds)
    worst = 0.0
    print(f"{'page':34} {'p50 ms':>8} {'p95 ms':>8}")
    for name, found in times.items():
        found.sort()
        p95 = found[max(0, round(len(found) * 0.95) - 1)]
        worst = max(worst, p95)
        print(f"{name:34} {statistics.median(found):8.1f} {p95:8.1f}")
    print(f"worst p95 {worst:.1f} ms; target: every page under {TARGET_MS} ms at p95 "
          f"({'met' if worst < TARGET_MS else 'NOT met'})")


if __name__ == "__main__":
    asyncio.run(main())
