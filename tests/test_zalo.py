"""The Zalo channel against a local fake Zalo Bot API server (loopback), polling and webhook."""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import socket
import time
from dataclasses import replace
from datetime import UTC, datetime

import httpx
import pytest
import tornado.httpserver
import tornado.netutil
import tornado.web

from bot import health
from bot.console import render as console_render
from bot.delivery import RejectedError, TransientSendError, UnreachableError
from bot.run import StartError, ZaloChannel, _run_zalo_only
from bot.runtime import Runtime
from bot.settings import load_settings
from bot.units_file import SAMPLE_UNITS, read_units_file
from bot.zalo import ZaloClient, ZaloSender
from bot.zalo import render as zalo_render
from handlers.text import numbered_choice
from locales.i18n import translator
from storage.messages import Text
from storage.models import Role
from tests.loopback import eventually, free_port, post_json
from tests.telegram_fakes import UNPACED, FakeClock, Harness, invite, register
from tests.test_web import Web

TOKEN = "12345:ZALO-TEST"


class FakeZalo:
    """What a Zalo Bot API server does, as far as Baocao uses it."""

    def __init__(self) -> None:
        self.updates: list[dict] = []
        self.sent: list[dict] = []
        self.calls: list[str] = []
        self.ids = itertools.count(1)
        self.files: dict[str, bytes] = {}  # photos people sent, as Zalo keeps them (by URL)

    def app(self) -> tornado.web.Application:
        fake = self

        class File(tornado.web.RequestHandler):
            def get(self, name: str) -> None:
                if name not in fake.files:
                    raise tornado.web.HTTPError(404)
                self.set_header("Content-Type", "image/jpeg")
                self.write(fake.files[name])

        class Api(tornado.web.RequestHandler):
            async def post(self, token: str, method: str) -> None:
                fake.calls.append(method)
                if token != TOKEN:
                    self.set_status(401)
                    self.write({"ok": False, "error_code": 401, "description": "Unauthorized"})
                    return
                params = json.loads(self.request.body or b"{}")
                if method == "getUpdates":
                    for _ in range(10):  # a short long-poll
                        if fake.updates:
                            break
                        await asyncio.sleep(0.02)
                    batch, fake.updates[:] = list(fake.updates), []
                    self.write({"ok": True, "result": batch})
                elif method in ("sendMessage", "sendPhoto"):
                    fake.sent.append({"method": method, **params})
                    self.write({"ok": True, "result": {"message_id": f"z{next(fake.ids)}"}})
                else:
                    self.write({"ok": True, "result": True})

        # Its access log (the platform's, not the program's) would show the token in URLs.
        return tornado.web.Application([(r"/bot([^/]+)/(\w+)", Api), (r"/files/([\w.-]+)", File)],
                                       log_function=lambda _handler: None)

    def to(self, chat_id: str) -> list[str]:
        return [m.get("text") or m.get("caption", "") for m in self.sent
                if m["chat_id"] == chat_id]


class ZaloUser:
    """A person writing to the bot on Zalo."""

    counter = itertools.count(1)

    def __init__(self, h: Harness, fake: FakeZalo, user_id: str, name: str):
        self.h, self.fake, self.user_id, self.name = h, fake, user_id, name

    def update(self, text: str) -> dict:
        return {"event_name": "message.text.received", "message": {
            "message_id": f"m{next(self.counter)}", "date": int(time.time()),
            "from": {"id": self.user_id, "display_name": self.name, "is_bot": False},
            "chat": {"id": self.user_id, "chat_type": "PRIVATE"}, "text": text}}

    async def say(self, text: str) -> None:
        """Send a message and wait until the bot has handled it and sent every answer."""
        await self.send(self.update(text))

    async def send_photo(self, url: str) -> None:
        """Send a photo (Zalo hands the bot its URL)."""
        update = self.update("")
        update["event_name"] = "message.image.received"
        del update["message"]["text"]
        update["message"]["photo"] = url
        await self.send(update)

    async def send(self, update: dict) -> None:
        self.fake.updates.append(update)
        for _ in range(1000):
            await asyncio.sleep(0.01)
            async with self.h.runtime.db.read() as tx:
                if await tx.updates.seen("zalo", update["message"]["message_id"]):
                    break
        await self.h.drain()

    def last(self) -> str:
        return self.fake.to(self.user_id)[-1]


