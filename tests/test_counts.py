"""Deadlines, periods and counts a coordinator can trust (issue 14, "Wrong results"), on the
shipped programme, driven through the conversations with a moving clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from bot.settings import load_settings
from bot.units_file import SAMPLE_UNITS, read_units_file
from locales.i18n import translator
from storage.models import Role
from tests.telegram_fakes import FakeClock, Harness, listed, register

HANOI = ZoneInfo("Asia/Ho_Chi_Minh")


def at(year: int, month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=HANOI).astimezone(UTC)


def reminders(chat) -> list[str]:
    return [t for t in chat.texts() if t.startswith(("⏰", "⚠️", "🔺"))]


@pytest.fixture
async def desk(tmp_path, request):
    """The shipped programme, the sample units, an officer of Lê Chân, a coordinator, a leader
    and the admin, on 20/11/2026 (or the day a test gives with indirect parametrize)."""
    settings = load_settings(database_path=tmp_path / "bot.db", admin_ids=[1],
                             telegram_bot_token="123:TEST", coordinator_chat_id=-100900)
    start = getattr(request, "param", at(2026, 11, 20))
    h = await Harness(settings, FakeClock(start)).start()
    async with h.runtime.db.transaction() as tx:
        await tx.units.upsert_many(read_units_file(SAMPLE_UNITS, translator("vi"), set()),
                                   h.clock())
    h.officer = await register(h, 501, "Trần Thị Bình", unit="Q-LECHAN")
    h.coordinator = await register(h, 301, "Phạm Văn Điều", Role.COORDINATOR, unit="SO-TTTT")
    h.leader = await register(h, 401, "Lê Văn Lãnh", Role.LEADER, unit=None)
    h.admin = h.chat(1, "Quản trị")
    await h.admin.say("/start")
    h.think_seconds = 0
    yield h
    await h.stop()


async def move_annual(h, new_date: str, reason: str = "Thành phố yêu cầu sớm hơn") -> None:
    await h.admin.say("/deadlines")
    await h.admin.press("Đổi hạn: Báo cáo định kỳ")
    await h.admin.say(new_date)
    await h.admin.say(reason)
    await h.admin.press("Xác nhận")


async def test_a_deadline_moved_earlier_keeps_its_reminders_and_units_are_told(desk):
    await move_annual(desk, "08/12/2026")
    assert "08/12/2026" in desk.admin.last().text
    told = desk.officer.last()
    assert "Báo cáo định kỳ" in told.text and "08/12/2026" in told.text
    assert "Thành phố yêu cầu sớm hơn" in told.text
    assert told.buttons == [("Báo cáo ngay", "rp:2026")]

    await desk.tick_at(at(2026, 11, 30))  # 8 days before the new deadline: nothing yet
    assert reminders(desk.officer) == []
    await desk.tick_at(at(2026, 12, 1))  # Tuesday, 7 days before
    assert "còn 7 ngày" in reminders(desk.officer)[-1]
    assert "08/12/2026" in reminders(desk.officer)[-1]
    await desk.tick_at(at(2026, 12, 5))  # Saturday: nothing goes out
    assert len(reminders(desk.officer)) == 1
    await desk.tick_at(at(2026, 12, 7))  # Monday, the day before: only the latest stage
    assert "còn 1 ngày" in reminders(desk.officer)[-1]
    await desk.tick_at(at(2026, 12, 8))
    assert "Hôm nay là hạn" in reminders(desk.officer)[-1]
    assert reminders(desk.coordinator) == []
    await desk.tick_at(at(2026, 12, 9))
    assert "quá hạn" in reminders(desk.officer)[-1] and "1 ngày" in reminders(desk.officer)[-1]
    assert len(reminders(desk.coordinator)) == 1 and reminders(desk.leader) == []
    await desk.tick_at(at(2026, 12, 14))  # Monday, 6 days late: now the leaders
    assert len(reminders(desk.leader)) == 1 and "6 ngày" in reminders(desk.leader)[0]
    assert len(reminders(desk.officer)) == 4


def status_block(text: str, name: str) -> str:
    """The lines of /status about one obligation."""
    part = text.split(f"<b>{name}</b>", 1)[1]
    return part.split("\n\n", 1)[0]


@pytest.mark.parametrize("desk", [at(2025, 12, 10)], indirect=True)
async def test_a_review_held_after_the_cut_off_but_before_its_deadline_counts(desk):
    await desk.coordinator.say("/status")
    assert "0/" in status_block(desk.coordinator.last().text, "Báo cáo sơ kết 3 năm")
    desk.clock.now = at(2025, 12, 17, 10)
    officer = desk.officer
    await officer.say("/report")
    await officer.press("Sơ kết, tổng kết")
    await officer.press("Sơ kết")
    await officer.say("17/12/2025")
    await officer.say("Hội nghị sơ kết 3 năm thực hiện Nghị quyết")
    await officer.press("Bỏ qua")
    await officer.press("Xác nhận")
    assert "Đã tiếp nhận báo cáo" in officer.last().text
    await desk.coordinator.say("/status")
    block = status_block(desk.coordinator.last().text, "Báo cáo sơ kết 3 năm")
    assert "19/12/2025" in block and "1/" in block and "1 đơn vị đúng hạn" in block
    for day in (18, 19, 22, 29):  # no reminder, no escalation for a unit that sent it
        await desk.tick_at(at(2025, 12, day))
    assert not [t for t in reminders(officer) if "sơ kết" in t]
    coordinator = desk.coordinator
    late, = [sent for sent in desk.request.sent(coordinator.chat_id) if sent.text.startswith(
        "⚠️") and "<b>Báo cáo sơ kết 3 năm</b> · giai đoạn 2023–2025" in sent.text]
    assert "<b>40 đơn vị</b>" in late.text and "Lê Chân" not in late.text
    units = await listed(coordinator, late)
    assert len(units) == 40 and "Q-LECHAN" not in units


@pytest.mark.parametrize("desk", [at(2026, 12, 18)], indirect=True)
async def test_status_and_deadlines_stay_on_the_overdue_year(desk):
    await desk.tick_at(at(2026, 12, 21))  # Monday: the 2026 annual report is overdue
    assert any("Báo cáo định kỳ" in t and "năm 2026" in t for t in reminders(desk.coordinator))
    await desk.coordinator.say("/status")
    block = status_block(desk.coordinator.last().text, "Báo cáo định kỳ")
    assert "năm 2026" in block and "19/12/2026" in block and "0/" in block
    await desk.admin.say("/deadlines")
    block = status_block(desk.admin.last().text, "Báo cáo định kỳ")
    assert "Năm 2026" in block or "năm 2026" in block
    assert "19/12/2026" in block
    await desk.tick_at(at(2027, 3, 1))  # the clock no longer chases it: the next year shows
    await desk.coordinator.say("/status")
    block = status_block(desk.coordinator.last().text, "Báo cáo định kỳ")
    assert "năm 2027" in block and "19/12/2027" in block


async def report_model(officer, started: str) -> None:
    await officer.say("/report")
    await officer.press("Mô hình, điển hình")
    for answer in ("Tổ dân phố kiểu mẫu", "Phường Lạch Tray", started, "Tự quản",
                   "Giảm vi phạm"):
        await officer.say(answer)
    await officer.press("Bỏ qua")
    await officer.press("Xác nhận")
    assert "được tính vào kỳ báo cáo năm 2026" in officer.last().text


async def send_periodic(officer, key: str = "2026") -> str:
    """The unit's periodic report with the figures as totalled; returns the summary shown."""
    await officer.say("/report")
    await officer.press("Báo cáo định kỳ")
    await officer.press_data(f"rp:{key}", officer.last())
    await officer.say("Đạt kế hoạch")
    await officer.say("Thiếu kinh phí")
    await officer.press("Bỏ qua")
    await officer.press("Bỏ qua")
    summary = officer.last().text
    await officer.press("Xác nhận")
    assert "Đã tiếp nhận báo cáo" in officer.last().text
    return summary


