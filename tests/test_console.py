"""The console demo and the command line as an operator meets them, in real subprocesses."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main

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


def test_a_report_with_a_coordinator_watching_shows_every_message_once(tmp_path):
    """The coordinator's "new report" notice used to print twice (outbox attempts=2): drain()
    and run() pumped the same rows concurrently."""
    lines = ["/as coordinator", "/as officer P-LECHAN", "/report", "2", "1", "15/03/2026",
             "Cán bộ, nhân dân phường", "150", "Hội nghị quán triệt", "1", "1", "/quit"]
    done = subprocess.run([sys.executable, "-m", "bot", "demo"], input="\n".join(lines) + "\n",
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, **CODE, "DATABASE_PATH": str(tmp_path / "demo.db")})
    assert done.returncode == 0, done.stderr
    shown = [block.strip() for block in done.stdout.split("🤖")[1:]]
    assert sum("Báo cáo mới BC-2026-0001" in block for block in shown) == 1
    with sqlite3.connect(tmp_path / "demo.db") as db:
        rows = db.execute("SELECT COUNT(*), MAX(attempts) FROM outbox").fetchone()
    assert rows == (len(shown), 1)


def test_demo_tries_an_invite_as_someone_new_and_attaches_a_file(tmp_path):
    env = {**os.environ, **CODE, "DATABASE_PATH": str(tmp_path / "demo.db")}
    subprocess.run([sys.executable, "-m", "bot", "units", "import", "bot/data/units_haiphong.csv"],
                   env=env, check=True, capture_output=True,
                   cwd=Path(__file__).resolve().parent.parent)
    issued = subprocess.run([sys.executable, "-m", "bot", "invite", "--role", "officer", "--unit",
                             "Q-LECHAN"], env=env, check=True, capture_output=True, text=True)
    code = issued.stdout.split()[0]
    (tmp_path / "bien-ban.pdf").write_bytes(b"%PDF-1.4\n")
    lines = ["/as coordinator", "/as guest", f"/start {code}", "/difficulty",
             "Thiếu kinh phí in tài liệu", "1", "1", "bỏ qua", f"/attach {tmp_path}/nope.pdf",
             f"/attach {tmp_path}/bien-ban.pdf", "Xong", "1", "/quit"]
    done = subprocess.run([sys.executable, "-m", "bot", "demo"], input="\n".join(lines) + "\n",
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "người dùng mới (1), chưa đăng ký" in out
    assert "đã được đăng ký là cán bộ đầu mối của Ủy ban nhân dân quận Lê Chân" in out
    assert f"Không có tệp tại {tmp_path}/nope.pdf" in out
    assert "Đã nhận 1 tệp" in out and "Tài liệu kèm theo: 1 tệp" in out
    # The coordinator hears of the difficulty, marked with who they are, not an address.
    assert "[→ cán bộ tổng hợp] " in out
    assert "guest:" not in out and "coordinator:" not in out and "officer:" not in out
