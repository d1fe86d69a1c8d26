"""The coordinator's desk: /status, digests with a chart, and the workbook, checked against data
built by driving the conversations."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from storage.models import Role
from tests.telegram_fakes import register

HANOI = ZoneInfo("Asia/Ho_Chi_Minh")


def at(month: int, day: int, hour: int = 9) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=HANOI).astimezone(UTC)


async def submit(chat, kind_label, *answers, presses=()):
    await chat.say("/report")
    await chat.press(kind_label)
    for press in presses:
        await chat.press(press)
    for answer in answers:
        await chat.say(answer)
    await chat.press("Bỏ qua")
    await chat.press("Xác nhận")
    assert "Đã tiếp nhận báo cáo" in chat.last().text, chat.last().text


@pytest.fixture
async def desk(harness):
    """Two districts report, one of them its annual report on time; one difficulty."""
    h = harness
    h.clock.now = at(3, 10)
    h.coordinator = await register(h, 301, "Phạm Văn Điều", Role.COORDINATOR, "SO-TTTT")
    le_chan = await register(h, 501, "Trần Thị Bình", unit="Q-LECHAN")
    ngo_quyen = await register(h, 502, "Đỗ Văn Cần", unit="Q-NGOQUYEN")
    await submit(le_chan, "Hoạt động tuyên truyền", "02/03/2026", "Nhân dân", "1.200",
                 "Phát thanh", presses=["Loa truyền thanh cơ sở"])
    await submit(ngo_quyen, "Hoạt động tuyên truyền", "03/03/2026", "Học sinh", "300",
                 "Cuộc thi", presses=["Cuộc thi"])
    await submit(ngo_quyen, "Mô hình, điển hình", "Tổ dân phố kiểu mẫu",
                 "Phường Lạch Tray", "01/01/2026", "Tự quản", "Giảm vi phạm")
    await le_chan.press_data("rp:2026", le_chan.last())
    for answer in ("Đạt kế hoạch", "Thiếu kinh phí"):
        await le_chan.say(answer)
    await le_chan.press("Bỏ qua")
    await le_chan.press("Bỏ qua")
    await le_chan.press("Xác nhận")
    await le_chan.say("/difficulty")
    await le_chan.say("Chưa có tài liệu hướng dẫn")
    await le_chan.press("Kế hoạch, hướng dẫn")
    await le_chan.press("Bình thường")
    await le_chan.press("Bỏ qua")
    await le_chan.press("Bỏ qua")
    await le_chan.press("Xác nhận")
    return h


async def test_status_counts(desk):
    await desk.coordinator.say("/status")
    text = desk.coordinator.last().text
    annual = text.split("Báo cáo định kỳ</b>")[1].split("\n\n")[0]
    assert "1/44 đơn vị đã gửi (2,3%), 1 đơn vị đúng hạn (2,3%)" in annual
    assert "Quận, huyện: 14" in annual and "Sở, ban, ngành: 20" in annual
    assert "dưới 1 tuần: 1" in text
    await desk.coordinator.press("Chưa gửi: Báo cáo định kỳ")
    missing = desk.coordinator.last().text
    assert "Q-NGOQUYEN" in missing and "Q-LECHAN" not in missing


async def test_digest_now_with_chart(desk):
    await desk.coordinator.say("/digest")
    await desk.jobs_done()  # the chart is drawn in the background
    sent = [c for c in desk.request.calls if c.chat_id == "301"]
    photo = sent[-1]
    assert photo.method == "sendPhoto"
    text = photo.params.get("caption") or sent[-2].text  # a short digest is the chart's caption
    assert "<b>4 báo cáo mới</b>" in text
    assert "Hoạt động tuyên truyền — Quận, huyện: 2" in text
    assert "Tổ dân phố kiểu mẫu (Ủy ban nhân dân quận Ngô Quyền)" in text
    assert "phản ánh mới: 1" in text
    data = next(iter(photo.params["_files"].values()))
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


async def test_scheduled_digests_once_per_slot_and_caught_up(desk):
    coordinator = desk.coordinator
    desk.think_seconds = 0

    def digests():
        return [t for t in coordinator.texts() if t.startswith("<b>Bản tin tổng hợp</b>")]

    await desk.tick_at(at(3, 11, 7))  # Wednesday before 08:00: not yet
    assert digests() == []
    await desk.tick_at(at(3, 11, 8))
    assert len(digests()) == 1
    await desk.restart()
    await desk.tick_at(at(3, 11, 15))
    assert len(digests()) == 1  # never twice for the same slot
    await desk.tick_at(at(3, 12, 9))  # Thursday: nothing new since yesterday, so no daily digest
    assert len(digests()) == 1
    await desk.tick_at(at(3, 16, 10))  # Monday: the weekly digest, with its chart
    await desk.jobs_done()
    assert len(digests()) == 2
    assert [c for c in desk.request.calls if c.chat_id == "301"][-1].method == "sendPhoto"


async def test_workbook_for_the_period(desk):
    await desk.coordinator.say("/export")
    await desk.coordinator.press("Năm 2026")
    assert "Đang chuẩn bị bảng tính" in desk.coordinator.last().text
    await asyncio.wait_for(desk.runtime._jobs, 30)
    await desk.drain()
    document = [c for c in desk.request.calls if c.chat_id == "301"][-1]
    assert document.method == "sendDocument"
    assert "Bảng tính năm 2026: 4 báo cáo." in document.params["caption"]
    path = next(Path(desk.settings.database_path).parent.glob("files/*.xlsx"))
    book = openpyxl.load_workbook(path, read_only=True)
    assert book.sheetnames[0] == "Tổng hợp"
    dissemination = list(book["Tuyên truyền"].iter_rows(values_only=True))
    assert dissemination[0][:3] == ("Số", "Mã đơn vị", "Đơn vị")
    assert {row[1] for row in dissemination[1:]} == {"Q-LECHAN", "Q-NGOQUYEN"}
    reached = dissemination[0].index("Số lượt người tiếp cận")
    assert sorted(row[reached] for row in dissemination[1:]) == [300, 1200]
    totals: dict = {}
    for row in book["Tổng hợp"].iter_rows(values_only=True):
        if row[0]:  # the report kinds come first; an obligation may share a kind's name
            totals.setdefault(row[0], row[1])
    assert totals["Hoạt động tuyên truyền"] == 2 and totals["Báo cáo định kỳ"] == 1
    assert totals["Số lượt người được tuyên truyền trong kỳ"] == 1500
    difficulties = list(book["Khó khăn, vướng mắc"].iter_rows(values_only=True))
    assert difficulties[1][0] == "KK-2026-0001" and "phản ánh" in difficulties[1][-1]
    completeness = list(book["Tiến độ báo cáo"].iter_rows(values_only=True))
    le_chan = [r for r in completeness if r[3] == "Q-LECHAN" and r[0] == "Báo cáo định kỳ"]
    assert le_chan[0][6:] == ("Có", "Có")


async def test_digest_hour_is_the_coordinators_choice(desk):
    coordinator = desk.coordinator
    await coordinator.say("/settings")
    await coordinator.press("Nhận lúc 13:00")
    assert "lúc 13:00" in coordinator.last().text
    desk.think_seconds = 0

    def digests():
        return [t for t in coordinator.texts() if t.startswith("<b>Bản tin tổng hợp</b>")]

    await desk.tick_at(at(3, 10, 12))  # the reports came in this morning; not yet 13:00
    assert digests() == []
    await desk.tick_at(at(3, 10, 13))
    assert len(digests()) == 1 and "<b>4 báo cáo mới</b>" in digests()[0]


async def test_leaders_choose_to_receive_digests(desk):
    leader = await register(desk, 401, "Lê Văn Lãnh", Role.LEADER, unit=None)
    desk.think_seconds = 0

    def digests():
        return [c for c in desk.request.calls if c.chat_id == "401" and (
            c.method == "sendPhoto" or c.params.get("text", "").startswith("<b>Bản tin tổng hợp"))]

    await leader.say("/settings")
    settings = leader.last()
    assert settings.text.count("⬜") == 2
    assert "✅" not in settings.text and "mỗi báo cáo mới" not in settings.text
    assert not any(data.startswith("set:each") for _label, data in settings.buttons)
    await desk.tick_at(at(3, 11, 9))
    await desk.tick_at(at(3, 16, 10))
    assert digests() == []  # not chosen yet, though the coordinator gets them

    await leader.press_data("set:weekly:on")
    assert leader.last().text.count("✅") == 1
    await leader.press_data("set:each:on")
    assert leader.last().text == "Nút bấm này không hợp lệ."
    await desk.tick_at(at(3, 23, 10))  # the next Monday: the weekly digest, with its chart
    await desk.jobs_done()  # the chart is drawn in the background
    sent = digests()
    assert [c.method for c in sent] in (["sendPhoto"], ["sendMessage", "sendPhoto"])
