"""Registration, roles, menus and the form engine, through the real Telegram Application."""

from __future__ import annotations

from datetime import UTC, datetime

from handlers import forms
from handlers.forms import Form, Kind, Question
from locales.i18n import N_, translator
from storage.models import Role
from tests.telegram_fakes import invite, register

START = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)  # 09:00 in Hà Nội


async def _submit(ctx, answers, params):
    await ctx.tx.meta.set("test_form", repr(sorted(answers.items())))
    ctx.reply("Đã lưu.")


TEST_FORM = forms.register(Form(
    id="test_form", title=N_("Test form"), submit=_submit, roles=frozenset({Role.OFFICER}),
    questions=(
        Question("title", Kind.TEXT, N_("Title"), N_("Title?"), max_length=50),
        Question("held_on", Kind.DATE, N_("Date"), N_("Date?")),
        Question("people", Kind.INTEGER, N_("People"), N_("People?"), max_value=100000),
        Question("form", Kind.CHOICE, N_("Form"), N_("Form?"),
                 options=(("online", "Trực tuyến"), ("onsite", "Trực tiếp"))),
        Question("groups", Kind.MULTI, N_("Groups"), N_("Groups?"),
                 options=(("a", "Cán bộ, công chức"), ("b", "Đảng viên"), ("c", "Người dân"))),
        Question("ok", Kind.YESNO, N_("Done"), N_("Done?")),
        Question("files", Kind.ATTACHMENT, N_("Files"), N_("Files?"), optional=True),
    )))


async def officer(h, user_id=501, unit="Q-LECHAN", name="Trần Thị Bình"):
    return await register(h, user_id, name, unit=unit)


async def test_unknown_user_gets_polite_refusal(harness):
    stranger = harness.chat(77, language="en")
    await stranger.say("xin chào")
    assert "invite code" in stranger.last().text
    vi = harness.chat(78)
    await vi.say("/report")
    assert "mã mời" in vi.last().text
    async with harness.runtime.db.transaction() as tx:
        assert await tx.contacts.by_identity("telegram", "77") is None


async def test_registration_with_valid_used_expired_and_forged_codes(harness):
    code = await invite(harness)
    chat = harness.chat(501, "Trần Thị Bình")
    await chat.say(f"/start {code}")
    welcome = chat.h.request.sent(501)[-2].text
    assert "Trần Thị Bình" in welcome and "Ủy ban nhân dân quận Lê Chân" in welcome
    assert "cán bộ đầu mối" in welcome
    assert chat.last().buttons, "the main menu follows the welcome"

    other = harness.chat(502)
    await other.say(f"/start {code}")
    assert "đã được sử dụng" in other.last().text

    expired = await invite(harness, days=1)
    harness.clock.advance(days=2)
    late = harness.chat(503)
    await late.say(f"/start {expired}")
    assert "hết hạn" in late.last().text

    forged = harness.chat(504)
    await forged.say("/start AAAAAAAAAAAA")
    assert "không hợp lệ" in forged.last().text
    async with harness.runtime.db.transaction() as tx:
        assert await tx.contacts.by_identity("telegram", "501") is not None
        for user in ("502", "503", "504"):
            assert await tx.contacts.by_identity("telegram", user) is None


async def test_language_follows_telegram_then_can_be_switched(harness):
    chat = harness.chat(601, "John", language="en-US")
    await chat.say(f"/start {await invite(harness)}")
    assert "Welcome, John" in harness.request.sent(601)[-2].text
    await chat.say("/language")
    await chat.press("Tiếng Việt")
    assert "tiếng Việt" in harness.request.sent(601)[-2].text
    await chat.say("/help")
    assert "/cancel" in chat.last().text and "Các lệnh" in chat.last().text


async def test_admin_from_settings_and_role_refusal(harness):
    admin = harness.chat(1, "Quản trị")
    await admin.say("/start")
    assert "Xin chào đồng chí Quản trị (quản trị viên)" in admin.last().text
    await admin.say("/units")
    assert "Q-LECHAN" in admin.last().text or any("Q-LECHAN" in t for t in admin.texts())

    chat = await officer(harness)
    await chat.say("/units")
    assert "không dành cho vai trò" in chat.last().text
    await chat.press_data("m:invite")
    assert "không dành cho vai trò" in chat.last().text
    await chat.press_data("zz:forged")
    assert "không hợp lệ" in chat.last().text


async def test_admin_invites_from_chat(harness):
    admin = harness.chat(1, "Quản trị")
    await admin.say("/invite")
    await admin.press("Cán bộ đầu mối của đơn vị")
    await admin.say("le chan")
    await admin.say("2")
    await admin.press("Xác nhận")
    text = admin.last().text
    codes = [line.split("</code>")[0].replace("<code>", "") for line in text.splitlines()
             if line.startswith("<code>")]
    assert len(codes) == 2 and "t.me/baocao_test_bot?start=" in text
    newcomer = harness.chat(700, "Lê Văn Cường")
    await newcomer.say(f"/start {codes[0]}")
    assert "Lê Chân" in harness.request.sent(700)[-2].text


