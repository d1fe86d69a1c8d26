"""`baocao doctor`: what is wrong with this installation, one line each, with the fix. Reads only:
it opens the database read-only (a SQLite file, or a PostgreSQL server in read-only transactions)
and does not migrate it."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import stat
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx

from bot.settings import Settings
from handlers.programme import ProgrammeError, load_programme
from locales.i18n import Translator
from storage.backend import postgres_url, sqlite_path
from storage.db import migrations

FREE_DISK_MIN = 1 << 30  # 1 GiB: room for a few backups and exports
# Seconds a PostgreSQL server has to answer (connect and sign in, then each read): one that does
# not is reported, not waited for.
PG_TIMEOUT = 3.0
# The PostgreSQL migration that indexes the desk's word search (pg/0027_word_search_index.sql).
WORD_INDEX_VERSION = 27


@dataclass
class _Found:
    """What the checks read from the database, whichever it is."""
    version: int
    kinds: set[str]
    named: set[str] | None  # the kinds the units files named (None before migration 0020)
    coordinating: bool  # whether the coordinating unit's code is in the units list


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
    url = postgres_url(settings.database)
    if url is not None:
        return _postgres(url, settings, t, ok, bad)
    path = sqlite_path(settings.database)
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
    found = _Found(version or 0, kinds, named, coordinating is not None)
    if _schema(found, migrations()[-1][0], t, bad):
        ok(t._("Database {path} at schema version {version}.").format(
            path=path, version=found.version))
    _units(found, settings, t, bad)
    return kinds


def _schema(found: _Found, latest: int, t: Translator, bad) -> bool:
    """Whether the schema is this program's; the fix when it is not."""
    if found.version < latest:
        bad(t._("The database is at schema version {version}, this program needs {latest}: "
                "run `baocao db migrate` (the bot also does it when it starts).").format(
                    version=found.version, latest=latest))
        return False
    if found.version > latest:
        bad(t._("The database was made by a newer Baocao (schema version {version}): upgrade "
                "Baocao.").format(version=found.version))
        return False
    return True


def _units(found: _Found, settings: Settings, t: Translator, bad) -> None:
    kinds, named = found.kinds, found.named
    if named is not None and kinds - named:
        bad(t._("Units have kinds with no name to show ({kinds}): name them under "
                "\u201ckinds:\u201d in a YAML units file and import it.").format(
                    kinds=", ".join(sorted(kinds - named))))
    # The coordinating department is a unit like the others; its record is what the settings
    # point at, so a code left over from before a merger shows here.
    if kinds and not found.coordinating:
        bad(t._("The coordinating unit {code} (COORDINATING_UNIT) is not in the units list: "
                "import it, or set COORDINATING_UNIT to its code.").format(
                    code=settings.coordinating_unit))


def pg_server(url: str) -> tuple[str, str, str]:
    """(host:port, database, user) of a postgresql:// URL, as the messages name them: never
    its password."""
    parts = urlsplit(url)
    where = parts.netloc.rsplit("@", 1)[-1] or "localhost"
    if ":" not in where.rsplit("]", 1)[-1] and "," not in where:
        where += ":5432"
    user = unquote(parts.username or "") or "postgres"
    return where, unquote(parts.path.lstrip("/")) or user, user


def _scrub(text: str, url: str) -> str:
    """`text` without the URL's password (a driver's message may quote the URL)."""
    password = urlsplit(url).password
    for secret in filter(None, {password, password and unquote(password)}):
        text = text.replace(secret, "***")
    return text


@dataclass
class _Server:
    """What doctor reads from a PostgreSQL server."""
    release: str
    size: int  # bytes the database takes on the server
    found: _Found
    word_index: bool  # the desk's word search has its trigram index (migration 0027)


async def _read_postgres(url: str, coordinating_unit: str) -> _Server:
    import asyncpg
    conn = await asyncpg.connect(url, timeout=PG_TIMEOUT, command_timeout=PG_TIMEOUT,
                                 server_settings={"default_transaction_read_only": "on",
                                                  "application_name": "baocao doctor"})
    try:
        server_version = conn.get_server_version()
        release = f"{server_version.major}.{server_version.minor}"
        size = await conn.fetchval("SELECT pg_database_size(current_database())")
        migrated = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
        if not migrated:  # made by createdb, not yet migrated
            return _Server(release, size, _Found(0, set(), None, False), False)
        version = await conn.fetchval("SELECT MAX(version) FROM schema_migrations") or 0
        kinds = {r[0] for r in await conn.fetch("SELECT DISTINCT kind FROM units")}
        named = {r[0] for r in await conn.fetch("SELECT code FROM unit_kinds")}
        coordinating = await conn.fetchval("SELECT EXISTS (SELECT 1 FROM units WHERE code = $1)",
                                           coordinating_unit)
        word_index = await conn.fetchval("SELECT to_regclass('report_words_trgm') IS NOT NULL")
        return _Server(release, size, _Found(version, kinds, named, coordinating), word_index)
    finally:
        await conn.close(timeout=PG_TIMEOUT)