@pytest.fixture
async def both(tmp_path):
    fake = FakeZalo()
    port = free_port()
    server = fake.app().listen(port, address="127.0.0.1")
    h_port = port
    settings = load_settings(database_path=tmp_path / "bot.db", telegram_bot_token="123:TEST",
                             admin_ids=[1], zalo_bot_token=TOKEN,
                             zalo_base_url=f"http://127.0.0.1:{port}")
    h = Harness(settings, FakeClock(datetime(2026, 3, 10, 2, 0, tzinfo=UTC)))
    h.fake, h.zalo_url = fake, f"http://127.0.0.1:{h_port}"
    # Zalo's sender starts with the runtime; its poller needs the runtime to hand events to.
    h.zalo = ZaloChannel(settings, runtime=None)
    # Zalo's sizes, without its pace (a second between messages to one chat), as on Telegram.
    h.zalo.sender.limits = replace(h.zalo.sender.limits, **UNPACED)
    h.extra_senders = [h.zalo.sender]
    await h.start()
    h.zalo.runtime = h.runtime
    await h.zalo.start()
    async with h.runtime.db.transaction() as tx:
        await tx.units.upsert_many(read_units_file(SAMPLE_UNITS, translator("vi"), set()),
                                   h.clock())
    yield h
    await h.zalo.stop()
    await h.stop()
    server.stop()


async def test_registration_report_difficulty_and_broadcast_across_channels(both):
    h, fake = both, both.fake
    zalo_officer = ZaloUser(h, fake, "z-501", "Trần Văn Zalo")
    await zalo_officer.say(f"/start {await invite(h)}")
    texts = fake.to("z-501")
    assert any("Chào mừng đồng chí Trần Văn Zalo" in t for t in texts)
    assert "1. Phản ánh khó khăn" in zalo_officer.last()  # choices are numbered in the text
    assert "<b>" not in zalo_officer.last()

    for step in ("/report", "2", "1", "hôm qua", "Nhân dân", "1.500", "Hội nghị quán triệt",
                 "bỏ qua"):
        await zalo_officer.say(step)
    assert "1. Xác nhận" in zalo_officer.last()
    await zalo_officer.say("1")
    assert "Đã tiếp nhận báo cáo BC-2026-0001" in zalo_officer.last()

    coordinator = await register(h, 301, "Phạm Văn Điều", Role.COORDINATOR, "SO-TTTT")
    for step in ("/difficulty", "Thiếu kinh phí", "2", "1", "bỏ qua", "bỏ qua", "1"):
        await zalo_officer.say(step)
    assert "KK-2026-0001" in zalo_officer.last()
    assert "KK-2026-0001" in coordinator.last().text
    await coordinator.press("Trả lời")
    await coordinator.say("Sở sẽ bố trí kinh phí")
    await h.drain()
    assert "Sở sẽ bố trí kinh phí" in zalo_officer.last()
    assert all(len(t) <= 2000 for t in fake.to("z-501"))

    telegram_officer = await register(h, 502, "Đỗ Văn Telegram", unit="Q-NGOQUYEN")
    admin = h.chat(1, "Quản trị")
    await admin.say("/broadcast")
    await admin.say("Họp giao ban sáng thứ Hai")
    await admin.press("Bỏ qua")
    await admin.press("Mọi đơn vị (cán bộ đầu mối)")
    await admin.press("Gửi ngay")
    await admin.press("Xác nhận")
    await h.drain()
    assert "Họp giao ban sáng thứ Hai" in zalo_officer.last()
    assert "1. Đã nhận" in zalo_officer.last()
    assert "Họp giao ban sáng thứ Hai" in telegram_officer.last().text
    await zalo_officer.say("1")
    async with h.runtime.db.read() as tx:
        figures = await tx.broadcasts.figures(1)
    assert figures.sent == 2 and figures.acknowledged == 1


