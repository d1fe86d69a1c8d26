"""What a unit owes and by when, seen by its officer; the coordinator's reminders and per-unit
extensions; moving a deadline that has passed. Real Application, real SQLite, fake clock."""

from __future__ import annotations

import pytest

from bot.settings import load_settings
from bot.units_file import SAMPLE_UNITS, read_units_file
from locales.i18n import translator
from storage.models import Role
from tests.telegram_fakes import FakeClock, Harness, register
from tests.test_reminders import PROGRAMME, hanoi, reminders, submit_quarterly_rest


@pytest.fixture
async def desk(tmp_path):
    (tmp_path / "programme.yaml").write_text(PROGRAMME, encoding="utf-8")
    settings = load_settings(database_path=tmp_path / "bot.db", admin_ids=[1],
                             telegram_bot_token="123:TEST",
                             programme_file=tmp_path / "programme.yaml")
    h = await Harness(settings, FakeClock(hanoi(2, 9))).start()
    async with h.runtime.db.transaction() as tx:
        await tx.units.upsert_many(read_units_file(SAMPLE_UNITS, translator("vi"), set()),
                                   h.clock())
    h.officer = await register(h, 501, "Trần Thị Bình", unit="Q-LECHAN")
    h.other = await register(h, 502, "Lê Văn Nam", unit="Q-NGOQUYEN")
    h.coordinator = await register(h, 301, "Phạm Văn Điều", Role.COORDINATOR, unit="SO-TTTT")
    h.think_seconds = 0
    yield h
    await h.stop()


async def send_quarterly(chat) -> None:
    await chat.say("/report")
    await chat.press("Báo cáo định kỳ")
    await chat.press_data("rp:2026-Q1", chat.last())
    await submit_quarterly_rest(chat)
    assert "Đã tiếp nhận báo cáo" in chat.last().text


async def test_officer_sees_what_the_unit_owes_from_the_menu(desk):
    officer = desk.officer
    await officer.say("/menu")
    assert ("Hạn gửi báo cáo", "m:deadlines") in officer.last().buttons
    await officer.press("Hạn gửi báo cáo")
    text = officer.last().text
    assert "Báo cáo Ủy ban nhân dân quận Lê Chân phải gửi" in text
    assert "<b>Báo cáo quý</b> · quý I/2026" in text
    assert "chưa gửi · hạn gửi báo cáo 20/03/2026, còn 18 ngày" in text
    assert ("Gửi Báo cáo quý", "rp:2026-Q1") in officer.last().buttons

    desk.clock.now = hanoi(23, 9)
    await officer.say("/deadlines")
    assert "quá hạn 3 ngày · hạn gửi báo cáo 20/03/2026" in officer.last().text

    await send_quarterly(officer)
    await officer.say("/hannop")
    text = officer.last().text
    assert "đã gửi ngày 23/03/2026, sau hạn 20/03/2026" in text
    assert "quý II/2026" in text and "hạn gửi báo cáo 20/06/2026" in text


async def test_officer_lists_the_notices_received_and_acknowledges_one(desk):
    admin = desk.chat(1, "Phạm Thu Hà")
    await admin.say("/start")
    await desk.officer.say("/thongbaoden")
    assert desk.officer.last().text == "Đồng chí chưa nhận được thông báo nào."
    await admin.say("/broadcast")
    await admin.say("Họp giao ban trực tuyến lúc 14:00")
    await admin.press("Bỏ qua")
    await admin.press("Mọi đơn vị (cán bộ đầu mối)")
    await admin.press("Gửi ngay")
    await admin.press("Xác nhận")
    await desk.officer.say("/thongbaoden")
    listing = desk.officer.last()
    assert "Họp giao ban trực tuyến lúc 14:00" in listing.text
    assert "chưa xác nhận đã nhận" in listing.text
    await desk.officer.press(listing.buttons[0][0])
    await desk.officer.say("/thongbaoden")
    assert "✓ đã xác nhận lúc" in desk.officer.last().text
    assert desk.officer.last().buttons == []


async def missing_list(coordinator) -> None:
    await coordinator.say("/status")
    await coordinator.press("Chưa gửi: Báo cáo quý")


async def test_remind_these_units_once_a_day_each(desk):
    coordinator = desk.coordinator
    await send_quarterly(desk.other)
    await missing_list(coordinator)
    assert "Q-LECHAN" in coordinator.last().text and "Q-NGOQUYEN" not in coordinator.last().text
    await coordinator.press("Nhắc các đơn vị này")
    answer = coordinator.last().text
    assert answer.startswith("Đã nhắc 1 đơn vị.")
    assert "13 đơn vị chưa có cán bộ đầu mối đăng ký để nhắc: " in answer
    assert "huyện An Dương" in answer and answer.endswith(", …")
    reminded = desk.officer.last()
    assert reminded.text.startswith("📣 Thông báo của Sở Văn hóa, Thể thao và Du lịch:")
    assert "còn 18 ngày" in reminded.text
    assert reminded.buttons == [("Báo cáo ngay", "rp:2026-Q1")]
    assert [t for t in desk.other.texts() if t.startswith("📣")] == []

    before = len(desk.officer.texts())
    await missing_list(coordinator)
    await coordinator.press("Nhắc các đơn vị này")
    assert coordinator.last().text.startswith("Đã nhắc 0 đơn vị.")
    assert "1 đơn vị đã được nhắc hôm nay nên không nhắc lại: Ủy ban nhân dân quận Lê Chân" in \
        coordinator.last().text
    assert len(desk.officer.texts()) == before

    desk.clock.now = hanoi(3, 9)
    await missing_list(coordinator)
    await coordinator.press("Nhắc các đơn vị này")
    assert coordinator.last().text.startswith("Đã nhắc 1 đơn vị.")
    assert len(desk.officer.texts()) == before + 1


