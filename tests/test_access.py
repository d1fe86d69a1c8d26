"""The life of a person's access (issue 13): deactivation, role and unit changes, unlinking an
app, ADMIN_IDS followed on every update, invites revoked after use, another invite redeemed by
someone registered. Driven through the real Application, the chat admin's and the CLI's way."""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.cli import main
from bot.settings import load_settings
from bot.units_file import SAMPLE_UNITS, read_units_file
from handlers.types import Outgoing, Reply
from locales.i18n import translator
from storage.models import Role
from storage.units import InviteProblem
from tests.conftest import START
from tests.dbquery import query
from tests.telegram_fakes import FakeClock, Harness, invite, register

WITHDRAWN = "Quyền truy cập Baocao của đồng chí đã bị khóa"


async def rows(h: Harness, query: str, *args) -> list[tuple]:
    async with h.runtime.db.read() as tx:
        return [tuple(r) for r in await tx.conn.execute_fetchall(query, args)]


async def contact_of(h: Harness, user_id: int):
    async with h.runtime.db.read() as tx:
        return await tx.contacts.by_identity("telegram", str(user_id))


async def queue_for(h: Harness, user_id: int, text: str) -> None:
    """A message queued for the person and not yet sent (as a reminder or an answer would be)."""
    contact = await contact_of(h, user_id)
    await h.runtime.send([Outgoing("telegram", str(user_id), Reply(text), contact.id)])


async def admin_chat(h: Harness):
    admin = h.chat(1, "Quản trị")
    await admin.say("/start")
    return admin


async def test_an_officer_deactivated_mid_form_gets_nothing_in_and_nothing_out(harness):
    h = harness
    officer = await register(h, 501, "Trần Thị Bình")
    admin = await admin_chat(h)
    await officer.say("/report")
    await officer.press_data("rk:plan")
    await officer.say("45/KH-UBND")  # the form is open, one answer given
    number = (await contact_of(h, 501)).id
    await admin.say(f"/people #{number}")
    assert "Trần Thị Bình" in admin.last().text
    await queue_for(h, 501, "Nhắc nhở: hạn gửi báo cáo sắp đến")  # waiting, not yet sent
    await admin.press("Khóa quyền truy cập")
    assert "Đã khóa quyền truy cập của #" in admin.last().text
    assert WITHDRAWN in officer.last().text
    assert not any("Nhắc nhở" in text for text in officer.texts())
    assert await rows(h, "SELECT status FROM outbox WHERE payload LIKE '%Nhắc nhở%'") == [
        ("cancelled",)]
    # The open form was closed, its answers kept as a draft.
    assert await rows(h, "SELECT flow FROM drafts WHERE contact_id = ?", number) == [
        ("report_plan",)]

    sent_before = len(officer.texts())
    for attempt in ("02/03/2026", "/report", "/myreports", "/difficulty", "/link", "/start"):
        await officer.say(attempt)
    await officer.press_data("rk:plan")
    await officer.press_data("m:myreports")
    await officer.send_photo()
    answers = officer.texts()[sent_before:]
    assert len(answers) == 9 and all(WITHDRAWN in text for text in answers), answers
    assert all(not sent.buttons for sent in h.request.sent(501)[sent_before + 1:])
    assert await rows(h, "SELECT COUNT(*) FROM reports") == [(0,)]
    assert await rows(h, "SELECT COUNT(*) FROM invites WHERE for_contact = ?", number) == [(0,)]
    session = await rows(h, "SELECT flow, state FROM sessions WHERE contact_id = ?", number)
    assert session[0][0] == "menu" and "form" not in json.loads(session[0][1])

    # Whatever queues something for them later is not sent either.
    await queue_for(h, 501, "Trả lời khó khăn KK-2026-0001")
    await h.drain()
    assert not any("KK-2026-0001" in text for text in officer.texts())
    # Notices and reminders leave them out.
    async with h.runtime.db.read() as tx:
        assert await tx.contacts.reachable_identities(roles=[Role.OFFICER]) == []

    await admin.say(f"/people #{number}")
    await admin.press("Mở lại quyền truy cập")
    assert "đã được mở lại" in officer.last().text
    await officer.say("/report")
    await officer.press_data("rk:plan")
    assert "nhập dở" in officer.last().text  # the draft is offered back
    await officer.press("Tiếp tục")
    assert "45/KH-UBND" in "".join(officer.texts()[-2:]) or "Ngày" in officer.last().text
    actions = [r[0] for r in await rows(h, "SELECT action FROM audit_log ORDER BY id")]
    assert "contact.deactivate" in actions and "contact.reactivate" in actions


