"""Units through reorganisation (issue 16): a merger on a day between two quarters, driven by a
fake clock through the real Application; merge and retire on the command line; the shipped
2026 list; the console demo in December 2026."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from bot.cli import main
from bot.settings import load_settings
from bot.units_file import CURRENT_UNITS, SAMPLE_UNITS, import_units, read_units_file
from handlers.compile import write_report
from handlers.export import write_workbook
from handlers.units import end_units
from locales.i18n import translator
from storage.db import Database
from storage.models import Role, UnitIn
from tests.dbquery import query
from tests.telegram_fakes import FakeClock, Harness, listed, register
from tests.test_compile import report, status_figures

HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
# Quarter I/2026 runs 15/12/2025 - 14/03/2026, due 20/03; quarter II 15/03 - 14/06, due 20/06.
PROGRAMME = """
reminders: {days_before: [7, 3, 1], leaders_after_days: 5}
working_hours: {start: "08:00", end: "17:00"}
obligations:
  - id: annual
    name: {vi: "Báo cáo định kỳ năm", en: "Annual report"}
    report: periodic
    unit_kinds: [district, ward]
    period: annual
    first_year: 2026
    due_days_after_end: 5
  - id: quarterly
    name: {vi: "Báo cáo quý", en: "Quarterly report"}
    report: periodic
    unit_kinds: [district, ward]
    period: quarter
    first_year: 2026
    due_days_after_end: 6
