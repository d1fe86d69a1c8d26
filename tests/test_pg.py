"""PostgreSQL: its migrations keep the schema equal to SQLite's, and its SQL twins behave alike.

Needs a PostgreSQL server: BAOCAO_TEST_DATABASE, else postgresql://postgres@127.0.0.1:5432.
Without one answering, these tests are skipped with the reason printed."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from storage.db import Database, migrations
from storage.dialect import to_postgres

SERVER = (os.environ.get("BAOCAO_TEST_DATABASE") or "postgresql://postgres@127.0.0.1:5432").rstrip(
    "/"
)


async def _server_answers() -> str | None:
    try:
        import asyncpg

        conn = await asyncpg.connect(SERVER + "/postgres", timeout=3)
        await conn.close()
        return None
    except Exception as exc:  # noqa: BLE001 (any failure means: no server to test on)
        return f"no PostgreSQL server answers at {SERVER.split('@')[-1]}: {exc}"


_NO_SERVER = asyncio.run(_server_answers())
pytestmark = pytest.mark.skipif(_NO_SERVER is not None, reason=_NO_SERVER or "")


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A fresh, empty database of this test's own, dropped after it."""
    import asyncpg

    name = f"baocao_pg_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(SERVER + "/postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{SERVER}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def _family(declared: str) -> str:
    declared = declared.lower()
    if "int" in declared:
        return "integer"
    if any(word in declared for word in ("char", "text", "clob")):
        return "text"
    if any(word in declared for word in ("real", "floa", "doub", "numeric")):
        return "real"
    if "blob" in declared or "bytea" in declared:
        return "blob"
    return declared


def _sqlite_schema(path) -> dict:
    conn = sqlite3.connect(path)
    try:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        # A full-text (FTS5) table's twin is a plain table keyed by rowid with its columns as
        # NOT NULL text (pg/0025_web_desk.sql); FTS5's own shadow tables have none.
        virtual = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE sql LIKE 'CREATE VIRTUAL TABLE%'"
            )
        ]
        tables = [t for t in tables if not any(t.startswith(f"{v}_") for v in virtual)]
        schema: dict = {}
        for table in virtual:
            words = [r[1] for r in conn.execute(f"PRAGMA table_xinfo({table})") if not r[6]]
            schema[table] = {
                "columns": {"rowid": (_family("BIGINT"), True, False),
                            **{c: (_family("TEXT"), True, False) for c in words}},
                "indexes": {}, "unique": set(), "primary": ("rowid",), "foreign": set(),
                "checks": 0,
            }
        for table in (t for t in tables if t not in virtual):
            pk = {r[1] for r in conn.execute(f"PRAGMA table_info({table})") if r[5]}
            columns = {
                r[1]: (_family(r[2]), bool(r[3]) or r[1] in pk, r[6] in (2, 3))
                for r in conn.execute(f"PRAGMA table_xinfo({table})")
            }
            indexes, uniques = {}, set()
            for _seq, name, unique, origin, partial in conn.execute(f"PRAGMA index_list({table})"):
                cols = tuple(r[2] or "<expr>" for r in conn.execute(f"PRAGMA index_info({name})"))
                if origin == "c":
                    indexes[name] = (cols, bool(unique), bool(partial))
                elif origin == "u":
                    uniques.add(cols)
            if len(pk) == 1 or not any(
                o == "pk" for *_x, o, _p in conn.execute(f"PRAGMA index_list({table})")
            ):
                pass
            keys = tuple(
                r[1]
                for r in sorted(
                    (r for r in conn.execute(f"PRAGMA table_info({table})") if r[5]),
                    key=lambda r: r[5],
                )
            )
            foreign = {
                (r[3], r[2], r[4] or "") for r in conn.execute(f"PRAGMA foreign_key_list({table})")
            }
            ddl = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()[
                0
            ]
            checks = len(re.findall(r"\bCHECK\s*\(", ddl, re.I))
            schema[table] = {
                "columns": columns,
                "indexes": indexes,
                "unique": uniques,
                "primary": keys,
                "foreign": foreign,
                "checks": checks,
            }
        triggers = {
            r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        }
        return {"tables": schema, "triggers": triggers}
    finally:
        conn.close()


