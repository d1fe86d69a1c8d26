"""Nothing lost, nothing twice, nothing in the wrong field: the durable inbox, the tight outbox,
answers bound to their question, bursts."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from bot.telegram import fetch_updates
from handlers import core
from handlers.types import Attachment, Inbound, Outgoing, Reply
from storage.db import Contention
from tests.dbquery import query
from tests.telegram_fakes import register

NOT_UNDERSTOOD = "Bot chưa hiểu nội dung này"


def pending_before(db_path, chat_id: str) -> list[int]:
    """Ids of rows of the chat still pending in the committed database (another connection)."""
    return [r[0] for r in query(
        db_path, "SELECT id FROM outbox WHERE chat_id = ? AND status = 'pending' ORDER BY id",
        (chat_id,))]


# --- the inbox --------------------------------------------------------------------------------

async def test_an_update_received_before_a_crash_is_processed_after_the_restart(harness):
    h = harness
    chat = await register(h, 501)
    event = Inbound("telegram", "9001", "501", "501", text="/report", message_id=5000)
    async with h.runtime.db.transaction() as tx:  # committed, then the process died
        await tx.inbox.add_many([(event.channel, event.update_id, event.to_json())], h.clock())
    await h.restart()
    await h.drain()
    assert "Đồng chí báo cáo nội dung nào?" in chat.last().text
    async with h.runtime.db.read() as tx:
        assert await tx.inbox.waiting() == []


# The step taken at once is for a database that one process owns (on PostgreSQL, shared, every
# update goes through the inbox); the statements are traced with SQLite's own callback.
AT_ONCE = pytest.mark.sqlite_only("updates are processed at receipt on SQLite only")


def traced(h) -> list[str]:
    """The statements the runtime's connection runs from now on."""
    statements: list[str] = []
    h.runtime.db.conn._conn.set_trace_callback(statements.append)
    return statements


@AT_ONCE
async def test_a_lone_update_is_processed_in_the_commit_that_receives_it(harness):
    """Nothing else waiting: the update's step runs in its receipt's transaction, and the
    inbox row (written, then deleted) is saved."""
    h = harness
    chat = await register(h, 501)
    statements = traced(h)
    await h.runtime.receive([Inbound("telegram", "9001", "501", "501", text="/help",
                                     message_id=5000)])
    assert not [s for s in statements if "inbox" in s]
    assert statements.count("COMMIT") == 1
    async with h.runtime.db.read() as tx:
        assert await tx.updates.seen("telegram", "9001")
    await h.drain()
    assert "Các lệnh dành cho vai trò" in chat.last().text
    # Delivered again: dropped, not answered twice.
    await h.runtime.receive([Inbound("telegram", "9001", "501", "501", text="/help",
                                     message_id=5000)])
    await h.drain()
    assert sum("Các lệnh dành cho vai trò" in t for t in chat.texts()) == 1


@AT_ONCE
async def test_a_lone_update_whose_step_cannot_be_written_waits_in_the_inbox(harness,
                                                                            monkeypatch):
    """Not even the apology could be written: the update is stored in the inbox, with the
    failed attempt counted, and processed from there."""
    h = harness
    chat = await register(h, 501)
    real_handle, real_apologise, failed = core.handle, h.runtime._apologise, []

    async def handle_failing_once(event, tx, config, now):
        if not failed:
            failed.append(event.update_id)
            raise RuntimeError("a bug in this step")
        return await real_handle(event, tx, config, now)

    async def apologise_failing(*args):
        if len(failed) == 1:
            raise sqlite3.OperationalError("disk I/O error")
        await real_apologise(*args)

    monkeypatch.setattr(core, "handle", handle_failing_once)
    monkeypatch.setattr(h.runtime, "_apologise", apologise_failing)
    statements = traced(h)
    await h.runtime.receive([Inbound("telegram", "9001", "501", "501", text="/help",
                                     message_id=5000)])
    assert failed == ["9001"]
    assert any(s.startswith("INSERT INTO inbox") for s in statements)
    assert any(s.startswith("UPDATE inbox SET attempts") for s in statements)
    await h.drain()
    assert "Các lệnh dành cho vai trò" in chat.last().text
    assert [t for t in chat.texts() if "hệ thống gặp sự cố" in t] == []
    async with h.runtime.db.read() as tx:
        assert await tx.inbox.waiting() == []