async def test_one_unit_gets_more_time_audited_told_and_reminded_to_its_date(desk):
    coordinator, officer, other = desk.coordinator, desk.officer, desk.other
    desk.clock.now = hanoi(19, 10)  # the day before the deadline of 20/03
    await missing_list(coordinator)
    await coordinator.press("Gia hạn cho một đơn vị")
    await coordinator.say("THANHDOAN")
    assert "Đơn vị này không phải gửi “Báo cáo quý”." in coordinator.last().text
    await coordinator.say("Q-LECHAN")
    await coordinator.say("18/03/2026")
    assert "không được là ngày đã qua" in coordinator.last().text
    await coordinator.say("20/03/2026")
    assert "Hạn mới phải sau hạn gửi báo cáo hiện tại (20/03/2026)" in coordinator.last().text
    await coordinator.say("02/04/2026")
    await coordinator.say("Đơn vị đang tổng hợp số liệu của các phường")
    await coordinator.press("Xác nhận")
    assert ("Ủy ban nhân dân quận Lê Chân được gia hạn gửi “Báo cáo quý quý I/2026” đến ngày "
            "02/04/2026") in coordinator.last().text
    assert "Đã thông báo cho 1 cán bộ đầu mối của đơn vị." in coordinator.last().text
    assert "nay là ngày 02/04/2026" in officer.last().text
    assert "02/04/2026" not in " ".join(other.texts())
    async with desk.runtime.db.transaction() as tx:
        audit = await tx.audit.recent(5)
    assert audit[0]["action"] == "deadline.extend"
    assert audit[0]["details"]["unit"] == "Q-LECHAN" and audit[0]["details"]["due"] == "2026-04-02"

    await missing_list(coordinator)
    assert "Q-LECHAN — Ủy ban nhân dân quận Lê Chân (gia hạn đến 02/04/2026)" in \
        coordinator.last().text
    await officer.say("/deadlines")
    assert "chưa gửi · hạn gửi báo cáo 02/04/2026 (đã gia hạn cho đơn vị), còn 14 ngày" in \
        officer.last().text
    await other.say("/deadlines")
    assert "chưa gửi · hạn gửi báo cáo 20/03/2026, còn 1 ngày" in other.last().text

    # The clock follows each unit's own date: the other unit is late from 21/03 (told on
    # Monday 23/03), this one is reminded 3 and 1 days before 02/04, on the day, and is late
    # from 03/04.
    mine, theirs = len(reminders(officer)), len(reminders(other))
    await desk.tick_at(hanoi(20, 9))
    await desk.tick_at(hanoi(23, 9))
    assert len(reminders(officer)) == mine
    assert "3 ngày (hạn gửi báo cáo: ngày 20/03/2026)" in reminders(other)[-1]
    assert len(reminders(other)) == theirs + 2
    await desk.tick_at(hanoi(30, 9))
    assert "còn 3 ngày" in reminders(officer)[-1] and "02/04/2026" in reminders(officer)[-1]
    await desk.tick_at(hanoi(1, 9, month=4))
    assert "còn 1 ngày" in reminders(officer)[-1]
    await desk.tick_at(hanoi(2, 9, month=4))
    assert "Hôm nay là hạn" in reminders(officer)[-1]
    await desk.tick_at(hanoi(3, 9, month=4))
    assert "1 ngày (hạn gửi báo cáo: ngày 02/04/2026)" in reminders(officer)[-1]
    assert len(reminders(officer)) == mine + 4


async def test_admin_moves_a_deadline_that_has_passed(desk):
    admin = desk.chat(1, "Phạm Thu Hà")
    await admin.say("/start")
    desk.clock.now = hanoi(23, 9)
    await admin.say("/deadlines")
    # Still owed by units, the passed quarter is the one in view, with its own button.
    assert "quý I/2026: hạn gửi báo cáo 20/03/2026" in admin.last().text
    await admin.press("Đổi hạn: Báo cáo quý")
    await admin.say("27/03/2026")
    await admin.say("Thành phố cho lùi hạn")
    await admin.press("Xác nhận")
    assert "27/03/2026" in admin.last().text
    await desk.officer.say("/deadlines")
    assert "hạn gửi báo cáo 27/03/2026, còn 4 ngày" in desk.officer.last().text