async def export_totals(h, button: str) -> dict:
    """The totals sheet of the spreadsheet the coordinator asks for: label -> (counted, sent)."""
    await h.coordinator.say("/export")
    await h.coordinator.press(button)
    await asyncio.wait_for(h.runtime._jobs, 30)
    await h.drain()
    path = max(Path(h.settings.database_path).parent.glob("files/*.xlsx"),
               key=lambda p: p.stat().st_mtime)
    book = openpyxl.load_workbook(path, read_only=True)
    return {row[0]: row[1:3] for row in book["Tổng hợp"].iter_rows(values_only=True) if row[0]}


MODELS = "Số mô hình sáng tạo, cách làm mới, điển hình tiên tiến được báo cáo trong kỳ"


async def test_a_good_model_counts_in_the_year_it_is_reported_everywhere(desk):
    await report_model(desk.officer, "01/06/2024")  # started in 2024, reported in 2026
    summary = await send_periodic(desk.officer)
    assert f"{MODELS}</b>: 1" in summary
    await desk.coordinator.say("/status")
    block = status_block(desk.coordinator.last().text, "Báo cáo định kỳ")
    assert f"{MODELS}: 1" in block
    totals = await export_totals(desk, "Năm 2026")
    assert totals[MODELS] == (1, 1)
    assert totals["Mô hình, điển hình"][0] == 1
    totals = await export_totals(desk, "Năm 2025")
    assert totals[MODELS] == (0, 0)