async def test_people_list_role_change_and_unlink_in_chat(harness):
    h = harness
    officer = await register(h, 501, "Trần Thị Bình")
    await register(h, 502, "Đỗ Văn Cường", unit="Q-NGOQUYEN")
    admin = await admin_chat(h)
    await admin.say("/people")
    listing = admin.last().text
    assert ("Trần Thị Bình — cán bộ đầu mối, Q-LECHAN · Telegram · hoạt động 09:00 ngày "
            "10/03/2026") in listing
    assert "Đỗ Văn Cường" in listing and "Quản trị — quản trị viên" in listing
    await admin.say("/people ngo quyen")
    assert "Đỗ Văn Cường" in admin.last().text and "Trần Thị Bình" not in admin.last().text

    number = (await contact_of(h, 501)).id
    await officer.say("/link")  # a link code made with the officer's current access
    await admin.say(f"/people #{number}")
    await admin.press("Đổi vai trò hoặc đơn vị")
    await admin.press("Cán bộ đầu mối của đơn vị")
    await admin.say("ngo quyen")
    await admin.press("Xác nhận")
    assert "hiện là cán bộ đầu mối, Ủy ban nhân dân quận Ngô Quyền" in admin.last().text
    assert "hiện được đăng ký là cán bộ đầu mối, Ủy ban nhân dân quận Ngô Quyền" in (
        officer.last().text)
    contact = await contact_of(h, 501)
    async with h.runtime.db.read() as tx:
        unit = await tx.units.get(contact.unit_id)
        links = await tx.conn.execute_fetchall(
            "SELECT revoked_at FROM invites WHERE for_contact = ?", (contact.id,))
    assert unit.code == "Q-NGOQUYEN"
    assert [r[0] is not None for r in links] == [True]  # the old link code is void

    await admin.say(f"/people #{number}")
    await admin.press("Gỡ Telegram 501")
    assert "không còn được liên kết" in officer.last().text
    assert await contact_of(h, 501) is None
    await officer.say("/report")
    assert "mã mời" in officer.last().text  # a stranger now
    await admin.say(f"/people #{(await contact_of(h, 1)).id}")
    await admin.press("Khóa quyền truy cập")
    assert "không thể tự thay đổi" in admin.last().text


async def test_last_seen_is_noted_with_each_update(harness):
    h = harness
    officer = await register(h, 501)
    h.clock.advance(days=3)
    await officer.say("/help")
    seen = await rows(h, "SELECT last_seen_at FROM contact_channels WHERE external_id = '501'")
    assert seen[0][0].startswith("2026-03-13")


async def test_last_seen_is_written_once_a_minute_as_it_is_shown(harness):
    h = harness
    officer = await register(h, 501)
    h.clock.now = datetime(2026, 3, 13, 2, 0, 10, tzinfo=UTC)
    h.think_seconds = 20
    sql = "SELECT last_seen_at FROM contact_channels WHERE external_id = '501'"
    await officer.say("/help")  # 02:00:30
    assert (await rows(h, sql))[0][0].startswith("2026-03-13T02:00:30")
    await officer.say("/help")  # 02:00:50: the same minute, nothing written
    assert (await rows(h, sql))[0][0].startswith("2026-03-13T02:00:30")
    await officer.say("/help")  # 02:01:10: a new minute
    assert (await rows(h, sql))[0][0].startswith("2026-03-13T02:01:10")


async def test_removing_an_admin_from_admin_ids_demotes_at_once(harness):
    h = harness
    admin = await admin_chat(h)
    officer = await register(h, 501, "Trần Thị Bình")
    # The operator adds the officer to ADMIN_IDS: admin from their next update.
    h.runtime.config = replace(h.runtime.config, admin_ids=frozenset({"1", "501"}))
    await officer.say("/people")
    assert "Quản trị — quản trị viên" in officer.last().text
    assert any("hiện được đăng ký là quản trị viên" in text for text in officer.texts()[-3:])
    # Both are taken out of ADMIN_IDS.
    h.runtime.config = replace(h.runtime.config, admin_ids=frozenset())
    await officer.say("/people")
    assert "không dành cho vai trò" in officer.last().text  # back to officer, not admin
    assert (await contact_of(h, 501)).role is Role.OFFICER
    await admin.say("/people")
    assert WITHDRAWN in admin.last().text  # ADMIN_IDS was their only access
    assert not (await contact_of(h, 1)).active
    await admin.press_data("m:broadcast")
    assert WITHDRAWN in admin.last().text
    actions = [r[0] for r in await rows(h, "SELECT actor || ' ' || action FROM audit_log")]
    assert "setting:ADMIN_IDS contact.deactivate" in actions
    assert "setting:ADMIN_IDS contact.role" in actions
    # Listed again: an active admin again.
    h.runtime.config = replace(h.runtime.config, admin_ids=frozenset({"1"}))
    await admin.say("/people")
    assert "Trần Thị Bình" in admin.last().text


