"""The console demo and the command line as an operator meets them: in real subprocesses, and in
this process where the demo is driven through its input and output."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.console import parse_skip, render, run_demo
from bot.settings import load_settings
from bot.units_file import DEMO_UNIT
from locales.i18n import translator
from storage.messages import Attachment, Edit, Files, Text
from tests.conftest import INVITE_CODE
from tests.dbquery import query

MENU_END = "Ngôn ngữ / Language"  # the main menu's last option
# The tests run in a temporary folder (conftest): every subprocess imports this checkout's code,
# not whichever Baocao is installed (the two can differ in their database's schema version).
CODE = {"PYTHONPATH": str(Path(__file__).resolve().parent.parent)}


def baocao(*args: str, **options) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bot", *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **options)


def wait_for_prompt(process: subprocess.Popen) -> str:
    """What the demo printed up to its prompt after the main menu, read as it comes."""
    seen = ""
    while not (MENU_END in seen and seen.endswith("> ")):
        char = process.stdout.read(1)
        assert char, f"the demo ended early: {seen[-500:]!r} {process.stderr.read()!r}"
        seen += char
    return seen


def finish(process: subprocess.Popen) -> tuple[int, str, str]:
    try:
        status = process.wait(timeout=60)
        return status, process.stdout.read(), process.stderr.read()
    finally:
        process.kill()
        process.stdin.close()


def test_quit_with_input_still_open_exits_cleanly():
    demo = baocao("demo")
    wait_for_prompt(demo)  # the reader thread is now waiting for the next line
    demo.stdin.write("/help\n/quit\n")
    demo.stdin.flush()  # and stdin stays open
    status, out, err = finish(demo)
    assert (status, err) == (0, "")  # no "Fatal Python error" from the reader thread
    assert "/report" in out  # the help came before leaving


def test_ctrl_c_with_input_still_open_exits_at_once():
    demo = baocao("demo")
    wait_for_prompt(demo)
    demo.send_signal(signal.SIGINT)
    status, _out, err = finish(demo)
    assert (status, err) == (130, "")


def bad_paths(folder: Path) -> None:
    (folder / "notes.txt").write_text("Ghi chú: đây không phải cơ sở dữ liệu.\n")
    (folder / "folder").mkdir()


@pytest.mark.sqlite_only("a DATABASE_PATH that is not a SQLite file")
@pytest.mark.parametrize(("path", "args"), [("notes.txt", ["demo"]),
                                            ("folder", ["units", "list"])])
def test_database_path_that_is_not_a_database_exits_2_in_one_line(tmp_path, path, args):
    bad_paths(tmp_path)
    process = baocao(*args, env={**os.environ, **CODE, "DATABASE_PATH": str(tmp_path / path)})
    status, _out, err = finish(process)  # it used to print the error and never exit
    assert status == 2 and len(err.strip().splitlines()) == 1, err
    assert "DATABASE_PATH" in err and str(tmp_path / path) in err


@pytest.mark.parametrize("args", [
    ["demo"], ["units", "list"], ["units", "import", "units.csv"], ["invite", "--role", "admin"],
    ["export", "--period", "2026", "--out", "x.xlsx"], ["db", "migrate"],
    ["db", "backup", "copy.db"],
    # `run` checks the database before it reaches the network (nothing listens at port 9).
    ["run"],
])
@pytest.mark.sqlite_only("a DATABASE_PATH that is not a SQLite file")
def test_every_command_names_database_path_when_it_is_not_a_database(tmp_path, monkeypatch,
                                                                      capsys, args):
    bad_paths(tmp_path)
    (tmp_path / "units.csv").write_text("code,name,kind\nX,Xã X,commune\n")
    monkeypatch.setenv("DATABASE_PATH", str(tmp_path / "notes.txt"))
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:TEST")
    monkeypatch.setenv("TELEGRAM_BASE_URL", "http://127.0.0.1:9/bot")
    assert main(args) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "DATABASE_PATH" in lines[0] and "notes.txt" in lines[0], lines
    assert not (tmp_path / "copy.db").exists() and not (tmp_path / "x.xlsx").exists()


# ---------------------------------------------------------------------------------------------
# The demo in this process (so it counts in the coverage of bot/): run_demo reads what is typed
# from a pipe in place of the terminal, through its own reader thread, and prints to the
# captured stdout. (The tests above run it as an operator does, in a subprocess.)

def typed(monkeypatch, lines: list[str]) -> None:
    """`lines` typed at the demo's prompt, then the end of input."""
    read, write = os.pipe()
    os.write(write, ("\n".join(lines) + "\n").encode())
    os.close(write)
    monkeypatch.setattr(sys, "stdin", os.fdopen(read, "r"))