def _postgres(url: str, settings: Settings, t: Translator, ok, bad) -> set[str] | None:
    """The PostgreSQL server: it answers, signs in, holds the database at this program's
    schema; backups and disk are the operator's there (pg_dump, the server's own disk)."""
    import asyncpg

    from storage.pg import pg_migrations
    where, name, user = pg_server(url)
    try:
        server = asyncio.run(_read_postgres(url, settings.coordinating_unit))
    except asyncpg.InvalidCatalogNameError:
        bad(t._("No database {name} on the PostgreSQL server at {server}: create it (createdb "
                "{name}), then run `baocao db migrate`; or correct DATABASE_URL.").format(
                    name=name, server=where))
        return None
    except (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError) as exc:
        bad(t._("The PostgreSQL server at {server} refused user {user} ({detail}): check the "
                "user and password in DATABASE_URL.").format(
                    server=where, user=user, detail=_scrub(str(exc), url)))
        return None
    except TimeoutError:
        bad(t._("The PostgreSQL server at {server} did not answer within {seconds} s: start "
                "it, or correct the host and port in DATABASE_URL (a firewall may drop the "
                "connection).").format(server=where, seconds=t.number(PG_TIMEOUT)))
        return None
    except OSError as exc:
        bad(t._("The PostgreSQL server at {server} cannot be reached ({detail}): start it, or "
                "correct the host and port in DATABASE_URL.").format(
                    server=where, detail=type(exc).__name__))
        return None
    except (asyncpg.PostgresError, asyncpg.InterfaceError, ValueError) as exc:
        bad(t._("The database {name} on the PostgreSQL server at {server} cannot be read "
                "({detail}): check DATABASE_URL and the user's rights.").format(
                    name=name, server=where, detail=_scrub(str(exc) or type(exc).__name__,
                                                           url)))
        return None
    found = server.found
    latest = pg_migrations()[-1][0]
    if _schema(found, latest, t, bad):
        ok(t._("Database {name} on the PostgreSQL server at {server} (PostgreSQL {release}) at "
               "schema version {version}.").format(name=name, server=where,
                                                   release=server.release,
                                                   version=found.version))
    ok(t._("The database takes {mb} MB on the server: its free disk is watched there, not "
           "from here.").format(mb=t.number(server.size >> 20)))
    if found.version >= WORD_INDEX_VERSION and not server.word_index:
        # Migration 0027 makes it only where the pg_trgm extension could be created.
        bad(t._("The web desk's word search has no index on this server (the pg_trgm "
                "extension could not be created), so each search reads every report: as the "
                "database's owner or a superuser, run in it \u201cCREATE EXTENSION pg_trgm; "
                "CREATE INDEX report_words_trgm ON report_words USING gin (fts_spaced(words) "
                "gin_trgm_ops);\u201d (pg_trgm is one of PostgreSQL's contrib modules)."))
    if found.version == 0:
        return None  # nothing to read before the first migration
    _units(found, settings, t, bad)
    return found.kinds
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
    on_postgres = postgres_url(settings.database) is not None
    database = None if on_postgres else sqlite_path(settings.database)
    for path in (Path(".env"), database):
        if path is not None and path.exists() \
                and path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            bad(t._("{path} can be read by other users of this computer: chmod 600 "
                    "{path}").format(path=path))
    if database is None:
        # PostgreSQL's data is on the server's disk (its size is reported with the database),
        # and its backups are the operator's.
        # (Not a fault: the container image sets BACKUP_DIR whichever database it is given.)
        if settings.backup_dir is not None:
            ok(t._("Backups: on PostgreSQL the bot writes none to BACKUP_DIR ({folder}); back "
                   "the database up with pg_dump (README, \u201cPostgreSQL\u201d).").format(
                       folder=settings.backup_dir))
        else:
            ok(t._("Backups: on PostgreSQL the bot makes none; back the database up with "
                   "pg_dump (README, \u201cPostgreSQL\u201d)."))
        return
    folder = database.parent
    if folder.exists():
        free = shutil.disk_usage(folder).free
        if free < FREE_DISK_MIN:
            bad(t._("Only {mb} MB free on the disk of {folder}: free some space (old backups, "
                    "exports) or move DATABASE_PATH.").format(mb=free >> 20, folder=folder))
        else:
            ok(t._("{gb} GB free on the disk of {folder}.").format(gb=free >> 30,
                                                                   folder=folder))