async def test_an_admin_listed_in_admin_ids_cannot_be_changed_from_chat(harness):
    h = harness
    await admin_chat(h)
    second = await register(h, 601, "Phó Quản trị", Role.ADMIN, unit=None)
    first = (await contact_of(h, 1)).id
    await second.say(f"/people #{first}")
    await second.press("Khóa quyền truy cập")
    assert "ADMIN_IDS" in second.last().text
    assert (await contact_of(h, 1)).active


async def test_revoking_a_used_invite_offers_to_deactivate_its_user(harness):
    h = harness
    code = await invite(h)
    officer = h.chat(501, "Trần Thị Bình")
    await officer.say(f"/start {code}")
    admin = await admin_chat(h)
    unused = await invite(h)
    await admin.say(f"/revoke {unused}")
    assert f"Đã thu hồi mã mời {unused}" in admin.last().text
    await admin.say(f"/revoke {code.lower()}")
    assert "đã được sử dụng, bởi" in admin.last().text and "Trần Thị Bình" in admin.last().text
    await admin.press(f"Khóa truy cập #{(await contact_of(h, 501)).id}")
    assert WITHDRAWN in officer.last().text
    assert not (await contact_of(h, 501)).active


async def test_a_registered_person_confirms_another_invite(harness):
    h = harness
    officer = await register(h, 501, "Trần Thị Bình")
    await officer.say("/link")
    link = officer.last().text.split("/start ")[1].split("<")[0]
    code = await invite(h, Role.COORDINATOR, "SO-TTTT")
    await officer.say(f"/start {code}")
    assert "đang được đăng ký là cán bộ đầu mối" in officer.last().text
    assert "cán bộ tổng hợp" in officer.last().text
    assert (await contact_of(h, 501)).role is Role.OFFICER  # nothing changed yet
    await officer.press("Không, giữ vai trò hiện tại")
    assert (await contact_of(h, 501)).role is Role.OFFICER
    await officer.say(f"/start {code}")
    await officer.press("Đồng ý thay đổi")
    assert (await contact_of(h, 501)).role is Role.COORDINATOR
    assert any("hiện được đăng ký là cán bộ tổng hợp" in t for t in officer.texts()[-3:])
    async with h.runtime.db.read() as tx:
        assert await tx.invites.check(link, h.clock()) is InviteProblem.REVOKED
    # Their own old link code (redeemed where they already are) never restores a role.
    await officer.say(f"/start {link}")
    assert (await contact_of(h, 501)).role is Role.COORDINATOR


async def test_an_invite_never_lowers_an_admin(harness):
    h = harness
    admin = await admin_chat(h)
    code = await invite(h)
    await admin.say(f"/start {code}")
    assert "không thể thay đổi vai trò" in admin.last().text
    assert (await contact_of(h, 1)).role is Role.ADMIN
    async with h.runtime.db.read() as tx:
        assert await tx.invites.check(code, h.clock()) == await tx.invites.get(code)  # unused


# ---------------------------------------------------------------------------------------------
# The command line, on the database the bot runs on

async def _bot(db_path, updates, scenario, start: datetime = START) -> None:
    """The bot run on the database for a while; `updates` numbers Telegram's updates across
    runs (a number seen before is a redelivery, and ignored)."""
    settings = load_settings(database_path=db_path, admin_ids=[1],
                             telegram_bot_token="123:TEST")
    h = await Harness(settings, FakeClock(start), updates=updates).start()
    try:
        await scenario(h)
    finally:
        await h.stop()


def later() -> datetime:
    """After what the command line queued (it stamps rows with the real time)."""
    return datetime.now(UTC) + timedelta(minutes=1)