async def test_evidence_sent_on_zalo_opens_on_the_web_desk(both):
    h, fake = both, both.fake
    fake.files["z-photo-1.jpg"] = b"\xff\xd8\xff\xe0zalo evidence"
    officer = ZaloUser(h, fake, "z-501", "Trần Văn Zalo")
    await officer.say(f"/start {await invite(h)}")
    for step in ("/report", "2", "1", "hôm qua", "Nhân dân", "1.500", "Hội nghị quán triệt"):
        await officer.say(step)
    await officer.send_photo(f"{h.zalo_url}/files/z-photo-1.jpg")
    await officer.send_photo(f"{h.zalo_url}/files/gone.jpg")  # Zalo no longer keeps it
    await officer.say("xong")
    await officer.say("1")
    assert "Đã tiếp nhận báo cáo BC-2026-0001" in officer.last()
    coordinator = await register(h, 301, "Phạm Văn Điều", Role.COORDINATOR, "SO-TTTT")
    async with h.runtime.db.read() as tx:
        report = (await tx.reports.search(limit=1))[0]
        files = await tx.reports.attachments(report.id)
    assert [f["file_id"] for f in files] == [f"{h.zalo_url}/files/z-photo-1.jpg",
                                              f"{h.zalo_url}/files/gone.jpg"]
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    server = tornado.httpserver.HTTPServer(health.health_app(h.runtime))
    server.add_sockets(sockets)
    web = Web(h, f"http://127.0.0.1:{sockets[0].getsockname()[1]}")
    try:
        async with web.client() as client:
            await web.sign_in(client, coordinator)
            page = (await client.get(f"/desk/reports/{report.id}")).text
            assert f'src="/desk/files/{files[0]["id"]}"' in page
            shown = await client.get(f"/desk/files/{files[0]['id']}")
            assert shown.status_code == 200
            assert shown.content == b"\xff\xd8\xff\xe0zalo evidence"
            assert shown.headers["Content-Type"] == "image/jpeg"
            assert (await client.get(f"/desk/files/{files[1]['id']}")).status_code == 404
    finally:
        server.stop()


async def test_one_person_on_both_channels(both):
    h, fake = both, both.fake
    officer = await register(h, 501, "Trần Thị Bình", unit="Q-LECHAN")
    await officer.say("/link")
    code = officer.last().text.split("/start ")[1].split("<")[0]
    zalo_self = ZaloUser(h, fake, "z-777", "Bình trên Zalo")
    await zalo_self.say(f"/start {code}")
    assert "đã được liên kết" in fake.to("z-777")[0]
    async with h.runtime.db.read() as tx:
        contact = await tx.contacts.by_identity("zalo", "z-777")
        assert contact.name == "Trần Thị Bình"
        assert {i.channel for i in await tx.contacts.identities(contact.id)} == {
            "telegram", "zalo"}
    await zalo_self.say(f"/start {code}")  # a code works once
    assert "đã được sử dụng" in zalo_self.last()
    await zalo_self.say("/start")
    assert "Xin chào đồng chí Trần Thị Bình" in zalo_self.last()


async def test_compile_on_zalo_says_where_to_get_the_document(both):
    h, fake = both, both.fake
    coordinator = ZaloUser(h, fake, "z-301", "Điều phối trên Zalo")
    await coordinator.say(f"/start {await invite(h, Role.COORDINATOR, 'SO-TTTT')}")
    await coordinator.say("/compile")
    assert "Zalo không gửi được tệp văn bản" in coordinator.last()
    assert "/compile trên Telegram" in coordinator.last()
    assert "baocao compile --period" in coordinator.last()
    async with h.runtime.db.read() as tx:
        assert await tx.jobs.pending() == []


def post(url: str, body: dict, secret: str | None) -> int:
    return post_json(url, body, {"X-Bot-Api-Secret-Token": secret} if secret is not None else {})