async def _pg_schema(url: str) -> dict:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        tables = [
            r[0]
            for r in await conn.fetch(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
                "AND table_type = 'BASE TABLE'"
            )
        ]
        schema: dict = {}
        for table in tables:
            columns = {
                r["column_name"]: (
                    _family(r["data_type"]),
                    r["is_nullable"] == "NO",
                    r["is_generated"] == "ALWAYS",
                )
                for r in await conn.fetch(
                    "SELECT column_name, data_type, is_nullable, is_generated FROM "
                    "information_schema.columns WHERE table_name = $1",
                    table,
                )
            }
            indexes, uniques, keys = {}, set(), ()
            for r in await conn.fetch(
                "SELECT i.relname AS name, x.indisunique AS uniq, x.indpred IS NOT NULL AS "
                "partial, x.indisprimary AS primary, c.contype::text AS contype, "
                "ARRAY(SELECT CASE WHEN k = 0 "
                "THEN '<expr>' ELSE (SELECT attname FROM pg_attribute WHERE attrelid = "
                "x.indrelid AND attnum = k) END FROM unnest(x.indkey) WITH ORDINALITY AS "
                "u(k, n) ORDER BY n) AS cols FROM pg_index x JOIN pg_class i ON "
                "i.oid = x.indexrelid LEFT JOIN pg_constraint c ON c.conindid = x.indexrelid "
                "AND c.contype IN ('p', 'u') AND c.conrelid = x.indrelid "
                "WHERE x.indrelid = $1::regclass",
                table,
            ):
                cols = tuple(r["cols"])
                if r["primary"]:
                    keys = cols
                elif r["contype"] == "u":
                    uniques.add(cols)
                else:
                    indexes[r["name"]] = (cols, r["uniq"], r["partial"])
            foreign = {
                (r["attname"], r["ftable"], r["fcol"])
                for r in await conn.fetch(
                    "SELECT a.attname, f.relname AS ftable, fa.attname AS fcol "
                    "FROM pg_constraint c "
                    "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
                    "JOIN pg_class f ON f.oid = c.confrelid JOIN pg_attribute fa ON "
                    "fa.attrelid = c.confrelid AND fa.attnum = c.confkey[1] "
                    "WHERE c.contype = 'f' AND c.conrelid = $1::regclass",
                    table,
                )
            }
            checks = await conn.fetchval(
                "SELECT COUNT(*) FROM pg_constraint WHERE contype = 'c' "
                "AND conrelid = $1::regclass",
                table,
            )
            schema[table] = {
                "columns": columns,
                "indexes": indexes,
                "unique": uniques,
                "primary": keys,
                "foreign": foreign,
                "checks": checks,
            }
        triggers = {
            r[0] for r in await conn.fetch("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")
        }
        return {"tables": schema, "triggers": triggers}
    finally:
        await conn.close()


async def test_postgresql_schema_equals_sqlite_schema(tmp_path, pg_url):
    """Tables, columns (type family, NOT NULL, generated), indexes (columns, unique, partial),
    primary, unique and foreign keys, CHECK constraints and triggers: the same on both."""
    path = tmp_path / "schema.db"
    # sqlite:///: the file itself, even when the suite runs on PostgreSQL.
    sqlite_db = await Database(f"sqlite:///{path}").open()
    await sqlite_db.close()
    pg = await Database(pg_url).open()
    try:
        assert await pg.schema_version() == migrations()[-1][0]  # kept in step, by number
    finally:
        await pg.close()
    lite, post = _sqlite_schema(path), await _pg_schema(pg_url)
    # PostgreSQL's one index of its own: the word search's trigram index on report_words
    # (pg/0027), which stands for what FTS5 is on SQLite, where the full-text table is its own
    # index and so has none to compare with. (It is made only where pg_trgm can be created,
    # which this test server allows.)
    assert post["tables"]["report_words"]["indexes"].pop("report_words_trgm") == (
        ("<expr>",), False, False)
    assert set(lite["tables"]) == set(post["tables"])
    for table, expected in lite["tables"].items():
        assert post["tables"][table] == expected, table
    assert lite["triggers"] == post["triggers"]


