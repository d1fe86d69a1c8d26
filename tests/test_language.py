"""The glossary kept (issue 16): no message names a department (the coordinating body's name comes
from the settings), no word the glossary rules out, and no button too long for a phone, measured
on the real keyboards of a scripted session of every role in both languages."""

from __future__ import annotations

import re

from babel.messages.pofile import read_po

from handlers.core import ACTIONS
from handlers.forms import FORMS
from locales.i18n import LANGUAGES, LOCALES_DIR, translator
from storage.models import Role
from tests.telegram_fakes import register

BUTTON_MAX = 30  # characters a phone shows on one button without cutting it

# A department's name in a message would be wrong after the next merger: the name comes from the
# COORDINATING_BODY setting through {body}. "Sở, ban, ngành" (a kind of unit) is not a name.
DEPARTMENTS = [
    r"\bSở (?!, ban)[A-ZĐ]", r"\bSở (Thông tin|Văn hóa|Khoa học|Nội vụ|Tài chính)",
    r"Thông tin và Truyền thông", r"Văn hóa, Thể thao", r"\bDepartment of\b",
    r"Information and Communications", r"Culture, Sports", r"\bDOIC\b", r"\bSTTTT\b",
]
# Vietnamese the glossary rules out, with what to say instead.
NOT_VI = {
    r"hạn nộp": "hạn gửi báo cáo",
    r"[Tt]rạng thái": "tình trạng",
    r"điều phối": "cán bộ tổng hợp",
    r"phương án": "lựa chọn",
    r"\b[Bb]ạn\b": "đồng chí",
    r"(?<!ban )\bnhân dân\b": "Nhân dân",
    r"toàn Chương trình": "giai đoạn 2023–2030",
    r"[Bb]ản tổng hợp": "bản tin tổng hợp",
    r"kiểm tra(?!, giám sát| lại| cài đặt|:| mạng| DATABASE_PATH| danh sách| ở phần)":
        "kiểm tra, giám sát",
    r"[Đđ]ề nghị (nhập|chọn|viết|ghi)": "say what is wrong and what to type",
}
NOT_EN = {r"\b[Cc]omrade": "(nothing: plain English)", r"\bquarter \{": "Q4 2026",
          r"\d\.\d{3}\b": "1,200"}


def _strings(language: str, with_ids: bool = False) -> list[tuple[str, str]]:
    """(msgid, text) for each translation of a catalog (and each msgid, if asked), plural forms
    one by one."""
    path = LOCALES_DIR / language / "LC_MESSAGES" / "baocao.po"
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    found = []
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        found += [(ids[0], text) for text in (*(ids if with_ids else ()), *strings)]
    return found


def test_no_message_names_a_department():
    named = [f"{language}: {text!r}" for language in LANGUAGES
             for _msgid, text in _strings(language, with_ids=True)
             if any(re.search(pattern, text) for pattern in DEPARTMENTS)]
    assert named == []


def test_the_patterns_find_a_department_and_spare_a_kind_of_unit():
    def hit(text: str) -> bool:
        return any(re.search(pattern, text) for pattern in DEPARTMENTS)

    assert hit("Thông báo của Sở Thông tin và Truyền thông")
    assert hit("Notice from the Department of Culture, Sports and Tourism")
    assert not hit("Sở, ban, ngành") and not hit("Thông báo của {body}")


def test_no_word_the_glossary_rules_out():
    found = [f"vi: {text!r} (say {instead})" for _msgid, text in _strings("vi")
             if text != _msgid for pattern, instead in NOT_VI.items()
             if re.search(pattern, text)]
    found += [f"en: {text!r} (say {instead})" for _msgid, text in _strings("en")
              for pattern, instead in NOT_EN.items() if re.search(pattern, text)]
    assert found == []


