"""Operations: /healthz, /readyz and /metrics on the real runtime and fake Bot API."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import tornado.httpserver
import tornado.netutil
import yaml

from bot import backups, health, logs, metrics
from bot.cli import main
from bot.lockfile import LockedError, hold
from handlers.types import Outgoing, Reply
from storage.backend import postgres_url
from storage.db import migrations
from tests.dbquery import execute
from tests.loopback import free_port
from tests.telegram_fakes import register
from tests.test_broadcasts import OFFICERS, people, write_notice  # noqa: F401  (fixture)

# The tests run in a temporary folder (conftest): every subprocess imports this checkout's code,
# not whichever Baocao is installed (the two can differ in their database's schema version).
CODE = {"PYTHONPATH": str(Path(__file__).resolve().parent.parent)}

SEND_METHODS = ("sendMessage", "sendPhoto", "sendDocument", "editMessageText")


@pytest.fixture
async def ops(harness):
    """The health app of the harness's runtime on a loopback port; `ops.ahead` moves its clock."""
    class Ops:
        ahead = 0.0

    state = Ops()
    app = health.health_app(harness.runtime, clock=lambda: time.monotonic() + state.ahead)
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    server = tornado.httpserver.HTTPServer(app)
    server.add_sockets(sockets)
    state.client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{sockets[0].getsockname()[1]}")
    yield state
    await state.client.aclose()
    server.stop()


async def test_healthz_and_ready(harness, ops):
    assert (await ops.client.get("/healthz")).status_code == 200
    answer = await ops.client.get("/readyz")
    assert (answer.status_code, answer.text) == (200, "ready\n")


@pytest.mark.sqlite_only("SQLite's write lock held by another program")
async def test_unready_while_the_database_is_locked_then_ready(harness, ops):
    other = sqlite3.connect(harness.settings.database_path)
    other.execute("BEGIN IMMEDIATE")  # another program holds the write lock
    try:
        answer = await ops.client.get("/readyz")
        assert answer.status_code == 503
        assert "database: database is locked" in answer.text
    finally:
        other.rollback()
        other.close()
    assert (await ops.client.get("/readyz")).status_code == 200


async def test_unready_while_a_send_hangs_then_ready(harness, ops):
    worker = harness.runtime.workers["telegram"]
    real, release = worker.sender, asyncio.Event()

    class Hanging:
        channel, limits = real.channel, real.limits
        is_group = real.is_group

        async def send(self, chat_id, payload):
            await release.wait()
            return await real.send(chat_id, payload)

    worker.sender = Hanging()
    async with harness.runtime.db.transaction() as tx:
        await harness.runtime.write(tx, [Outgoing("telegram", "777", Reply("Xin chào"))],
                                    harness.clock())
    await worker.pump()  # the send starts and hangs
    assert (await ops.client.get("/readyz")).status_code == 200  # not stuck yet
    ops.ahead = harness.settings.ready_send_seconds + 5
    answer = await ops.client.get("/readyz")
    assert answer.status_code == 503
    assert "telegram: delivery stuck" in answer.text
    release.set()
    await worker.drain()
    assert (await ops.client.get("/readyz")).status_code == 200
    assert harness.request.sent(777)[-1].text == "Xin chào"


async def test_unready_when_a_polled_channel_goes_quiet(harness, ops):
    harness.runtime.alive("telegram")
    assert (await ops.client.get("/readyz")).status_code == 200
    ops.ahead = harness.settings.ready_poll_seconds + 5
    answer = await ops.client.get("/readyz")
    assert answer.status_code == 503 and "telegram: no poll answered" in answer.text
    harness.runtime.alive("telegram")
    ops.ahead = 0
    assert (await ops.client.get("/readyz")).status_code == 200


