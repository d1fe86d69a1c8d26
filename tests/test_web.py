"""The web desk over HTTP on the real runtime and fake Bot API: the Mini App's signature, the
one-time sign-in link and its session cookie, officers kept to their unit, CSRF, and actions
that reach the officers' chats through the handlers' own code."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import replace
from urllib.parse import quote, urlencode

import httpx
import pytest
import tornado.httpserver
import tornado.netutil

from bot import health
from bot.web import check_init_data, image_type
from storage.models import Role
from tests.telegram_fakes import invite, register

TOKEN = "123:TEST"  # the harness's bot token


def init_data(user_id: int, auth_date: int, token: str = TOKEN) -> str:
    """initData as Telegram signs it for a Mini App opened by `user_id`."""
    fields = {"auth_date": str(auth_date), "query_id": "AAHdF6IQAAAAAN0XohDhrOrc",
              "user": json.dumps({"id": user_id, "first_name": "An", "language_code": "vi"})}
    check = "\n".join(f"{k}={v}" for k, v in sorted(fields.items()))
    secret = hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()
    fields["hash"] = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    return urlencode(fields)


class Web:
    """An HTTP client of the harness's one web server (ops + desk), like a browser's."""

    def __init__(self, harness, base: str):
        self.h, self.base = harness, base

    def client(self, **kwargs) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base, follow_redirects=False, **kwargs)

    def now(self) -> int:
        return int(self.h.clock().timestamp())

    async def link(self, chat) -> str:
        """The sign-in link /web gives in the person's private chat."""
        await chat.say("/web")
        found = re.search(r"(/desk/signin\?code=[\w-]+)", chat.last().text)
        assert found, chat.last().text
        return found.group(1)

    async def sign_in(self, client: httpx.AsyncClient, chat) -> None:
        link = await self.link(chat)
        code = link.split("code=")[1]
        answer = await client.post("/desk/signin", data={"code": code})
        assert answer.status_code == 302, answer.text

    def miniapp(self, data: str) -> httpx.AsyncClient:
        return self.client(cookies={"baocao_tma": quote(data)})


@pytest.fixture
async def web(harness):
    app = health.health_app(harness.runtime)
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    server = tornado.httpserver.HTTPServer(app, xheaders=True)
    server.add_sockets(sockets)
    yield Web(harness, f"http://127.0.0.1:{sockets[0].getsockname()[1]}")
    server.stop()


async def csrf_of(client: httpx.AsyncClient, path: str) -> str:
    page = await client.get(path)
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text[:500]
    return found.group(1)


async def report_of(officer) -> int:
    """The officer sends a dissemination report; its id."""
    await officer.say("/report")
    await officer.press("Hoạt động tuyên truyền")
    await officer.press("Loa truyền thanh cơ sở")
    for answer in ("02/03/2026", "Nhân dân", "1.200", "Phát thanh"):
        await officer.say(answer)
    await officer.press("Bỏ qua")
    await officer.press("Xác nhận")
    found = re.search(r"BC-2026-(\d+)", officer.last().text)
    assert found, officer.last().text
    return int(found.group(1))


# ---------------------------------------------------------------------------------------------
# The Mini App's signature

def test_signature_rules():
    now = 1_773_108_000
    good = init_data(42, now - 10)
    assert check_init_data(good, TOKEN, now, 3600)["id"] == 42
    forged = re.sub(r"hash=[0-9a-f]{4}", "hash=0000", good)
    assert check_init_data(forged, TOKEN, now, 3600) is None
    tampered = good.replace("%22id%22%3A+42", "%22id%22%3A+43")
    assert tampered != good and check_init_data(tampered, TOKEN, now, 3600) is None
    assert check_init_data(init_data(42, now - 3601), TOKEN, now, 3600) is None  # stale
    assert check_init_data(init_data(42, now - 10, "456:OTHER"), TOKEN, now, 3600) is None
    assert check_init_data("", TOKEN, now, 3600) is None
    assert check_init_data("auth_date=1&user=%7B%7D", TOKEN, now, 3600) is None