async def _crawl(chat, commands: list[str], depth: int = 2) -> None:
    """Each command, then every button it shows, and the buttons those show (to `depth`).
    Buttons alike but for a number (one per report, per unit, per form step) are pressed once."""
    pressed: set[str] = set()
    for command in commands:
        await chat.say(command)
        await _press_all(chat, chat.last().buttons, depth, pressed)
        await chat.say("/cancel")


async def _press_all(chat, buttons: list[tuple[str, str]], depth: int, pressed: set[str]) -> None:
    if depth == 0:
        return
    for _label, data in buttons:
        shape = re.sub(r"[0-9]+", "#", data)
        # Not switching language or taking access away mid-crawl.
        if shape in pressed or data.startswith(("lang:", "pp:de", "pp:un")):
            continue
        pressed.add(shape)
        before = len(chat.h.request.sent(chat.chat_id))
        await chat.press_data(data)
        sent = chat.h.request.sent(chat.chat_id)[before:]
        await _press_all(chat, [b for s in sent for b in s.buttons], depth - 1, pressed)
        await chat.say("/cancel")


def test_every_form_option_and_menu_entry_fits_a_button():
    """Options behind a typed question are out of the crawl's reach: measured here, in both
    languages, from the declarations themselves."""
    labels = [label for form in FORMS.values() for question in form.questions
              for _value, label in question.options]
    labels += [found.label for found in ACTIONS.values()]
    too_long = sorted({f"{language}: {text}" for language in LANGUAGES
                       for text in map(translator(language)._, labels) if len(text) > BUTTON_MAX})
    assert too_long == []


def _commands(role: Role) -> list[str]:
    return [f"/{name}" for name, found in ACTIONS.items() if role in found.roles] + ["/start"]


async def test_no_button_is_longer_than_a_phone_shows(harness):
    h = harness
    officer = await register(h, 501, "Trần Thị Bình", unit="Q-LECHAN")
    # Something for each desk to act on: a report and a difficulty of the unit.
    await officer.say("/report")
    await officer.press("Tuyên truyền" if any(
        label == "Tuyên truyền" for label, _d in officer.last().buttons)
        else officer.last().buttons[1][0])
    await officer.say("/cancel")
    await officer.say("/difficulty")
    await officer.say("Thiếu kinh phí in tài liệu tuyên truyền")
    await officer.press("Kinh phí")
    await officer.press("Bình thường")
    await officer.press("Bỏ qua")
    await officer.press("Bỏ qua")
    await officer.press("Xác nhận")
    # The periodic report's "change an answer" list: its figures have the longest labels.
    await officer.say("/report")
    await officer.press("Báo cáo định kỳ")
    await officer.press_data("rp:2026", officer.last())
    await officer.say("Hoàn thành")
    await officer.say("Không có")
    await officer.press("Bỏ qua")
    await officer.press("Bỏ qua")
    await officer.press("Sửa một câu trả lời")
    assert "Số mô hình sáng tạo, cách…" in [label for label, _ in officer.last().buttons]
    await officer.say("/cancel")
    coordinator = await register(h, 502, "Lê Văn Cường", Role.COORDINATOR, None)
    leader = await register(h, 503, "Phạm Minh Đức", Role.LEADER, None)
    admin = h.chat(1, "Phạm Thu Hà")
    await admin.say("/start")
    for chat, role in ((officer, Role.OFFICER), (coordinator, Role.COORDINATOR),
                       (leader, Role.LEADER), (admin, Role.ADMIN)):
        await _crawl(chat, _commands(role))
    for chat, role in ((officer, Role.OFFICER), (admin, Role.ADMIN)):
        await chat.say("/language")
        await chat.press("English")
        await _crawl(chat, _commands(role), depth=1)

    labels = {label for sent in h.request.sent() for label, _data in sent.buttons}
    assert len(labels) > 80, sorted(labels)  # the crawl reached the menus, forms and desks
    too_long = sorted(label for label in labels if len(label) > BUTTON_MAX)
    assert too_long == [], "\n".join(too_long)