async def test_webhook_mode_checks_the_secret(tmp_path):
    fake = FakeZalo()
    api_port, hook_port = free_port(), free_port()
    server = fake.app().listen(api_port, address="127.0.0.1")
    settings = load_settings(database_path=tmp_path / "bot.db", zalo_bot_token=TOKEN,
                             zalo_base_url=f"http://127.0.0.1:{api_port}",
                             zalo_webhook_url="https://bot.example.org/zalo-hook",
                             zalo_webhook_secret="zalo-secret", zalo_webhook_port=hook_port)
    from bot.runtime import Runtime
    runtime = Runtime(settings)
    channel = ZaloChannel(settings, runtime)
    await runtime.start([channel.sender], background=False)
    await channel.start()
    try:
        assert "setWebhook" in fake.calls
        user = ZaloUser(None, fake, "z-9", "Người dùng")
        url = f"http://127.0.0.1:{hook_port}/zalo-hook"
        body = {"ok": True, "result": user.update("xin chào")}
        assert await asyncio.to_thread(post, url, body, "wrong") == 403
        assert await asyncio.to_thread(post, url, body, None) == 403
        await runtime.workers["zalo"].drain()
        assert fake.sent == []
        assert await asyncio.to_thread(post, url, body, "zalo-secret") == 200
        await runtime.workers["zalo"].drain()
        assert len(fake.to("z-9")) == 1 and "mã mời" in fake.to("z-9")[0]
    finally:
        await channel.stop()
        await runtime.stop()
        server.stop()


async def test_someone_elses_link_code_is_refused(both):
    h = both
    owner = await register(h, 501, "Trần Thị Bình", unit="Q-LECHAN")
    await owner.say("/link")
    code = owner.last().text.split("/start ")[1].split("<")[0]
    other = await register(h, 601, "Ngô Văn Khác", unit="Q-NGOQUYEN")
    await other.say(f"/start {code}")
    assert "không hợp lệ" in other.last().text
    async with h.runtime.db.read() as tx:
        contact = await tx.contacts.by_identity("telegram", "601")
        unit = await tx.units.get(contact.unit_id)
    assert unit.code == "Q-NGOQUYEN"  # still their own unit, not the code owner's


@pytest.mark.parametrize(("status", "description", "outcome"), [
    (429, "Too many requests", "retry"),
    (400, "Daily quota exceeded", "retry"),
    (502, "Bad gateway", "retry"),
    (403, "User blocked the bot", "unreachable"),
    (400, "Bad request: text too long", "rejected"),
])
async def test_zalo_errors_become_delivery_outcomes(status, description, outcome):
    def answer(_request):
        return httpx.Response(status, json={"ok": False, "error_code": status,
                                            "description": description})

    client = ZaloClient("http://zalo.invalid", TOKEN,
                        httpx.AsyncClient(transport=httpx.MockTransport(answer)))
    sender = ZaloSender(client)
    expected = {"retry": TransientSendError, "unreachable": UnreachableError,
                "rejected": RejectedError}[outcome]
    with pytest.raises(expected) as caught:
        await sender.send("z-1", Text("xin chào"))
    if outcome == "retry" and status != 502:
        assert caught.value.retry_after == 60.0  # quota: back off for a minute
    await client.close()


def test_zalo_webhook_needs_a_secret(tmp_path):
    from bot.settings import SettingsError
    with pytest.raises(SettingsError, match="ZALO_WEBHOOK_SECRET"):
        load_settings(database_path=tmp_path / "x.db", zalo_bot_token=TOKEN,
                      zalo_webhook_url="https://bot.example.org/zalo")


async def test_poller_survives_odd_updates(both):
    h, fake = both, both.fake
    fake.updates += ["not an update", {"event_name": "message.text.received"},
                     {"event_name": "message.sticker.received", "message": {
                         "message_id": "s1", "from": {"id": "z-3"},
                         "chat": {"id": "z-3", "chat_type": "PRIVATE"}, "sticker": "x"}}]
    stranger = ZaloUser(h, fake, "z-4", "Người mới")
    await stranger.say("xin chào")  # still polled and answered after the odd ones
    assert "mã mời" in stranger.last()
    assert "mã mời" in fake.to("z-3")[0]  # an unsupported message gets a polite answer