async def start_dissemination(officer) -> None:
    await officer.say("/report")
    await officer.press("Hoạt động tuyên truyền")
    await officer.press("Cuộc thi")
    await officer.say("02/11/2026")
    await officer.say("Học sinh")
    assert "lượt người được tiếp cận" in officer.last().text  # the question now on screen


async def test_a_number_after_menu_or_an_unknown_command_never_answers_a_hidden_form(desk):
    officer = desk.officer
    await start_dissemination(officer)
    await officer.say("/foo")  # unknown: the form's question is shown again, and answered
    assert "/foo" in officer.last().text and "lượt người được tiếp cận" in officer.last().text
    await officer.say("300")
    assert "lượt người được tiếp cận" not in officer.last().text
    await officer.say("/menu")
    assert "bản nháp" in officer.texts()[-2]
    menu = officer.last()
    assert menu.buttons[1][1] == "m:report"
    await officer.say("2")  # the second option of the menu on screen: a new report
    assert officer.last().buttons[0][1].startswith("rk:")
    async with desk.runtime.db.read() as tx:
        assert await tx.reports.count_in_period("2026", desk.clock().date(),
                                                desk.clock().date()) == 0
    await officer.press("Hoạt động tuyên truyền")
    await officer.press("Tiếp tục")  # the draft comes back where it stopped
    assert "Nội dung" in officer.last().text or "nội dung" in officer.last().text


def test_units_import_refuses_an_unknown_kind_and_list_names_the_kinds(tmp_path, capsys):
    from bot.cli import main

    (tmp_path / "units.csv").write_text("code,name,kind\nX-1,Xã Một,commune\nP-1,Sao Hỏa,planet\n",
                                        encoding="utf-8")
    assert main(["units", "import", str(tmp_path / "units.csv")]) == 1
    err = capsys.readouterr().err
    assert "planet" in err and "district" in err and "Dòng 3" in err
    assert main(["units", "list"]) == 0
    assert "X-1" not in capsys.readouterr().out  # all or nothing: not even the good line
    (tmp_path / "units.csv").write_text("code,name,kind\nX-1,Xã Một,commune\n", encoding="utf-8")
    assert main(["units", "import", str(tmp_path / "units.csv")]) == 0
    assert main(["units", "list", "--kind", "bogus"]) == 1
    err = capsys.readouterr().err
    assert "bogus" in err and "commune" in err and "department" in err
    assert main(["units", "list", "--kind", "commune"]) == 0
    assert "X-1" in capsys.readouterr().out


