"""What fuzzing found, each as a conversation that used to crash or be refused by Telegram; then
the fuzzer itself (tests/fuzzing.py): every state of every role, random input, no exception, no
silent update, nothing Telegram would refuse."""

from __future__ import annotations

import yaml

from bot.settings import load_settings
from bot.units_file import SAMPLE_UNITS, read_units_file
from handlers.programme import DEFAULT_PROGRAMME
from handlers.text import SQL_MAX, parse_id, split_message
from locales.i18n import translator
from storage.models import Role
from tests import fuzzing
from tests.conftest import START
from tests.telegram_fakes import FakeClock, Harness, register
from tests.telegram_html import CALLBACK_DATA_LIMIT, is_blank, parse_html

APOLOGY = "hệ thống gặp sự cố"
# An obligation id as long as people may write one: its buttons must still fit in 64 bytes.
LONG_ID = "bao-cao-chuyen-de-chuyen-doi-so-va-cai-cach-hanh-chinh-cap-xa-phuong-2026"
NOT_UNDERSTOOD = "Bot chưa hiểu nội dung này"


def refused(h) -> list:
    return [c for c in h.request.calls if c.method.endswith("!400")]


async def coordinator(h):
    return await register(h, 301, "Phạm Văn Điều", Role.COORDINATOR, unit="SO-TTTT")


async def submit_plan(officer) -> str:
    """A plan report through the conversation; its number."""
    await officer.say("/report")
    await officer.press("Kế hoạch, chương trình")
    for answer in ("45/KH-UBND", "20/02/2023", "Kế hoạch triển khai", "Phân công nhiệm vụ"):
        await officer.say(answer)
    await officer.press("Bỏ qua")
    await officer.press("Xác nhận")
    return next(word for word in officer.last().text.replace("<b>", " ").replace("</b>", " ")
                .split() if word.startswith("BC-"))


# ---------------------------------------------------------------------------------------------
# 1. Digits that are not ASCII: isdigit() took "²" and "①", which int() refuses

def test_one_parser_takes_exactly_ascii_digits_in_range():
    assert [parse_id(t, 1, 9) for t in ("1", "9", "09", "0", "10", "①", "²", "٣", "３", "1 ",
                                        " 1", "+1", "-1", "", "1.")] == \
        [1, 9, 9, None, None, None, None, None, None, None, None, None, None, None, None]
    assert parse_id(str(SQL_MAX)) == SQL_MAX and parse_id(str(SQL_MAX + 1)) is None
    assert parse_id("9" * 5000) is None  # no giant int is ever made


async def test_circled_and_superscript_digits_are_no_option_numbers(harness):
    officer = await register(harness, 501)
    for typed in ("①", "²", "٣"):  # the menu is offered: a typed number picks from it
        await officer.say(typed)
        assert NOT_UNDERSTOOD in officer.texts()[-2], officer.texts()[-2:]
    await officer.say("/report")
    await officer.press("Hoạt động tuyên truyền")
    await officer.say("①")
    assert "Bấm chọn một trong các lựa chọn" in officer.last().text
    await officer.say("4")  # still a number in plain digits
    assert "Loa truyền thanh cơ sở" not in officer.last().text  # asked the next one
    assert "Hoạt động diễn ra" in officer.last().text or "ngày" in officer.last().text
    assert not any(APOLOGY in text for text in officer.texts())


async def test_status_with_a_superscript_year(harness):
    coord = await coordinator(harness)
    for args in ("²", "２０２６", "٢٠٢٦", "99999999999999999999999", "2026"):
        await coord.say(f"/status {args}")
        assert "Tình hình báo cáo" in coord.last().text, (args, coord.last().text)
    assert not any(APOLOGY in text for text in coord.texts())


# ---------------------------------------------------------------------------------------------
# 2. Forged ids beyond SQLite's 64-bit integers: OverflowError in the query

async def test_forged_ids_out_of_range_are_refused_politely(harness):
    officer = await register(harness, 501)
    await submit_plan(officer)
    coord = await coordinator(harness)
    admin = harness.chat(1, "Quản Trị")
    await admin.say("/start")
    huge = str(2**64)
    for chat, data, answer in [
            (coord, f"r:open:{huge}", "không có quyền xem báo cáo"),
            (coord, f"r:open:{SQL_MAX}", "không có quyền xem báo cáo"),
            (coord, f"rv:ok:{huge}", "không có quyền xem báo cáo"),
            (coord, f"rv:all:{huge}:2026", "Nút bấm này không hợp lệ"),
            (coord, f"rf:{huge}:plan", "Nút bấm này không hợp lệ"),
            (coord, f"kk:open:{huge}", "không có quyền xem phản ánh"),
            (officer, f"kk:rep:{huge}", "không có quyền xem phản ánh"),
            (officer, f"bc:ack:{huge}", "Nút bấm này không hợp lệ"),
            (admin, f"bc:st:{huge}", "Nút bấm này không hợp lệ"),
            (admin, "bc:st:²", "Nút bấm này không hợp lệ"),
            (coord, "set:hour:①", "Nút bấm này không hợp lệ"),
            (coord, "st:year:２０２６", "Nút bấm này không hợp lệ"),
            (coord, "ex:２０２６", "Nút bấm này không hợp lệ")]:
        await chat.press_data(data)
        assert answer in chat.last().text, (data, chat.last().text)
    assert not any(APOLOGY in t for c in (officer, coord, admin) for t in c.texts())