def run_cli(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_people_from_the_command_line(capsys, monkeypatch, tmp_path):
    db_path = tmp_path / "bot.db"
    monkeypatch.setenv("DATABASE_PATH", str(db_path))
    monkeypatch.setenv("ADMIN_IDS", "1")
    codes: dict[str, str] = {}
    updates = itertools.count(1)

    async def registered(h: Harness) -> None:
        async with h.runtime.db.transaction() as tx:
            await tx.units.upsert_many(
                read_units_file(SAMPLE_UNITS, translator("vi"), set()), START)
        codes["used"] = await invite(h)
        await h.chat(501, "Trần Thị Bình").say(f"/start {codes['used']}")
        await h.chat(1, "Quản trị").say("/start")

    asyncio.run(_bot(db_path, updates, registered))
    status, out, _ = run_cli(capsys, "people", "list")
    assert status == 0
    line = next(line for line in out.splitlines() if "Trần Thị Bình" in line)
    number = line.split()[0]
    assert "officer" in line and "Q-LECHAN" in line and "telegram" in line and "10/03/2026" in line
    status, out, _ = run_cli(capsys, "invite", "revoke", codes["used"])
    assert status == 0 and "Trần Thị Bình" in out and f"people deactivate {number}" in out
    status, out, _ = run_cli(capsys, "invite", "revoke", codes["used"], "--deactivate")
    assert status == 0
    _, out, _ = run_cli(capsys, "people", "list", "binh")
    assert "đã khóa" in out
    admin_line = next(line for line in run_cli(capsys, "people", "list")[1].splitlines()
                      if "Quản trị" in line)
    status, _, err = run_cli(capsys, "people", "deactivate", admin_line.split()[0])
    assert status == 1 and "ADMIN_IDS" in err
    status, _, err = run_cli(capsys, "people", "role", number, "officer")
    assert status == 1 and "--unit" in err

    async def refused_then_back(h: Harness) -> None:
        officer = h.chat(501, "Trần Thị Bình")
        await h.drain()  # what the command line queued goes out with the bot
        assert WITHDRAWN in officer.last().text
        await officer.say("/report")
        assert WITHDRAWN in officer.last().text and not officer.last().buttons

    asyncio.run(_bot(db_path, updates, refused_then_back, later()))
    assert run_cli(capsys, "people", "reactivate", number)[0] == 0
    assert run_cli(capsys, "people", "role", number, "coordinator", "--unit", "SO-TTTT")[0] == 0

    async def told(h: Harness) -> None:
        await h.drain()
        texts = h.chat(501).texts()
        assert "đã được mở lại" in texts[0]
        assert "hiện được đăng ký là cán bộ tổng hợp, Sở Thông tin" in texts[1]

    asyncio.run(_bot(db_path, updates, told, later()))
    assert run_cli(capsys, "people", "unlink", number, "telegram")[0] == 0

    async def unlinked(h: Harness) -> None:
        officer = h.chat(501, "Trần Thị Bình")
        await h.drain()
        assert "không còn được liên kết" in officer.last().text
        await officer.say("/report")
        assert "mã mời" in officer.last().text

    asyncio.run(_bot(db_path, updates, unlinked, later()))


@pytest.mark.sqlite_only("upgrades a database made by version 15 (PostgreSQL starts at 22)")
async def test_upgrade_knows_which_admins_came_from_admin_ids(db_path):
    from storage.db import Database
    db = await Database(db_path).open(migrate_to=15)
    try:
        async with db.transaction() as tx:
            for number, name in ((1, "By setting"), (2, "By invite")):  # as version 15 did
                await tx.conn.execute(
                    "INSERT INTO contacts (id, role, name, created_at) VALUES (?, 'admin', ?, ?)",
                    (number, name, START.isoformat()))
                await tx.conn.execute(
                    "INSERT INTO contact_channels (channel, external_id, contact_id, chat_id, "
                    "created_at) VALUES ('telegram', ?, ?, ?, ?)",
                    (str(number * 100), number, str(number * 100), START.isoformat()))
            await tx.audit.record("telegram:100", "admin.first_contact", START)
        await db.migrate()
        async with db.read() as tx:
            people = {p.contact.name: p.contact for p in await tx.contacts.people()}
    finally:
        await db.close()
    assert people["By setting"].admin_by_setting and not people["By invite"].admin_by_setting
    assert all(contact.active for contact in people.values())


def test_a_person_erased_from_the_command_line(capsys, monkeypatch, tmp_path):
    db_path = tmp_path / "bot.db"
    monkeypatch.setenv("DATABASE_PATH", str(db_path))
    updates = itertools.count(1)

    async def reported(h: Harness) -> None:
        async with h.runtime.db.transaction() as tx:
            await tx.units.upsert_many(
                read_units_file(SAMPLE_UNITS, translator("vi"), set()), START)
        await h.chat(501, "Trần Thị Bình").say(f"/start {await invite(h)}")

    asyncio.run(_bot(db_path, updates, reported))
    status, _out, err = run_cli(capsys, "people", "erase", "1")
    assert status == 1 and "--yes" in err  # it cannot be undone: asked for
    status, out, _ = run_cli(capsys, "people", "erase", "1", "--yes")
    assert status == 0 and "#1" in out
    dump = "\n".join(str(r) for table in ("contacts", "contact_channels", "outbox")
                     for r in query(db_path, f"SELECT * FROM {table}"))
    actions = [r[0] for r in query(db_path, "SELECT action FROM audit_log ORDER BY id")]
    assert "Trần Thị Bình" not in dump and "'501'" not in dump
    assert actions[-1] == "contact.erase"
