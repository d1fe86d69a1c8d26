"""`baocao doctor`: what is wrong with this installation, one line each, with the fix. Reads only:
it opens the database read-only and does not migrate it."""

from __future__ import annotations

import shutil
import sqlite3
import stat
from datetime import date
from pathlib import Path

import httpx

from bot.settings import Settings
from handlers.programme import ProgrammeError, load_programme
from locales.i18n import Translator
from storage.db import migrations

FREE_DISK_MIN = 1 << 30  # 1 GiB: room for a few backups and exports


def check(settings: Settings, t: Translator, today: date) -> list[tuple[bool, str]]:
    """(ok, line) for every check, in the order an operator would fix them."""
    lines: list[tuple[bool, str]] = []

    def ok(text: str) -> None:
        lines.append((True, text))

    def bad(text: str) -> None:
        lines.append((False, text))

    if not (settings.telegram_bot_token or settings.zalo_bot_token):
        bad(t._("No bot token: set TELEGRAM_BOT_TOKEN (from @BotFather) or ZALO_BOT_TOKEN."))
    else:
        ok(t._("Settings read."))
    if not settings.admin_ids:
        bad(t._("ADMIN_IDS is empty: nobody can administer the bot from chat; set your "
                "Telegram user id."))
    if settings.telegram_bot_token:
        url = (f"{settings.telegram_base_url}{settings.telegram_bot_token.get_secret_value()}"
               "/getMe")
        try:
            answer = httpx.get(url, timeout=10).json()
            if answer.get("ok"):
                ok(t._("Telegram token works (@{name}).").format(
                    name=answer["result"].get("username")))
            else:
                bad(t._("Telegram refused the token ({detail}): copy it again from @BotFather "
                        "into TELEGRAM_BOT_TOKEN.").format(detail=answer.get("description")))
        except (httpx.HTTPError, ValueError) as exc:
            # The exception text can hold the URL, and the URL holds the token: name the type.
            bad(t._("Telegram cannot be reached ({detail}): check the network, a proxy, or "
                    "TELEGRAM_BASE_URL.").format(detail=type(exc).__name__))

    kinds = _database(settings, t, ok, bad)
    _programme(settings, t, today, kinds, ok, bad)
    _files(settings, t, ok, bad)
    return lines


def _database(settings: Settings, t: Translator, ok, bad) -> set[str] | None:
    """Check the database; return the unit kinds it holds (None if it could not be read)."""
    path = settings.database_path
    if not path.exists():
        bad(t._("No database at {path}: it is made by the first `baocao units import` or "
                "`baocao run`; check DATABASE_PATH if one exists elsewhere.").format(path=path))
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2)
        try:
            version = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0]
            kinds = {r[0] for r in conn.execute("SELECT DISTINCT kind FROM units")}
            named = _named_kinds(conn)
            coordinating = conn.execute("SELECT name FROM units WHERE code = ?",
                                        (settings.coordinating_unit,)).fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        bad(t._("The database {path} cannot be read ({detail}): check DATABASE_PATH, or "
                "restore a backup (`baocao db restore`).").format(path=path, detail=exc))
        return None
    latest = migrations()[-1][0]
    if (version or 0) < latest:
        bad(t._("The database is at schema version {version}, this program needs {latest}: "
                "run `baocao db migrate` (the bot also does it when it starts).").format(
                    version=version, latest=latest))
    elif version > latest:
        bad(t._("The database was made by a newer Baocao (schema version {version}): upgrade "
                "Baocao.").format(version=version))
    else:
        ok(t._("Database {path} at schema version {version}.").format(path=path,
                                                                       version=version))
    if named is not None and kinds - named:
        bad(t._("Units have kinds with no name to show ({kinds}): name them under "
                "\u201ckinds:\u201d in a YAML units file and import it.").format(
                    kinds=", ".join(sorted(kinds - named))))
    # The coordinating department is a unit like the others; its record is what the settings
    # point at, so a code left over from before a merger shows here.
    if kinds and coordinating is None:
        bad(t._("The coordinating unit {code} (COORDINATING_UNIT) is not in the units list: "
                "import it, or set COORDINATING_UNIT to its code.").format(
                    code=settings.coordinating_unit))
    return kinds


def _named_kinds(conn: sqlite3.Connection) -> set[str] | None:
    """The kinds of unit the units files named (None before migration 0020 made the table)."""
    try:
        return {r[0] for r in conn.execute("SELECT code FROM unit_kinds")}
    except sqlite3.OperationalError:
        return None


def _programme(settings: Settings, t: Translator, today: date, kinds: set[str] | None,
               ok, bad) -> None:
    try:
        programme = load_programme(settings.programme_file)
    except ProgrammeError as exc:
        bad(t._("The programme file cannot be used ({detail}): fix PROGRAMME_FILE.").format(
            detail=exc))
        return
    last = programme.holidays_run_out(today)
    if last is not None:
        bad(t._("The programme lists holidays only until {day}: add next year's holidays to "
                "the programme file (PROGRAMME_FILE).").format(day=t.date(last)))
    else:
        ok(t._("Programme holidays listed until {day}.").format(
            day=t.date(max(programme.holidays))))
    if kinds is None:
        return
    if not kinds:
        bad(t._("No units yet: import them with `baocao units import FILE`."))
        return
    owed: dict[str, list[str]] = {}
    for obligation in programme.obligations:
        for kind in obligation.unit_kinds:
            if kind not in kinds:
                owed.setdefault(kind, []).append(obligation.id)
    for kind, obligations in owed.items():
        bad(t._("The programme asks units of kind {kind} for reports ({obligations}), and no "
                "unit has that kind: import those units, or correct the programme "
                "file.").format(kind=kind, obligations=", ".join(obligations)))


def _files(settings: Settings, t: Translator, ok, bad) -> None:
    folder = settings.database_path.parent
    for path in (Path(".env"), settings.database_path):
        if path.exists() and path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            bad(t._("{path} can be read by other users of this computer: chmod 600 "
                    "{path}").format(path=path))
    if folder.exists():
        free = shutil.disk_usage(folder).free
        if free < FREE_DISK_MIN:
            bad(t._("Only {mb} MB free on the disk of {folder}: free some space (old backups, "
                    "exports) or move DATABASE_PATH.").format(mb=free >> 20, folder=folder))
        else:
            ok(t._("{gb} GB free on the disk of {folder}.").format(gb=free >> 30,
                                                                   folder=folder))