async def test_miniapp_requests_checked_every_time(harness, web):
    coordinator = await register(harness, 301, "Phạm Văn Điều", Role.COORDINATOR, "SO-TTTT")
    assert coordinator is not None
    async with web.miniapp(init_data(301, web.now() - 5)) as client:
        page = await client.get("/desk/")
        assert page.status_code == 200 and "Phạm Văn Điều" in page.text
        assert page.headers["Cache-Control"] == "no-store"
    async with web.miniapp(init_data(301, web.now() - 5, "456:OTHER")) as client:
        assert (await client.get("/desk/")).status_code == 401  # another bot's token
    forged = re.sub(r"hash=\w+", "hash=" + "ab" * 32, init_data(301, web.now() - 5))
    async with web.miniapp(forged) as client:
        assert (await client.get("/desk/")).status_code == 401
    async with web.miniapp(init_data(301, web.now() - 3601)) as client:
        assert (await client.get("/desk/")).status_code == 401  # auth_date too old
    async with web.miniapp(init_data(777, web.now() - 5)) as client:
        assert (await client.get("/desk/")).status_code == 401  # signed, but no role here
    # The role is read on every request: taken away, the same signature opens nothing.
    data = init_data(301, web.now() - 5)
    async with web.miniapp(data) as client:
        assert (await client.get("/desk/reports")).status_code == 200
        async with harness.runtime.db.transaction() as tx:
            contact = await tx.contacts.by_identity("telegram", "301")
            await tx.contacts.set_active(contact.id, False, harness.clock())
        assert (await client.get("/desk/reports")).status_code == 401


# ---------------------------------------------------------------------------------------------
# The one-time link and the session

async def test_link_works_once_and_opens_a_strict_cookie(harness, web):
    coordinator = await register(harness, 301, "Phạm Văn Điều", Role.COORDINATOR, "SO-TTTT")
    link = await web.link(coordinator)
    assert "10 phút" in coordinator.last().text
    async with web.client() as client:
        # A GET (a link preview) shows a button and uses nothing up.
        shown = await client.get(link)
        assert shown.status_code == 200 and 'method="post"' in shown.text
        code = link.split("code=")[1]
        first = await client.post("/desk/signin", data={"code": code})
        assert first.status_code == 302 and first.headers["Location"] == "/desk/"
        cookie = first.headers["Set-Cookie"]
        assert "baocao_session=" in cookie and "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie and "Path=/desk" in cookie
        assert "Secure" not in cookie  # plain http on this machine
        again = await client.post("/desk/signin", data={"code": code})
        assert again.status_code == 410
    async with web.client() as other:
        assert (await other.post("/desk/signin", data={"code": code})).status_code == 410


async def test_link_expires_and_cookie_is_secure_over_https(harness, web):
    coordinator = await register(harness, 301, "Phạm Văn Điều", Role.COORDINATOR, "SO-TTTT")
    stale = (await web.link(coordinator)).split("code=")[1]
    harness.clock.advance(minutes=11)
    async with web.client() as client:
        assert (await client.post("/desk/signin", data={"code": stale})).status_code == 410
        fresh = (await web.link(coordinator)).split("code=")[1]
        # Behind the HTTPS proxy (X-Forwarded-Proto): the cookie is Secure.
        answer = await client.post("/desk/signin", data={"code": fresh},
                                   headers={"X-Forwarded-Proto": "https"})
        assert answer.status_code == 302 and "Secure" in answer.headers["Set-Cookie"]