async def test_link_codes_are_private_for_the_other_app_and_the_newest_only(both):
    h, fake = both, both.fake
    owner = await register(h, 501, "Trần Thị Bình", unit="Q-LECHAN")
    in_group = h.chat(501, "Trần Thị Bình", chat_id=-100700)
    await in_group.say("/link")
    assert "trò chuyện riêng" in in_group.last().text and "/start" not in in_group.last().text

    await owner.say("/link")
    older = owner.last().text.split("/start ")[1].split("<")[0]
    # Someone who reads the code on Telegram cannot use it there.
    reader = h.chat(666, "Người đọc trộm")
    await reader.say(f"/start {older}")
    assert "ứng dụng khác" in reader.last().text or "không gửi ở đây" in reader.last().text
    await owner.say("/link")
    newer = owner.last().text.split("/start ")[1].split("<")[0]
    zalo_self = ZaloUser(h, fake, "z-777", "Bình trên Zalo")
    await zalo_self.say(f"/start {older}")  # replaced by the newer code
    assert "thu hồi" in zalo_self.last()
    async with h.runtime.db.read() as tx:
        assert await tx.contacts.by_identity("telegram", "666") is None
        assert await tx.contacts.by_identity("zalo", "z-777") is None

    await zalo_self.say(f"/start {newer}")
    assert any("đã được liên kết" in text for text in fake.to("z-777")[1:])
    told = owner.last()
    assert "Zalo" in told.text and "Bình trên Zalo" in told.text
    await owner.press("Hủy liên kết")
    assert "không còn được liên kết" in zalo_self.last()
    assert "không còn được liên kết" in owner.last().text
    await zalo_self.say("/report")
    assert "mã mời" in zalo_self.last()  # a stranger again
    async with h.runtime.db.read() as tx:
        contact = await tx.contacts.by_identity("telegram", "501")
        assert [i.channel for i in await tx.contacts.identities(contact.id)] == ["telegram"]
        actions = [r[0] for r in await tx.conn.execute_fetchall(
            "SELECT action FROM audit_log ORDER BY id")]
    assert actions[-2:] == ["contact.link", "contact.unlink"]