async def test_get_updates_confirms_only_what_is_committed(harness, monkeypatch):
    h = harness
    chat = await register(h, 501)
    h.request.updates = [chat.message(text="/help"), chat.message(text="/myreports")]
    real_receive, failures = h.runtime.receive, []

    async def receive_failing_once(events, wait=False):
        if not failures:
            failures.append(events)
            raise sqlite3.OperationalError("database is locked")
        await real_receive(events, wait)

    monkeypatch.setattr(h.runtime, "receive", receive_failing_once)
    stop = asyncio.Event()
    task = asyncio.create_task(fetch_updates(h.app, h.runtime, stop, poll_seconds=0))
    for _ in range(500):  # the retry waits a second
        await asyncio.sleep(0.01)
        if not h.request.updates:
            break
    stop.set()
    await task
    offsets = [c.params.get("offset") for c in h.request.calls if c.method == "getUpdates"]
    # The batch that could not be stored was fetched again, unconfirmed; then confirmed.
    last_id = int(failures[0][-1].update_id)
    assert offsets[:2] == [None, None] and int(offsets[2]) == last_id + 1
    assert h.request.updates == []  # Telegram forgot them only after that
    await h.drain()
    texts = chat.texts()
    assert sum("Các lệnh dành cho vai trò" in t for t in texts) == 1  # /help answered once


async def test_an_update_that_cannot_be_read_is_passed_over_and_the_batch_goes_on(harness,
                                                                                 caplog):
    h = harness
    chat = await register(h, 501)
    unreadable = {"update_id": 900, "message": {"message_id": 1, "from": "someone",
                                                "chat": {"id": 501}, "text": "/help"}}
    h.request.updates = [chat.message(text="/help"), unreadable]
    stop = asyncio.Event()
    task = asyncio.create_task(fetch_updates(h.app, h.runtime, stop, poll_seconds=0))
    for _ in range(500):
        await asyncio.sleep(0.01)
        offsets = [c.params.get("offset") for c in h.request.calls if c.method == "getUpdates"]
        if len(offsets) >= 2:
            break
    stop.set()
    await task
    # Confirmed past the unreadable update (asking again would bring the same bytes)...
    assert int(offsets[1]) == 901 and h.request.updates == []
    assert "an update that could not be read was ignored" in caplog.text
    await h.drain()
    # ...and the readable one beside it was answered.
    assert sum("Các lệnh dành cho vai trò" in t for t in chat.texts()) == 1


async def test_a_button_press_is_acknowledged_after_it_is_processed(harness):
    h = harness
    chat = await register(h, 501)
    await chat.say("/report")
    processed_when_answered = []

    def check(api, _params):
        if api == "answerCallbackQuery":
            processed_when_answered.append(query(
                h.settings.database_path, "SELECT COUNT(*) FROM processed_updates")[0][0])

    before = await processed_count(h)
    h.request.before_call = check
    await chat.press("Hoạt động tuyên truyền")
    assert processed_when_answered == [before + 1]


async def processed_count(h) -> int:
    async with h.runtime.db.read() as tx:
        rows = await tx.conn.execute_fetchall("SELECT COUNT(*) FROM processed_updates")
    return rows[0][0]


# --- the outbox -------------------------------------------------------------------------------

async def test_each_outcome_is_committed_before_the_chats_next_message(harness):
    h = harness
    await register(h, 501)
    seen_pending: list[int] = []
    h.request.before_call = lambda api, params: api == "sendMessage" and seen_pending.append(
        len(pending_before(h.settings.database_path, str(params.get("chat_id")))))
    await h.runtime.send([Outgoing("telegram", "501", Reply(f"tin {n}"), None)
                          for n in range(6)])
    await h.drain()
    assert [s.text for s in h.request.sent(501)][-6:] == [f"tin {n}" for n in range(6)]
    # When each message went, the ones before it were recorded as sent: only itself pending.
    assert seen_pending == [6, 5, 4, 3, 2, 1]