async def test_session_ends_on_signout_after_hours_and_on_role_change(harness, web):
    coordinator = await register(harness, 301, "Phạm Văn Điều", Role.COORDINATOR, "SO-TTTT")
    async with web.client() as client:
        await web.sign_in(client, coordinator)
        assert (await client.get("/desk/")).status_code == 200
        token = await csrf_of(client, "/desk/")
        assert (await client.post("/desk/signout", data={"csrf": token})).status_code == 200
        assert (await client.get("/desk/")).status_code == 401
    async with web.client() as client:
        await web.sign_in(client, coordinator)
        harness.clock.advance(hours=12, minutes=1)
        assert (await client.get("/desk/")).status_code == 401
    async with web.client() as client:
        await web.sign_in(client, coordinator)
        assert (await client.get("/desk/")).status_code == 200
        async with harness.runtime.db.transaction() as tx:  # made a leader mid-session
            contact = await tx.contacts.by_identity("telegram", "301")
            await tx.contacts.update(contact.id, unit_id=contact.unit_id, role=Role.LEADER)
        assert (await client.get("/desk/")).status_code == 401
        async with harness.runtime.db.transaction() as tx:  # even given back, it stays ended
            await tx.contacts.update(contact.id, unit_id=contact.unit_id, role=Role.COORDINATOR)
        assert (await client.get("/desk/")).status_code == 401


# ---------------------------------------------------------------------------------------------
# Officers see their own unit; actions as in chat, with CSRF

async def test_officer_sees_only_their_unit(harness, web):
    le_chan = await register(harness, 501, "Trần Thị Bình", unit="Q-LECHAN")
    ngo_quyen = await register(harness, 502, "Đỗ Văn Cần", unit="Q-NGOQUYEN")
    mine, theirs = await report_of(le_chan), await report_of(ngo_quyen)
    async with harness.runtime.db.read() as tx:
        other_unit = (await tx.units.by_code("Q-NGOQUYEN")).id
        own_unit = (await tx.units.by_code("Q-LECHAN")).id
    async with web.client() as client:
        await web.sign_in(client, le_chan)
        listing = await client.get("/desk/reports", params={"unit": "Q-NGOQUYEN"})
        assert listing.status_code == 200
        assert f"BC-2026-{mine:04d}" in listing.text
        assert f"BC-2026-{theirs:04d}" not in listing.text
        assert (await client.get(f"/desk/reports/{mine}")).status_code == 200
        assert (await client.get(f"/desk/reports/{theirs}")).status_code == 404
        assert (await client.get(f"/desk/units/{other_unit}")).status_code == 404
        assert (await client.get(f"/desk/units/{own_unit}")).status_code == 200
        grid = await client.get("/desk/")
        assert "Lê Chân" in grid.text and "Ngô Quyền" not in grid.text
        for page in ("/desk/broadcasts", "/desk/charts", "/desk/downloads",
                     "/desk/download/export?period=2026"):
            assert (await client.get(page)).status_code == 403, page
        # No review buttons for an officer, and a forged approval changes nothing.
        token = await csrf_of(client, "/desk/")
        answer = await client.post(f"/desk/reports/{mine}",
                                   data={"csrf": token, "action": "approve"},
                                   follow_redirects=True)
        assert "không dành cho vai trò" in answer.text or "Xin lỗi" in answer.text
    async with harness.runtime.db.read() as tx:
        assert (await tx.reports.get(mine)).status.value == "received"


