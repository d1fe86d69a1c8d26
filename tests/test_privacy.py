"""Issue 13: unit data stays out of groups, refusals go to the presser only, files are capped
and owner-only, personal data has an end, secrets never reach the logs."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import os
import stat
import threading
from datetime import UTC, datetime, timedelta

import pytest

from bot import cli
from handlers import charts
from handlers.admin import erase_person
from handlers.types import Attachment, Outgoing, Reply
from storage.db import Database
from storage.messages import Text
from storage.models import Role
from tests.conftest import START
from tests.telegram_fakes import invite, register
from tests.test_double_tap import (
    DIFFICULTY,
    PLAN,
    PLAN_UNTIL_EVIDENCE,
    act,
    coordinator,
    officer,
    tap,
)

GROUP = -100900  # the coordinators' group of the harness


async def edits_in(h, chat_id) -> list:
    return [c for c in h.request.calls if c.method == "editMessageText"
            and c.chat_id == str(chat_id)]


def press(data):
    async def step(_h, chat):
        await chat.press_data(data)
    return step


async def test_data_views_typed_or_pressed_in_a_group_answer_in_private(harness):
    h = harness
    desk = await coordinator(h)
    await act(h, await officer(h), *PLAN)
    await act(h, h.chat(501, "Trần Thị Bình"), *DIFFICULTY)
    group = h.chat(GROUP)
    desk_in_group = h.chat(301, "Phạm Văn Điều", chat_id=GROUP)
    # "Xem" on the group's notice of the new report, then each data command typed there.
    notice = next(s for s in reversed(h.request.sent(GROUP)) if "BC-2026-0001" in s.text)
    for step, private_text in [("tap:r:open:1", "Kế hoạch triển khai"),
                               (press("kk:open:1"), "Thiếu kinh phí"),
                               ("/reports", "BC-2026-0001"), ("/difficulties", "KK-2026-0001"),
                               ("/status", "Tình hình báo cáo"),
                               ("/digest", "Bản tin tổng hợp"), ("/export", "bảng tính")]:
        in_group_before, private_before = len(h.request.sent(GROUP)), len(desk.texts())
        await act(h, desk_in_group, step)
        said = [s.text for s in h.request.sent(GROUP)[in_group_before:]]
        assert len(said) == 1 and "trò chuyện riêng" in said[0], (step, said)
        assert "Phạm Văn Điều" in said[0]
        assert any(private_text in t for t in desk.texts()[private_before:]), (step, desk.texts())
    # The group's notice was left with its buttons for the other coordinators.
    assert ("Xem", "r:open:1") in notice.buttons
    assert not await edits_in(h, GROUP)
    # The spreadsheet chosen from the private list goes to the private chat too.
    await tap(desk, "ex:2026")
    await h.runtime.run_jobs()
    await h.drain()
    assert any(c.method == "sendDocument" and c.chat_id == "301" for c in h.request.calls)
    assert not any(c.method == "sendDocument" and c.chat_id == str(GROUP)
                   for c in h.request.calls)
    # Without a private chat to send to (the person blocked the bot), the group is refused.
    async with h.runtime.db.transaction() as tx:  # as a send answered 403 records it
        await tx.conn.execute("UPDATE contact_channels SET reachable = 0 "
                              "WHERE channel = 'telegram' AND chat_id = '301'")
    count = len(h.request.sent(GROUP))
    await desk_in_group.say("/reports")
    said = [s.text for s in h.request.sent(GROUP)[count:]]
    assert len(said) == 1 and "chỉ được gửi trong cửa sổ trò chuyện riêng" in said[0], said
    assert "BC-2026-0001" not in said[0]
    assert group.last().text == said[0]


async def test_a_refused_press_in_a_group_leaves_the_message_and_answers_the_presser(harness):
    h = harness
    await coordinator(h)
    author = await officer(h)
    await act(h, author, *PLAN)
    notice = next(s for s in reversed(h.request.sent(GROUP)) if "BC-2026-0001" in s.text)
    buttons_before = notice.buttons
    # An officer of another unit, in the coordinators' group, presses Approve and Open.
    intruder = await register(h, 601, "Ngô Thị Dung", Role.OFFICER, "Q-NGOQUYEN")
    intruder_in_group = h.chat(601, "Ngô Thị Dung", chat_id=GROUP)
    count = len(h.request.sent(GROUP))
    await intruder_in_group.press_data("rv:ok:1", notice)
    await intruder_in_group.press_data("r:open:1", notice)
    await intruder_in_group.press_data("zz:forged", notice)
    assert len(h.request.sent(GROUP)) == count  # nothing said to the group
    assert not await edits_in(h, GROUP)  # the group's message was not rewritten
    assert notice.buttons == buttons_before
    texts = intruder.texts()[-3:]
    assert "không dành cho vai trò" in texts[0]
    assert "BC-2026-0001" not in texts[1] and "Kế hoạch triển khai" not in texts[1]
    assert "không hợp lệ" in texts[2]
    async with h.runtime.db.read() as tx:
        report = await tx.reports.get(1)
    assert report.status.value == "received"


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.sqlite_only("the SQLite file's and its backup's modes")
async def test_database_backups_exports_and_charts_are_owner_only(harness, tmp_path,
                                                                   monkeypatch):
    old_umask = os.umask(0o022)  # a usual umask: files would be world-readable
    try:
        h = harness
        desk = await coordinator(h)
        await act(h, await officer(h), *PLAN)
        await desk.say("/digest")
        await h.jobs_done()
        await act(h, desk, "/export", "tap:ex:2026")
        await h.runtime.run_jobs()
        await h.drain()
        db_path = h.settings.database_path
        made = sorted(p.name for p in h.runtime.config.files_dir.iterdir())
        assert any(n.endswith(".png") for n in made) and any(n.endswith(".xlsx") for n in made)
        for path in [db_path, db_path.with_name(db_path.name + "-wal"),
                     db_path.with_name(db_path.name + "-shm"),
                     *h.runtime.config.files_dir.iterdir()]:
            assert mode(path) == 0o600, (path, oct(mode(path)))
        assert mode(h.runtime.config.files_dir) == 0o700
        # `baocao db backup` and `baocao export` write owner-only files too.
        monkeypatch.setenv("DATABASE_PATH", str(db_path))
        backup, sheet = tmp_path / "backups" / "copy.db", tmp_path / "out" / "2026.xlsx"
        assert await asyncio.to_thread(cli.main, ["db", "backup", str(backup)]) == 0
        assert await asyncio.to_thread(cli.main, ["export", "--period", "2026", "--out",
                                                  str(sheet)]) == 0
        assert mode(backup) == 0o600 and mode(sheet) == 0o600
        assert mode(backup.parent) == 0o700
    finally:
        os.umask(old_umask)


@pytest.mark.sqlite_only("half of it upgrades a version-15 SQLite database")
async def test_invite_codes_are_stored_as_hashes_and_old_ones_still_work(harness, tmp_path):
    h = harness
    code = await invite(h, Role.OFFICER)
    async with h.runtime.db.read() as tx:
        stored = [r[0] for r in await tx.conn.execute_fetchall("SELECT code FROM invites")]
    assert stored == [hashlib.sha256(code.encode()).hexdigest()]
    chat = h.chat(501, "Trần Thị Bình")
    await chat.say(f"/start {code.lower()}")
    assert any("Chào mừng" in t for t in chat.texts())
    await chat.say("/link")
    link = chat.last().text.split("/start ")[1][:12]
    async with h.runtime.db.read() as tx:
        stored = [r[0] for r in await tx.conn.execute_fetchall("SELECT code FROM invites")]
    assert link not in stored and code not in stored and len(stored) == 2
    # A code made before this version (kept in clear) is hashed by the migration and works.
    old = Database(tmp_path / "old.db")
    await old.open(migrate_to=15)
    async with old.transaction() as tx:
        await tx.conn.execute(
            "INSERT INTO invites (code, role, created_by, created_at, expires_at) "
            "VALUES ('ABCDEFGH2345', 'officer', 'test', '2026-03-01T00:00:00+00:00', "
            "'2099-01-01T00:00:00+00:00')")
        for text in ("first", "second"):  # a chat's queue waiting at the upgrade, as then
            await tx.conn.execute(
                "INSERT INTO outbox (channel, chat_id, payload, not_before, created_at) "
                "VALUES ('telegram', '42', ?, ?, ?)",
                (json.dumps({"text": text}), START.isoformat(), START.isoformat()))
    await old.close()
    async with Database(tmp_path / "old.db") as new, new.transaction() as tx:
        assert (await tx.conn.execute_fetchall("SELECT code FROM invites"))[0][0] == \
            hashlib.sha256(b"ABCDEFGH2345").hexdigest()
        found = await tx.invites.check("abcdefgh2345", START)
        assert found.role is Role.OFFICER and found.code == "ABCDEFGH2345"
        assert [r.message for r in await tx.outbox.due("telegram", START)] == [Text("first")]


async def test_files_are_capped_per_answer_and_per_form(harness):
    h = harness
    h.runtime.config = dataclasses.replace(h.runtime.config, max_files_per_answer=3,
                                           max_files_per_form=20)
    chat = await officer(h)
    await act(h, chat, *PLAN_UNTIL_EVIDENCE)
    for n in range(4):
        await chat.send_photo(f"P{n}")
    assert "tối đa 3 tệp" in chat.last().text
    await chat.press("Xong")
    assert "3 tệp" in chat.last().text  # the summary
    # The whole form's cap counts the files of the other answers (here: the ones kept when the
    # evidence is answered again).
    h.runtime.config = dataclasses.replace(h.runtime.config, max_files_per_answer=10,
                                           max_files_per_form=2)
    await chat.say("/cancel")
    await act(h, chat, *PLAN_UNTIL_EVIDENCE)
    for n in range(3):
        await chat.send_photo(f"Q{n}")
    assert "đã có 2 tệp" in chat.last().text
    await chat.press("Xong")
    await chat.press("Xác nhận")
    async with h.runtime.db.read() as tx:
        files = await tx.reports.attachments(1)
    assert [f["file_id"] for f in files] == ["Q0", "Q1"]


async def test_a_reports_files_go_as_one_album(harness):
    h = harness
    desk = await coordinator(h)
    chat = await officer(h)
    await act(h, chat, *PLAN_UNTIL_EVIDENCE)
    for n in range(8):
        await chat.send_photo(f"P{n}")
    await chat.send_document("D0", "bien-ban.pdf")
    await chat.send_document("D1", "ke-hoach.pdf")
    await chat.press("Xong")
    await chat.press("Xác nhận")
    before = len(h.request.calls)
    await act(h, desk, "/reports", "tap:r:open:1")
    calls = [c for c in h.request.calls[before:] if c.chat_id == "301"]
    albums = [c.media for c in calls if c.method == "sendMediaGroup"]
    assert albums == [[f"P{n}" for n in range(8)], ["D0", "D1"]]
    assert not [c for c in calls if c.method in ("sendPhoto", "sendDocument")]


async def test_one_chats_backlog_does_not_hold_up_another_chats_reply(harness):
    h = harness
    other = await officer(h)
    busy = "777"
    await h.runtime.send([Outgoing("telegram", busy, Reply("", (), (
        Attachment("document", f"F{n}", f"{n}.pdf"),))) for n in range(300)])
    async with h.runtime.db.read() as tx:  # each chat's queue has one head: its oldest row
        heads = await tx.conn.execute_fetchall(
            "SELECT chat_id, payload FROM outbox WHERE head = 1 AND status = 'pending'")
    assert [(r[0], json.loads(r[1])["files"][0]["file_id"]) for r in heads] == [(busy, "F0")]
    await other.say("/help")
    sends = [c for c in h.request.calls if c.method in ("sendMessage", "sendDocument")]
    reply = next(i for i, c in enumerate(sends) if c.chat_id == "501" and "/report" in c.text)
    busy_before = sum(1 for c in sends[:reply] if c.chat_id == busy)
    assert busy_before <= 2, busy_before  # not behind the 300 files
    assert sum(1 for c in sends if c.chat_id == busy) == 300  # and they all went
    async with h.runtime.db.read() as tx:
        assert (await tx.conn.execute_fetchall("SELECT COUNT(*) FROM outbox WHERE head = 1 "
                                               "OR status = 'pending'"))[0][0] == 0


async def outbox_texts(h) -> list[tuple[str, str]]:
    async with h.runtime.db.read() as tx:
        return [(r[0], r[1]) for r in await tx.conn.execute_fetchall(
            "SELECT status, payload FROM outbox ORDER BY id")]


async def test_message_texts_and_made_files_are_kept_only_so_long(harness):
    h = harness
    chat = await officer(h)
    await chat.say("/link")
    code = chat.last().text.split("/start ")[1][:12]
    desk = await coordinator(h)
    await desk.say("/digest")
    await h.jobs_done()
    made = list(h.runtime.config.files_dir.iterdir())
    assert made
    # A message still waiting keeps its text whatever its age.
    await h.runtime.send([Outgoing("telegram", "888", Reply("chưa gửi được"))])
    await h.runtime.tick()  # within the retention: the texts stay
    assert any(code in payload for _s, payload in await outbox_texts(h))
    assert all(p.exists() for p in made)
    h.clock.advance(days=31)  # MESSAGE_RETENTION_DAYS is 30
    await h.runtime.tick()
    rows = await outbox_texts(h)
    assert not any(code in payload for _s, payload in rows)
    assert {payload for status, payload in rows if status == "sent"} == {"{}"}
    assert [json.loads(payload)["text"] for status, payload in rows if status == "pending"] == [
        "chưa gửi được"]
    # Made files go FILE_RETENTION_DAYS (7) after they were written (the disk's clock).
    h.clock.now = datetime.now(UTC) + timedelta(days=6)
    await h.runtime.tick()
    assert all(p.exists() for p in made)
    h.clock.now = datetime.now(UTC) + timedelta(days=8)
    await h.runtime.tick()
    assert not any(p.exists() for p in made)


async def test_an_erased_person_is_forgotten_and_their_units_reports_stay(harness):
    h = harness
    desk = await coordinator(h)
    author = await officer(h)
    await act(h, author, *PLAN)
    await act(h, author, *DIFFICULTY)
    await act(h, desk, "tap:kk:ack:1")
    async with h.runtime.db.transaction() as tx:
        contact = await tx.contacts.by_identity("telegram", "501")
        assert await erase_person(tx, contact.id, h.clock(), "test") is True
        assert await erase_person(tx, contact.id, h.clock(), "test") is False
    async with h.runtime.db.read() as tx:
        dump = ""
        for table in ("contacts", "contact_channels", "outbox", "sessions", "drafts"):
            rows = await tx.conn.execute_fetchall(f"SELECT * FROM {table}")
            dump += "\n".join(str(tuple(r)) for r in rows)
        assert (await tx.reports.get(1)).unit_code == "Q-LECHAN"
        assert await tx.audit.recent(1) and (await tx.audit.recent(1))[0]["action"] == \
            "contact.erase"
    assert "Trần Thị Bình" not in dump and "'501'" not in dump
    # Their unit's difficulty still reads, by a former officer of the unit.
    await act(h, desk, "/difficulties", "tap:kk:open:1")
    thread = desk.last().text
    assert "một cán bộ trước đây của Ủy ban nhân dân quận Lê Chân" in thread
    assert "Trần Thị Bình" not in thread
    # Writing again, they are a stranger: an invite is needed.
    await author.say("/myreports")
    assert "mã mời" in author.last().text


async def test_a_forged_periodic_report_button_takes_only_the_programmes_periods(harness):
    h = harness
    chat = await officer(h)
    for key in ("2099", "2001", "2030", "2026-M07", "2026-Q2", "2010-H1"):
        await chat.press_data(f"rp:{key}", chat.last())
        assert "không hợp lệ" in chat.last().text, key
    await chat.press_data("rp:2026", chat.last())
    assert "năm 2026" in "\n".join(chat.texts()[-2:])


async def test_a_reply_form_opened_before_a_unit_change_posts_nothing(harness):
    h = harness
    desk = await coordinator(h)
    author = await officer(h)
    await act(h, author, *DIFFICULTY)
    await act(h, desk, "tap:kk:ans:1", "Sở sẽ hỗ trợ 10 triệu đồng")
    await author.press_data("kk:rep:1", author.last())
    async with h.runtime.db.transaction() as tx:  # moved to another unit meanwhile
        other = await tx.units.by_code("Q-NGOQUYEN")
        contact = await tx.contacts.by_identity("telegram", "501")
        await tx.contacts.update(contact.id, unit_id=other.id, role=Role.OFFICER)
    await author.say("Cảm ơn Sở")
    assert "nội dung chưa được gửi" in author.last().text
    async with h.runtime.db.read() as tx:
        kinds = [e.kind for e in await tx.difficulties.events(1)]
    assert "reply" not in kinds


async def test_the_digest_chart_is_drawn_in_a_thread_outside_any_transaction(harness,
                                                                             monkeypatch):
    h = harness
    desk = await coordinator(h)
    draw, seen = charts.digest_chart, []

    def watched(*args, **kwargs):
        seen.append((threading.current_thread() is threading.main_thread(),
                     h.runtime.db._lock.locked()))
        return draw(*args, **kwargs)

    monkeypatch.setattr(charts, "digest_chart", watched)
    await desk.say("/digest")
    assert "Bản tin tổng hợp" in desk.last().text  # the text comes at once
    await h.jobs_done()
    assert seen == [(False, False)]  # not on the event loop, the database free meanwhile
    assert desk.last().method == "sendPhoto"
