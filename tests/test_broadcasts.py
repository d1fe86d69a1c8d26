"""Admin notices: audience, preview, delivery figures, receipts, reminders, cancel, resume."""

from __future__ import annotations

import asyncio
import re

import pytest

from bot.delivery import ChannelLimits
from storage.models import Role
from tests.telegram_fakes import register

OFFICERS = [(501, "Q-LECHAN"), (502, "Q-LECHAN"), (503, "Q-NGOQUYEN"), (504, "SO-YT"),
            (505, "SO-TC"), (506, "THANHDOAN")]


@pytest.fixture
async def people(harness):
    h = harness
    h.admin = h.chat(1, "Phạm Thu Hà")
    await h.admin.say("/start")
    h.officers = {uid: await register(h, uid, f"Cán bộ {uid}", unit=unit)
                  for uid, unit in OFFICERS}
    h.coordinator = await register(h, 301, "Vũ Điều Phối", Role.COORDINATOR, "SO-TTTT")
    return h


async def write_notice(admin, scope_label, *steps, text="Họp giao ban trực tuyến lúc 14:00"):
    await admin.say("/broadcast")
    await admin.say(text)
    await admin.press("Bỏ qua")
    await admin.press(scope_label)
    for step in steps:
        if step.startswith("press:"):
            await admin.press(step[6:])
        else:
            await admin.say(step)
    await admin.press("Gửi ngay")
    return admin.last().text


def notices(chat):
    return [s for s in chat.h.request.sent(chat.chat_id) if "Thông báo của Sở" in s.text]


@pytest.mark.parametrize(("scope", "steps", "expected"), [
    ("Mọi đơn vị (cán bộ đầu mối)", (), {501, 502, 503, 504, 505, 506}),
    ("Theo loại đơn vị", ("press:Quận, huyện", "press:Xong"), {501, 502, 503}),
    ("Một số đơn vị", ("so-yt, thanh doan",), {504, 506}),
    ("Theo vai trò", ("press:Cán bộ tổng hợp", "press:Xong"), {301}),
])
async def test_audience_preview_and_delivery(people, scope, steps, expected):
    h = people
    preview = await write_notice(h.admin, scope, *steps)
    count = len(expected)
    assert f"{count} người nhận</b> ({count} người đang liên lạc được)" in preview
    await h.admin.press("Xác nhận")
    assert f"{count} trên {count} người nhận đang chờ gửi" in h.admin.last().text
    await h.admin.press("Cập nhật")
    status = [c for c in h.request.calls if c.method == "editMessageText"][-1].text
    assert f"Người nhận: {count} (" in status and f"đã gửi: {count}," in status
    everyone = {**h.officers, 301: h.coordinator}
    for uid, chat in everyone.items():
        assert len(notices(chat)) == (1 if uid in expected else 0), uid


async def test_receipts_reminder_and_blocked_user(people):
    h = people
    await write_notice(h.admin, "Theo loại đơn vị", "press:Quận, huyện", "press:Xong")
    h.request.script.append(("sendMessage", 403, "Forbidden: bot was blocked by the user", None))
    await h.admin.press("Xác nhận")
    # The first notice went to 501, who had blocked the bot.
    assert notices(h.officers[501]) == []
    await h.officers[502].press("Đã nhận")
    assert "đã ghi nhận" in h.officers[502].last().text
    await h.officers[503].press_data("bc:ack:1")  # 502's delivery: not 503's to acknowledge
    assert "không hợp lệ" in h.officers[503].last().text
    await h.admin.press("Cập nhật")
    status = [c for c in h.request.calls if c.method == "editMessageText"
              and c.chat_id == "1"][-1].text
    assert "không liên lạc được: 1" in status and "đã xác nhận ✓: 1" in status
    assert "Chưa xác nhận đã nhận</b> (2)" in status and "Ngô Quyền" in status
    await h.admin.press("Nhắc lại")
    assert "Đã gửi nhắc lại đến 1 người nhận" in h.admin.last().text  # 503; 501 is unreachable
    assert "Nhắc lại" in h.officers[503].last().text
    assert len(notices(h.officers[502])) == 1
    await h.admin.say("/broadcasts")
    assert "đã gửi: 2/3" in h.admin.last().text and "đã xác nhận ✓: 1" in h.admin.last().text


async def slow_start(h, per_second: float) -> None:
    h.limits = ChannelLimits(per_second=per_second, chat_per_second=1000, chat_burst=1000)
    await h.restart()


async def partial_drain(h, seconds: float) -> None:
    try:
        await asyncio.wait_for(h.drain(), seconds)
    except TimeoutError:
        pass


async def test_cancel_midway(people):
    h = people
    await write_notice(h.admin, "Mọi đơn vị (cán bộ đầu mối)")
    await slow_start(h, per_second=8)
    await h.admin.press("Xác nhận", drain=False)
    await partial_drain(h, 0.3)  # some notices have gone out
    await h.admin.press("Hủy thông báo")
    await h.drain()
    got = sum(len(notices(chat)) for chat in h.officers.values())
    assert 1 <= got < 6
    assert "Đã hủy thông báo số 1" in h.admin.last().text
    await h.drain()
    assert sum(len(notices(chat)) for chat in h.officers.values()) == got
    await h.admin.press("Cập nhật")
    status = [c for c in h.request.calls if c.method == "editMessageText"][-1].text
    assert f"đã gửi: {got}," in status and f"đã hủy: {6 - got})" in status


async def test_crash_midway_resumes_without_duplicates(people):
    h = people
    await write_notice(h.admin, "Mọi đơn vị (cán bộ đầu mối)")
    await slow_start(h, per_second=8)
    await h.admin.press("Xác nhận", drain=False)
    await partial_drain(h, 0.3)
    before = sum(len(notices(chat)) for chat in h.officers.values())
    assert before < 6
    h.limits = ChannelLimits(per_second=1000, chat_per_second=1000, chat_burst=1000)
    await h.restart()  # the program stopped mid-way and started again
    await h.drain()
    for chat in h.officers.values():
        assert len(notices(chat)) == 1
    await h.runtime.tick()
    await h.drain()
    assert "đã gửi xong" in h.admin.last().text and "đã gửi: 6" in h.admin.last().text


async def test_status_message_is_kept_current_while_sending(people):
    h = people
    await write_notice(h.admin, "Mọi đơn vị (cán bộ đầu mối)")
    await slow_start(h, per_second=8)
    await h.admin.press("Xác nhận", drain=False)
    await partial_drain(h, 0.4)  # the admin's answer goes first, then some notices
    status = next(s for s in h.request.sent(1) if "đang được gửi" in s.text)
    sent_so_far = sum(len(notices(chat)) for chat in h.officers.values())
    await h.runtime.tick()
    await partial_drain(h, 0.2)
    edits = [c for c in h.request.calls if c.method == "editMessageText"
             and c.params.get("message_id") == status.message_id]
    assert edits, "the status message was not updated"
    figures = re.search(r"Người nhận: 6 \(chờ gửi: (\d+), đã gửi: (\d+),", edits[-1].text)
    queued, sent = int(figures.group(1)), int(figures.group(2))
    assert 1 <= sent <= sent_so_far and queued >= 1 and queued + sent <= 6