async def start_test_form(h, chat):
    async with h.runtime.db.transaction() as tx:
        contact = await tx.contacts.by_identity("telegram", str(chat.user_id))
        from handlers.context import Ctx
        from handlers.types import Inbound
        ctx = Ctx(tx, Inbound("telegram", "x", str(chat.user_id), str(chat.chat_id)), contact,
                  translator("vi"), h.clock(), h.runtime.config)
        await forms.start(ctx, TEST_FORM)
        tx.sessions.save(contact.id, ctx.flow, ctx.state.dump(), h.clock())
        await h.runtime.write(tx, ctx.out, h.clock())
    await h.drain()


async def test_full_form_with_bad_answers_of_every_type(harness):
    chat = await officer(harness)
    await start_test_form(harness, chat)
    assert "Title?" in chat.last().text and "câu 1/7" in chat.last().text

    await chat.say("   ")
    assert "không được để trống" in chat.last().text
    await chat.say("x" * 51)
    assert "tối đa 50 ký tự" in chat.last().text
    await chat.send_sticker()
    assert "trả lời bằng chữ hoặc bấm nút" in chat.last().text and "Title?" in chat.last().text
    await chat.say("Hội nghị <b>quán triệt</b>")

    await chat.send_sticker()
    assert "Date?" in chat.last().text
    await chat.say("31/02/2026")
    assert "không phải là ngày" in chat.last().text
    await chat.say("01/01/2027")
    assert "chưa đến" in chat.last().text
    await chat.say("hôm qua")

    await chat.say("nhiều")
    assert "số nguyên" in chat.last().text
    await chat.say("-5")
    assert "từ 0 đến 100.000" in chat.last().text
    await chat.say("1.200")

    await chat.say("không biết")
    assert "chọn một trong các lựa chọn" in chat.last().text
    await chat.say("truc tuyen")

    await chat.say("1, 9")
    assert "“9” không có trong" in chat.last().text
    await chat.press("Người dân")
    await chat.press("Cán bộ, công chức")
    await chat.press("Xong")

    await chat.say("có lẽ")
    assert "chọn một trong các lựa chọn" in chat.last().text
    await chat.say("có")

    await chat.say("đây là chữ")
    assert "cần một ảnh hoặc tài liệu" in chat.last().text
    await chat.send_photo("PHOTO-9")
    assert "Đã nhận 1 tệp" in chat.last().text
    await chat.send_document("DOC-9")
    await chat.press("Xong")

    summary = chat.last().text
    assert "&lt;b&gt;quán triệt&lt;/b&gt;" in summary
    assert "09/03/2026" in summary and "1.200" in summary and "Trực tuyến" in summary
    assert "Cán bộ, công chức, Người dân" in summary and "2 tệp" in summary

    await chat.press("Sửa một câu trả lời")
    await chat.press("People")
    await chat.say("1,500")
    assert "1.500" in chat.last().text
    await chat.press("Xác nhận")
    assert chat.last().text == "Đã lưu."
    async with harness.runtime.db.transaction() as tx:
        saved = await tx.meta.get("test_form")
    assert "('people', 1500)" in saved and "'PHOTO-9'" in saved and "['a', 'c']" in saved


async def test_resume_after_restart_and_stale_button(harness):
    chat = await officer(harness)
    await start_test_form(harness, chat)
    await chat.say("Tiêu đề")
    await harness.restart()
    await chat.say("hôm nay")
    assert "People?" in chat.last().text
    await chat.say("10")
    await chat.say("1")
    # a button from an earlier question is stale
    old = [s for s in harness.request.sent(chat.chat_id) if "Form?" in s.text][-1]
    first_button, second_button = old.buttons[0][1], old.buttons[1][1]
    await chat.press_data(first_button, old)
    assert "bước trước" in chat.last().text and "Groups?" in chat.last().text
    await chat.say("/cancel")
    assert "Đã hủy" in harness.request.sent(chat.chat_id)[-2].text
    await chat.press_data(second_button, old)  # pressed from another device, say
    assert "không còn hiệu lực" in chat.last().text


async def test_idle_form_becomes_draft_and_resumes(harness):
    chat = await officer(harness)
    await start_test_form(harness, chat)
    await chat.say("Tiêu đề")
    harness.clock.advance(hours=13)
    await harness.runtime.tick()
    await harness.drain()
    assert "tạm dừng" in chat.last().text
    await chat.press("Tiếp tục")
    assert "Date?" in chat.last().text
    await chat.say("hôm nay")
    assert "People?" in chat.last().text


async def test_duplicate_update_is_ignored(harness):
    chat = await officer(harness)
    update = chat.message(text="/help", entities=[{"type": "bot_command", "offset": 0,
                                                   "length": 5}])
    await harness.feed(update)
    count = len(harness.request.sent(chat.chat_id))
    await harness.feed(update)
    assert len(harness.request.sent(chat.chat_id)) == count


