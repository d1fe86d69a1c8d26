"""Difficulties: a two-way thread with deadlines, through the real Telegram Application."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from storage.models import Role
from tests.telegram_fakes import register

HANOI = ZoneInfo("Asia/Ho_Chi_Minh")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in March 2026, Hà Nội time (the 10th is a Tuesday)."""
    return datetime(2026, 3, day, hour, minute, tzinfo=HANOI).astimezone(UTC)


@pytest.fixture
async def people(harness):
    h = harness
    h.clock.now = at(10, 9)
    h.officer = await register(h, 501, "Trần Thị Bình", unit="Q-LECHAN")
    h.colleague = await register(h, 502, "Đỗ Văn Cần", unit="Q-LECHAN")
    h.outsider = await register(h, 601, "Ngô Thị Dung", unit="Q-NGOQUYEN")
    h.coordinators = [await register(h, 301, "Phạm Văn Điều", Role.COORDINATOR, "SO-TTTT"),
                      await register(h, 302, "Vũ Thị Hà", Role.COORDINATOR, "SO-TTTT")]
    h.leader = await register(h, 401, "Lê Văn Lãnh", Role.LEADER, unit=None)
    h.group = h.chat(-100900)
    h.think_seconds = 60
    return h


async def report_difficulty(chat, urgent=False):
    await chat.say("/difficulty")
    await chat.say("Thiếu kinh phí in tài liệu tuyên truyền cho 12 phường")
    await chat.press("Kinh phí")
    await chat.press("Khẩn" if urgent else "Bình thường")
    await chat.say("Đề nghị hỗ trợ 20 triệu đồng")
    await chat.press("Bỏ qua")
    await chat.press("Xác nhận")
    text = chat.last().text
    assert "KK-2026-0001" in text
    return "KK-2026-0001"



@pytest.mark.sqlite_only("counts hops to aiosqlite's thread; asyncpg has none")
async def test_a_difficulty_and_its_handling_take_at_most_one_hop_to_the_database_thread(
        people, thread_hops):
    """Reporting it, taking it up and answering it: each step's SQL runs on the loop's own
    thread (see test_reports: one hop costs more than the statements)."""
    h, chat = people, people.officer
    hops = await thread_hops.each([
        lambda: chat.say("/difficulty"), lambda: chat.say("Thiếu kinh phí in tài liệu"),
        lambda: chat.press("Kinh phí"), lambda: chat.press("Bình thường"),
        lambda: chat.say("Đề nghị hỗ trợ"), lambda: chat.press("Bỏ qua"),
        lambda: chat.press("Xác nhận")])
    assert "KK-2026-0001" in chat.last().text
    coordinator = h.coordinators[0]
    hops += await thread_hops.each([
        lambda: coordinator.press("Tiếp nhận"), lambda: coordinator.press("Trả lời"),
        lambda: coordinator.say("Sở sẽ đề xuất bổ sung kinh phí")])
    assert "Sở sẽ đề xuất bổ sung kinh phí" in chat.last().text
    assert max(hops) <= 1, hops

def texts(chat, needle):
    return [t for t in chat.texts() if needle in t]


async def test_thread_report_answer_reply_resolve_reopen(people):
    h = people
    number = await report_difficulty(h.officer)
    for chat in (*h.coordinators, h.group):
        push = chat.last()
        assert "Khó khăn, vướng mắc mới" in push.text and number in push.text
        assert "Đề xuất: Đề nghị hỗ trợ 20 triệu đồng" in push.text
        assert [label for label, _ in push.buttons] == [
            "Tiếp nhận", "Trả lời", "Xác nhận đã giải quyết", "Trình lãnh đạo xem xét"]
    assert not texts(h.leader, number)

    first, second = h.coordinators
    await first.press("Tiếp nhận")
    assert "đã tiếp nhận" in h.officer.last().text and "đã tiếp nhận" in h.colleague.last().text
    await second.press("Tiếp nhận")  # the other coordinator's button is now stale
    assert "không thực hiện được" in second.last().text

    await first.press("Trả lời")
    await first.say("Sở sẽ đề xuất bổ sung kinh phí trong quý II")
    assert "Đã gửi câu trả lời" in first.last().text
    for officer in (h.officer, h.colleague):
        assert "Sở sẽ đề xuất bổ sung kinh phí" in officer.last().text
    assert not texts(h.outsider, number)

    await h.colleague.press("Phản hồi")
    await h.colleague.say("Cảm ơn Sở, đơn vị chờ hướng dẫn")
    for coordinator in h.coordinators:
        assert "phản hồi về" in coordinator.last().text
        assert "đơn vị chờ hướng dẫn" in coordinator.last().text

    await second.press("Xác nhận đã giải quyết")  # asked once more before the unit is told
    assert "đã được xác nhận đã giải quyết" not in h.officer.last().text
    await second.press("Xác nhận đã giải quyết")
    assert "đã được xác nhận đã giải quyết" in h.officer.last().text
    await h.officer.press("Đề nghị xem xét lại")
    await h.officer.say("Đến nay vẫn chưa nhận được kinh phí")
    assert "đề nghị xem xét lại" in first.last().text
    assert "Đề nghị xem xét lại" in h.group.last().text or "xem xét lại" in h.group.last().text

    await first.say("/difficulties")
    listing = first.last().text
    assert number in listing and "chờ tiếp nhận" in listing
    await first.press(number)
    thread = first.last().text
    for event in ("phản ánh", "đã tiếp nhận", "đã trả lời", "phản hồi", "đã giải quyết",
                  "đề nghị xem xét lại"):
        assert event in thread, event
    await h.officer.say("/myreports")
    assert number in h.officer.last().text