@pytest.mark.parametrize(
    ("sqlite", "postgres"),
    [
        ("SELECT * FROM t WHERE a = ? AND b = ?", "SELECT * FROM t WHERE a = $1 AND b = $2"),
        ("SELECT * FROM t WHERE a = :x OR b = :x", "SELECT * FROM t WHERE a = $1 OR b = $1"),
        ("SELECT '?' , ':x' FROM t WHERE a = ?", "SELECT '?' , ':x' FROM t WHERE a = $1"),
        (
            "INSERT OR IGNORE INTO t (a) VALUES (?)",
            "INSERT INTO t (a) VALUES ($1) ON CONFLICT DO NOTHING",
        ),
        (
            "SELECT id FROM outbox INDEXED BY outbox_heads WHERE head = 1",
            "SELECT id FROM outbox WHERE head = 1",
        ),
        (
            "SELECT * FROM (SELECT 1) LEFT JOIN t ON 1 = 1",
            "SELECT * FROM (SELECT 1)  AS _q1 LEFT JOIN t ON 1 = 1",
        ),
        (
            "SELECT x FROM t WHERE (d IS NOT NULL) = 0",
            "SELECT x FROM t WHERE (d IS NOT NULL) = false",
        ),
        (
            "SELECT x FROM t WHERE (:id IS NULL OR id = :id)",
            "SELECT x FROM t WHERE ($2::text IS NULL OR id = $1)",
        ),
        (
            "INSERT INTO counters (name, value) VALUES (?, 1) ON CONFLICT(name) DO UPDATE SET "
            "value = value + 1",
            "INSERT INTO counters (name, value) VALUES ($1, 1) ON CONFLICT(name) "
            "DO UPDATE SET value = counters.value + 1",
        ),
    ],
)
def test_sqlite_dialect_becomes_postgresql(sqlite, postgres):
    assert to_postgres(sqlite).sql == postgres


async def test_sqlite_functions_have_twins_that_agree(pg_url, tmp_path):
    """The functions the repositories call give the same results on both backends."""
    queries = [
        ("SELECT date(substr('2026-03-12T10:00:00', 1, 10), 'weekday 1', '-7 days')", ()),
        ("SELECT fold('  Hôm  Nay ở Lê Chân, ĐÀ NẴNG ')", ()),
        ('SELECT json_extract(\'{"a": {"b": "x"}}\', \'$.a.b\')', ()),
        ("SELECT instr('abcabc', 'ca')", ()),
        ("SELECT group_concat(v) FROM (SELECT 'a' AS v UNION ALL SELECT 'b')", ()),
        (
            "SELECT SUM(EXISTS (SELECT 1 WHERE v = 'a')) FROM (SELECT 'a' AS v UNION ALL "
            "SELECT 'b' UNION ALL SELECT 'a')",
            (),
        ),
        ("SELECT 'ABC' = ? COLLATE NOCASE", ("abc",)),
        ("SELECT ? IS NULL", (None,)),
    ]
    lite = await Database(f"sqlite:///{tmp_path / 'f.db'}").open()
    pg = await Database(pg_url).open()
    try:
        for sql, params in queries:
            async with lite.read() as a, pg.read() as b:
                expected = [tuple(r) for r in await a.conn.execute_fetchall(sql, params)]
                found = [tuple(r) for r in await b.conn.execute_fetchall(sql, params)]
            assert found == expected, sql
    finally:
        await lite.close()
        await pg.close()


async def test_db_copy_moves_a_sqlite_deployment_and_refuses_a_full_target(tmp_path, pg_url,
                                                                          capsys):
    from bot.cli import main
    from bot.units_file import SAMPLE_UNITS, read_units_file
    from locales.i18n import translator
    from storage.messages import Text
    from storage.models import Role

    now = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
    source = f"sqlite:///{tmp_path / 'live.db'}"
    async with Database(source) as lite, lite.transaction() as tx:
        await tx.units.upsert_many(read_units_file(SAMPLE_UNITS, translator("vi"), set()), now)
        unit = await tx.units.by_code("Q-LECHAN")
        person = await tx.contacts.create(unit_id=unit.id, role=Role.OFFICER, name="Lê Văn An",
                                          language="vi", now=now)
        await tx.contacts.bind(person.id, "telegram", "501", "501", now)
        tx.outbox.add("telegram", "501", person.id, Text("Chào đồng chí"), now)
        await tx.meta.set("telegram_username", "baocao_bot")

    def copy(*extra: str) -> tuple[int, str, str]:
        status = main(["db", "copy", "--from", source, "--to", pg_url, *extra])
        out, err = capsys.readouterr()
        return status, out, err

    status, out, err = await asyncio.to_thread(copy)
    assert status == 0, err
    assert "contacts: 1 hàng" in out or "contacts: 1 row" in out, out
    assert out.strip().splitlines()[-1].startswith(("Đã sao chép", "Copied"))
    async with Database(pg_url) as pg, pg.transaction() as tx:
        assert (await tx.units.by_code("Q-LECHAN")).id == unit.id
        assert (await tx.contacts.by_identity("telegram", "501")).name == "Lê Văn An"
        # New rows take ids after the copied ones.
        other = await tx.contacts.create(unit_id=unit.id, role=Role.OFFICER, name="Trần Bình",
                                         language="vi", now=now)
        assert other.id == person.id + 1
        heads = await tx.conn.execute_fetchall("SELECT head, status FROM outbox")
        assert [tuple(r) for r in heads] == [(1, "pending")]
    status, _out, err = await asyncio.to_thread(copy)
    assert status == 1 and "--force" in err and "contacts" in err
    status, out, err = await asyncio.to_thread(copy, "--force")
    assert status == 0, err
    async with Database(pg_url) as pg, pg.read() as tx:
        names = [r[0] for r in await tx.conn.execute_fetchall("SELECT name FROM contacts")]
    assert names == ["Lê Văn An"]  # the target was replaced, not added to