async def test_approve_needs_csrf_and_tells_the_officer(harness, web):
    officer = await register(harness, 501, "Trần Thị Bình", unit="Q-LECHAN")
    coordinator = await register(harness, 301, "Phạm Văn Điều", Role.COORDINATOR, "SO-TTTT")
    report_id = await report_of(officer)
    async with web.client() as client:
        await web.sign_in(client, coordinator)
        page = await client.get(f"/desk/reports/{report_id}")
        assert "Nhân dân" in page.text and 'id="approve"' in page.text
        refused = await client.post(f"/desk/reports/{report_id}", data={"action": "approve"})
        assert refused.status_code == 403
        wrong = await client.post(f"/desk/reports/{report_id}",
                                  data={"action": "approve", "csrf": "x" * 32})
        assert wrong.status_code == 403
        async with harness.runtime.db.read() as tx:
            assert (await tx.reports.get(report_id)).status.value == "received"
        token = await csrf_of(client, f"/desk/reports/{report_id}")
        done = await client.post(f"/desk/reports/{report_id}",
                                 data={"action": "approve", "csrf": token},
                                 follow_redirects=True)
        flash = re.search(r'<p class="flash">(.*?)</p>', done.text)
        assert flash and f"BC-2026-{report_id:04d}" in flash.group(1), done.text[:800]
        assert 'id="approve"' not in done.text  # approved: no more review buttons
        async with harness.runtime.db.read() as tx:
            assert (await tx.reports.get(report_id)).status.value == "approved"
    await harness.drain()
    assert f"BC-2026-{report_id:04d}" in officer.last().text
    assert "✅" in officer.last().text


async def test_send_back_and_answer_a_difficulty(harness, web):
    officer = await register(harness, 501, "Trần Thị Bình", unit="Q-LECHAN")
    coordinator = await register(harness, 301, "Phạm Văn Điều", Role.COORDINATOR, "SO-TTTT")
    report_id = await report_of(officer)
    await officer.say("/difficulty")
    await officer.say("Chưa có tài liệu hướng dẫn")
    await officer.press("Kế hoạch, hướng dẫn")
    await officer.press("Bình thường")
    await officer.press("Bỏ qua")
    await officer.press("Bỏ qua")
    await officer.press("Xác nhận")
    async with web.client() as client:
        await web.sign_in(client, coordinator)
        token = await csrf_of(client, f"/desk/reports/{report_id}")
        empty = await client.post(f"/desk/reports/{report_id}", follow_redirects=True,
                                  data={"action": "send_back", "csrf": token, "note": "  "})
        assert "không được để trống" in empty.text.lower()
        await client.post(f"/desk/reports/{report_id}", follow_redirects=True, data={
            "action": "send_back", "csrf": token, "note": "Bổ sung số người tham dự"})
        await harness.drain()
        assert "Bổ sung số người tham dự" in officer.last().text
        listing = await client.get("/desk/difficulties")
        found = re.search(r'href="/desk/difficulties/(\d+)">(KK-2026-\d+)', listing.text)
        assert found, listing.text
        await client.post(f"/desk/difficulties/{found.group(1)}", follow_redirects=True, data={
            "action": "ans", "csrf": token, "text": "Tài liệu đã gửi qua hệ thống"})
        await harness.drain()
        assert "Tài liệu đã gửi qua hệ thống" in officer.last().text
        thread = await client.get(f"/desk/difficulties/{found.group(1)}")
        assert "Tài liệu đã gửi qua hệ thống" in thread.text


async def test_menu_button_and_miniapp_button_need_https(harness, web):
    from bot.settings import load_settings
    from bot.telegram import _menu_button

    await _menu_button(harness.app, harness.settings)  # http: Telegram would refuse it
    assert not [c for c in harness.request.calls if c.method == "setChatMenuButton"]
    secure = load_settings(telegram_bot_token="123:TEST",
                           web_public_url="https://desk.example.gov.vn")
    await _menu_button(harness.app, secure)
    call = next(c for c in harness.request.calls if c.method == "setChatMenuButton")
    button = call.params["menu_button"]
    button = json.loads(button) if isinstance(button, str) else button
    assert button["web_app"]["url"] == "https://desk.example.gov.vn/desk/app"
    # /web on Telegram with an https desk: the link, and a button opening the Mini App.
    harness.runtime.config = replace(harness.runtime.config,
                                     web_url="https://desk.example.gov.vn")
    coordinator = await register(harness, 301, "Phạm Văn Điều", Role.COORDINATOR, "SO-TTTT")
    await coordinator.say("/web")
    assert "https://desk.example.gov.vn/desk/signin?code=" in coordinator.last().text
    assert coordinator.last().buttons == [("Mở bàn làm việc",
                                           "https://desk.example.gov.vn/desk/app")]