async def test_roles_and_forged_buttons(people):
    h = people
    await report_difficulty(h.officer)
    async with h.runtime.db.transaction() as tx:
        difficulty_id = (await tx.difficulties.awaiting())[0].id
    coordinator = h.coordinators[0]
    # Forged presses come on an old message of the chat, not on the difficulty's own.
    welcome = h.request.sent(coordinator.chat_id)[0]
    await coordinator.press_data(f"kk:ret:{difficulty_id}", welcome)  # a leader's action
    assert "không thực hiện được" in coordinator.last().text
    await h.outsider.press_data(f"kk:open:{difficulty_id}")
    assert "không có quyền xem" in h.outsider.last().text
    await h.officer.press_data(f"kk:res:{difficulty_id}")
    assert "không thực hiện được" in h.officer.last().text
    await h.leader.press_data(f"kk:ans:{difficulty_id}")  # not escalated: not the leader's yet
    assert "không thực hiện được" in h.leader.last().text
    await coordinator.press_data("kk:zzz:abc", welcome)
    assert "không có quyền xem" in coordinator.last().text

    await coordinator.press("Trình lãnh đạo xem xét")
    assert "trình lãnh đạo" in h.officer.last().text
    assert "Trình lãnh đạo xem xét" not in [label for label, _ in coordinator.last().buttons]
    await coordinator.press_data(f"kk:ans:{difficulty_id}", welcome)  # the leaders' now
    assert "không thực hiện được" in coordinator.last().text
    push = h.leader.last()
    assert "trình lãnh đạo xem xét, giải quyết" in push.text
    await h.leader.press("Chuyển lại cán bộ tổng hợp")
    await h.leader.say("Đề nghị Sở làm việc với Sở Tài chính")
    assert "Đề nghị Sở làm việc với Sở Tài chính" in coordinator.last().text
    await coordinator.press("Trả lời")
    await coordinator.say("Đã làm việc với Sở Tài chính")
    assert "Đã làm việc với Sở Tài chính" in h.officer.last().text


async def test_escalation_by_deadline_in_working_hours_never_twice(people):
    h = people
    h.clock.now = at(13, 16)  # Friday 16:00
    await report_difficulty(h.officer)
    h.think_seconds = 0

    # Sent at about 16:07 on Friday: 53 working minutes that day, then 9 hours a working day.
    await h.tick_at(at(14, 10))  # Saturday: no working time
    assert not texts(h.coordinators[0], "Chưa tiếp nhận")
    await h.tick_at(at(16, 15, 30))  # Monday 15:30: 0.9 + 7.5 hours, one working day not yet up
    assert not texts(h.coordinators[0], "Chưa tiếp nhận")
    await h.tick_at(at(16, 16, 30))
    assert len(texts(h.coordinators[0], "Chưa tiếp nhận")) == 1
    await h.restart()
    await h.tick_at(at(17, 9, 0))
    assert len(texts(h.coordinators[0], "Chưa tiếp nhận")) == 1

    await h.tick_at(at(20, 15, 0))  # Friday 15:00: 0.9 + 4 x 9 + 7 = 43.9 working hours
    assert not texts(h.leader, "trình lãnh đạo xem xét, giải quyết")
    await h.tick_at(at(20, 18, 0))  # past 45 hours, but after office hours: it waits
    assert not texts(h.leader, "trình lãnh đạo xem xét, giải quyết")
    await h.tick_at(at(23, 8, 0))  # Monday 08:00
    assert len(texts(h.leader, "quá thời hạn trả lời")) == 1
    assert "đã được trình lãnh đạo" in h.officer.last().text
    await h.tick_at(at(24, 9, 0))
    assert len(texts(h.leader, "trình lãnh đạo xem xét, giải quyết")) == 1


async def test_urgent_difficulty_has_short_deadlines(people):
    h = people
    h.clock.now = at(10, 9)
    await report_difficulty(h.officer, urgent=True)
    assert "🔴" in h.coordinators[0].last().text
    h.think_seconds = 0
    h.clock.now = at(10, 11, 10)  # sent at about 09:07; two working hours later
    await h.runtime.tick()
    await h.drain()
    assert len(texts(h.coordinators[0], "Chưa tiếp nhận")) == 1
    h.clock.now = at(11, 9, 10)
    await h.runtime.tick()
    await h.drain()
    assert len(texts(h.leader, "quá thời hạn trả lời")) == 1


async def test_proposal_shown_and_clock_escalation_told_to_coordinators(people):
    h = people
    number = await report_difficulty(h.officer, urgent=True)
    h.think_seconds = 0
    await h.tick_at(at(11, 10))  # nine working hours later, still unanswered: to the leaders
    for_leader = texts(h.leader, number)
    assert len(for_leader) == 1 and "Đề xuất: Đề nghị hỗ trợ 20 triệu đồng" in for_leader[0]
    for chat in (*h.coordinators, h.group):  # the coordinators learn it left their hands
        told = texts(chat, "lãnh đạo")
        assert told and number in told[-1] and "quá thời hạn" in told[-1]
    difficulty_id = int(h.leader.last().buttons[0][1].rsplit(":", 1)[1])
    await h.coordinators[0].press_data(f"kk:open:{difficulty_id}")
    view = h.coordinators[0].last().text
    assert "Đề xuất: Đề nghị hỗ trợ 20 triệu đồng" in view
    escalated = [line for line in view.splitlines() if "trình lãnh đạo" in line]
    assert escalated and "—" not in escalated[0] and "overdue" not in view
    assert "quá thời hạn trả lời" in view
