"""Wording people tripped on: a changed answer names itself and its value, a notice cannot be
scheduled in the past, hours read 08:00, and "question x/y" never changes while a form runs."""

from __future__ import annotations

import re

from tests.telegram_fakes import register


async def test_changing_a_periodic_figure_names_it_and_its_value(harness):
    officer = await register(harness, 501, "Trần Thị Bình", unit="Q-LECHAN")
    await officer.say("/report")
    await officer.press("Báo cáo định kỳ")
    await officer.press_data("rp:2026", officer.last())
    await officer.say("Hoàn thành")
    await officer.say("Không có")
    await officer.press("Bỏ qua")
    await officer.press("Bỏ qua")
    await officer.press("Sửa một câu trả lời")
    # Telegram's buttons carry the first words of each long label, and the text says them all
    # in full, numbered as the buttons run.
    pick = officer.last()
    assert "\n2. Số hoạt động tuyên truyền tổ chức trong kỳ\n" in pick.text
    assert [label for label, _data in pick.buttons][1] == "Số hoạt động tuyên truyền tổ…"
    await officer.press("Số hoạt động tuyên truyền tổ…")  # cut to fit a phone
    asked = officer.last().text
    assert "Sửa “Số hoạt động tuyên truyền tổ chức trong kỳ”, hiện là: 0" in asked
    await officer.say("12")
    assert "<b>Số hoạt động tuyên truyền tổ chức trong kỳ</b>: 12" in officer.last().text


async def test_a_notice_cannot_be_scheduled_in_the_past_and_its_hour_reads_as_time(harness):
    h = harness  # the clock stands at 09:00 on Tuesday 10/03/2026
    admin = h.chat(1, "Phạm Thu Hà")
    await admin.say("/start")
    await admin.say("/broadcast")
    await admin.say("Họp giao ban trực tuyến")
    await admin.press("Bỏ qua")
    await admin.press("Mọi đơn vị (cán bộ đầu mối)")
    await admin.press("Hẹn giờ")
    await admin.say("hôm qua")
    assert "Ngày này đã qua" in admin.last().text
    await admin.say("hôm nay")
    await admin.say("8")
    assert "Đã qua 08:00 hôm nay" in admin.last().text
    await admin.say("15")
    summary = admin.last().text
    assert "<b>Giờ gửi</b>: 15:00" in summary and "<b>Ngày gửi</b>: 10/03/2026" in summary
    await admin.press("Xác nhận")
    assert "sẽ được gửi lúc" in admin.last().text and "15:00" in admin.last().text

    totals = [m.group(1) for text in admin.texts()
              for m in [re.search(r"câu \d+/(\d+)", text)] if m]
    assert len(set(totals)) == 1, totals  # shown once known, never changed


async def test_a_time_passed_while_the_summary_waited_is_said_when_sent(harness):
    h = harness
    admin = h.chat(1, "Phạm Thu Hà")
    await admin.say("/start")
    await admin.say("/broadcast")
    await admin.say("Họp giao ban trực tuyến")
    await admin.press("Bỏ qua")
    await admin.press("Mọi đơn vị (cán bộ đầu mối)")
    await admin.press("Hẹn giờ")
    await admin.say("hôm nay")
    await admin.say("10")
    h.clock.advance(hours=2)
    await admin.press("Xác nhận")
    assert admin.last().text.startswith("Thời điểm đã hẹn đã qua nên thông báo được gửi ngay.")


async def test_a_day_to_come_has_its_own_hint_and_takes_ngay_mai(harness):
    h = harness  # the clock stands at 09:00 on Tuesday 10/03/2026
    admin = h.chat(1, "Phạm Thu Hà")
    await admin.say("/start")
    await admin.say("/broadcast")
    await admin.say("Họp giao ban trực tuyến")
    await admin.press("Bỏ qua")
    await admin.press("Mọi đơn vị (cán bộ đầu mối)")
    await admin.press("Hẹn giờ")
    assert "“hôm nay”, “ngày mai”" in admin.last().text  # not "hôm qua" for a day to come
    await admin.say("ngày mai")
    assert "Nhập một số từ 0 đến 23." in admin.last().text  # the hour's range, said once
    await admin.say("8")
    assert "<b>Ngày gửi</b>: 11/03/2026" in admin.last().text
    await admin.press("Xác nhận")
    assert "sẽ được gửi lúc 08:00 ngày 11/03/2026" in admin.last().text


async def test_a_day_past_keeps_its_hint_and_refuses_ngay_mai(harness):
    officer = await register(harness, 501, "Trần Thị Bình", unit="Q-LECHAN")
    await officer.say("/report")
    await officer.press("Hoạt động tuyên truyền")
    await officer.press("Hội nghị, tọa đàm")
    assert "“hôm nay”, “hôm qua”" in officer.last().text
    await officer.say("ngày mai")
    assert "Ngày 11/03/2026 chưa đến" in officer.last().text