async def test_web_is_in_the_menu_and_help_of_the_desk_roles(harness, web):
    h = harness
    coordinator = await register(h, 301, "Phạm Văn Điều", Role.COORDINATOR, "SO-TTTT")
    leader = await register(h, 401, "Lê Văn Lãnh", Role.LEADER, unit=None)
    officer = await register(h, 501, "Trần Thị Bình", unit="Q-LECHAN")
    admin = h.chat(1, "Quản trị")
    await admin.say("/start")
    for chat in (coordinator, leader, admin):
        await chat.say("/menu")
        assert ("Bàn làm việc trên web", "m:web") in chat.last().buttons, chat.name
        await chat.say("/help")
        assert ("/web — đường dẫn đăng nhập bàn làm việc trên web (bảng, biểu đồ, tải về)"
                in chat.last().text)
    await officer.say("/menu")  # an officer may sign in (to their unit), but works in the chat
    assert "m:web" not in [data for _label, data in officer.last().buttons]
    await coordinator.press("Bàn làm việc trên web")
    assert "/desk/signin?code=" in coordinator.last().text
    await coordinator.say("/language")
    await coordinator.press("English")
    assert ("Web desk", "m:web") in coordinator.last().buttons
    await coordinator.say("/help")
    assert ("/web — a sign-in link to the web desk (tables, charts, downloads)"
            in coordinator.last().text)
    # Without the web server (WEB_PORT=0) neither the menu nor /help offer it.
    h.runtime.config = replace(h.runtime.config, web_url=None)
    await coordinator.say("/help")
    assert "/web" not in coordinator.last().text
    assert "m:web" not in [data for _label, data in coordinator.last().buttons]


def test_web_settings_and_their_older_names(monkeypatch):
    from bot.settings import SettingsError, load_settings

    monkeypatch.setenv("HEALTH_PORT", "9555")
    monkeypatch.setenv("HEALTH_LISTEN", "127.0.0.2")
    settings = load_settings()
    assert (settings.web_listen, settings.web_port) == ("127.0.0.2", 9555)
    assert settings.web_url == "http://127.0.0.2:9555"
    monkeypatch.setenv("WEB_PORT", "9600")
    monkeypatch.setenv("WEB_PUBLIC_URL", "https://desk.example.gov.vn/")
    settings = load_settings()
    assert settings.web_port == 9600 and settings.web_url == "https://desk.example.gov.vn"
    monkeypatch.setenv("WEB_PUBLIC_URL", "desk.example.gov.vn")
    with pytest.raises(SettingsError, match="WEB_PUBLIC_URL"):
        load_settings()


async def test_evidence_shown_to_whom_may_read_the_report(harness, web):
    harness.request.files["PHOTO-9"] = b"\x89PNG\r\n\x1a\nevidence"
    le_chan = await register(harness, 501, "Trần Thị Bình", unit="Q-LECHAN")
    ngo_quyen = await register(harness, 502, "Đỗ Văn Cần", unit="Q-NGOQUYEN")
    coordinator = await register(harness, 301, "Phạm Văn Điều", Role.COORDINATOR, "SO-TTTT")
    await ngo_quyen.say("/report")
    await ngo_quyen.press("Hoạt động tuyên truyền")
    await ngo_quyen.press("Loa truyền thanh cơ sở")
    for answer in ("02/03/2026", "Nhân dân", "1.200", "Phát thanh"):
        await ngo_quyen.say(answer)
    await ngo_quyen.send_photo("PHOTO-9")
    await ngo_quyen.press("Xong")
    await ngo_quyen.press("Xác nhận")
    async with harness.runtime.db.read() as tx:
        report = (await tx.reports.search(limit=1))[0]
        file_id = (await tx.reports.attachments(report.id))[0]["id"]
    async with web.client() as client:
        await web.sign_in(client, coordinator)
        assert f'src="/desk/files/{file_id}"' in (await client.get(
            f"/desk/reports/{report.id}")).text
        shown = await client.get(f"/desk/files/{file_id}")
        assert shown.status_code == 200 and shown.content == b"\x89PNG\r\n\x1a\nevidence"
        assert shown.headers["Content-Type"] == "image/png"  # what its bytes are
        assert shown.headers["Cache-Control"] == "no-store"
    async with web.client() as client:
        await web.sign_in(client, le_chan)  # another unit's officer
        assert (await client.get(f"/desk/files/{file_id}")).status_code == 404
    async with web.client() as client:  # nobody signed in
        assert (await client.get(f"/desk/files/{file_id}")).status_code == 401