async def test_one_process_holds_a_duty_and_another_takes_it_when_it_goes(pg_url):
    """The clock tick and each channel's sends are elected: one holder at a time, and the
    duty is free the moment its holder's connection goes (a process killed)."""
    first, second = await Database(pg_url).open(), await Database(pg_url).open()
    try:
        assert await first.leads("clock") and await first.leads("clock")
        assert not await second.leads("clock")
        assert await second.leads("delivery:telegram")  # duties are apart
        async with first.claim("job", 7) as mine, second.claim("job", 7) as theirs:
            assert mine and not theirs  # a background job runs once
        async with second.claim("job", 7) as theirs:
            assert theirs  # free again once the first is done with it
        await first.close()  # as a killed process's connections close
        assert await second.leads("clock")
    finally:
        await first.close()
        await second.close()


async def test_closing_with_a_transaction_left_open_keeps_none_of_it_and_prints_nothing(
        pg_url, caplog):
    """Ctrl-C in the console demo can stop a clock tick in the middle of its transaction:
    closing the database then neither keeps its writes nor prints asyncpg's warning about
    resetting a connection in a transaction (seen on stderr in a CI run)."""
    db = await Database(pg_url).open()
    await db._raw.execute("BEGIN")
    await db._raw.execute("INSERT INTO meta (key, value) VALUES ('half', 'done')")
    await db.close()
    await asyncio.sleep(0.05)  # asyncpg reports through the event loop
    assert not [r for r in caplog.records if "active transaction" in r.getMessage()]
    db = await Database(pg_url).open()
    try:
        assert await db._raw.fetchval("SELECT COUNT(*) FROM meta WHERE key = 'half'") == 0
    finally:
        await db.close()


async def test_an_update_given_to_two_processes_is_stored_and_processed_once(pg_url):
    from storage.conversations import store_inbox

    now = "2026-03-10T02:00:00.000+00:00"
    rows = [("telegram", "77", "{}")]
    first, second = await Database(pg_url).open(), await Database(pg_url).open()
    try:
        assert await first.commit_with(store_inbox, rows, now) == [("telegram", "77")]
        assert await second.commit_with(store_inbox, rows, now) == []  # waiting already
        async with first.transaction() as tx:  # processed by the first
            tx.updates.record("telegram", "77", datetime(2026, 3, 10, 2, tzinfo=UTC))
            tx.inbox.done("telegram", "77", datetime(2026, 3, 10, 2, tzinfo=UTC))
        assert await second.commit_with(store_inbox, rows, now) == []  # processed already
        async with second.read() as tx:
            assert await tx.updates.seen("telegram", "77")
            assert await tx.inbox.waiting() == []
    finally:
        await first.close()
        await second.close()


async def test_an_update_reaching_two_processes_is_handled_by_one_the_other_waits(pg_url):
    """Two processes handling the same update at once: the second waits for the first's
    commit, then sees the update processed (so it neither repeats its effects nor fails)."""
    key = ("telegram", "501", "88")
    first, second = await Database(pg_url).open(), await Database(pg_url).open()

    async def load_in_second() -> bool:
        async with second.batch() as batch, batch.step(key) as tx:
            return tx.loaded[("speaker", *key)].duplicate

    try:
        async with first.batch() as batch:
            async with batch.step(key) as tx:
                assert not tx.loaded[("speaker", *key)].duplicate
                tx.updates.record("telegram", "88", datetime(2026, 3, 10, 2, tzinfo=UTC))
                waiting = asyncio.create_task(load_in_second())
                await asyncio.sleep(0.5)
                assert not waiting.done()  # held until the first commits
        assert await asyncio.wait_for(waiting, 10)
    finally:
        await first.close()
        await second.close()