async def test_two_passes_at_once_never_send_a_row_twice(harness):
    h = harness
    chats = [str(7000 + n) for n in range(60)]
    await h.runtime.send([Outgoing("telegram", c, Reply(f"tin {c}-{k}"), None)
                          for c in chats for k in range(3)])
    worker = h.runtime.workers["telegram"]
    running = asyncio.create_task(worker.run())
    await asyncio.gather(*(worker.drain() for _ in range(4)))
    await worker.stop()
    running.cancel()
    texts = [s.text for s in h.request.sent() if s.text.startswith("tin ")]
    assert len(texts) == len(set(texts)) == 180


async def test_a_message_that_keeps_failing_is_given_up_and_its_chat_moves_on(harness):
    h = harness
    admin = h.chat(1, "Phạm Thu Hà")
    await admin.say("/start")
    officer = await register(h, 501)
    h.request.script += [("sendPhoto", 500, "Internal Server Error", None)] * 20
    photo = Reply("Ảnh minh chứng", attachments=(Attachment("photo", "PHOTO-X"),))
    await h.runtime.send([Outgoing("telegram", "501", photo, None),
                          Outgoing("telegram", "501", Reply("Tin sau ảnh"), None)])
    for _ in range(12):  # retries wait longer each time: move the clock past each wait
        h.clock.advance(seconds=400)
        await h.drain()
    assert officer.last().text == "Tin sau ảnh"
    status, attempts = query(
        h.settings.database_path,
        "SELECT status, attempts FROM outbox WHERE payload LIKE '%PHOTO-X%'")[0]
    assert (status, attempts) == ("failed", 8)
    alerts = [t for t in admin.texts() if "không gửi được" in t]
    assert len(alerts) == 1 and "Internal Server Error" in alerts[0]
    # A second failure the same day is not reported again.
    h.request.script += [("sendMessage", 400, "Bad Request: can't parse entities", None)]
    await h.runtime.send([Outgoing("telegram", "501", Reply("x"), None)])
    await h.drain()
    assert len([t for t in admin.texts() if "không gửi được" in t]) == 1


# --- answers bound to their question -----------------------------------------------------------

async def test_an_answer_to_a_question_shown_twice_never_lands_in_the_next_field(harness):
    h = harness
    chat = await register(h, 501)
    await chat.say("/report")
    await chat.press("Kế hoạch, chương trình")
    assert "Số, ký hiệu văn bản" in chat.last().text
    # The person answers the first question twice before the second question reaches them
    # (as after a question was repeated): the second answer is not taken for question 2.
    first = chat.message(text="45/KH-UBND")
    second = chat.message(text="46/KH-UBND")
    await h.feed(first, drain=False)
    await h.feed(second)
    assert any("câu hỏi trước" in t for t in chat.texts()[-3:])
    async with h.runtime.db.read() as tx:
        session = await tx.sessions.get(int((await tx.contacts.by_identity("telegram", "501"))
                                            .id))
    answers = session[1]["form"]["answers"]
    assert answers == {"doc_number": "45/KH-UBND"}


async def test_an_answer_replying_to_the_current_question_is_taken(harness):
    h = harness
    chat = await register(h, 501)
    await chat.say("/report")
    await chat.press("Kế hoạch, chương trình")
    question = chat.last()
    message = chat.message(text="45/KH-UBND", reply_to_message={
        "message_id": question.message_id, "date": 1_700_000_000,
        "chat": {"id": 501, "type": "private"}, "text": question.text})
    await h.feed(message)
    assert "câu 2/" in chat.last().text


# --- bursts -----------------------------------------------------------------------------------

async def test_a_burst_gets_the_flood_warning_first_and_one_not_understood(harness):
    h = harness
    chat = await register(h, 501)
    before = len(chat.texts())
    h.think_seconds = 0
    for _ in range(40):
        await h.feed(chat.message(text="xyz"), drain=False)
    await h.drain()
    texts = chat.texts()[before:]
    assert "quá nhanh" in texts[0]
    assert sum(NOT_UNDERSTOOD in t for t in texts) == 1
    assert len(texts) == 3  # the warning, one "not understood", one menu


async def test_updates_delivered_again_do_not_count_as_a_flood(harness):
    h = harness
    chat = await register(h, 501)
    h.think_seconds = 0
    updates = [chat.message(text="/help") for _ in range(20)]
    for update in updates + updates:  # a platform that delivers every update twice
        await h.feed(update)
    texts = chat.texts()
    assert not any("quá nhanh" in t for t in texts)
    assert sum("Các lệnh dành cho vai trò" in t for t in texts) == 20


