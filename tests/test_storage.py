import sqlite3
import threading
from datetime import UTC, datetime

import pytest

from storage.db import Database, DatabasePathError, SchemaTooNewError, migrations
from storage.models import Role


async def tables(db):
    async with db.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'") as cur:
        return {row[0] for row in await cur.fetchall()}


@pytest.mark.sqlite_only("SQLite's tables and pragmas (PostgreSQL's schema: tests/test_pg.py)")
async def test_empty_database_gets_every_migration(db):
    assert await db.schema_version() == migrations()[-1][0]
    expected = {"units", "contacts", "contact_channels", "invites", "sessions", "drafts",
                "reports", "report_versions", "attachments", "difficulties",
                "difficulty_events", "notifications", "broadcasts", "deliveries", "outbox",
                "processed_updates", "audit_log"}
    assert expected <= await tables(db)
    async with db.conn.execute("PRAGMA journal_mode") as cur:
        assert (await cur.fetchone())[0] == "wal"
    async with db.conn.execute("PRAGMA foreign_keys") as cur:
        assert (await cur.fetchone())[0] == 1


@pytest.mark.sqlite_only("SQLite's migrations 0001-0022 (PostgreSQL starts at 0022)")
async def test_older_database_upgrades_in_place(db_path):
    old = await Database(db_path).open(migrate_to=1)
    async with old.transaction() as tx:
        await tx.conn.execute(
            "INSERT INTO units (code, name, kind, created_at, updated_at) "
            "VALUES ('SO-X', 'Sở X', 'department', 'now', 'now')")
    assert await old.schema_version() == 1
    assert "outbox" not in await tables(old)
    await old.close()

    new = await Database(db_path).open()
    assert await new.schema_version() == migrations()[-1][0]
    assert "outbox" in await tables(new)
    async with new.transaction() as tx:
        assert (await tx.units.by_code("SO-X")).name == "Sở X"
    await new.close()


async def test_newer_database_is_refused(db_path):
    db = await Database(db_path).open()
    async with db.transaction() as tx:
        await tx.conn.execute("INSERT INTO schema_migrations VALUES (9999, 'future', 'now')")
    await db.close()
    with pytest.raises(SchemaTooNewError, match="9999"):
        await Database(db_path).open()


async def test_failed_transaction_leaves_nothing(db):
    with pytest.raises(sqlite3.IntegrityError):
        async with db.transaction() as tx:
            await tx.meta.set("a", "1")
            await tx.conn.execute("INSERT INTO units (code) VALUES (NULL)")
    async with db.transaction() as tx:
        assert await tx.meta.get("a") is None


@pytest.mark.sqlite_only("SQLite's online backup (PostgreSQL: pg_dump)")
async def test_backup_of_live_database(db, tmp_path):
    async with db.transaction() as tx:
        for n in range(200):
            await tx.meta.set(f"k{n}", "v" * 100)
    copy = tmp_path / "backup" / "copy.db"
    await db.backup(copy)
    async with db.transaction() as tx:  # the source stays usable after the backup
        await tx.meta.set("after", "1")
    restored = sqlite3.connect(copy)  # (SQLite only: see the mark)
    assert restored.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert restored.execute("SELECT COUNT(*) FROM meta").fetchone()[0] == 200
    restored.close()


@pytest.mark.sqlite_only("a path that is not a SQLite file")
@pytest.mark.parametrize(("path", "reason"), [
    ("notes.txt", "file is not a database"), ("folder", "unable to open database file"),
    ("notes.txt/baocao.db", "a folder on the way is a file"),
    ("notes.txt/more/baocao.db", "a folder on the way is a file"),
])
async def test_a_path_that_is_not_a_database_is_refused_and_leaves_no_thread(tmp_path, path,
                                                                            reason):
    (tmp_path / "notes.txt").write_text("Ghi chú, không phải cơ sở dữ liệu.\n")
    (tmp_path / "folder").mkdir()
    threads = threading.active_count()
    with pytest.raises(DatabasePathError) as caught:
        await Database(tmp_path / path).open()
    assert str(caught.value) == f"{tmp_path / path}: {reason}"
    assert threading.active_count() == threads  # a thread left behind kept the CLI from exiting
    assert (tmp_path / "notes.txt").read_text().startswith("Ghi chú")



async def test_a_batch_commits_its_steps_together_and_undoes_a_failing_one_alone(db):
    async with db.batch() as batch:
        async with batch.step() as tx:
            await tx.meta.set("first", "1")
        with pytest.raises(RuntimeError):
            async with batch.step() as tx:
                await tx.meta.set("failing", "1")
                raise RuntimeError("a bug in this step")
        async with batch.step(commit=True) as tx:
            assert await tx.meta.get("first") == "1"  # the batch's own writes are seen
            await tx.meta.set("last", "1")
        assert not db.conn.in_transaction  # committed with the last step's call
    async with db.read() as tx:
        assert [await tx.meta.get(k) for k in ("first", "failing", "last")] == ["1", None, "1"]


async def test_a_batch_that_fails_whole_leaves_nothing(db):
    with pytest.raises(KeyError):
        async with db.batch() as batch:
            async with batch.step() as tx:
                await tx.meta.set("first", "1")
            raise KeyError("the runtime gave up on the batch")
    async with db.read() as tx:
        assert await tx.meta.get("first") is None


async def test_held_session_writes_are_seen_by_their_transaction(db):
    now = datetime(2026, 3, 10, tzinfo=UTC)
    async with db.transaction() as tx:
        contact = await tx.contacts.create(unit_id=None, role=Role.OFFICER, name="An",
                                           language="vi", now=now)
        # An offer to someone without a conversation starts one at the menu.
        tx.sessions.offer(contact.id, [["m:help", "Help"]], now)
    async with db.transaction() as tx:
        assert (await tx.sessions.get(contact.id))[:2] == (
            "menu", {"offered": [["m:help", "Help"]]})
        tx.sessions.save(contact.id, "report", {"form": {"step": 1}}, now)
        assert (await tx.sessions.get(contact.id))[:2] == ("report", {"form": {"step": 1}})
        tx.sessions.offer(contact.id, [["1", "Yes"]], now)
        tx.updates.record("telegram", "42", now)
        assert await tx.updates.seen("telegram", "42")
    async with db.read() as tx:
        assert (await tx.sessions.get(contact.id))[:2] == (
            "report", {"form": {"step": 1}, "offered": [["1", "Yes"]]})
        assert await tx.updates.seen("telegram", "42")
        rows = await tx.conn.execute_fetchall(
            "SELECT state, offered FROM sessions WHERE contact_id = ?", (contact.id,))
    # The offered choices have a column of their own: an offer writes it alone.
    assert tuple(rows[0]) == ('{"form":{"step":1}}', '[["1","Yes"]]')
