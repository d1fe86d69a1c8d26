"""The `baocao` command line: run the bot, the console demo, and the operator's chores."""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path

from xlsxwriter.exceptions import XlsxFileError

from bot import redact
from bot.i18n import Translator, translator
from bot.run import StartError
from bot.settings import Settings, SettingsError, load_settings
from bot.units_file import UnitsFileError, read_units_file
from handlers.programme import ProgrammeError, load_programme
from storage.db import Database, SchemaTooNewError
from storage.models import Role


class UserError(Exception):
    """A mistake of the person at the keyboard: one translated line, exit status 1."""


def _parser(t: Translator) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="baocao",
        description=t._("Baocao: field reporting by chat. Without a command: the Telegram bot "
                        "when TELEGRAM_BOT_TOKEN is set, otherwise the console demo."))
    sub = parser.add_subparsers(dest="command", metavar=t._("command"))

    sub.add_parser("run", help=t._("run the bot on Telegram and/or Zalo (polling or webhook)"))

    demo = sub.add_parser("demo", help=t._("chat with the bot in this terminal"))
    demo.add_argument("--as", dest="role", choices=[r.value for r in Role], default="officer",
                      help=t._("the role to act as"))
    demo.add_argument("--unit", default="SO-TTTT", help=t._("the unit code to act for"))

    units = sub.add_parser("units", help=t._("import or list units"))
    units_sub = units.add_subparsers(dest="units_command", required=True, metavar=t._("action"))
    imp = units_sub.add_parser("import", help=t._("import units from a CSV or YAML file"))
    imp.add_argument("file", type=Path, help=t._("columns: code, name, kind, parent_code"))
    lst = units_sub.add_parser("list", help=t._("list the units"))
    lst.add_argument("--kind", help=t._("only units of this kind"))

    invite = sub.add_parser("invite", help=t._("issue or revoke invites"))
    invite.add_argument("action", nargs="?", choices=["revoke"], help=t._("revoke an invite"))
    invite.add_argument("code", nargs="?", help=t._("the invite code to revoke"))
    invite.add_argument("--unit", help=t._("the unit code"))
    invite.add_argument("--role", choices=[r.value for r in Role], help=t._("the role granted"))
    invite.add_argument("--count", type=int, default=1, help=t._("how many invites"))
    invite.add_argument("--expires", type=int, metavar=t._("DAYS"),
                        help=t._("days until the invites expire"))

    export = sub.add_parser("export", help=t._("write a period's spreadsheet (.xlsx)"))
    export.add_argument("--period", required=True,
                        help=t._("the period: 2026, 2026-H1, 2026-Q3, 2026-M03 or an ad hoc id"))
    export.add_argument("--out", type=Path, required=True, help=t._("the .xlsx file to write"))

    db = sub.add_parser("db", help=t._("database upkeep"))
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar=t._("action"))
    db_sub.add_parser("migrate", help=t._("apply pending migrations"))
    backup = db_sub.add_parser("backup", help=t._("copy the live database consistently"))
    backup.add_argument("path", type=Path, help=t._("where to write the copy"))
    return parser


async def _units_import(settings: Settings, t: Translator, path: Path) -> None:
    async with Database(settings.database_path) as db:
        async with db.transaction() as tx:
            known = {u.code for u in await tx.units.list()}
            units = read_units_file(path, t, known)
            counts = await tx.units.upsert_many(units, datetime.now(UTC))
    print(t._("{added} added, {updated} updated, {unchanged} unchanged.").format(
        added=t.number(counts.added), updated=t.number(counts.updated),
        unchanged=t.number(counts.unchanged)))


async def _units_list(settings: Settings, t: Translator, kind: str | None) -> None:
    async with Database(settings.database_path) as db:
        async with db.transaction() as tx:
            units = await tx.units.list(kind)
    if not units:
        print(t._("No units yet. Import some with: baocao units import FILE"))
    for unit in units:
        print(f"{unit.code:<14} {unit.kind:<13} {unit.name}")