# ---------------------------------------------------------------------------------------------
# 3. "Edit history" of a report never edited (the button shows after an edit; data is forged)

async def test_history_of_a_report_never_edited(harness):
    officer = await register(harness, 501)
    number = await submit_plan(officer)
    coord = await coordinator(harness)
    await coord.say("/reports")
    await coord.press(number)
    report_id = next(d for _label, d in coord.last().buttons if d.startswith("rv:ok:"))[6:]
    assert "r:hist:" not in str(coord.last().buttons)
    await coord.press_data(f"r:hist:{report_id}")
    assert coord.last().text == f"Báo cáo {number} chưa được chỉnh sửa kể từ khi gửi."


# ---------------------------------------------------------------------------------------------
# 4. A long obligation id pushed button data past Telegram's 64 bytes: /status refused whole

async def test_long_obligation_ids_still_make_working_buttons(tmp_path):
    programme = yaml.safe_load(DEFAULT_PROGRAMME.read_text(encoding="utf-8"))
    programme["adhoc_periods"].append({"id": LONG_ID, "name": {"vi": "chuyên đề"},
                                       "start": "2025-12-15", "end": "2026-12-14"})
    programme["obligations"] += [
        {"id": LONG_ID, "name": {"vi": "Báo cáo chuyên đề"}, "report": "model",
         "unit_kinds": ["district"], "period": LONG_ID, "due": "2026-12-19"},
        {"id": LONG_ID + "-nam", "name": {"vi": "Báo cáo năm chuyên đề"},
         "report": "periodic", "unit_kinds": ["district"], "period": "annual",
         "due_days_after_end": 10}]
    (tmp_path / "programme.yaml").write_text(yaml.safe_dump(programme, allow_unicode=True),
                                             encoding="utf-8")
    settings = load_settings(database_path=tmp_path / "bot.db", admin_ids=[1],
                             telegram_bot_token="123:TEST", programme_file=tmp_path /
                             "programme.yaml")
    h = await Harness(settings, FakeClock(START)).start()
    try:
        async with h.runtime.db.transaction() as tx:
            await tx.units.upsert_many(read_units_file(SAMPLE_UNITS, translator("vi"), set()),
                                       START)
        coord = await coordinator(h)
        await coord.say("/status")
        status = coord.last()
        assert "Tình hình báo cáo" in status.text and refused(h) == []
        buttons = dict(status.buttons)
        assert all(len(data.encode()) <= CALLBACK_DATA_LIMIT for data in buttons.values())
        for name in ("Báo cáo chuyên đề", "Báo cáo năm chuyên đề"):
            await coord.press_data(buttons[f"Chưa gửi: {name}"], status)
            assert coord.last().text.startswith(f"<b>Đơn vị chưa gửi</b>: {name}")
            assert "Q-LECHAN — " in coord.last().text
        admin = h.chat(1, "Quản Trị")
        await admin.say("/start")
        await admin.say("/deadlines")
        assert refused(h) == []
        await admin.press("Đổi hạn: Báo cáo năm chuyên đề")
        assert "Điều chỉnh hạn gửi “Báo cáo năm chuyên đề năm 2026”" in admin.last().text
    finally:
        await h.stop()


# ---------------------------------------------------------------------------------------------
# 5. A split part made only of zero-width spaces (Telegram refuses blank texts), or cut inside
#    an entity

def test_split_parts_are_never_blank_and_never_cut_markup():
    texts = ["<b>Thông báo</b>\n" + "&lt;" * 1000 + " " + "\u200b" * 2000,
             "<b>x</b>\n" + "&amp;" * 3000, "<b>" + "chữ " * 2000 + "</b>",
             "\u200b\n" * 3000 + "a", "a\n" + " \n" * 3000]
    for text in texts:
        parts = split_message(text, 4000)
        assert parts, text[:20]
        for part in parts:
            shown, problem = parse_html(part)
            assert problem is None and not is_blank(shown) and len(part) <= 4000


async def test_a_notice_ending_in_zero_width_spaces_arrives_with_its_button(harness):
    officer = await register(harness, 501)
    admin = harness.chat(1, "Quản Trị")
    await admin.say("/start")
    await admin.say("/broadcast")
    await admin.say("<" * 1000 + " " + "\u200b" * 2000)  # 3,001 characters, 6,001 escaped
    await admin.press("Bỏ qua")
    await admin.press("Mọi đơn vị (cán bộ đầu mối)")
    await admin.press("Gửi ngay")
    await admin.press("Xác nhận")
    assert refused(harness) == []
    notice = [s for s in harness.request.sent(501) if "Thông báo của Sở" in s.text
              or "&lt;" in s.text]
    assert len(notice) == 2 and notice[-1].buttons[0][0] == "Đã nhận"
    await officer.press("Đã nhận")
    assert "đã ghi nhận" in officer.last().text.lower()


# ---------------------------------------------------------------------------------------------
# The fuzzer

def test_fuzz_every_state_of_every_role(tmp_path):
    """A few thousand random inputs over every state: each is answered, nothing fails, and
    Telegram would accept every message (reproducible: each state's inputs come from a seed)."""
    stats = fuzzing.run(tmp_path, per_state=12, max_inputs=3)
    states = fuzzing.build_states()
    assert stats.unreachable == {}
    assert stats.states == {s.label for s in states}, "every state is visited"
    assert stats.examples == 12 * len(states)
    assert stats.findings == [], stats.summary()