# --- steps processed together ------------------------------------------------------------------

async def help_in_one_batch(h, chats) -> list[Inbound]:
    """/help from each chat, received together (so processed as one batch), and answered."""
    events = [Inbound("telegram", f"u{c.user_id}", str(c.user_id), str(c.user_id), text="/help",
                      message_id=9000 + n) for n, c in enumerate(chats)]
    await h.runtime.receive(events)
    await h.drain()
    return events


async def test_a_failing_step_is_undone_alone_and_the_others_of_its_batch_commit(harness,
                                                                                  monkeypatch):
    h = harness
    chats = [await register(h, 501 + n) for n in range(3)]
    real_handle = core.handle

    async def handle_failing_for_502(event, tx, config, now):
        if event.user_id == "502":
            await tx.audit.record("test", "written before the failure", now)
            raise RuntimeError("a bug in this step")
        return await real_handle(event, tx, config, now)

    monkeypatch.setattr(core, "handle", handle_failing_for_502)
    events = await help_in_one_batch(h, chats)
    assert "Các lệnh dành cho vai trò" in chats[0].last().text
    assert "hệ thống gặp sự cố" in chats[1].last().text
    assert "Các lệnh dành cho vai trò" in chats[2].last().text
    async with h.runtime.db.read() as tx:
        assert await tx.inbox.waiting() == []
        assert all([await tx.updates.seen("telegram", e.update_id) for e in events])
        undone = await tx.conn.execute_fetchall(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'written before the failure'")
    assert undone[0][0] == 0


async def test_a_step_ended_by_another_transaction_is_tried_again_without_an_apology(
        harness, monkeypatch):
    """PostgreSQL ends one of two deadlocked transactions (a step batch and the delivery
    worker's record, say): the step is not at fault, so its batch is rolled back and tried
    again, and the person gets the answer, not "something went wrong"."""
    h = harness
    chats = [await register(h, 501 + n) for n in range(2)]
    real_handle, ended = core.handle, []

    async def handle_ended_once_for_502(event, tx, config, now):
        if event.user_id == "502" and not ended:
            ended.append(event.update_id)
            await tx.audit.record("test", "written before the deadlock", now)
            raise Contention("deadlock detected")
        return await real_handle(event, tx, config, now)

    monkeypatch.setattr(core, "handle", handle_ended_once_for_502)
    await help_in_one_batch(h, chats)
    assert ended == ["u502"]
    for chat in chats:
        assert [t for t in chat.texts() if "hệ thống gặp sự cố" in t] == []
        assert "Các lệnh dành cho vai trò" in chat.last().text
    async with h.runtime.db.read() as tx:
        assert await tx.inbox.waiting() == []
        undone = await tx.conn.execute_fetchall(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'written before the deadlock'")
    assert undone[0][0] == 0


async def test_a_burst_in_one_chat_does_not_hold_up_another_chat(harness):
    h = harness
    busy, other = await register(h, 501), await register(h, 502)
    async with h.runtime.db.read() as tx:
        before = (await tx.conn.execute_fetchall("SELECT MAX(id) FROM outbox"))[0][0]
    commands = ["/help", "/myreports", "/report", "/difficulty", "/cancel"]
    burst = [Inbound("telegram", f"b{n}", "501", "501", text=text, message_id=9000 + n)
             for n, text in enumerate(commands)]
    one = Inbound("telegram", "o1", "502", "502", text="/help", message_id=9100)
    await h.runtime.receive([*burst, one])
    async with h.runtime.db.read() as tx:
        rows = await tx.conn.execute_fetchall(
            "SELECT chat_id FROM outbox WHERE id > ? ORDER BY id", (before,))
    queued = [row[0] for row in rows]
    # The other chat's answer is queued with the burst's first, not behind all five.
    assert queued[:2] == ["501", "502"] and queued.count("502") == 1
    assert len(queued) >= 6
    await h.drain()
    assert "Các lệnh dành cho vai trò" in other.last().text
    assert "Các lệnh dành cho vai trò" in busy.texts()[-len(queued) + 1]