async def demo(monkeypatch, capsys, lines: list[str], role: str = "officer",
               unit: str = DEMO_UNIT) -> str:
    typed(monkeypatch, lines)
    try:
        await run_demo(load_settings(), role, unit)
    finally:
        sys.stdin.close()
    return capsys.readouterr().out


VI = translator("vi")


async def test_demo_in_process_a_report_seen_once_by_the_coordinator(monkeypatch, capsys, tmp_path):
    """The coordinator's "new report" notice used to print twice (outbox attempts=2): drain()
    and run() pumped the same rows concurrently."""
    out = await demo(monkeypatch, capsys, [
        "/as coordinator", "/as officer P-LECHAN", "/report", "2", "1", "15/03/2026",
        "Cán bộ, nhân dân phường", "150", "Hội nghị quán triệt", "1", "1", "/quit"])
    assert VI._("First start: {n} sample units of Hải Phòng were imported.").split("{")[0] in out
    shown = [block.strip() for block in out.split("🤖")[1:]]
    assert sum("Báo cáo mới BC-2026-0001" in block for block in shown) == 1
    # The coordinator's copy is marked for whom it is; the officer's own answers are not.
    assert any(block.startswith("[→ cán bộ tổng hợp") for block in shown)
    thanks = VI._("Thank you. Report <b>{number}</b> was received.").format(number="BC-2026-0001")
    assert any(thanks.replace("<b>", "").replace("</b>", "") in block for block in shown)
    rows = query(tmp_path / "baocao.db", "SELECT COUNT(*), MAX(attempts) FROM outbox")[0]
    assert rows == (len(shown), 1)


async def test_demo_in_process_switching_people_and_the_clock(monkeypatch, capsys):
    out = await demo(monkeypatch, capsys, [
        "", "/as", "/as wizard", "/as officer NO-SUCH-UNIT", "/as officer", "/skip",
        "/skip soon", "/skip 30m", "/skip 2d", "/as leader", "/help"])  # then end of input
    for line in (VI._("Use: /as ROLE [UNIT], e.g. /as coordinator or /as officer P-LECHAN"),
                 VI._("Unknown role {role}: use officer, coordinator, leader or admin.").format(
                     role="wizard"),
                 VI._("Unknown unit {code}. See: baocao units list").format(code="NO-SUCH-UNIT"),
                 VI._("An officer belongs to a unit: add --unit CODE.")):
        assert line in out
    assert out.count(VI._("Use: /skip 3d, /skip 4h or /skip 30m")) == 2
    moved = [line for line in out.splitlines()
             if VI._("Demo time is now {when}.").split("{")[0] in line]
    assert len(moved) == 2 and "09:00" in moved[-1]  # whole days land at 09:00
    assert VI._("You are now {who}.").format(who=VI._("leader")) in out
    assert "/difficulties" in out.split(VI._("You are now {who}.").split("{")[0])[-1]



async def test_demo_lists_the_answers_to_change_once_and_in_full(monkeypatch, capsys):
    """A channel without buttons numbers the choices with their labels in full: the periodic
    report's long figure labels are neither cut to a button's width nor listed a second time
    (the engine used to do both, for Telegram's buttons)."""
    out = await demo(monkeypatch, capsys, [
        "/report", "7", "1", "Hoàn thành", "Không có", "1", "1", "2", "15"])
    models = VI._("Creative models and exemplary cases reported in the period")
    shown = [block.strip() for block in out.split("🤖")[1:]]
    pick = next(block for block in shown
                if block.startswith(VI._("Which answer do you want to change?")))
    assert f"15. {models}" in pick and pick.count(models) == 1 and "…" not in pick
    assert VI._("Changing “{label}”, now: {value}").format(label=models, value=0) in out

async def test_demo_in_process_refuses_a_person_it_cannot_be(monkeypatch, capsys):
    out = await demo(monkeypatch, capsys, ["/help"], role="officer", unit="NO-SUCH-UNIT")
    assert out.strip().endswith(
        VI._("Unknown unit {code}. See: baocao units list").format(code="NO-SUCH-UNIT"))
    assert "🤖" not in out  # it stopped before the chat began


ROOT = Path(__file__).resolve().parent.parent