async def test_flood_is_refused_without_touching_state(harness):
    chat = await officer(harness)
    await start_test_form(harness, chat)
    harness.clock.advance(seconds=31)
    harness.think_seconds = 0
    for n in range(40):  # 40 messages within the same 30 seconds; the limit is 30
        await chat.say(f"Tiêu đề {n}")
    refusals = [t for t in chat.texts() if "quá nhanh" in t]
    assert len(refusals) == 1
    async with harness.runtime.db.transaction() as tx:
        contact = await tx.contacts.by_identity("telegram", str(chat.user_id))
        _flow, state, _at = await tx.sessions.get(contact.id)
        seen = await tx.conn.execute_fetchall("SELECT COUNT(*) FROM processed_updates")
    # Only what came within the limit reached the form; the flood touched nothing.
    assert state["form"]["answers"]["title"] == "Tiêu đề 0"
    assert seen[0][0] == 1 + 30
    harness.clock.advance(seconds=31)
    await chat.say("/help")
    assert "/cancel" in chat.last().text


async def test_long_message_refused(harness):
    chat = await officer(harness)
    await chat.say("a" * 5000)
    assert "quá dài" in chat.last().text


async def test_button_press_is_answered_and_message_edited(harness):
    chat = await officer(harness)
    await chat.say("/language")
    await chat.press("English")
    methods = [c.method for c in harness.request.calls]
    assert "answerCallbackQuery" in methods
    edits = [c for c in harness.request.calls if c.method == "editMessageText"]
    assert edits and "✓ <b>English</b>" in edits[-1].text and not edits[-1].buttons


async def test_group_chat_commands_buttons_and_private_forms(harness):
    admin_in_group = harness.chat(1, "Quản trị", chat_id=-100500)
    await admin_in_group.say("/help")  # never written privately: the group is not their chat
    assert "cửa sổ trò chuyện riêng" in admin_in_group.last().text
    async with harness.runtime.db.transaction() as tx:
        assert await tx.contacts.by_identity("telegram", "1") is None
    await harness.chat(1, "Quản trị").say("/start")
    await admin_in_group.say("/help")
    assert "/invite" in admin_in_group.last().text
    sent_before = len(harness.request.sent(-100500))
    await admin_in_group.say("mọi người họp lúc 9 giờ nhé")  # chatter: the bot stays quiet
    assert len(harness.request.sent(-100500)) == sent_before
    await admin_in_group.say("/invite")
    assert "trò chuyện riêng" in admin_in_group.last().text
    assert "https://t.me/baocao_test_bot" in admin_in_group.last().text

    # An officer presses the admin's menu button in the group: the presser's role counts.
    officer_chat = await officer(harness, user_id=502)
    officer_in_group = harness.chat(502, "Trần Thị Bình", chat_id=-100500)
    await admin_in_group.say("/start")
    menu = admin_in_group.last()
    await officer_in_group.press("Cấp mã mời")
    # The refusal is for the presser only (issue 13): in their private chat, and the group's
    # message keeps its text and buttons.
    assert "không dành cho vai trò" in officer_chat.last().text
    assert officer_chat.last().chat_id == "502"
    assert admin_in_group.last() is menu and ("Cấp mã mời", "m:invite") in menu.buttons
    assert not [c for c in harness.request.calls if c.method == "editMessageText"
                and c.chat_id == "-100500"]

    stranger_in_group = harness.chat(999, "Người lạ", chat_id=-100500)
    sent_before = len(harness.request.sent(-100500))
    await stranger_in_group.say("xin chào cả nhà")
    assert len(harness.request.sent(-100500)) == sent_before


async def test_handler_error_is_logged_and_user_gets_apology(harness, caplog):
    from handlers import core

    async def broken(ctx, _args):
        await ctx.tx.meta.set("half-done", "1")
        raise RuntimeError("boom")

    core.action(core.Action("broken", N_("Help"), N_("Help"), core.ALL_ROLES, broken,
                            in_menu=False))
    try:
        chat = await officer(harness)
        await chat.say("/broken")
    finally:
        del core.ACTIONS["broken"]
    assert "Xin lỗi" in chat.last().text and "gặp sự cố" in chat.last().text
    failed = [r for r in caplog.records if "failed" in r.getMessage()]
    assert failed and "update" in failed[0].getMessage()
    async with harness.runtime.db.transaction() as tx:
        assert await tx.meta.get("half-done") is None  # the failed step left nothing behind


async def test_an_invite_used_in_a_group_binds_nothing(harness):
    chat = await officer(harness)
    in_group = harness.chat(501, "Trần Thị Bình", chat_id=-100700)
    await in_group.say(f"/start {await invite(harness, Role.COORDINATOR, 'SO-TTTT')}")
    assert "cửa sổ trò chuyện riêng" in in_group.last().text
    async with harness.runtime.db.transaction() as tx:
        contact = await tx.contacts.by_identity("telegram", "501")
        identities = await tx.contacts.identities(contact.id)
    assert contact.role is Role.OFFICER and [i.chat_id for i in identities] == ["501"]
    await chat.say("/help")
    assert "/report" in chat.last().text
