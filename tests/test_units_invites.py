import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.cli import main
from bot.units_file import SAMPLE_UNITS, UnitsFileError, read_units_file
from locales.i18n import translator
from storage.models import Role
from storage.units import InviteProblem, code_hash
from tests.telegram_fakes import invite

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def run_cli(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_import_sample_then_reimport_is_idempotent(capsys):
    status, out, _ = run_cli(capsys, "units", "import", str(SAMPLE_UNITS))
    assert status == 0
    assert "Thêm mới 45, cập nhật 0, giữ nguyên 0." in out
    status, out, _ = run_cli(capsys, "units", "import", str(SAMPLE_UNITS))
    assert "Thêm mới 0, cập nhật 0, giữ nguyên 45." in out
    status, out, _ = run_cli(capsys, "units", "list", "--kind", "press")
    assert "BAO-HP" in out and "Đài Phát thanh và Truyền hình Hải Phòng" in out
    assert "SO-TTTT" not in out


def test_changed_row_is_updated(capsys, tmp_path):
    run_cli(capsys, "units", "import", str(SAMPLE_UNITS))
    changed = tmp_path / "units.csv"
    changed.write_text("code,name,kind,parent_code\n"
                       "SO-TTTT,Sở Văn hóa Thông tin và Du lịch,department,\n"
                       "X-NEW,Đơn vị mới,commune,SO-TTTT\n", encoding="utf-8")
    status, out, _ = run_cli(capsys, "units", "import", str(changed))
    assert status == 0
    assert "Thêm mới 1, cập nhật 1, giữ nguyên 0." in out


def test_bad_row_names_its_line_and_imports_nothing(capsys, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("code,name,kind,parent_code\nA-1,Đơn vị A,district,\nB 2,,district,\n",
                   encoding="utf-8")
    status, _, err = run_cli(capsys, "units", "import", str(bad))
    assert status == 1
    assert err.strip().startswith("Dòng 3:")
    assert "Traceback" not in err
    _, out, _ = run_cli(capsys, "units", "list")
    assert "A-1" not in out and "Chưa có đơn vị nào" in out


@pytest.mark.parametrize(("content", "message"), [
    ("code,name\nA,B\n", "Dòng 1: thiếu cột kind."),
    ("code,name,kind,parent_code\nA,Tên,district,NOPE\n", "Dòng 2: đơn vị cấp trên NOPE"),
    ("code,name,kind,parent_code\nA,Tên,district,\nA,Tên 2,district,\n", "Dòng 3: mã A đã có"),
])
def test_bad_files(tmp_path, content, message):
    path = tmp_path / "u.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UnitsFileError, match=message):
        read_units_file(path, translator("vi"), set())


def test_yaml_units(tmp_path):
    path = tmp_path / "u.yaml"
    path.write_text("- {code: P-1, name: Phường 1, kind: commune}\n"
                    "- {code: P-2, name: Phường 2, kind: commune, parent_code: P-1}\n",
                    encoding="utf-8")
    units = read_units_file(path, translator("en"), set())
    assert [u.code for u in units] == ["P-1", "P-2"]
    assert units[1].parent_code == "P-1"


async def seeded(db):
    async with db.transaction() as tx:
        await tx.units.upsert_many(read_units_file(SAMPLE_UNITS, translator("vi"), set()), NOW)
        return await tx.units.by_code("Q-LECHAN")


async def test_invite_single_use_expiry_and_revoke(db):
    unit = await seeded(db)
    async with db.transaction() as tx:
        first = await tx.invites.create(unit_id=unit.id, role=Role.OFFICER, created_by="t",
                                        now=NOW, days=7)
        second = await tx.invites.create(unit_id=unit.id, role=Role.OFFICER, created_by="t",
                                         now=NOW, days=7)
        contact = await tx.contacts.create(unit_id=unit.id, role=Role.OFFICER, name="A",
                                           language="vi", now=NOW)
    assert first.code != second.code and len(first.code) == 12
    async with db.transaction() as tx:
        assert await tx.invites.check(first.code.lower(), NOW) == first
        assert await tx.invites.mark_used(first.code, contact.id, NOW)
        assert not await tx.invites.mark_used(first.code, contact.id, NOW)
        assert await tx.invites.check(first.code, NOW) is InviteProblem.USED
        assert await tx.invites.check("NOSUCHCODE22", NOW) is InviteProblem.UNKNOWN
        late = NOW + timedelta(days=7, seconds=1)
        assert await tx.invites.check(second.code, late) is InviteProblem.EXPIRED
        assert await tx.invites.revoke(second.code, NOW)
        assert await tx.invites.check(second.code, NOW) is InviteProblem.REVOKED


def test_cli_invites_and_revoke(capsys, monkeypatch):
    run_cli(capsys, "units", "import", str(SAMPLE_UNITS))
    monkeypatch.setenv("TELEGRAM_BOT_USERNAME", "baocao_hp_bot")
    status, out, _ = run_cli(capsys, "invite", "--unit", "Q-LECHAN", "--role", "officer",
                             "--count", "3", "--expires", "5")
    assert status == 0
    lines = out.strip().splitlines()
    assert len(lines) == 3
    code = lines[0].split()[0]
    assert lines[0].endswith(f"https://t.me/baocao_hp_bot?start={code}")
    status, out, _ = run_cli(capsys, "invite", "revoke", code)
    assert status == 0 and code in out
    status, _, err = run_cli(capsys, "invite", "revoke", code)
    assert status == 1 and code in err
    status, _, err = run_cli(capsys, "invite", "--unit", "NOPE", "--role", "officer")
    assert status == 1 and "NOPE" in err
    status, _, err = run_cli(capsys, "invite", "--role", "officer")
    assert status == 1 and "--unit" in err


def test_cli_invite_lines_name_unit_role_expiry_and_link(capsys, monkeypatch):
    run_cli(capsys, "units", "import", str(SAMPLE_UNITS))
    monkeypatch.setenv("TELEGRAM_BOT_USERNAME", "baocao_hp_bot")
    status, out, _ = run_cli(capsys, "invite", "--unit", "Q-LECHAN", "--role", "officer",
                             "--count", "2", "--expires", "5")
    assert status == 0
    for line in out.strip().splitlines():
        code = line.split()[0]
        expires = (datetime.now(UTC) + timedelta(days=5)).astimezone(
            ZoneInfo("Asia/Ho_Chi_Minh")).strftime("%d/%m/%Y")
        assert line == (f"{code}  cán bộ đầu mối  Q-LECHAN  đến hết {expires}  "
                        f"https://t.me/baocao_hp_bot?start={code}")


async def test_invite_limit_is_the_same_in_chat_and_cli(harness, capsys):
    h = harness
    status, _, err = await asyncio.to_thread(run_cli, capsys, "invite", "--role",
                                             "coordinator", "--count", "51")
    assert status == 1 and "--count phải từ 1 đến 50." in err
    admin = h.chat(1, "Quản trị")
    await admin.say("/start")
    await admin.say("/invite")
    await admin.press("Cán bộ tổng hợp")
    await admin.say("51")
    assert "từ 1 đến 50" in admin.last().text
    await admin.say("50")
    await admin.press("Xác nhận")
    assert admin.last().text.count("<code>") == 50


async def test_pending_invites_listed_and_revoked_in_chat(harness):
    h = harness
    admin = h.chat(1, "Quản trị")
    await admin.say("/start")
    await admin.say("/dsmoi")
    assert admin.last().text == "Không có mã mời nào đang chờ sử dụng."
    code = await invite(h, Role.OFFICER, "Q-LECHAN")
    later = await invite(h, Role.COORDINATOR, None)
    used = await invite(h, Role.OFFICER, "Q-NGOQUYEN")
    await h.chat(501, "Cán bộ").say(f"/start {used}")
    await admin.say("/invites")
    listing = admin.last()
    # Only the codes' hashes are kept: an invite is shown by the start of its hash.
    shown, shown_later = code_hash(code)[:8], code_hash(later)[:8]
    assert f"<code>{shown}</code> · cán bộ đầu mối · Q-LECHAN · đến hết" in listing.text
    assert f"<code>{shown_later}</code> · cán bộ tổng hợp · đến hết" in listing.text
    assert code not in listing.text and code_hash(used)[:8] not in listing.text
    await admin.press(f"Thu hồi {shown}")
    assert admin.last().text == f"Đã thu hồi mã mời {shown}: mã này không dùng được nữa."
    stranger = h.chat(502, "Người lạ")
    await stranger.say(f"/start {code}")
    assert "đã bị thu hồi" in stranger.last().text
    await h.chat(503, "Điều phối viên").say(f"/start {later}")  # used before the press
    await admin.press_data(f"iv:rv:{code_hash(later)[:16]}", listing)
    assert "đã được sử dụng, đã bị thu hồi hoặc đã hết hạn" in admin.last().text
    await admin.say("/invites")
    assert admin.last().text == "Không có mã mời nào đang chờ sử dụng."
    async with h.runtime.db.read() as tx:
        revoked = [a["details"]["invite"] for a in await tx.audit.recent(10)
                   if a["action"] == "invite.revoke"]
    assert revoked == [code_hash(code)[:16]]