async def test_zalo_webhook_checks_the_secret_before_the_body_caps_it_and_takes_odd_updates(
        caplog):
    from bot.zalo import WEBHOOK_MAX_BYTES, webhook_app
    received: list = []

    async def receive(events):
        received.extend(events)

    port = free_port()
    server = webhook_app("zalo-secret", "/hook", receive).listen(port, address="127.0.0.1")

    async def status(secret: str, length: int, body: bytes = b"") -> int:
        """Send the headers (and `body`, possibly less than announced) and read the status."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"POST /hook HTTP/1.1\r\nHost: x\r\nX-Bot-Api-Secret-Token: {secret}\r\n"
                     f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
                     .encode() + body)
        await writer.drain()
        # The answer comes without the announced body: it was not waited for.
        line = await asyncio.wait_for(reader.readline(), timeout=10)
        writer.close()
        return int(line.split()[1])

    try:
        assert await status("wrong", 50_000_000) == 403
        assert await status("zalo-secret", WEBHOOK_MAX_BYTES + 1) == 413
        odd = json.dumps({"message": "not an object", "event_name": 5}).encode()
        assert await status("zalo-secret", len(odd), odd) == 200
        assert received == []
        assert any("could not be read" in r.getMessage() for r in caplog.records)
        good = json.dumps(ZaloUser(None, FakeZalo(), "z-9", "A").update("xin chào")).encode()
        assert await status("zalo-secret", len(good), good) == 200
        assert [e.text for e in received] == ["xin chào"]
    finally:
        server.stop()


# ---------------------------------------------------------------------------------------------
# `baocao run` with Zalo only (bot.run._run_zalo_only), in this process: the signal handlers it
# installs are recorded instead, and SIGTERM is delivered by calling its handler.

@pytest.fixture
async def zalo_only(tmp_path, monkeypatch):
    fake = FakeZalo()
    port = free_port()
    server = fake.app().listen(port, address="127.0.0.1")
    handlers: dict[int, object] = {}
    loop = asyncio.get_running_loop()
    monkeypatch.setattr(loop, "add_signal_handler",
                        lambda sig, callback: handlers.__setitem__(sig, callback))

    def settings(**more: object):
        return load_settings(**{"database_path": tmp_path / "bot.db", "zalo_bot_token": TOKEN,
                                "zalo_base_url": f"http://127.0.0.1:{port}",
                                "health_port": free_port(), **more})

    fake.settings, fake.handlers = settings, handlers
    yield fake
    server.stop()


async def test_zalo_only_answers_serves_health_and_stops_on_sigterm(zalo_only):
    fake = zalo_only
    settings = fake.settings()
    runtime = Runtime(settings)
    channel = ZaloChannel(settings, runtime)
    running = asyncio.create_task(_run_zalo_only(runtime, channel))
    await eventually(lambda: "getUpdates" in fake.calls, "polling")
    assert fake.calls[:2] == ["getMe", "deleteWebhook"]  # the token checked before the loop
    assert set(fake.handlers) == {signal.SIGINT, signal.SIGTERM}
    fake.updates.append(ZaloUser(None, fake, "z-7", "Người dùng").update("xin chào"))
    await eventually(lambda: fake.to("z-7"), "an answer")
    assert "mã mời" in fake.to("z-7")[0]  # a stranger is asked for an invite code
    health = f"http://127.0.0.1:{settings.health_port}"
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"{health}/healthz")).status_code == 200
    fake.handlers[signal.SIGTERM]()
    await asyncio.wait_for(running, 10)
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError):  # the health server is stopped too
            await client.get(f"{health}/healthz")


async def test_zalo_only_with_a_wrong_token_stops_in_one_line_without_it(zalo_only):
    settings = zalo_only.settings(zalo_bot_token="999:WRONG-TOKEN")
    runtime = Runtime(settings)
    with pytest.raises(StartError) as error:
        await _run_zalo_only(runtime, ZaloChannel(settings, runtime))
    assert str(error.value).startswith("Zalo: ") and "WRONG-TOKEN" not in str(error.value)
    assert "getUpdates" not in zalo_only.calls  # it never started polling


async def test_zalo_only_with_the_health_port_taken_says_which_setting(zalo_only):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        settings = zalo_only.settings(health_port=taken.getsockname()[1])
        runtime = Runtime(settings)
        with pytest.raises(StartError, match="WEB_PORT"):
            await _run_zalo_only(runtime, ZaloChannel(settings, runtime))
    finally:
        taken.close()
    assert zalo_only.calls == []  # nothing was asked of Zalo


def test_both_channels_number_choices_by_the_rule_typed_numbers_are_read_by():
    """Zalo and the console show choices numbered by one function, and a typed number is read
    back by its twin (handlers.text): "1 = Skip", "Done = n+1" hold in one place."""
    options = (("skip", "Bỏ qua"), ("a", "Hội nghị, tọa đàm"), ("done", "Xong"))
    on_zalo = zalo_render("<b>Hình thức?</b>", options).splitlines()
    on_console = console_render(Text("<b>Hình thức?</b>", options), False).splitlines()
    assert on_zalo[0] == on_console[0] == "Hình thức?"
    assert on_zalo[1:] == [line.strip() for line in on_console[1:]] == [
        "1. Bỏ qua", "2. Hội nghị, tọa đàm", "3. Xong"]
    for line, (option_id, _label) in zip(on_zalo[1:], options, strict=True):
        number = line.split(".")[0]
        assert numbered_choice(number, options) == numbered_choice(f" {number}. ", options) \
            == option_id
    for typed in ("0", "4", "²", "١", "-1", "1,2", "Xong", ""):
        assert numbered_choice(typed, options) is None, typed