def sample(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def sends(outcome: str) -> float:
    return sample("baocao_sends_total", channel="telegram", outcome=outcome)


async def outbox_asks(harness, form: str) -> int:
    async with harness.runtime.db.read() as tx:
        rows = await tx.conn.execute_fetchall(
            "SELECT COUNT(*) FROM outbox WHERE json_extract(payload, '$.asks') LIKE ?",
            (f"{form}:%",))
    return rows[0][0]


async def test_metrics_after_a_conversation_and_a_broadcast(people, ops):  # noqa: F811
    h = people
    updates_before = sample("baocao_updates_total", channel="telegram")
    handled_before = sample("baocao_update_seconds_count", form="broadcast")
    steps_before = sample("baocao_form_steps_total", form="broadcast")
    asks_before = await outbox_asks(h, "broadcast")
    calls_before = len([c for c in h.request.calls if c.method in SEND_METHODS])
    sent_before, blocked_before, throttled_before = sends("sent"), sends("blocked"), sends("429")
    first_update = next(h.updates)

    await write_notice(h.admin, "Mọi đơn vị (cán bộ đầu mối)")
    # One officer has blocked the bot; Telegram asks to slow down once.
    h.request.script += [("sendMessage", 403, "Forbidden: bot was blocked by the user", None),
                         ("sendMessage", 429, "Too Many Requests: retry after 1", 1)]
    await h.admin.press("Xác nhận")
    h.clock.advance(seconds=5)
    await h.drain()

    updates = next(h.updates) - first_update - 1  # every update the chats sent
    assert sample("baocao_updates_total", channel="telegram") - updates_before == updates
    steps = await outbox_asks(h, "broadcast") - asks_before
    assert steps >= 3  # text, attachment, audience...
    assert sample("baocao_form_steps_total", form="broadcast") - steps_before == steps
    assert sample("baocao_update_seconds_count", form="broadcast") - handled_before >= steps
    calls = len([c for c in h.request.calls if c.method in SEND_METHODS]) - calls_before
    assert sends("sent") - sent_before == calls
    assert sends("blocked") - blocked_before == 1
    assert sends("429") - throttled_before == 1

    # Depth and age of what waits: two messages queued a minute ago, not yet sent.
    await h.runtime.send([Outgoing("telegram", str(uid), Reply("Nhắc lịch họp"))
                          for uid, _unit in OFFICERS[:2]])
    h.clock.advance(seconds=60)
    text = (await ops.client.get("/metrics")).text
    assert 'baocao_outbox_pending{channel="telegram"} 2.0' in text
    assert 'baocao_outbox_oldest_seconds{channel="telegram"} 60.0' in text
    await h.drain()
    text = (await ops.client.get("/metrics")).text
    assert 'baocao_outbox_pending{channel="telegram"} 0.0' in text
    # No person, chat or text in the figures.
    for word in ("Phạm Thu Hà", "Họp giao ban", "Nhắc lịch", '"501"', "Q-LECHAN"):
        assert word not in text


def test_a_second_instance_on_the_same_database_refuses(tmp_path):
    database = tmp_path / "baocao.db"
    first = hold(database)
    try:
        with pytest.raises(LockedError, match="already running"):
            hold(database)
    finally:
        first.close()
    hold(database).close()  # free again once the first has stopped


@pytest.mark.sqlite_only("scheduled backups copy the SQLite file (PostgreSQL: pg_dump)")
async def test_scheduled_backups_written_pruned_and_restorable(harness, tmp_path, monkeypatch,
                                                                capsys):
    h = harness
    admin = h.chat(1, "Phạm Thu Hà")
    await admin.say("/start")
    folder = tmp_path / "backups"
    h.runtime.backups = backups.Scheduler(folder, every_hours=6, keep=2)
    start = h.clock()
    await h.tick_at(start)
    first = backups.existing(folder)
    assert len(first) == 1
    await h.tick_at(start + timedelta(hours=5))  # not due yet
    assert backups.existing(folder) == first
    for hours in (6, 12, 18):
        await h.tick_at(start + timedelta(hours=hours))
    kept = backups.existing(folder)
    assert [p.name for p in kept] == [
        f"baocao-{(start + timedelta(hours=h)).strftime('%Y%m%dT%H%M%SZ')}.db" for h in (12, 18)]
    assert not list(folder.glob("*.partial"))
    assert backups.check_restorable(kept[-1]) == migrations()[-1][0]

    # Something happens after the last backup; the restore takes the database back to it.
    await register(h, 700, "Lê Văn Mới")
    await h.stop()
    monkeypatch.setenv("DATABASE_PATH", str(h.settings.database_path))
    monkeypatch.setenv("DEFAULT_LOCALE", "en")
    assert await asyncio.to_thread(main, ["db", "restore", str(kept[-1])]) == 0
    out = capsys.readouterr().out
    assert "Restored" in out and "before-restore" in out
    await h.start()
    async with h.runtime.db.read() as tx:
        names = [r[0] for r in await tx.conn.execute_fetchall("SELECT name FROM contacts")]
    assert "Phạm Thu Hà" in names and "Lê Văn Mới" not in names


@pytest.mark.sqlite_only("scheduled backups copy the SQLite file (PostgreSQL: pg_dump)")
async def test_a_failing_backup_is_reported_to_admins_once(harness, tmp_path):
    h = harness
    admin = h.chat(1, "Phạm Thu Hà")
    await admin.say("/start")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the backup folder should be")
    h.runtime.backups = backups.Scheduler(blocker, every_hours=1, keep=3)
    start = h.clock()

    def warnings() -> int:
        return sum("sao lưu" in text for text in admin.texts())

    for minutes in (0, 30, 60, 90):
        await h.tick_at(start + timedelta(minutes=minutes))
    assert warnings() == 1
    blocker.unlink()  # fixed: the next try works and the warning is re-armed
    await h.tick_at(start + timedelta(minutes=120))
    assert len(backups.existing(blocker)) == 1
    blocker_file = backups.existing(blocker)[0]
    blocker_file.unlink()
    blocker.rmdir()
    blocker.write_text("broken again")
    await h.tick_at(start + timedelta(hours=4))
    assert warnings() == 2


@pytest.mark.sqlite_only("db restore copies a SQLite file (PostgreSQL: pg_restore)")
def test_restore_refuses_what_is_not_a_baocao_database(tmp_path, monkeypatch, capsys):
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    text = tmp_path / "notes.db"
    text.write_text("not a database")
    # Baocao's tables, by a later Baocao (a schema version this one does not know).
    newer = tmp_path / "newer.db"
    with sqlite3.connect(newer) as conn:
        conn.executescript("CREATE TABLE schema_migrations (version INTEGER); "
                           "CREATE TABLE units (x); CREATE TABLE contacts (x); "
                           "CREATE TABLE outbox (x); INSERT INTO schema_migrations VALUES (999);"
                           "CREATE TABLE filler (x)")
        conn.executemany("INSERT INTO filler VALUES (?)", [("x" * 500,)] * 200)
    damaged = tmp_path / "damaged.db"  # the same with pages overwritten
    shutil.copy(newer, damaged)
    with damaged.open("r+b") as file:
        file.seek(4096 * 3)
        file.write(b"\xff" * 4096 * 4)
    monkeypatch.setenv("DATABASE_PATH", str(tmp_path / "live.db"))
    monkeypatch.setenv("DEFAULT_LOCALE", "en")
    for path, reason in ((other, "not a Baocao database"), (text, "file is not a database"),
                         (tmp_path / "missing.db", "no such file"),
                         (damaged, "damaged.db: "), (newer, "schema version 999 is not one")):
        assert main(["db", "restore", str(path)]) == 1
        err = capsys.readouterr().err
        assert reason in err and "Not restored" in err, err
        assert not (tmp_path / "live.db").exists()


@pytest.mark.sqlite_only("db restore copies a SQLite file (PostgreSQL: pg_restore)")
def test_restore_refuses_while_the_bot_runs(tmp_path, db_path):
    sqlite3.connect(db_path).close()
    env = {**os.environ, **CODE, "DEFAULT_LOCALE": "en"}
    with hold(db_path):
        done = subprocess.run([sys.executable, "-m", "bot", "db", "restore", str(db_path)],
                              capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 1 and "already running" in done.stderr


async def test_json_logs_follow_one_update_from_handler_to_send(harness):
    stream = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    logs.setup("DEBUG", "json", stream)
    try:
        harness.request.script.append(("sendMessage", 502, "Bad Gateway", None))
        officer = await register(harness, 800, "Đỗ Thị Lan")
        await officer.say("/help")
        harness.clock.advance(seconds=30)
        await harness.drain()
    finally:
        root.handlers, _ = saved
        root.setLevel(saved[1])
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    handled = [e for e in entries if e["message"] == "update handled"]
    assert handled and all(e["channel"] == "telegram" and e["update_id"] for e in handled)
    by_request = {e["request_id"]: e for e in handled}
    sends = [e for e in entries if e["message"].endswith(" sent") or "retry in" in e["message"]]
    # Every send, the retried one too, names the request of the update that caused it.
    assert sends and all(e.get("request_id") in by_request for e in sends)
    assert any("retry in" in e["message"] for e in sends)
    text = stream.getvalue()
    for secret in ("123:TEST", "Đỗ Thị Lan", "/help"):
        assert secret not in text


def test_doctor_names_each_problem_with_its_fix(tmp_path, db_path, monkeypatch, capsys):
    """In this process (so it counts in the coverage of bot/), through the CLI's entry point:
    `python -m bot` only calls it. On either backend: when the suite runs on PostgreSQL,
    DATABASE_PATH stands for a database of that server, and doctor reads it there."""
    on_postgres = postgres_url(db_path) is not None
    env = {"DATABASE_PATH": str(db_path), "DEFAULT_LOCALE": "en",
           "TELEGRAM_BOT_TOKEN": "4242:SECRET-TOKEN",
           "TELEGRAM_BASE_URL": f"http://127.0.0.1:{free_port()}/bot"}

    class Done:
        def __init__(self, returncode: int, stdout: str, stderr: str):
            self.returncode, self.stdout, self.stderr = returncode, stdout, stderr

    def run(args: list[str], **more: str) -> Done:
        with monkeypatch.context() as patch:
            for name, value in {**env, **more}.items():
                patch.setenv(name, value)
            status = main(args)
        return Done(status, *capsys.readouterr())

    def doctor(**more: str) -> Done:
        return run(["doctor"], **more)

    done = doctor()
    assert done.returncode == 1
    assert ("✗ No database baocao_t_" if on_postgres else "✗ No database at") in done.stdout
    assert "✗ ADMIN_IDS is empty" in done.stdout
    assert "✗ Telegram cannot be reached (ConnectError)" in done.stdout
    assert "SECRET-TOKEN" not in done.stdout + done.stderr

    # A database with units of one kind; a programme whose holidays end soon and which owes
    # reports from a kind no unit has.
    assert run(["db", "migrate"]).returncode == 0
    execute(db_path, "INSERT INTO units (code, name, kind, created_at, updated_at) "
            "VALUES ('P1', 'Phường 1', 'ward', 'x', 'x')")
    if not on_postgres:
        db_path.chmod(0o644)
    shipped = yaml.safe_load((Path(__file__).resolve().parents[1] / "bot/data/programme.yaml")
                             .read_text(encoding="utf-8"))
    shipped["holidays"] = [date.today()]  # the last listed holiday is today
    programme = tmp_path / "programme.yaml"
    programme.write_text(yaml.safe_dump(shipped, allow_unicode=True), encoding="utf-8")
    done = doctor(ADMIN_IDS="1", PROGRAMME_FILE=str(programme))
    assert "✓ Database" in done.stdout and "at schema version" in done.stdout
    if on_postgres:  # the server, its disk and the backups are named for what they are there
        host = urlsplit(postgres_url(db_path)).hostname
        assert f"on the PostgreSQL server at {host}:" in done.stdout and "(PostgreSQL " in \
            done.stdout
        assert "MB on the server" in done.stdout and "pg_dump" in done.stdout
        assert "GB free on the disk" not in done.stdout
    assert "✗ The programme lists holidays only until" in done.stdout
    # The coordinating department's record: a code no unit has (say, one from before a merger).
    assert "✗ The coordinating unit SO-VHTTDL (COORDINATING_UNIT) is not in the units" in \
        done.stdout
    assert "The coordinating unit" not in doctor(ADMIN_IDS="1", COORDINATING_UNIT="P1").stdout
    assert "✗ The programme asks units of kind district for reports (plan, annual" in done.stdout
    # Kinds are data: one that no units file named is shown as its code, and doctor says so.
    assert "✗ Units have kinds with no name to show (ward)" in done.stdout
    assert "ADMIN_IDS" not in done.stdout
    assert "word search has no index" not in done.stdout
    if on_postgres:
        # Where pg_trgm could not be created, the word search has no index: doctor says how
        # to make it.
        execute(db_path, "DROP INDEX report_words_trgm")
        assert "✗ The web desk's word search has no index on this server" in \
            doctor(ADMIN_IDS="1").stdout
        return  # no database file: its permissions are the server's
    assert f"✗ {db_path} can be read by other users of this computer: chmod 600" in done.stdout
    db_path.chmod(0o600)
    assert "can be read by other users" not in doctor(ADMIN_IDS="1").stdout


def test_doctor_names_a_postgresql_server_that_does_not_answer(monkeypatch, capsys):
    """DATABASE_URL names a server that refuses the connection (a loopback port nobody listens
    on), then one that takes it and never answers (a listening socket nobody accepts from):
    doctor says which server, host and port, within its short timeout, and never the
    password."""
    import socket

    from bot import doctor

    monkeypatch.setenv("ADMIN_IDS", "1")
    monkeypatch.setenv("DEFAULT_LOCALE", "en")
    closed = free_port()
    monkeypatch.setenv("DATABASE_URL", f"postgresql://baocao:pa55-w0rd@127.0.0.1:{closed}/baocao")
    began = time.monotonic()
    assert main(["doctor"]) == 1
    out, err = capsys.readouterr()
    assert f"✗ The PostgreSQL server at 127.0.0.1:{closed} cannot be reached " \
        "(ConnectionRefusedError)" in out
    assert "correct the host and port in DATABASE_URL" in out
    assert "Backups: on PostgreSQL the bot makes none; back the database up with pg_dump" in out
    assert "GB free on the disk" not in out and "✓ Database" not in out

    monkeypatch.setattr(doctor, "PG_TIMEOUT", 0.5)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # the kernel completes the handshake; nobody reads or answers
        port = silent.getsockname()[1]
        monkeypatch.setenv("DATABASE_URL", f"postgresql://baocao:pa55-w0rd@127.0.0.1:{port}/db")
        assert main(["doctor"]) == 1
    silent_out, silent_err = capsys.readouterr()
    assert f"✗ The PostgreSQL server at 127.0.0.1:{port} did not answer within 0.5 s" in \
        silent_out
    assert time.monotonic() - began < 5
    assert "pa55-w0rd" not in out + err + silent_out + silent_err
