"""The outbox and its delivery worker: failures, limits, restarts."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import UTC, datetime

import pytest
from telegram import Bot, Message

from bot import delivery
from bot.delivery import ChannelLimits, DeliveryWorker, Recording, TransientSendError, compose
from bot.telegram import TelegramSender
from bot.zalo import ZaloClient, ZaloSender
from handlers import core
from handlers.types import Attachment, Choice, Outgoing, Reply
from storage.conversations import OutboxRepo
from storage.db import BatchCommitError, Database
from storage.messages import Edit, Files, Text
from tests.telegram_fakes import register

START = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)


async def queue(h, chat_id: str, *texts: str) -> None:
    async with h.runtime.db.transaction() as tx:
        await h.runtime.write(tx, [Outgoing("telegram", chat_id, Reply(t)) for t in texts],
                              h.clock())


async def statuses(h) -> dict[str, int]:
    async with h.runtime.db.transaction() as tx:
        return await tx.outbox.counts()


async def test_blocked_user_is_marked_unreachable(harness):
    admin = harness.chat(1)
    await admin.say("/start")
    harness.request.script.append(("sendMessage", 403, "Forbidden: bot was blocked by the user",
                                   None))
    await queue(harness, "1", "Thông báo")
    await harness.drain()
    assert (await statuses(harness)).get("unreachable") == 1
    async with harness.runtime.db.transaction() as tx:
        contact = await tx.contacts.by_identity("telegram", "1")
        assert not (await tx.contacts.identities(contact.id))[0].reachable
        assert await tx.contacts.reachable_identities(roles=[contact.role]) == []
    # Writing to the bot again makes the person reachable again.
    await admin.say("/help")
    async with harness.runtime.db.transaction() as tx:
        assert (await tx.contacts.identities(contact.id))[0].reachable


async def test_chat_not_found_is_unreachable_other_refusals_fail(harness):
    harness.request.script += [("sendMessage", 400, "Bad Request: chat not found", None),
                               ("sendMessage", 400, "Bad Request: can't parse entities", None)]
    await queue(harness, "42", "một")
    await queue(harness, "43", "hai")
    await harness.drain()
    assert await statuses(harness) == {"unreachable": 1, "failed": 1}


async def test_retry_after_is_honoured(harness):
    harness.request.script.append(("sendMessage", 429, "Too Many Requests: retry after 1", 1))
    await queue(harness, "7", "Nhắc hạn")
    await harness.drain()
    assert await statuses(harness) == {"pending": 1}
    assert harness.request.sent("7") == []
    harness.clock.advance(seconds=1)
    began = time.monotonic()
    await harness.drain()
    assert time.monotonic() - began >= 0.5  # the whole channel paused as Telegram asked
    assert [s.text for s in harness.request.sent("7")] == ["Nhắc hạn"]
    assert await statuses(harness) == {"sent": 1}


async def test_server_errors_are_retried_with_backoff(harness):
    harness.request.script += [("sendMessage", 502, "Bad Gateway", None),
                               ("sendMessage", 500, "Internal Server Error", None)]
    await queue(harness, "8", "Báo cáo")
    await harness.drain()
    harness.clock.advance(seconds=2)
    await harness.drain()
    assert await statuses(harness) == {"pending": 1}
    harness.clock.advance(seconds=5)
    await harness.drain()
    assert await statuses(harness) == {"sent": 1}
    assert len(harness.request.sent("8")) == 1


async def test_restart_delivers_pending_rows_once(harness):
    await queue(harness, "9", "một", "hai", "ba")
    await harness.restart()  # nothing was delivered before the "crash"
    assert harness.request.sent("9") == []
    await harness.drain()
    assert [s.text for s in harness.request.sent("9")] == ["một", "hai", "ba"]
    await harness.restart()
    await harness.drain()
    assert len(harness.request.sent("9")) == 3


async def test_an_outcome_that_cannot_be_recorded_at_once_is_recorded_later_not_sent_again(
        harness, monkeypatch, caplog):
    """A send whose outcome fails to commit (PostgreSQL ending a deadlocked transaction, a
    server restarting) keeps its row claimed and commits the outcome again: the message is not
    sent a second time."""
    monkeypatch.setattr(delivery, "RECORD_PAUSE", 0.01)
    record = delivery.record_outcomes
    failures = iter([sqlite3.OperationalError("deadlock detected")])

    def flaky_record(*args):
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return record(*args)

    monkeypatch.setattr(delivery, "record_outcomes", flaky_record)
    await queue(harness, "9", "một")
    await harness.drain()
    await harness.drain()
    assert [s.text for s in harness.request.sent("9")] == ["một"]
    assert await statuses(harness) == {"sent": 1}
    assert "could not record the outcome of 1 outbox rows (try 1 of 5)" in caplog.text


async def test_long_text_is_split_on_lines(harness):
    lines = [f"Dòng {n:04d} " + "x" * 80 for n in range(120)]
    await queue(harness, "10", "\n".join(lines))
    await harness.drain()
    parts = [s.text for s in harness.request.sent("10")]
    assert len(parts) == 3 and all(len(p) <= 4096 for p in parts)
    assert "\n".join(parts) == "\n".join(lines)


class TimedSender:
    channel = "telegram"

    def __init__(self, limits: ChannelLimits):
        self.limits = limits
        self.log: list[tuple[float, str, str]] = []
        self.fail_first = 0

    def is_group(self, chat_id: str) -> bool:
        return chat_id.startswith("-")

    async def send(self, chat_id: str, message: Text) -> str | None:
        if self.fail_first:
            self.fail_first -= 1
            raise TransientSendError("timed out")
        await asyncio.sleep(0.005)
        self.log.append((time.monotonic(), chat_id, message.text))
        return None


async def fill(db, rows: list[tuple[str, str]]) -> None:
    async with db.transaction() as tx:
        for chat_id, text in rows:
            tx.outbox.add("telegram", chat_id, None, Text(text), START)


async def test_limits_per_chat_and_overall_keep_order(db):
    sender = TimedSender(ChannelLimits(per_second=200, chat_per_second=20, chat_burst=1))
    worker = DeliveryWorker(db, sender, now=lambda: START)
    await fill(db, [("5", f"m{n}") for n in range(10)] + [(str(100 + n), "x") for n in range(40)])
    await worker.drain()
    one_chat = [stamp for stamp, chat, _text in sender.log if chat == "5"]
    assert [text for _s, chat, text in sender.log if chat == "5"] == [f"m{n}" for n in range(10)]
    gaps = [b - a for a, b in zip(one_chat, one_chat[1:], strict=False)]
    assert min(gaps) >= 1 / 20 * 0.8  # never faster than the chat's limit
    everything = [stamp for stamp, _c, _t in sender.log]
    assert everything[-1] - everything[0] >= (50 - 1) / 200 * 0.8  # nor the overall one


async def test_a_reply_overtakes_the_reminders_queued_before_it_even_in_its_own_chat(db):
    """The morning's reminders to many chats (bulk) are queued, then a person who is filling a
    form gets the next question: it goes out first, not after the reminders (in id order at
    30 a second), nor after the reminder waiting in the person's own chat. Each lane keeps its
    order."""
    sender = TimedSender(ChannelLimits(per_second=200))
    worker = DeliveryWorker(db, sender, now=lambda: START)
    async with db.transaction() as tx:
        for chat_id in ["5", *(str(100 + n) for n in range(40))]:
            tx.outbox.add("telegram", chat_id, None, Text(f"nhắc hạn {chat_id}"), START,
                          bulk=True)
        tx.outbox.add("telegram", "5", None, Text("nhắc lần hai 5"), START, bulk=True)
        tx.outbox.add("telegram", "5", None, Text("Câu hỏi 2"), START)
    await worker.drain()
    texts = [text for _s, _chat, text in sender.log]
    assert texts[0] == "Câu hỏi 2"
    assert [t for _s, chat, t in sender.log if chat == "5"] == [
        "Câu hỏi 2", "nhắc hạn 5", "nhắc lần hai 5"]
    assert len(texts) == 43


async def test_slow_commits_never_leave_more_than_a_few_sends_unrecorded(db, monkeypatch):
    """However slow the commits of outcomes, at most `concurrency` messages are sent and not
    yet recorded at any moment: all that a crash could make the next process send again."""
    limits = ChannelLimits(per_second=1000, concurrency=4)
    sender = TimedSender(limits)
    worker = DeliveryWorker(db, sender, now=lambda: START)
    commit_with, recorded, most = db.commit_with, [0], [0]

    async def slow_commit_with(fn, *args):
        await asyncio.sleep(0.05)
        result = await commit_with(fn, *args)
        recording = getattr(fn, "__self__", None)  # Recording.write
        if isinstance(recording, Recording):
            recorded[0] += sum(outcome[0] == "sent" for _row, outcome in recording.batch)
        return result

    monkeypatch.setattr(db, "commit_with", slow_commit_with)
    real_send = sender.send

    async def counting_send(chat_id, message):
        most[0] = max(most[0], len(sender.log) + 1 - recorded[0])
        return await real_send(chat_id, message)

    sender.send = counting_send
    await fill(db, [(str(100 + n), "x") for n in range(40)])
    await worker.drain()
    assert len(sender.log) == 40 and recorded[0] == 40
    assert most[0] <= limits.concurrency, most[0]


async def test_group_chats_have_their_own_limit(db):
    sender = TimedSender(ChannelLimits(per_second=1000, group_per_minute=600, group_burst=1,
                                       chat_per_second=1000, chat_burst=1000))
    worker = DeliveryWorker(db, sender, now=lambda: START)
    await fill(db, [("-100", f"g{n}") for n in range(5)] + [("5", f"p{n}") for n in range(5)])
    await worker.drain()
    group = [stamp for stamp, chat, _t in sender.log if chat == "-100"]
    private = [stamp for stamp, chat, _t in sender.log if chat == "5"]
    assert group[-1] - group[0] >= 4 * 0.1 * 0.8  # 600 a minute = one per 0.1 s
    assert private[-1] - private[0] < group[-1] - group[0]


async def test_a_retried_message_keeps_its_place_in_the_chat(harness):
    harness.request.script.append(("sendMessage", 502, "Bad Gateway", None))
    await queue(harness, "11", "một", "hai")
    await harness.drain()
    assert harness.request.sent("11") == []  # "hai" waits behind "một", which waits to retry
    harness.clock.advance(seconds=5)
    await harness.drain()
    assert [s.text for s in harness.request.sent("11")] == ["một", "hai"]


# Rows as the outbox held them before messages were typed (migration 0020 rewrites them).
OLD_ROWS = [
    '{"text":"Chọn đơn vị","choices":[["u:1","Phường A"],["u:2","Phường B"]],'
    '"asks":"report:2","rid":"r-1"}',
    '{"text":"Đã chọn: Phường A","edit":"77"}',
    '{"attachment":{"kind":"document","file_id":"DOC-1","name":"bao-cao.xlsx","path":null},'
    '"text":"Bảng tổng hợp"}',
    '{"attachments":[{"kind":"photo","file_id":"P-1","name":null,"path":null},'
    '{"kind":"photo","file_id":"P-2","name":null,"path":null}]}',
]


@pytest.mark.sqlite_only("rows written by SQLite's version 19 (PostgreSQL starts at 22)")
async def test_rows_queued_before_the_upgrade_are_sent_as_typed_messages(harness, tmp_path):
    old = Database(tmp_path / "old.db")
    await old.open(migrate_to=19)
    async with old.transaction() as tx:
        for n, payload in enumerate(OLD_ROWS):
            await tx.conn.execute(
                "INSERT INTO outbox (channel, chat_id, payload, not_before, created_at) "
                "VALUES ('telegram', ?, ?, ?, ?)", (str(50 + n), payload, START.isoformat(),
                                                    START.isoformat()))
    await old.close()
    async with Database(tmp_path / "old.db") as new, new.read() as tx:
        rows = await tx.outbox.due("telegram", START)
    assert [(r.message, r.rid) for r in rows] == [
        (Text("Chọn đơn vị", (("u:1", "Phường A"), ("u:2", "Phường B")), "report:2"), "r-1"),
        (Edit("77", "Đã chọn: Phường A"), None),
        (Files((Attachment("document", "DOC-1", "bao-cao.xlsx"),), "Bảng tổng hợp"), None),
        (Files((Attachment("photo", "P-1"), Attachment("photo", "P-2"))), None)]
    sender = harness.runtime.workers["telegram"].sender
    ids = [await sender.send(row.chat_id, row.message) for row in rows]
    assert ids[1] == "77" and all(ids)
    calls = [(c.method, c.chat_id, c.text, c.buttons) for c in harness.request.calls
             if c.chat_id in ("50", "51", "52", "53")]
    assert calls == [
        ("sendMessage", "50", "Chọn đơn vị", [("Phường A", "u:1"), ("Phường B", "u:2")]),
        ("editMessageText", "51", "Đã chọn: Phường A", []),
        ("sendDocument", "52", "Bảng tổng hợp", []),
        ("sendMediaGroup", "53", "", [])]
    assert harness.request.calls[-1].media == ["P-1", "P-2"]


FILE = Attachment("document", "DOC-9", "ds.xlsx")
OK = (Choice("ok", "Đồng ý"),)


@pytest.mark.parametrize(("reply", "limits", "expected"), [
    # One file and a text short enough to be its caption: one message.
    (Reply("Bảng", (), (FILE,)), ChannelLimits(max_caption=10), [Files((FILE,), "Bảng")]),
    # The text longer than the channel's caption: the text, then the file.
    (Reply("x" * 11, (), (FILE,)), ChannelLimits(max_caption=10),
     [Text("x" * 11), Files((FILE,))]),
    # Choices keep the file apart (a file carries no buttons).
    (Reply("Bảng", OK, (FILE,)), ChannelLimits(), [Text("Bảng", (("ok", "Đồng ý"),)),
                                                   Files((FILE,))]),
])
def test_a_reply_is_cut_to_fit_the_channel(reply, limits, expected):
    assert compose(reply, limits) == expected


def test_a_long_reply_goes_in_parts_with_its_buttons_and_question_under_the_last():
    text = "một\n" + "hai " * 30
    parts = compose(Reply(text, OK, edit_message_id="5", asks="f:1"), ChannelLimits(max_text=60))
    assert parts[0] == Edit("5", "một")  # the edit of the earlier message comes first
    assert all(type(p) is Text and not p.choices and p.asks is None for p in parts[1:-1])
    assert (parts[-1].choices, parts[-1].asks) == ((("ok", "Đồng ý"),), "f:1")
    # Room is left under the last part for the choices a channel without buttons prints.
    assert all(len(p.text) <= 60 - len("Đồng ý") - 6 for p in parts)
    assert " ".join(p.text for p in parts).split() == text.split()



def test_each_channel_declares_its_own_pace_and_sizes():
    telegram = TelegramSender(Bot("1:B")).limits
    assert (telegram.per_second, telegram.chat_per_second, telegram.group_per_minute) == (
        29.7, 1.0, 20.0)  # Telegram's Bots FAQ: 30 a second, 1 a second in a chat, 20 a minute
    assert (telegram.max_text, telegram.max_caption) == (4096, 1024)
    # A pace tuned for a test keeps Telegram's sizes.
    assert TelegramSender(Bot("1:B"), ChannelLimits(per_second=5)).limits.max_text == 4096
    zalo = ZaloSender(ZaloClient("http://127.0.0.1:9", "1:Z"), per_second=7).limits
    assert (zalo.per_second, zalo.max_text) == (7, 2000)  # ZALO_PER_SECOND, Zalo's longest text

async def test_sends_read_only_the_message_id_without_building_telegram_objects(
        harness, monkeypatch):
    built = []
    real = Message.de_json.__func__

    def watch(cls, data, bot=None):
        built.append(data)
        return real(cls, data, bot)

    monkeypatch.setattr(Message, "de_json", classmethod(watch))
    photos = tuple(Attachment("photo", f"P-{n}") for n in range(3))
    await queue(harness, "61", "Xin chào")
    async with harness.runtime.db.transaction() as tx:
        await harness.runtime.write(tx, [
            Outgoing("telegram", "61", Reply("Ảnh", (), photos)),
            Outgoing("telegram", "61", Reply("Đã sửa", OK, edit_message_id="1000"))],
            harness.clock())
    await harness.drain()
    assert [c.method for c in harness.request.calls if c.chat_id == "61"] == [
        "sendMessage", "sendMessage", "sendMediaGroup", "editMessageText"]
    assert built == []
    assert (await statuses(harness)) == {"sent": 4}


# --- rows handed over by the steps that queue them ------------------------------------------------

async def test_rows_offered_go_without_a_read_unless_something_else_woke_the_worker(
        db, monkeypatch):
    """A batch of steps offers the rows it queued at the head of their chat's queue; the worker
    sends them without reading the outbox when nothing else may be waiting: at once when it
    runs in the background, else at its next pass. Anything else that wakes it (here a row
    cancelled by another transaction) makes it read, and what the read no longer finds
    pending is not sent, even by a send already started."""
    sender = TimedSender(ChannelLimits(per_second=1e6, chat_per_second=1e6, chat_burst=1000))
    worker = DeliveryWorker(db, sender, now=lambda: START)
    reads = []
    real_read = OutboxRepo.due_and_next

    async def counted_read(self, *args, **kwargs):
        reads.append(1)
        return await real_read(self, *args, **kwargs)

    monkeypatch.setattr(OutboxRepo, "due_and_next", counted_read)
    real_send, reads_at_send = sender.send, {}

    async def send(chat_id, message):
        reads_at_send[message.text] = len(reads)
        return await real_send(chat_id, message)

    sender.send = send
    await fill(db, [("5", "một")])
    await worker.drain()  # read: the worker has nothing left behind

    async def offered(text: str, at_once: bool) -> int:
        await fill(db, [("5", text)])
        async with db.read() as tx:
            await worker.offer(await tx.outbox.due("telegram", START), at_once)
        return len(reads)

    before = await offered("hai", at_once=False)
    await worker.drain()
    before_at_once = await offered("ba", at_once=True)
    await asyncio.sleep(0)
    assert "ba" in reads_at_send  # begun without a pass
    await worker.drain()
    await offered("bốn", at_once=True)  # started at once, and before it begins...
    worker.wake()  # ...a batch that cancels the row wakes the worker (Runtime._hand_over)
    async with db.transaction() as tx:
        await tx.outbox.cancel([("telegram", "5")])
    await worker.drain()
    assert [text for _s, _chat, text in sender.log] == ["một", "hai", "ba"]
    assert reads_at_send["hai"] == before and reads_at_send["ba"] == before_at_once
    async with db.transaction() as tx:
        assert await tx.outbox.counts() == {"sent": 3, "cancelled": 1}


@pytest.mark.sqlite_only("steps commit send outcomes only where one process alone sends; on "
                         "PostgreSQL the elected sender records its own")
async def test_outcomes_taken_by_a_step_that_fails_are_recorded_not_sent_again(
        harness, monkeypatch):
    """A step takes the send outcomes waiting, to commit them with its own writes; when the
    step's batch fails they go back to the worker, which records them: the message that went
    out is not sent a second time, and the failed message is answered when tried again."""
    h = harness
    chat = await register(h, 501)
    worker = h.runtime.workers["telegram"]
    sends = len(h.request.sent(chat.chat_id))
    real_handle = core.handle
    failures = [BatchCommitError("disk I/O error")]

    async def failing_handle(*args, **kwargs):
        # Inside the step's batch, which has taken the outcomes by then.
        if failures:
            raise failures.pop()
        return await real_handle(*args, **kwargs)

    monkeypatch.setattr(core, "handle", failing_handle)
    given_back = []
    real_give_back = worker.give_back
    monkeypatch.setattr(worker, "give_back",
                        lambda recording: (given_back.append(recording.batch),
                                           real_give_back(recording)))
    async with h.runtime.db.transaction() as tx:
        await h.runtime.write(tx, [Outgoing("telegram", str(chat.chat_id), Reply("Thông báo"))],
                              h.clock())
    sent = asyncio.Event()
    h.request.before_call = lambda _api, _params: sent.set()
    await worker.pump()
    await sent.wait()  # sent, its outcome not yet recorded
    await h.feed(chat.message(text="/help"), drain=False)
    assert not failures and len(given_back) == 1  # the step took the outcome, then failed
    await h.drain()
    texts = [s.text for s in h.request.sent(chat.chat_id)[sends:]]
    assert texts.count("Thông báo") == 1
    assert any("Các lệnh" in text for text in texts[1:])
    async with h.runtime.db.transaction() as tx:
        assert (await tx.outbox.counts()).get("pending", 0) == 0


@pytest.mark.sqlite_only("the rows a step inserted are told by SQLite's last_insert_rowid(); "
                         "on PostgreSQL the elected sender reads the outbox")
async def test_a_batch_reads_back_the_rows_it_queued_at_the_head_of_their_chat(db):
    """Of the rows a batch of steps queues, those at the head of their chat's queue come back
    with their ids and messages, for the delivery worker; a row behind another of its chat's
    does not, nor one to a chat whose earlier row is still waiting."""
    await fill(db, [("7", "chờ")])
    async with db.batch(heads=True) as batch:
        async with batch.step() as tx:
            for chat_id, text in [("5", "một"), ("5", "hai"), ("6", "ba"), ("7", "bốn")]:
                tx.outbox.add("telegram", chat_id, None, Text(text), START, rid=f"r-{text}")
    heads = batch.heads
    assert heads is not None
    assert [(row.chat_id, row.message, row.rid) for row in heads] == [
        ("5", Text("một"), "r-một"), ("6", Text("ba"), "r-ba")]
    async with db.read() as tx:
        due = {row.id: row.message for row in await tx.outbox.due("telegram", START)}
    assert {row.id: row.message for row in heads}.items() <= due.items()
