"""The web desk's word search on PostgreSQL, as it was (fts_match on each row read, the statement
prepared once: pg/0025) beside as it is (the trigram index's predicates, planned with the words
at each run: pg/0027), alternating on one database so that a busy machine slows both alike.

    python bench/bench_pg_search.py [--server postgresql://postgres@127.0.0.1:5432]
                                    [--units 200] [--per-unit-year 100]

The data set (bench/dataset.py) is built in SQLite, copied (`db copy`) into a fresh database of
the server, analysed, measured and dropped. Both forms must find the same reports.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg  # noqa: E402

from bench.dataset import build  # noqa: E402
from bench.paired import paired  # noqa: E402
from storage.copy import copy_database  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.dialect import to_postgres  # noqa: E402
from storage.reports import _SELECT  # noqa: E402

# ReportsRepo.search's statement for words, without other filters: a page of the desk's list.
SEARCH = (_SELECT.replace("FROM reports r", "FROM report_words w JOIN reports r ON r.id = w.rowid")
          + " WHERE w.report_words MATCH ? ORDER BY w.rowid DESC LIMIT ?")
PAGE = 26
WORDS = {
    "every report holds it": "preliminary",
    "no report holds it": "khongcotu",
    "one report (its number)": "0000007",
    "every + none": "preliminary khongcotu",
    "a unit's name": "don vi 17",
    "a short word, none": "q1",
}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--units", type=int, default=200)
    parser.add_argument("--per-unit-year", type=int, default=100)
    args = parser.parse_args()
    server = args.server.rstrip("/")
    name = f"baocao_bench_{secrets.token_hex(5)}"
    admin = await asyncpg.connect(f"{server}/postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "bench.db"
            await (await Database(path).open()).close()
            count = build(path, args.units, args.per_unit_year)
            await copy_database(f"sqlite:///{path}", f"{server}/{name}")
        conn = await asyncpg.connect(f"{server}/{name}")
        try:
            await conn.execute("ANALYZE")
            indexed = await conn.fetchval("SELECT to_regclass('report_words_trgm') IS NOT NULL")
            now = to_postgres(SEARCH).sql
            was = now[:now.index("WHERE (")] + ("WHERE fts_match(w.words, $1) "
                                                "ORDER BY w.rowid DESC LIMIT $2")
            kept = await conn.prepare(was)
            print(f"{count:,} reports (trigram index: {'yes' if indexed else 'no'}); "
                  f"median ms of 9 runs each, alternating")
            print(f"{'words':26} {'fts_match':>10} {'indexed':>10} {'found':>6}")
            for label, text in WORDS.items():
                query = " AND ".join(f'"{word}"*' for word in text.split())

                async def indexed_form(query: str = query) -> list[int]:
                    fresh = await conn.prepare(now)  # as storage/pg.py runs it
                    return [r[0] for r in await fresh.fetch(query, PAGE)]

                async def fts_match_form(query: str = query) -> list[int]:
                    return [r[0] for r in await kept.fetch(query, PAGE)]

                new, old, found, expected = await paired(indexed_form, fts_match_form)
                assert found == expected, label
                print(f"{label:26} {old:10.1f} {new:10.1f} {len(found):6}")
        finally:
            await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