async def test_a_chat_keeps_its_queue_head_when_a_reply_is_queued_as_its_last_one_is_sent(pg_url):
    """A row queued for a chat while the delivery worker records the chat's only pending row
    as sent, in either order: the chat's queue still has a head (before migration 0026 the new
    row could be left pending behind no head, and the chat got nothing more)."""
    import asyncpg

    await (await Database(pg_url).open()).close()  # migrated
    queue = ("INSERT INTO outbox (channel, chat_id, payload, not_before, created_at) "
             "VALUES ('telegram', '42', '{}', '2026-03-10', '2026-03-10') RETURNING id")
    sent = "UPDATE outbox SET status = 'sent' WHERE id = $1"
    worker, step = await asyncpg.connect(pg_url), await asyncpg.connect(pg_url)
    try:
        for worker_first in (True, False):
            await worker.execute("DELETE FROM outbox")
            oldest = await worker.fetchval(queue)
            worker_tx, step_tx = worker.transaction(), step.transaction()
            await worker_tx.start()
            await step_tx.start()
            if worker_first:
                await worker.execute(sent, oldest)
                queued = asyncio.create_task(step.fetchval(queue))
                await asyncio.sleep(0.3)
                assert not queued.done()  # waits for the worker's commit
                await worker_tx.commit()
                await asyncio.wait_for(queued, 10)
                await step_tx.commit()
            else:
                await step.fetchval(queue)
                recorded = asyncio.create_task(worker.execute(sent, oldest))
                await asyncio.sleep(0.3)
                assert not recorded.done()  # waits for the queued row's commit
                await step_tx.commit()
                await asyncio.wait_for(recorded, 10)
                await worker_tx.commit()
            heads = await worker.fetch("SELECT id, head FROM outbox WHERE status = 'pending'")
            assert [r["head"] for r in heads] == [1], (worker_first, heads)
    finally:
        await worker.close()
        await step.close()
# Texts as ReportsRepo writes them into report_words (folded: no case, no diacritics).
WORDS = [
    "bc-2026-0001 ubnd phuong le chan phat thanh tren dai truyen thanh",
    "bc-2026-0002 ubnd quan ngo quyen treo bang ron, khau hieu",
    "bc-2026-0003 xa an hong {\"summary\": \"tuyen truyen-phap luat\", \"reached\": 120}",
    "bc-2026-0012 ubnd phuong le chan hoi nghi q1/2026 (truc tuyen)",
    "bc-2026-0020 thanh tra so; ket qua: 17 don vi",
]


@pytest.mark.parametrize("text", [
    "phat thanh", "thanh phat", "than", "hanh", "le chan phat", "bc-2026-0001", "0002",
    "truyen thanh phuong dai khau", "tren dai truyen thanh phuong", "q1", "2026", "17 don",
    "tuyen-phap", "summary reached", "khongcotu", "-", '"quoted" q"1', "a b c d e",
])
async def test_word_search_predicates_find_what_fts_match_finds(pg_url, text):
    """The dialect's indexable form of `MATCH` (pg/0027: LIKEs on fts_spaced for the longest
    three words, fts_match past them) finds exactly the rows fts_match finds, for queries as
    ReportsRepo.search writes them."""
    from storage.text import fold

    query = " AND ".join('"' + word.replace('"', '""') + '"*' for word in fold(text).split())
    pg = await Database(pg_url).open()
    try:
        raw = pg.raw
        await raw.executemany("INSERT INTO report_words (rowid, words) VALUES ($1, $2)",
                              list(enumerate(WORDS, 1)))
        expected = [r[0] for r in await raw.fetch(
            "SELECT rowid FROM report_words WHERE fts_match(words, $1) ORDER BY rowid", query)]
        translated = to_postgres("SELECT w.rowid FROM report_words w "
                                 "WHERE w.report_words MATCH ? ORDER BY w.rowid")
        assert "fts_spaced(w.words) LIKE fts_part($1, 1)" in translated.sql
        found = [r[0] for r in await raw.fetch(translated.sql, query)]
        assert found == expected, (text, query)
    finally:
        await pg.close()