async def _invite(settings: Settings, t: Translator, args: argparse.Namespace) -> None:
    now = datetime.now(UTC)
    async with Database(settings.database_path) as db:
        async with db.transaction() as tx:
            if args.action == "revoke":
                if not args.code:
                    raise UserError(t._("Name the invite code to revoke."))
                if not await tx.invites.revoke(args.code, now):
                    raise UserError(t._("No unused invite with code {code}.").format(
                        code=args.code))
                await tx.audit.record("cli", "invite.revoke", now, code=args.code.upper())
                print(t._("Invite {code} revoked.").format(code=args.code.upper()))
                return
            if not args.role:
                raise UserError(t._("Choose a role with --role."))
            role = Role(args.role)
            unit_id = None
            if role is Role.OFFICER or args.unit:
                if not args.unit:
                    raise UserError(t._("An officer belongs to a unit: add --unit CODE."))
                unit = await tx.units.by_code(args.unit)
                if unit is None:
                    raise UserError(t._("Unknown unit {code}. See: baocao units list").format(
                        code=args.unit))
                unit_id = unit.id
            if not 1 <= args.count <= 500:
                raise UserError(t._("--count must be between 1 and 500."))
            days = args.expires if args.expires is not None else settings.invite_expiry_days
            if not 1 <= days <= 365:
                raise UserError(t._("--expires must be between 1 and 365 days."))
            username = settings.telegram_bot_username or await tx.meta.get("telegram_username")
            invites = [await tx.invites.create(unit_id=unit_id, role=role, created_by="cli",
                                               now=now, days=days) for _ in range(args.count)]
            await tx.audit.record("cli", "invite.create", now, unit=args.unit, role=role.value,
                                  count=args.count)
    for invite in invites:
        link = f"  https://t.me/{username}?start={invite.code}" if username else ""
        print(f"{invite.code}{link}")


async def _export(settings: Settings, t: Translator, args: argparse.Namespace) -> None:
    from bot.runtime import config_from
    from handlers.export import write_workbook

    config = config_from(settings)
    period = config.programme.period(args.period)
    if period is None:
        raise UserError(t._("Unknown period {key}; use e.g. 2026, 2026-H1, 2026-Q3 or "
                            "2026-M03.").format(key=args.period))

    async def progress(done: int, total: int) -> None:
        print(f"\r{done}/{total}", end="", file=sys.stderr, flush=True)

    async with Database(settings.database_path) as db:
        counts = await write_workbook(db, config, t, period, args.out, progress)
    print(file=sys.stderr)
    print(t._("Wrote {path}: {n} reports for {period}.").format(
        path=args.out, n=t.number(sum(counts.values())), period=period.label(t)))


async def _db(settings: Settings, t: Translator, args: argparse.Namespace) -> None:
    async with Database(settings.database_path) as db:
        if args.db_command == "backup":
            await db.backup(args.path)
            print(t._("Backup written to {path}.").format(path=args.path))
        else:
            print(t._("Database is at schema version {version}.").format(
                version=await db.schema_version()))


def _dispatch(settings: Settings, t: Translator, args: argparse.Namespace) -> None:
    has_token = settings.telegram_bot_token or settings.zalo_bot_token
    command = args.command or ("run" if has_token else "demo")
    if command == "run":
        if not has_token:
            raise UserError(t._("Set TELEGRAM_BOT_TOKEN or ZALO_BOT_TOKEN (see .env.example)."))
        from bot.run import run
        run(settings)
    elif command == "demo":
        from bot.console import run_demo
        asyncio.run(run_demo(settings, role=getattr(args, "role", "officer"),
                             unit_code=getattr(args, "unit", "SO-TTTT")))
    elif command == "units" and args.units_command == "import":
        asyncio.run(_units_import(settings, t, args.file))
    elif command == "units":
        asyncio.run(_units_list(settings, t, args.kind))
    elif command == "invite":
        asyncio.run(_invite(settings, t, args))
    elif command == "db":
        asyncio.run(_db(settings, t, args))
    elif command == "export":
        asyncio.run(_export(settings, t, args))


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `baocao` console script and of `python -m bot`."""
    t = translator(os.environ.get("DEFAULT_LOCALE"))
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(t._("Invalid setting {detail}").format(detail=exc), file=sys.stderr)
        return 2
    redact.install(settings)  # before anything can log or fail with a secret in its message
    t = translator(settings.default_locale, settings.zone)
    try:
        load_programme(settings.programme_file)
    except ProgrammeError as exc:
        print(t._("Invalid setting {detail}").format(detail=f"PROGRAMME_FILE: {exc}"),
              file=sys.stderr)
        return 2
    args = _parser(t).parse_args(argv)
    try:
        _dispatch(settings, t, args)
    except (UserError, UnitsFileError) as exc:
        print(exc, file=sys.stderr)
        return 1
    except StartError as exc:
        print(t._("The bot could not start: {detail}").format(detail=exc), file=sys.stderr)
        return 1
    except SchemaTooNewError as exc:
        print(t._("The database was made by a newer version of Baocao; upgrade Baocao "
                  "first. ({detail})").format(detail=exc), file=sys.stderr)
        return 1
    except sqlite3.Error as exc:
        print(t._("Database error: {detail}").format(detail=redact.redact(str(exc))),
              file=sys.stderr)
        return 1
    except UnicodeDecodeError:
        print(t._("The file is not UTF-8 text. Save it as “CSV UTF-8” and try again."),
              file=sys.stderr)
        return 1
    except (OSError, XlsxFileError) as exc:
        print(t._("Cannot read or write a file: {detail}").format(
            detail=redact.redact(str(exc))), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