async def test_demo_in_process_an_invite_as_someone_new_and_a_file(monkeypatch, capsys, tmp_path):
    # The commands run their own event loop, so they run beside this test's.
    units = str(ROOT / "bot/data/units_haiphong.csv")
    assert await asyncio.to_thread(main, ["units", "import", units]) == 0
    assert await asyncio.to_thread(main, ["invite", "--role", "officer", "--unit", "Q-LECHAN"]) == 0
    issued = INVITE_CODE.search(capsys.readouterr().out)
    assert issued is not None
    code = issued.group(0)
    (tmp_path / "bien-ban.pdf").write_bytes(b"%PDF-1.4\n")
    (tmp_path / "anh.jpg").write_bytes(b"\xff\xd8\xff")
    out = await demo(monkeypatch, capsys, [
        "/as coordinator", "/as guest", f"/start {code}", "/difficulty",
        "Thiếu kinh phí in tài liệu", "1", "1", "bỏ qua", "/attach", f"/attach {tmp_path}/nope.pdf",
        f"/attach '{tmp_path}/bien-ban.pdf'", f"/attach {tmp_path}/anh.jpg", "Xong", "1",
        "/quit"], role="admin", unit="")
    assert "người dùng mới (1), chưa đăng ký" in out
    assert "đã được đăng ký là cán bộ đầu mối của Ủy ban nhân dân quận Lê Chân" in out
    assert f"Không có tệp tại {tmp_path}/nope.pdf" in out
    assert VI._("No file at {path}. Use: /attach PATH").format(path="") in out
    assert "Tài liệu kèm theo: 2 tệp" in out
    assert "[→ cán bộ tổng hợp] " in out
    assert "guest:" not in out and "coordinator:" not in out and "officer:" not in out
    kinds = [r[0] for r in query(tmp_path / "baocao.db",
                                 "SELECT kind FROM attachments ORDER BY id")]
    assert kinds == ["document", "photo"]


def test_demo_serves_the_web_desk_and_web_signs_in(tmp_path):
    """The demo prints the desk's local address; /web there gives a link that signs in."""
    import http.cookiejar
    import re
    import socket
    import urllib.parse
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = baocao("demo", "--as", "coordinator", env={
        **os.environ, **CODE, "DATABASE_PATH": str(tmp_path / "demo.db"), "WEB_PORT": str(port)})
    try:
        seen = wait_for_prompt(process)
        assert f"http://127.0.0.1:{port}/desk/" in seen
        process.stdin.write("/web\n")
        process.stdin.flush()
        while "code=" not in seen or not seen.endswith("> "):
            char = process.stdout.read(1)
            assert char, seen[-500:]
            seen += char
        link = re.search(r"(http://127\.0\.0\.1:\d+/desk/signin\?code=[\w-]+)", seen).group(1)
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        assert 'method="post"' in opener.open(link, timeout=10).read().decode()
        code = urllib.parse.parse_qs(urllib.parse.urlparse(link).query)["code"][0]
        page = opener.open(f"http://127.0.0.1:{port}/desk/signin",
                           urllib.parse.urlencode({"code": code}).encode(), timeout=30)
        assert "Tình hình gửi báo cáo" in page.read().decode()  # followed to the status grid
        process.stdin.write("/quit\n")
        process.stdin.flush()
        assert finish(process)[0] == 0
    finally:
        process.kill()


@pytest.mark.parametrize(("message", "color", "shown"), [
    (Text("<b>Báo cáo</b> &amp; <i>ghi chú</i> <code>X</code>", (("a", "Một"), ("b", "Hai"))),
     False, "Báo cáo & ghi chú X\n  1. Một\n  2. Hai"),
    (Text("<b>Báo cáo</b>"), True, "\033[1mBáo cáo\033[0m"),
    (Edit("1", "<b>Đã chọn</b>"), False, None),  # a pressed button marked: nothing to print
    (Edit("1", "Chọn", (("a", "Một"),)), False, "Chọn\n  1. Một"),
    (Files((Attachment("document", "", "bc.xlsx", "/tmp/bc.xlsx"),), "<b>Bảng tính</b>"), False,
     "Bảng tính\n[document: bc.xlsx /tmp/bc.xlsx]"),
    (Files((Attachment("photo", "f1"),)), False, "[photo:  f1]"),
])
def test_console_renders_each_kind_of_message(message, color, shown):
    assert render(message, color) == shown


@pytest.mark.parametrize(("text", "delta"), [
    ("3d", timedelta(days=3)), (" 4H ", timedelta(hours=4)), ("30m", timedelta(minutes=30)),
    ("", None), ("3w", None), ("-1d", None), ("12345d", None)])
def test_skip_reads_days_hours_and_minutes(text, delta):
    assert parse_skip(text) == delta