@pytest.mark.sqlite_only("db backup copies a SQLite file (PostgreSQL: pg_dump)")
def test_db_backup_onto_the_live_database_is_refused(tmp_path, capsys):
    import os

    from bot.cli import main

    assert main(["db", "migrate"]) == 0
    live = os.environ["DATABASE_PATH"]
    size = os.path.getsize(live)
    assert main(["db", "backup", live]) == 1
    err = capsys.readouterr().err
    assert "live database" in err or "đang dùng" in err
    assert os.path.getsize(live) == size
    assert main(["db", "backup", str(tmp_path / "copy.db")]) == 0


async def test_the_admin_has_the_coordinators_difficulties_and_settings(desk):
    officer, admin = desk.officer, desk.admin
    await officer.say("/difficulty")
    await officer.say("Thiếu tài liệu hướng dẫn")
    await officer.press("Kế hoạch, hướng dẫn")
    await officer.press("Bình thường")
    await officer.say("Đề nghị Sở gửi tài liệu")
    await officer.press("Bỏ qua")
    await officer.press("Xác nhận")
    await admin.say("/difficulties")
    assert "KK-2026-0001" in admin.last().text
    await admin.press("KK-2026-0001")
    assert "Đề xuất: Đề nghị Sở gửi tài liệu" in admin.last().text
    await admin.press("Xác nhận đã giải quyết")
    assert "đã được xác nhận đã giải quyết" not in officer.last().text
    await admin.press("Xác nhận đã giải quyết")
    assert "đã được xác nhận đã giải quyết" in officer.last().text
    await admin.say("/settings")
    assert "✅ bản tin tổng hợp hằng ngày" in admin.last().text
    await admin.press("Tắt bản tin ngày")
    assert "⬜ bản tin tổng hợp hằng ngày" in admin.last().text


# ---------------------------------------------------------------------------------------------
# One unit through a whole reporting year, the clock moving day by day

async def send_review(officer) -> None:
    await officer.say("/report")
    await officer.press("Sơ kết, tổng kết")
    await officer.press("Sơ kết")
    await officer.say(officer.h.clock().astimezone(HANOI).strftime("%d/%m/%Y"))
    await officer.say("Hội nghị sơ kết 3 năm thực hiện Nghị quyết")
    await officer.press("Bỏ qua")
    await officer.press("Xác nhận")
    assert "Đã tiếp nhận báo cáo" in officer.last().text


async def send_dissemination(officer) -> None:
    await officer.say("/report")
    await officer.press("Hoạt động tuyên truyền")
    await officer.press("Cuộc thi")
    await officer.say(officer.h.clock().astimezone(HANOI).strftime("%d/%m/%Y"))
    await officer.say("Học sinh")
    await officer.say("500")
    await officer.say("Cuộc thi tìm hiểu Nghị quyết")
    await officer.press("Bỏ qua")
    await officer.press("Xác nhận")
    assert "Đã tiếp nhận báo cáo" in officer.last().text


def status_figures(text: str) -> dict[str, int]:
    """The figures line of /status's annual block: label -> number."""
    line = next(line for line in status_block(text, "Báo cáo định kỳ").splitlines()
                if line.startswith("Tổng hợp từ các báo cáo đến nay: "))
    pairs = line.split(": ", 1)[1].split("; ")
    return {label: int(number.replace(".", "")) for label, number in
            (pair.rsplit(": ", 1) for pair in pairs)}


