"""Periods, reminders and escalation, driven by a fake clock through the real Application."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.settings import load_settings
from bot.units_file import SAMPLE_UNITS, read_units_file
from handlers import desk as digests
from handlers import periods
from handlers.programme import load_programme
from handlers.reminders import owed
from locales.i18n import translator
from storage.models import Role
from tests.telegram_fakes import FakeClock, Harness, escalation, invite, listed, register

HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
# Quarter I/2026 runs 15/12/2025 - 14/03/2026; its report is due six days later, Friday 20/03.
PROGRAMME = """
reminders: {days_before: [7, 3, 1], leaders_after_days: 5}
working_hours: {start: "08:00", end: "17:00"}
holidays: [2026-03-16]
obligations:
  - id: quarterly
    name: {vi: "Báo cáo quý", en: "Quarterly report"}
    report: periodic
    unit_kinds: [district]
    period: quarter
    first_year: 2026
    due_days_after_end: 6
"""


def hanoi(day: int, hour: int = 9, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=HANOI).astimezone(UTC)


@pytest.fixture
async def desk(tmp_path):
    (tmp_path / "programme.yaml").write_text(PROGRAMME, encoding="utf-8")
    settings = load_settings(database_path=tmp_path / "bot.db", admin_ids=[1],
                             telegram_bot_token="123:TEST", coordinator_chat_id=-100900,
                             programme_file=tmp_path / "programme.yaml")
    h = await Harness(settings, FakeClock(hanoi(2, 9))).start()
    async with h.runtime.db.transaction() as tx:
        await tx.units.upsert_many(read_units_file(SAMPLE_UNITS, translator("vi"), set()),
                                   h.clock())
    h.officer = await register(h, 501, "Trần Thị Bình", unit="Q-LECHAN")
    h.coordinator = await register(h, 301, "Phạm Văn Điều", Role.COORDINATOR, unit="SO-TTTT")
    h.leader = await register(h, 401, "Lê Văn Lãnh", Role.LEADER, unit=None)
    h.think_seconds = 0
    yield h
    await h.stop()


def reminders(chat) -> list[str]:
    return [t for t in chat.texts() if t.startswith(("⏰", "⚠️", "🔺"))]


DISTRICTS = {unit.code for unit in read_units_file(SAMPLE_UNITS, translator("vi"), set())
             if unit.kind == "district"}


async def test_reminders_at_each_offset_only_in_working_hours_and_never_twice(desk):
    officer = desk.officer
    await desk.tick_at(hanoi(13, 7, 30))  # 7 days before, but before office hours
    assert reminders(officer) == []
    await desk.tick_at(hanoi(13, 8, 0))
    assert len(reminders(officer)) == 1
    first = officer.last()
    assert "còn 7 ngày" in first.text and "quý I/2026" in first.text and "20/03/2026" in first.text
    assert first.buttons == [("Báo cáo ngay", "rp:2026-Q1")]
    await desk.tick_at(hanoi(13, 11))
    await desk.restart()
    await desk.tick_at(hanoi(13, 15))
    assert len(reminders(officer)) == 1  # neither a second tick nor a restart repeats it

    await desk.tick_at(hanoi(17, 9))
    assert "còn 3 ngày" in reminders(officer)[-1]
    await desk.tick_at(hanoi(19, 16, 59))
    assert "còn 1 ngày" in reminders(officer)[-1]
    await desk.tick_at(hanoi(20, 17, 0))  # the deadline, but after office hours
    assert len(reminders(officer)) == 3
    await desk.tick_at(hanoi(21, 10))  # Saturday
    assert len(reminders(officer)) == 3
    await desk.tick_at(hanoi(23, 8))  # Monday: the day's reminder is past, the overdue one goes
    assert len(reminders(officer)) == 4
    # The obligation and its period in one name, and the days overdue apart from it.
    assert "“Báo cáo quý quý I/2026” của đơn vị đã quá hạn 3 ngày" in reminders(officer)[-1]

    # Coordinators get one message for the quarter's overdue districts, and so does their
    # group: how many, how many of each kind, ten of them named, and a button for the list.
    for chat in (desk.coordinator, desk.chat(-100900)):
        gathered = reminders(chat)
        assert len(gathered) == 1
        assert "<b>15 đơn vị</b> đã quá hạn nhưng chưa gửi báo cáo." in gathered[0]
        assert "Theo loại đơn vị: Quận, huyện: 15" in gathered[0]
        assert "Báo cáo quý</b> · quý I/2026 · hạn gửi báo cáo 20/03/2026" in gathered[0]
        assert gathered[0].count("•") == 10 and "… và 5 đơn vị khác" in gathered[0]
        assert gathered[0].count("quá hạn 3 ngày") == 10
        (label, data), = escalation(chat).buttons
        assert label == "Chưa gửi: Báo cáo quý" and data.startswith("st:miss:")
    assert await listed(desk.coordinator) == DISTRICTS
    assert reminders(desk.leader) == []
    await desk.tick_at(hanoi(25, 9))
    assert len(reminders(desk.leader)) == 1 and "quá hạn 5 ngày" in reminders(desk.leader)[0]
    await desk.tick_at(hanoi(26, 9))
    assert len(reminders(desk.coordinator)) == 1 and len(reminders(desk.leader)) == 1
    assert len(reminders(officer)) == 4


async def submit_quarterly(chat):
    await chat.press_data("rp:2026-Q1", chat.last())
    await chat.say("Hoàn thành")
    await chat.say("Không có")
    await chat.press("Bỏ qua")
    await chat.press("Bỏ qua")
    await chat.press("Xác nhận")
    assert "Đã tiếp nhận báo cáo" in chat.last().text


async def test_no_reminder_after_submission_and_escalation_stops(desk):
    officer = desk.officer
    await desk.tick_at(hanoi(13, 9))
    await submit_quarterly(officer)
    count = len(reminders(officer))
    for day in (17, 19, 20, 23, 25):
        await desk.tick_at(hanoi(day, 9))
    assert len(reminders(officer)) == count
    gathered = reminders(desk.coordinator)[0]
    assert "<b>14 đơn vị</b>" in gathered and "Lê Chân" not in gathered
    assert gathered.count("•") == 10 and "… và 4 đơn vị khác" in gathered
    assert await listed(desk.coordinator) == DISTRICTS - {"Q-LECHAN"}


async def test_catch_up_after_ten_days_down_sends_one_message_per_track(desk):
    await desk.tick_at(hanoi(12, 9))
    assert reminders(desk.officer) == []
    await desk.tick_at(hanoi(25, 9))  # the bot was down from the 13th to the 25th
    assert len(reminders(desk.officer)) == 1
    assert "quá hạn" in reminders(desk.officer)[0]
    assert len(reminders(desk.coordinator)) == 1 and len(reminders(desk.leader)) == 1


async def test_few_overdue_units_are_all_named_in_each_language_with_the_web_desk(tmp_path):
    # Organisations and the press (8 units) owe a yearly report due Friday 20/03/2026.
    (tmp_path / "programme.yaml").write_text(
        PROGRAMME.replace("[district]", "[organisation, press]"), encoding="utf-8")
    settings = load_settings(database_path=tmp_path / "bot.db", admin_ids=[1],
                             telegram_bot_token="123:TEST", coordinator_chat_id=-100900,
                             programme_file=tmp_path / "programme.yaml",
                             web_public_url="https://baocao.example.vn/")
    h = await Harness(settings, FakeClock(hanoi(2, 9))).start()
    try:
        async with h.runtime.db.transaction() as tx:
            await tx.units.upsert_many(read_units_file(SAMPLE_UNITS, translator("vi"), set()),
                                       h.clock())
        english = await register(h, 301, "Phạm Văn Điều", Role.COORDINATOR, unit="SO-TTTT")
        await english.say("/language")
        await english.press("English")
        leader = await register(h, 401, "Lê Văn Lãnh", Role.LEADER, unit=None)
        h.think_seconds = 0
        await h.tick_at(hanoi(23, 9))
        text = escalation(english).text
        assert text.startswith("⚠️ <b>Overdue reports</b>")
        assert "<b>8 units</b> have not sent it by the deadline." in text
        # Kinds in the order and the language the units file gives them.
        assert "By kind of unit: Mass organisations: 6; Press: 2" in text
        assert text.count("• ") == 8 and "3 days late" in text and "more unit" not in text
        assert "Hội Nông dân thành phố" in text and "Báo Hải Phòng" in text
        assert "the web desk https://baocao.example.vn/desk/ (sign in with /web)" in text
        assert [label for label, _data in escalation(english).buttons] == [
            "Missing: Quarterly report"]
        group = escalation(h.chat(-100900)).text  # the group reads the default language
        assert "<b>8 đơn vị</b>" in group and "Theo loại đơn vị: Đoàn thể" in group
        assert "bàn làm việc trên web https://baocao.example.vn/desk/" in group
        assert len(await listed(english)) == 8

        await h.tick_at(hanoi(27, 9))  # five days late: the leaders' version
        text = escalation(leader).text
        assert text.startswith("🔺 <b>Các đơn vị quá hạn báo cáo nhiều ngày</b>")
        assert "<b>8 đơn vị</b>" in text and text.count("quá hạn 7 ngày") == 8
        assert len(await listed(leader)) == 8
    finally:
        await h.stop()


async def test_moved_deadline_moves_the_reminders(desk):
    admin = desk.chat(1, "Quản trị")
    await admin.say("/deadlines")
    assert "hạn gửi báo cáo 20/03/2026" in admin.last().text
    await admin.press("Đổi hạn: Báo cáo quý")
    await admin.say("01/02/2026")
    assert "không được là ngày đã qua" in admin.last().text
    await admin.say("27/03/2026")
    await admin.say("Thành phố lùi thời hạn tổng hợp")
    await admin.press("Xác nhận")
    assert "27/03/2026" in admin.last().text
    await admin.say("/deadlines")
    assert "27/03/2026 (đã điều chỉnh)" in admin.last().text
    async with desk.runtime.db.transaction() as tx:
        audit = await tx.audit.recent(5)
    assert audit[0]["action"] == "deadline.move" and audit[0]["details"]["due"] == "2026-03-27"

    await desk.tick_at(hanoi(13, 9))  # 7 days before the old deadline: nothing now
    assert reminders(desk.officer) == []
    await desk.tick_at(hanoi(20, 9))  # 7 days before the new one
    assert "còn 7 ngày" in reminders(desk.officer)[0] and "27/03/2026" in reminders(
        desk.officer)[0]


async def test_completeness_and_timeliness(desk):
    await desk.tick_at(hanoi(13, 9))
    await submit_quarterly(desk.officer)  # on time
    other = await register(desk, 502, "Cán bộ Ngô Quyền", unit="Q-NGOQUYEN")
    desk.clock.now = hanoi(24, 9)
    await other.say("/report")
    await other.press("Báo cáo định kỳ")
    await other.press_data("rp:2026-Q1", other.last())
    await submit_quarterly_rest(other)
    programme = desk.runtime.config.programme
    obligation = programme.obligation("quarterly")
    period = periods.parse("2026-Q1")
    async with desk.runtime.db.transaction() as tx:
        status = await tx.tracking.status(owed(desk.runtime.config, obligation, period,
                                               date(2026, 3, 20)))
    assert len(status) == 15
    sent = {s.code: s.on_time for s in status if s.first_at}
    assert sent == {"Q-LECHAN": True, "Q-NGOQUYEN": False}


async def submit_quarterly_rest(chat):
    await chat.say("Hoàn thành")
    await chat.say("Không có")
    await chat.press("Bỏ qua")
    await chat.press("Bỏ qua")
    await chat.press("Xác nhận")


@pytest.mark.parametrize(("day", "key"), [
    (date(2026, 12, 14), "2026"), (date(2026, 12, 15), "2027"), (date(2025, 12, 15), "2026"),
])
def test_year_boundaries(day, key):
    assert periods.year_of(day).key == key


@pytest.mark.parametrize(("kind", "day", "key", "start", "end"), [
    ("quarter", date(2026, 3, 14), "2026-Q1", date(2025, 12, 15), date(2026, 3, 14)),
    ("quarter", date(2026, 3, 15), "2026-Q2", date(2026, 3, 15), date(2026, 6, 14)),
    ("quarter", date(2026, 12, 15), "2027-Q1", date(2026, 12, 15), date(2027, 3, 14)),
    ("half", date(2026, 6, 14), "2026-H1", date(2025, 12, 15), date(2026, 6, 14)),
    ("half", date(2026, 6, 15), "2026-H2", date(2026, 6, 15), date(2026, 12, 14)),
    ("month", date(2028, 2, 29), "2028-M03", date(2028, 2, 15), date(2028, 3, 14)),
    ("month", date(2027, 1, 14), "2027-M01", date(2026, 12, 15), date(2027, 1, 14)),
])
def test_period_edges(kind, day, key, start, end):
    period = periods.of(kind, day)
    assert (period.key, period.start, period.end) == (key, start, end)
    assert periods.parse(key) == period
    assert periods.previous(periods.parse(key)).end == start - timedelta(days=1)


def test_period_labels():
    vi, en = translator("vi"), translator("en")
    assert periods.parse("2026-Q1").label(vi) == "quý I/2026"
    assert periods.parse("2026-H1").long_label(vi) == "6 tháng đầu năm 2026 (từ 15/12/2025 đến " \
                                                      "14/06/2026)"
    assert periods.parse("2026").label(en) == "year 2026"
    assert periods.parse("2026-Q4").label(en) == "Q4 2026"
    assert periods.parse("2026-Q4").short_label(vi) == "Quý IV/2026"
    assert periods.parse("2026-M03").label(vi) == "tháng 3/2026"


def test_shipped_programme_is_valid():
    programme = load_programme()
    ids = {o.id for o in programme.obligations}
    assert ids == {"plan", "annual", "review-2025", "review-2030"}
    annual = programme.obligation("annual")
    assert programme.deadline(annual, periods.year(2026)) == date(2026, 12, 19)


# ---------------------------------------------------------------------------------------------
# Clock jobs run each in its own transaction; one that keeps failing is reported to admins
# once, and again only after it worked in between.

FAILED_VI = "Tác vụ định kỳ “bản tin tổng hợp gửi cán bộ tổng hợp” đã bị lỗi"
FAILED_EN = "The scheduled task “coordinators' digests” has failed"


@pytest.fixture
async def h(desk):
    """The desk above, with two admins: one reads Vietnamese, one English."""
    h = desk
    h.admin = h.chat(1, "Phạm Thu Hà")
    await h.admin.say("/start")
    h.admin_en = h.chat(2, "Mary Admin", language="en")
    await h.admin_en.say(f"/start {await invite(h, Role.ADMIN, unit=None)}")
    return h


def broken_digest(monkeypatch) -> None:
    async def tick(tx, config, now):
        await tx.meta.set("half-done digest", "must be rolled back")
        raise RuntimeError("digest broke")

    monkeypatch.setattr(digests, "tick", tick)


def alerts(chat, phrase: str) -> list[str]:
    return [text for text in chat.texts() if phrase in text]


async def test_a_failing_digest_does_not_hold_back_a_due_reminder(h, monkeypatch):
    broken_digest(monkeypatch)
    await h.tick_at(hanoi(13, 9))  # 7 days before the quarterly deadline
    assert len(reminders(h.officer)) == 1
    assert "còn 7 ngày" in reminders(h.officer)[0]
    async with h.runtime.db.read() as tx:
        assert await tx.meta.get("half-done digest") is None  # the failed job's own writes
    await h.tick_at(hanoi(13, 10))
    assert len(reminders(h.officer)) == 1  # the reminder was recorded as sent, not repeated


async def test_a_job_failing_again_and_again_is_reported_once_until_it_recovers(h, monkeypatch):
    broken_digest(monkeypatch)
    for minute in (0, 1):
        await h.tick_at(hanoi(13, 9, minute))
    assert alerts(h.admin, FAILED_VI) == [] and alerts(h.admin_en, FAILED_EN) == []
    await h.tick_at(hanoi(13, 9, 2))
    assert len(alerts(h.admin, FAILED_VI)) == 1
    assert "3 lần liên tiếp" in alerts(h.admin, FAILED_VI)[0]
    assert len(alerts(h.admin_en, FAILED_EN)) == 1
    assert "3 times in a row" in alerts(h.admin_en, FAILED_EN)[0]
    assert alerts(h.officer, FAILED_VI) == []  # admins only

    await h.restart()  # the report is remembered across a restart
    for minute in (3, 4, 5):  # a count kept only in memory would report again at the third
        await h.tick_at(hanoi(13, 9, minute))
    assert len(alerts(h.admin, FAILED_VI)) == 1 and len(alerts(h.admin_en, FAILED_EN)) == 1

    monkeypatch.undo()  # the digest works again...
    await h.tick_at(hanoi(13, 9, 6))
    broken_digest(monkeypatch)  # ...and breaks once more: three failures in a row again
    for minute in (7, 8):
        await h.tick_at(hanoi(13, 9, minute))
    assert len(alerts(h.admin, FAILED_VI)) == 1
    await h.tick_at(hanoi(13, 9, 9))
    assert len(alerts(h.admin, FAILED_VI)) == 2 and len(alerts(h.admin_en, FAILED_EN)) == 2


async def test_admins_are_told_once_when_the_holidays_run_out(desk, caplog):
    """The programme lists holidays only to 16/03/2026 and the clock stands at 02/03: past the
    list, reminders would go out on a holiday. The admins hear it once; the log at each start."""
    admin = desk.chat(1, "Phạm Thu Hà")
    await admin.say("/start")

    def warned() -> list[str]:
        return [t for t in admin.texts() if "danh sách ngày nghỉ lễ" in t]

    await desk.tick_at(hanoi(2, 10))
    assert len(warned()) == 1 and "đến ngày 16/03/2026" in warned()[0]
    assert "PROGRAMME_FILE" in warned()[0]
    await desk.tick_at(hanoi(3, 10))
    await desk.restart()
    await desk.tick_at(hanoi(4, 10))
    assert len(warned()) == 1  # once, across ticks and restarts
    assert not [t for t in desk.coordinator.texts() if "ngày nghỉ lễ" in t]  # admins only
    assert any("holidays only until 2026-03-16" in r.getMessage() for r in caplog.records
               if r.levelname == "WARNING")