async def test_escalate_resolve_and_downloads(harness, web):
    officer = await register(harness, 501, "Trần Thị Bình", unit="Q-LECHAN")
    coordinator = await register(harness, 301, "Phạm Văn Điều", Role.COORDINATOR, "SO-TTTT")
    leader = await register(harness, 401, "Lê Văn Lãnh", Role.LEADER, None)
    await report_of(officer)
    for step in ("/difficulty", "Thiếu kinh phí in tài liệu"):
        await officer.say(step)
    for label in ("Kinh phí", "Bình thường", "Bỏ qua", "Bỏ qua", "Xác nhận"):
        await officer.press(label)
    async with harness.runtime.db.read() as tx:
        difficulty = (await tx.difficulties.awaiting())[0]
    async with web.client() as client:
        await web.sign_in(client, coordinator)
        token = await csrf_of(client, f"/desk/difficulties/{difficulty.id}")
        page = await client.post(f"/desk/difficulties/{difficulty.id}", follow_redirects=True,
                                 data={"action": "esc", "csrf": token})
        assert difficulty.number in page.text and 'data-action="ans"' not in page.text
        await harness.drain()
        assert difficulty.number in leader.last().text  # the leaders have it now
        assert "lãnh đạo" in officer.last().text
        # Escalated, it is the leaders' to act on: the coordinator's resolve is refused.
        refused = await client.post(f"/desk/difficulties/{difficulty.id}", follow_redirects=True,
                                    data={"action": "res", "csrf": token})
        flash = re.search(r'<p class="flash">(.*?)</p>', refused.text).group(1)
        assert difficulty.number in flash and "lãnh đạo" in flash, flash
        async with harness.runtime.db.read() as tx:
            assert (await tx.difficulties.get(difficulty.id)).status.value == "escalated"
        sheet = await client.get("/desk/download/export", params={"period": "2026"})
        assert sheet.status_code == 200 and sheet.content[:2] == b"PK"
        draft = await client.get("/desk/download/compile", params={"period": "2026"})
        assert draft.status_code == 200 and draft.content[:2] == b"PK"
        assert "attachment" in draft.headers["Content-Disposition"]
    async with web.client() as client:
        await web.sign_in(client, leader)
        token = await csrf_of(client, f"/desk/difficulties/{difficulty.id}")
        await client.post(f"/desk/difficulties/{difficulty.id}", follow_redirects=True,
                          data={"action": "res", "csrf": token})
        await harness.drain()
        assert "✅" in officer.last().text and difficulty.number in officer.last().text
    async with harness.runtime.db.read() as tx:
        assert (await tx.difficulties.get(difficulty.id)).status.value == "resolved"