async def test_word_search_reads_the_trigram_index_and_is_planned_with_its_words(pg_url):
    """The word search's predicates are ones the trigram index answers; the search is planned
    with its words at each run (never a generic plan: a word every report holds wants the
    newest rows read backwards, a rare one the index), and its statements are let go."""
    pg = await Database(pg_url).open()
    try:
        raw = pg.raw
        await raw.executemany("INSERT INTO report_words (rowid, words) VALUES ($1, $2)",
                              [(n, f"bc-2026-{n:07d} don vi {n % 50} preliminary")
                               for n in range(1, 3001)])
        await raw.execute("ANALYZE report_words")
        sql = to_postgres("SELECT w.rowid FROM report_words w WHERE w.report_words MATCH ? "
                          "ORDER BY w.rowid DESC LIMIT ?").sql
        async with raw.transaction():
            await raw.execute("SET LOCAL enable_seqscan = off")
            await raw.execute("SET LOCAL enable_indexscan = off")
            plan = "\n".join(r[0] for r in await raw.fetch("EXPLAIN " + sql, '"0000777"*', 10))
        assert "Bitmap Index Scan on report_words_trgm" in plan, plan
        # (Whether the planner takes it depends on the table's size: bench_web --server
        # measures it at scale.)
        common = "\n".join(r[0] for r in await raw.fetch("EXPLAIN " + sql, '"preliminary"*',
                                                           10))
        assert "Index Scan Backward using report_words_pkey" in common, common

        async def search(words: str) -> list[int]:
            async with pg.read() as tx:
                return [r.id for r in await tx.reports.search(text=words)]

        before = await raw.fetchval("SELECT count(*) FROM pg_prepared_statements")
        for _ in range(12):  # past the five runs after which a generic plan may be taken
            assert await search("khongcotu") == []
        await raw.fetchval("SELECT 1")  # asyncpg closes statements let go before its next
        after = await raw.fetchval("SELECT count(*) FROM pg_prepared_statements")
        assert after - before <= 2, (before, after)
        # Each run prepared its own (a prepared statement's first runs are planned with their
        # values); none is kept for the next.
        assert not [s for s in pg._pg._statements.values() if "fts_part" in s.translated.sql]
        assert to_postgres("SELECT 1 FROM report_words w WHERE w.report_words MATCH ?").replan
    finally:
        await pg.close()


async def test_without_pg_trgm_the_migrations_apply_and_the_search_reads_the_table(tmp_path):
    """A user that may not create extensions (not the database's owner): migration 0027 goes
    through without the index, the word search finds the same rows, and doctor says how to add
    the index."""
    import asyncpg

    from bot.doctor import check
    from bot.settings import load_settings
    from locales.i18n import translator

    name = f"baocao_pg_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(SERVER + "/postgres")
    await admin.execute(f'CREATE ROLE "{name}" LOGIN')
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')  # owned by the server's user
        owner = await asyncpg.connect(f"{SERVER}/{name}")
        await owner.execute(f'GRANT CREATE ON SCHEMA public TO "{name}"')
        await owner.close()
        host = SERVER.split("@")[-1]
        url = f"postgresql://{name}@{host}/{name}"
        pg = await Database(url).open()
        try:
            assert await pg.raw.fetchval("SELECT to_regclass('report_words_trgm')") is None
            await pg.raw.executemany("INSERT INTO report_words (rowid, words) VALUES ($1, $2)",
                                     list(enumerate(WORDS, 1)))
            sql = to_postgres("SELECT w.rowid FROM report_words w "
                              "WHERE w.report_words MATCH ? ORDER BY w.rowid").sql
            assert [r[0] for r in await pg.raw.fetch(sql, '"le"* AND "phat"*')] == [1]
        finally:
            await pg.close()
        settings = load_settings(database_url=url, admin_ids=[1])
        lines = await asyncio.to_thread(check, settings, translator("en"),
                                        datetime.now(UTC).date())
        assert any(not ok and "word search has no index" in line for ok, line in lines), lines
        latest = migrations()[-1][0]
        assert any(ok and f"at schema version {latest}" in line for ok, line in lines), lines
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'DROP ROLE IF EXISTS "{name}"')
        await admin.close()


def test_a_deadlock_or_serialization_failure_is_contention_not_a_failed_step():
    """PostgreSQL ending a statement because of another transaction reaches the runtime as
    Contention (the batch is tried again, no apology); other errors stay what they were."""
    import asyncpg

    from storage.db import Contention
    from storage.pg import _sqlite_error

    for ended in (asyncpg.DeadlockDetectedError("deadlock detected"),
                  asyncpg.SerializationError("could not serialize access")):
        assert isinstance(_sqlite_error(ended), Contention)
    assert not isinstance(_sqlite_error(asyncpg.UniqueViolationError("duplicate key")),
                          Contention)
    assert not isinstance(_sqlite_error(asyncpg.SyntaxOrAccessError("syntax")), Contention)