"""
NEW = "Ủy ban nhân dân phường Lê Chân"
DISSEMINATION = "Số hoạt động tuyên truyền tổ chức trong kỳ"


def at(month: int, day: int, hour: int = 9) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=HANOI).astimezone(UTC)


def late(chat) -> list[str]:
    return [t for t in chat.texts() if t.startswith(("⏰", "⚠️"))]


@pytest.fixture
async def city(tmp_path):
    (tmp_path / "programme.yaml").write_text(PROGRAMME, encoding="utf-8")
    settings = load_settings(database_path=tmp_path / "bot.db", admin_ids=[1],
                             telegram_bot_token="123:TEST",
                             programme_file=tmp_path / "programme.yaml")
    h = await Harness(settings, FakeClock(at(3, 2))).start()
    async with h.runtime.db.transaction() as tx:
        await tx.units.upsert_many(read_units_file(SAMPLE_UNITS, translator("vi"), set()),
                                   h.clock())
    h.think_seconds = 0
    yield h
    await h.stop()


async def disseminate(chat, day: str, reached: str) -> None:
    await report(chat, "dissemination", "press:Loa truyền thanh cơ sở", day,
                 "Nhân dân", reached, "Phát thanh")


async def test_a_merger_between_two_quarters(city):
    h = city
    admin = h.chat(1, "Phạm Thu Hà")
    await admin.say("/start")
    coordinator = await register(h, 301, "Phạm Văn Điều", Role.COORDINATOR, "SO-TTTT")
    le_chan = await register(h, 501, "Trần Thị Bình", unit="Q-LECHAN")
    ngo_quyen = await register(h, 502, "Đỗ Văn Cần", unit="Q-NGOQUYEN")
    h.clock.now = at(3, 10)
    await disseminate(le_chan, "09/03/2026", "1.200")
    await disseminate(ngo_quyen, "10/03/2026", "300")

    await h.tick_at(at(3, 13))  # 7 days before the first quarter's deadline: both are reminded
    assert len(late(le_chan)) == 1 and len(late(ngo_quyen)) == 1
    await h.tick_at(at(3, 23))  # overdue: both, and the coordinators hear of both
    assert len(late(ngo_quyen)) == 2
    assert "<b>15 đơn vị</b>" in late(coordinator)[-1]
    assert {"Q-NGOQUYEN", "Q-LECHAN"} <= await listed(coordinator)

    # On 1 April both districts are merged into a new ward (a day between the two quarters).
    async with h.runtime.db.transaction() as tx:
        await tx.units.upsert_many([UnitIn(code="P-LECHAN", name=NEW, kind="ward",
                                           valid_from=date(2026, 4, 1))], h.clock())
        await end_units(tx, translator("vi"), ["Q-LECHAN", "Q-NGOQUYEN"], ("P-LECHAN",),
                        date(2026, 4, 1), "test", h.clock())
    before = {chat: len(chat.texts()) for chat in (le_chan, ngo_quyen, coordinator)}
    await h.tick_at(at(3, 31))  # the last day of the districts: nothing changes yet
    assert all(len(chat.texts()) == before[chat] for chat in before)

    for day in (1, 2, 3):
        await h.tick_at(at(4, day))
    for officer in (le_chan, ngo_quyen):  # told once, moved to the one successor
        told = [t for t in officer.texts()[before[officer]:] if NEW in t]
        assert len(told) == 1, officer.texts()[before[officer]:]
    assert len([t for t in admin.texts() if "P-LECHAN" in t]) == 1
    # The old units are chased no more: no reminder, no escalation for the first quarter.
    assert len(late(ngo_quyen)) == 2 and len(late(le_chan)) == 2
    await h.tick_at(at(4, 8))
    assert len(late(ngo_quyen)) == 2

    # The second quarter is owed by the new ward, whose officers are the two moved.
    h.clock.now = at(5, 12)
    await disseminate(le_chan, "11/05/2026", "500")
    await h.tick_at(at(6, 15))  # a Monday, five days before
    for officer in (le_chan, ngo_quyen):
        assert "quý II/2026" in late(officer)[-1]
    await h.tick_at(at(6, 22))
    escalated = late(coordinator)[-1]
    assert "<b>14 đơn vị</b>" in escalated and "quý II/2026" in escalated
    assert "quận Lê Chân" not in escalated and "quận Ngô Quyền" not in escalated
    units = await listed(coordinator)
    assert "P-LECHAN" in units and not {"Q-LECHAN", "Q-NGOQUYEN"} & units

    await coordinator.say("/status")
    status = coordinator.last().text
    # Figures for the year add up over the old units and the new one, in /status, the
    # spreadsheet and the compiled report, with or without rolling history up.
    assert status_figures(status)[DISSEMINATION] == 3
    async with h.runtime.db.read() as tx:
        ids = {code: (await tx.units.by_code(code)).id
               for code in ("Q-LECHAN", "Q-NGOQUYEN", "P-LECHAN")}
    config, t = h.runtime.config, translator("vi")
    period = config.programme.period("2026")
    plain = await write_report(h.runtime.db, config, t, period, h.settings.database_path.parent
                               / "plain.docx", True, h.clock())
    rolled = await write_report(h.runtime.db, config, t, period,
                                h.settings.database_path.parent / "rolled.docx", True,
                                h.clock(), roll_up=True)
    rows = {row["unit"]: int(row["count_dissemination"]) for row in plain["units"]}
    assert rows["Ủy ban nhân dân quận Lê Chân"] == 1 and rows[NEW] == 1
    assert rows["Ủy ban nhân dân quận Ngô Quyền"] == 1
    rolled_rows = {row["unit"]: int(row["count_dissemination"]) for row in rolled["units"]}
    assert rolled_rows[NEW] == 3 and "Ủy ban nhân dân quận Lê Chân" not in rolled_rows
    assert plain["f"]["count_dissemination"] == rolled["f"]["count_dissemination"] == "3"
    assert sum(rows.values()) == sum(rolled_rows.values()) == 3
    assert int(plain["f"]["reached"].replace(".", "")) == 1200 + 300 + 500
    book = h.settings.database_path.parent / "year.xlsx"
    await write_workbook(h.runtime.db, config, t, period, book)
    totals = {row[0]: row[1] for row in openpyxl.load_workbook(book, read_only=True)[
        "Tổng hợp"].iter_rows(values_only=True) if row[0]}
    assert totals[DISSEMINATION] == 3
    sheet = openpyxl.load_workbook(book, read_only=True)["Tuyên truyền"]
    units = sorted(row[1] for row in sheet.iter_rows(min_row=2, values_only=True))
    assert units == ["P-LECHAN", "Q-LECHAN", "Q-NGOQUYEN"]  # each report under its own unit
    await write_workbook(h.runtime.db, config, t, period, book, roll_up=True)
    sheet = openpyxl.load_workbook(book, read_only=True)["Tuyên truyền"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][-1] == "Tính cho đơn vị"
    assert sorted((row[1], row[-1]) for row in rows[1:]) == [
        ("P-LECHAN", "P-LECHAN"), ("Q-LECHAN", "P-LECHAN"), ("Q-NGOQUYEN", "P-LECHAN")]
    # The admin's list of units keeps the old ones, with their last day and successor (after
    # the background jobs above have sent their files, so the list is the last message).
    await h.jobs_done()
    await admin.say("/units")
    assert "Q-LECHAN — Ủy ban nhân dân quận Lê Chân · cán bộ đầu mối: 0 · đến hết 31/03/2026 → " \
        "P-LECHAN" in admin.last().text
    assert set(ids) == {"Q-LECHAN", "Q-NGOQUYEN", "P-LECHAN"}


def run_cli(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


async def _officer(db_path: Path, unit: str, name: str) -> int:
    async with Database(db_path) as db, db.transaction() as tx:
        found = await tx.units.by_code(unit)
        contact = await tx.contacts.create(unit_id=found.id, role=Role.OFFICER, name=name,
                                           language="vi", now=datetime.now(UTC))
        await tx.contacts.bind(contact.id, "telegram", str(contact.id + 700), str(contact.id + 700),
                               datetime.now(UTC))
        return contact.id


def test_merge_and_retire_on_the_command_line(capsys, monkeypatch, tmp_path):
    db_path = tmp_path / "bot.db"
    monkeypatch.setenv("DATABASE_PATH", str(db_path))
    assert run_cli(capsys, "units", "import", str(SAMPLE_UNITS))[0] == 0
    haian = asyncio.run(_officer(db_path, "Q-HAIAN", "Vũ Thị Hải"))
    kienan = asyncio.run(_officer(db_path, "Q-KIENAN", "Lê Văn Kiến"))
    status, out, err = run_cli(capsys, "units", "merge", "Q-KIENAN", "--into", "P-KIENAN",
                               "--on", "2025-07-01")
    assert status == 1 and "--name" in err  # a new unit needs its name
    status, out, err = run_cli(capsys, "units", "merge", "Q-KIENAN", "--into", "P-KIENAN",
                               "--on", "2025-07-01", "--name", "Ủy ban nhân dân phường Kiến An",
                               "--kind", "ward")
    assert status == 0, err
    assert "30/06/2025" in out and "P-KIENAN" in out and f"#{kienan}" in out
    status, out, err = run_cli(capsys, "units", "retire", "Q-HAIAN", "--on", "2025-07-01")
    assert status == 0, err
    assert f"#{haian} Vũ Thị Hải (Q-HAIAN → —)" in out  # needs a new invite
    status, out, err = run_cli(capsys, "invite", "--role", "officer", "--unit", "Q-HAIAN")
    assert status == 1 and "Q-HAIAN không còn hoạt động" in err
    status, out, err = run_cli(capsys, "units", "retire", "Q-HAIAN", "--on", "2026-01-01")
    assert status == 1 and "Q-HAIAN" in err  # already ended: nothing is done twice
    moved = query(db_path, "SELECT u.code, c.deactivated_at IS NULL FROM contacts c "
                  "JOIN units u ON u.id = c.unit_id ORDER BY c.id")
    audit = [r[0] for r in query(db_path, "SELECT action FROM audit_log ORDER BY id")]
    told = query(db_path, "SELECT COUNT(*) FROM outbox")[0][0]
    assert moved == [("Q-HAIAN", 0), ("P-KIENAN", 1)]
    assert audit.count("unit.merge") == 1 and audit.count("unit.retire") == 1
    assert told == 2  # one message each
    status, out, _ = run_cli(capsys, "units", "list", "--kind", "ward")
    assert "P-KIENAN" in out and "01/07/2025" in out


def test_the_2026_list_imports_once_and_maps_every_2023_unit(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_PATH", str(tmp_path / "bot.db"))
    assert "163" in run_cli(capsys, "units", "import", str(CURRENT_UNITS))[1]
    assert "0, 0, 163" in run_cli(capsys, "units", "import", str(CURRENT_UNITS))[1].replace(
        "Thêm mới ", "").replace("cập nhật ", "").replace("giữ nguyên ", "").rstrip(".\n")
    old = {u.code for u in read_units_file(SAMPLE_UNITS, translator("vi"), set())}
    current = {u.code: u for u in read_units_file(CURRENT_UNITS, translator("vi"), set())}
    assert old <= set(current)  # the 2023 addressees are kept, as history
    for code in old:  # and every one that ended has a successor, except none
        unit = current[code]
        assert unit.valid_to is None or unit.successors, code
    districts = [u for u in current.values() if u.kind == "district"]
    today = date(2026, 12, 1)
    assert districts and not any(u.valid_on(today) for u in districts)
    assert current["H-BACHLONGVI"].successors == ("DK-BACHLONGVI",)


def test_the_demo_in_december_2026_shows_no_abolished_unit_as_overdue(tmp_path):
    """The console demo on the shipped 2026 list, the clock moved to December 2026: the
    coordinator's /status and digest name no district, and nobody of a district is reminded."""
    # The tests run in a temporary folder (conftest): the demo must import this checkout's
    # code, not whichever Baocao is installed.
    env = {**os.environ, "DATABASE_PATH": str(tmp_path / "demo.db"),
           "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    today = datetime.now(HANOI).date()
    days = (date(2026, 12, 22) - today).days
    lines = ["/as officer Q-LECHAN", "/as coordinator", *([f"/skip {days}d"] if days > 0 else []),
             "/status", "/digest", "/quit"]
    done = subprocess.run([sys.executable, "-m", "bot", "demo"], input="\n".join(lines) + "\n",
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    status = out[out.index("Tình hình báo cáo"):out.index("Bản tin tổng hợp ·")]
    digest = out[out.index("Bản tin tổng hợp ·"):]
    for text in (status, digest):
        assert "Quận, huyện" not in text and "quận" not in text and "huyện" not in text
    # A district's officer cannot be played: the unit has ceased to exist, its successors named.
    assert "Q-LECHAN không còn hoạt động vào ngày" in out and "P-LECHAN, P-ANBIEN" in out
    # Kinds named by the units file; the districts that sent no plan counted apart, not chased.
    assert "Phường: 45; Xã: 67; Đặc khu: 2" in out  # the 114 of Resolution 1669
    assert "Theo đơn vị kế thừa" in status  # the roll-up is offered
    assert "23 đơn vị đã chấm dứt hoạt động chưa gửi." in out


def test_roll_up_follows_merger_chains_and_keeps_a_split_apart():
    """A → B → C (a rename, then a merger) counts under C; a unit split in two stays its own
    line, marked, and so does what was merged into it before; a unit with no successor is its
    own."""
    from handlers.units import counted_name, rolled_up
    from storage.models import Unit

    def unit(n, code, *successors, valid_to=None):
        return Unit(id=n, code=code, name=f"Đơn vị {code}", kind="ward", valid_to=valid_to,
                    successors=successors)

    ended = date(2025, 6, 30)
    units = [unit(1, "A", "B", valid_to=ended), unit(2, "B", "C", valid_to=ended),
             unit(3, "C"), unit(4, "S", "C", "D", valid_to=ended), unit(5, "D"),
             unit(6, "R", "S", valid_to=ended), unit(7, "X", valid_to=ended)]
    under = {u.code: rolled_up(units)[u.id].code for u in units}
    assert under == {"A": "C", "B": "C", "C": "C", "S": "S", "D": "D", "R": "S", "X": "X"}
    t = translator("vi")
    assert counted_name(t, units[3]) == "Đơn vị S (đã chia tách)"
    assert counted_name(t, units[2]) == "Đơn vị C"


def rates(text: str, obligation: str) -> str:
    """The completeness line under an obligation's heading in /status."""
    lines = text.split("\n")
    at = next(i for i, line in enumerate(lines) if obligation in line)
    return lines[at + 1]


async def test_status_and_digests_roll_up_to_successors(city):
    """Two districts merged into a ward and one split in two on 1 April, after two of them sent
    the year's periodic report: by default /status and the digest count each report under the
    unit that sent it (the new units owe the year, and have not sent it); rolled up, the merged
    district's report counts for the ward, the split district's stays apart, marked; the
    programme's figures are the same either way."""
    from tests.test_counts import send_periodic

    h = city
    await h.chat(1, "Phạm Thu Hà").say("/start")
    coordinator = await register(h, 301, "Phạm Văn Điều", Role.COORDINATOR, "SO-TTTT")
    ngo_quyen = await register(h, 502, "Đỗ Văn Cần", unit="Q-NGOQUYEN")
    hai_an = await register(h, 503, "Vũ Thị Hải", unit="Q-HAIAN")
    h.clock.now = at(3, 10)
    await disseminate(ngo_quyen, "09/03/2026", "300")
    await send_periodic(ngo_quyen)
    await send_periodic(hai_an)
    async with h.runtime.db.transaction() as tx:
        await tx.units.upsert_many([
            UnitIn(code="P-LECHAN", name=NEW, kind="ward", valid_from=date(2026, 4, 1)),
            UnitIn(code="P-HAIAN", name="Ủy ban nhân dân phường Hải An", kind="ward",
                   valid_from=date(2026, 4, 1)),
            UnitIn(code="P-DONGHAI", name="Ủy ban nhân dân phường Đông Hải", kind="ward",
                   valid_from=date(2026, 4, 1))], h.clock())
        await end_units(tx, translator("vi"), ["Q-LECHAN", "Q-NGOQUYEN"], ("P-LECHAN",),
                        date(2026, 4, 1), "test", h.clock())
        await end_units(tx, translator("vi"), ["Q-HAIAN"], ("P-HAIAN", "P-DONGHAI"),
                        date(2026, 4, 1), "test", h.clock())
    await h.tick_at(at(6, 22))

    await coordinator.say("/status")
    plain = coordinator.last().text
    annual = "Báo cáo định kỳ năm"
    # The year is owed by the units existing on its deadline (the 12 districts of 2023 left in
    # this list and the 3 new wards): none of those sent it.
    assert rates(plain, annual).startswith("0/15 đơn vị đã gửi")
    assert ("Đơn vị đã chấm dứt hoạt động cũng đã gửi: Ủy ban nhân dân quận Hải An; "
            "Ủy ban nhân dân quận Ngô Quyền") in plain
    await coordinator.press("Theo đơn vị kế thừa")
    rolled = coordinator.last().text
    assert "được tính cho đơn vị kế thừa" in rolled
    assert rates(rolled, annual).startswith("1/15 đơn vị đã gửi")  # P-LECHAN, by Ngô Quyền's
    assert "Tính riêng (đơn vị đã chia tách hoặc giải thể): Ủy ban nhân dân quận Hải An " \
        "(đã chia tách)" in rolled
    assert status_figures(plain) == status_figures(rolled)  # the programme's figures add up
    assert status_figures(rolled)[DISSEMINATION] == 1
    # The list of those who have not sent it, rolled up too: the ward is not on it.
    await coordinator.press(f"Chưa gửi: {annual}")
    assert NEW not in coordinator.last().text and "Đông Hải" in coordinator.last().text

    # Digests: the reader chooses in /settings; the default is under the unit that sent.
    await coordinator.say("/digest")
    digest = next(t for t in reversed(coordinator.texts()) if "Bản tin tổng hợp" in t)
    assert "Báo cáo định kỳ năm · năm 2026: 0/15 đơn vị đã gửi" in digest
    assert "cũng đã gửi: Ủy ban nhân dân quận Hải An; Ủy ban nhân dân quận Ngô Quyền" in digest
    await coordinator.say("/settings")
    assert "tính mỗi báo cáo cho đơn vị đã gửi" in coordinator.last().text
    await coordinator.press("Bản tin: theo đơn vị kế thừa")
    assert "cho đơn vị kế thừa" in coordinator.last().text
    await coordinator.say("/digest")
    digest = next(t for t in reversed(coordinator.texts()) if "Bản tin tổng hợp" in t)
    assert "Báo cáo định kỳ năm · năm 2026: 1/15 đơn vị đã gửi" in digest
    assert "quận Hải An (đã chia tách)" in digest
    # The compiled report and the spreadsheet, rolled up: the split district keeps its own line,
    # marked; the merged one counts under the ward.
    config, t = h.runtime.config, translator("vi")
    period = config.programme.period("2026")
    folder = h.settings.database_path.parent
    rolled_report = await write_report(h.runtime.db, config, t, period, folder / "r.docx", True,
                                       h.clock(), roll_up=True)
    rows = {row["unit"]: int(row["count_dissemination"]) for row in rolled_report["units"]}
    assert rows["Ủy ban nhân dân quận Hải An (đã chia tách)"] == 0 and rows[NEW] == 1
    assert "Ủy ban nhân dân quận Ngô Quyền" not in rows
    await write_workbook(h.runtime.db, config, t, period, folder / "r.xlsx", roll_up=True)
    sheet = openpyxl.load_workbook(folder / "r.xlsx", read_only=True)["Báo cáo định kỳ"]
    assert sorted((row[1], row[-1]) for row in sheet.iter_rows(min_row=2, values_only=True)) \
        == [("Q-HAIAN", "Q-HAIAN (đã chia tách)"), ("Q-NGOQUYEN", "P-LECHAN")]


async def test_notices_and_the_unit_picker_know_only_units_of_today(city):
    """On the 2026 list, a notice by kind of unit offers the kinds of the units file (wards,
    communes, the special zones…) but not the abolished districts, and reaches officers of
    existing units only; an invite cannot be made for a unit that ceased to exist, and the
    admin is told which units carry on its work."""
    h = city
    async with h.runtime.db.transaction() as tx:
        await import_units(tx, CURRENT_UNITS, translator("vi"), None, h.clock())
    admin = h.chat(1, "Phạm Thu Hà")
    await admin.say("/start")
    await register(h, 601, "Lê Thị Phường", unit="P-HAIDUONG")
    await admin.say("/broadcast")
    await admin.say("Họp giao ban trực tuyến lúc 14:00")
    await admin.press("Bỏ qua")
    await admin.press("Theo loại đơn vị")
    labels = [text for text, _data in admin.last().buttons]
    assert {"Phường", "Xã", "Đặc khu", "Sở, ban, ngành"} <= set(labels)
    assert not any("Quận" in label for label in labels)
    await admin.press("Phường")
    await admin.press("Xong")
    await admin.press("Gửi ngay")
    assert "1 người nhận" in admin.last().text  # the ward's officer

    await admin.say("/cancel")
    await admin.say("/invite")
    await admin.press("Cán bộ đầu mối của đơn vị")
    await admin.say("Q-HAIAN")
    assert "Q-HAIAN đã chấm dứt hoạt động sau ngày 30/06/2025. Nhập đơn vị kế thừa: " \
        "P-HAIAN, P-DONGHAI." in admin.last().text
    await admin.say("Hải An")  # by name: the ward, not the district of the same name
    await admin.say("1")
    assert "Ủy ban nhân dân phường Hải An" in admin.last().text  # the summary