@pytest.mark.parametrize("desk", [at(2025, 12, 11)], indirect=True)
async def test_one_unit_through_a_whole_year_day_by_day(desk):
    from datetime import date, timedelta

    officer, coordinator, leader, admin = desk.officer, desk.coordinator, desk.leader, desk.admin
    for chat in (coordinator, admin):  # the digests are not what this test is about
        await chat.say("/settings")
        await chat.press("Tắt bản tin ngày")
        await chat.press("Tắt bản tin tuần")

    async def on_17_12_2025():  # both 2025 reports, two days before their deadline
        await send_periodic(officer, "2025")
        await send_review(officer)

    async def on_20_11_2026():
        await move_annual(desk, "08/12/2026")

    async def on_16_12_2026():  # a week late
        await send_periodic(officer, "2026")

    events = {date(2025, 12, 17): on_17_12_2025,
              date(2026, 3, 10): lambda: send_dissemination(officer),
              date(2026, 6, 9): lambda: report_model(officer, "01/06/2024"),
              date(2026, 11, 20): on_20_11_2026,
              date(2026, 12, 16): on_16_12_2026}
    seen = {chat: 0 for chat in (officer, coordinator, leader)}
    got: dict = {chat: [] for chat in seen}
    day = date(2025, 12, 12)
    while day <= date(2026, 12, 31):
        await desk.tick_at(at(day.year, day.month, day.day, 9))
        if day in events:
            desk.clock.now = at(day.year, day.month, day.day, 10)
            await events[day]()
        for chat in seen:
            new = desk.request.sent(chat.chat_id)[seen[chat]:]
            for sent in new:
                # An escalation counts the late units; its button lists them all.
                if sent.text.startswith(("⏰", "⚠️", "🔺")) and (
                        chat is officer or "Q-LECHAN" in await listed(chat, sent)):
                    got[chat].append((day, sent.text))
            seen[chat] = len(chat.texts())
        day += timedelta(days=1)

    def short(items):
        return [(d.isoformat(), "sơ kết" in text, text.split("(")[-1][:12] if "còn" in text
                 else "hôm nay" if "Hôm nay" in text else "quá hạn") for d, text in items]

    assert short(got[officer]) == [
        ("2025-12-12", False, "còn 7 ngày)."), ("2025-12-12", True, "còn 7 ngày)."),
        ("2025-12-16", False, "còn 3 ngày)."), ("2025-12-16", True, "còn 3 ngày)."),
        # 2026's report moved from 19/12 to 08/12 (Tuesday): 7 days before, then Monday the
        # 7th (the 3-day stage fell on Saturday the 5th), the day, the day after.
        ("2026-12-01", False, "còn 7 ngày)."), ("2026-12-07", False, "còn 1 ngày)."),
        ("2026-12-08", False, "hôm nay"), ("2026-12-09", False, "quá hạn")]
    assert all("08/12/2026" in text for _d, text in got[officer][4:] if "còn" in text)
    # Only 2026's report was late: coordinators the day after, leaders on the next working day
    # after five days (the 13th was a Sunday).
    assert [d.isoformat() for d, _ in got[coordinator]] == ["2026-12-09"]
    assert [d.isoformat() for d, _ in got[leader]] == ["2026-12-14"]
    assert "quá hạn 6 ngày" in got[leader][0][1]

    # Status, the unit's periodic figures and the spreadsheet agree.
    await coordinator.say("/status")
    text = coordinator.last().text
    annual = status_block(text, "Báo cáo định kỳ")
    assert "năm 2026" in annual and "08/12/2026" in annual and "1/44 đơn vị đã gửi" in annual
    assert "0 đơn vị đúng hạn" in annual  # sent, but after the moved deadline
    review = status_block(text, "Báo cáo sơ kết 3 năm")
    assert "1/41 đơn vị đã gửi" in review and "1 đơn vị đúng hạn" in review
    in_status = status_figures(text)
    totals = await export_totals(desk, "Năm 2026")
    assert in_status[MODELS] == 1 and in_status[
        "Số hoạt động tuyên truyền tổ chức trong kỳ"] == 1
    assert in_status["Số lượt người được tuyên truyền trong kỳ"] == 500
    for label, number in in_status.items():
        assert totals[label] == (number, number), label  # counted, and as the unit confirmed


async def test_an_old_menu_button_inside_a_form_sets_the_form_aside(desk):
    officer = desk.officer
    await officer.say("/menu")
    menu = officer.last()
    await start_dissemination(officer)
    await officer.press_data("m:myreports", menu)  # a button of an older message
    assert "bản nháp" in officer.texts()[-2]
    async with desk.runtime.db.read() as tx:
        assert await tx.sessions.has_draft(1, "report_dissemination")


@pytest.mark.parametrize("data", ["rv:allok:１:2026:１", "rv:allok:1:2026:", "rv:allok:1:2026:x",
                                  "rv:all:99999999999999999999:2026"])
async def test_forged_approve_all_buttons_change_nothing(desk, data):
    await desk.coordinator.press_data(data)
    assert "không hợp lệ" in desk.coordinator.last().text