async def test_english_miniapp_posts_and_foreign_origins(harness, web):
    officer = await register(harness, 501, "Trần Thị Bình", unit="Q-LECHAN")
    english = harness.chat(302, "Peter Coordinator", language="en")
    await english.say(f"/start {await invite(harness, Role.COORDINATOR, 'SO-TTTT')}")
    report_id = await report_of(officer)
    async with web.miniapp(init_data(302, web.now() - 5)) as client:
        page = await client.get(f"/desk/reports/{report_id}")
        assert "Approve" in page.text and "Reports" in page.text  # the person's language
        token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        other = await client.post(f"/desk/reports/{report_id}", headers={
            "Origin": "https://evil.example"}, data={"action": "approve", "csrf": token})
        assert other.status_code == 403
        done = await client.post(f"/desk/reports/{report_id}", follow_redirects=True, headers={
            "Origin": web.base}, data={"action": "approve", "csrf": token})
        assert "approved" in re.search(r'<p class="flash">(.*?)</p>', done.text).group(1)
        assert 'action="/desk/signout"' not in done.text  # a Mini App has nothing to sign out
    await harness.drain()
    assert "✅" in officer.last().text
    # A sign-in posted from another site's page is refused: the link stays usable.
    code = (await web.link(english)).split("code=")[1]
    async with web.client() as client:
        forged = await client.post("/desk/signin", data={"code": code},
                                   headers={"Origin": "https://evil.example"})
        assert forged.status_code == 403 and "baocao_session" not in forged.headers.get(
            "Set-Cookie", "")
        assert (await client.post("/desk/signin", data={"code": code})).status_code == 302


async def test_word_search_finds_words_by_their_start_and_pages(harness, web):
    """The list's words (q): folded (no case, no diacritics), each the start of a word of the
    number, the unit's name or the answers, all of them in one report; newest first, a page at
    a time. On either backend (PostgreSQL: the trigram index's predicates, pg/0027)."""
    from tests.test_search import seed_reports

    await register(harness, 501, "Trần Thị Bình", unit="Q-LECHAN")  # who sends them
    coordinator = await register(harness, 301, "Phạm Văn Điều", Role.COORDINATOR, unit="SO-TTTT")
    await seed_reports(harness, 60)  # every third about the radio, the others about banners
    radio = [n for n in range(60, 0, -1) if (n - 1) % 3 == 0]
    odd = [n for n in range(60, 0, -1) if n % 2]  # Lê Chân's

    async with web.client() as client:
        await web.sign_in(client, coordinator)

        async def numbers(words: str, before: int | None = None) -> list[int]:
            params = {"q": words, **({"before": str(before)} if before else {})}
            page = await client.get("/desk/reports", params=params)
            assert page.status_code == 200
            return [int(n) for n in re.findall(r'/desk/reports/\d+">BC-2026-(\d{4})<', page.text)]

        assert await numbers("phát THANH") == radio
        assert await numbers("phat thanh") == radio
        assert await numbers("thanh phát") == radio  # in any order
        assert await numbers("than phuo") == radio  # the start of a word: a prefix
        assert await numbers("hanh") == []  # inside a word only ("thanh"): not found
        banners = [n for n in range(60, 0, -1) if (n - 1) % 3]
        assert await numbers("khau hieu") == banners[:25]  # a page
        assert await numbers("phat khau") == []  # never in one report together
        both = [n for n in radio if n in odd]
        assert await numbers("le chan phat") == both  # the unit's name and the answers
        assert await numbers("BC-2026-0007") == [7]
        # More than three words: the shorter ones past the longest three are checked too.
        assert await numbers("tren dai truyen thanh phuong") == radio
        assert await numbers("truyen thanh phuong dai khau") == []
        # Paged: 25 at a time, the next page older than the last shown.
        first = await numbers("treo")
        assert first == banners[:25]
        assert await numbers("treo", before=first[-1]) == banners[25:]


@pytest.mark.parametrize(("data", "served"), [
    (b"\xff\xd8\xff\xe0JFIF", "image/jpeg"), (b"\x89PNG\r\n\x1a\n...", "image/png"),
    (b"GIF89a...", "image/gif"), (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
    (b"<svg onload=alert(1)>", None), (b"", None)])
def test_a_photo_is_served_as_the_image_its_bytes_are_or_as_a_download(data, served):
    assert image_type(data) == served
