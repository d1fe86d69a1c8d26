"""The `baocao` command line: run the bot, the console demo, and the operator's chores."""

from __future__ import annotations

import argparse
import asyncio
import html
import os
import sqlite3
import sys
from contextlib import nullcontext
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from pydantic import ValidationError
from xlsxwriter.exceptions import XlsxFileError

from bot import lockfile, redact
from bot.run import StartError
from bot.settings import Settings, SettingsError, load_settings
from bot.units_file import DEMO_UNIT, UnitsFileError, import_units
from handlers.core import ROLE_NAMES
from handlers.programme import ProgrammeError, load_programme
from locales.i18n import Translator, translator
from storage.db import Database, DatabasePathError, SchemaTooNewError
from storage.models import Role, UnitIn
from storage.units import MAX_INVITES_AT_ONCE


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
    demo.add_argument("--unit", default=DEMO_UNIT, help=t._("the unit code to act for"))

    units = sub.add_parser("units", help=t._("import or list units"))
    units_sub = units.add_subparsers(dest="units_command", required=True, metavar=t._("action"))
    imp = units_sub.add_parser("import", help=t._("import units from a CSV or YAML file"))
    imp.add_argument("file", type=Path, help=t._(
        "columns: code, name, kind, parent_code, short_name, valid_from, valid_to, successors"))
    lst = units_sub.add_parser("list", help=t._("list the units"))
    lst.add_argument("--kind", help=t._("only units of this kind"))
    merge = units_sub.add_parser("merge", help=t._(
        "merge units into one on a date (their reports stay theirs)"))
    merge.add_argument("codes", nargs="+", metavar="CODE", help=t._("the units merged"))
    merge.add_argument("--into", required=True, metavar="CODE", help=t._(
        "the unit that carries on their work (a new one needs --name)"))
    merge.add_argument("--on", required=True, type=_day, metavar="YYYY-MM-DD",
                       help=t._("the first day of the merged unit"))
    merge.add_argument("--name", help=t._("the name of a new unit --into"))
    merge.add_argument("--kind", help=t._("the kind of a new unit (default: that of the first "
                                          "unit merged)"))
    retire = units_sub.add_parser("retire", help=t._(
        "a unit ceases to exist on a date, with no successor"))
    retire.add_argument("codes", nargs="+", metavar="CODE", help=t._("the units retired"))
    retire.add_argument("--on", required=True, type=_day, metavar="YYYY-MM-DD",
                        help=t._("the first day the unit no longer exists"))

    invite = sub.add_parser("invite", help=t._("issue or revoke invites"))
    invite.add_argument("action", nargs="?", choices=["revoke"], help=t._("revoke an invite"))
    invite.add_argument("code", nargs="?", help=t._("the invite code to revoke"))
    invite.add_argument("--unit", help=t._("the unit code"))
    invite.add_argument("--role", choices=[r.value for r in Role], help=t._("the role granted"))
    invite.add_argument("--count", type=int, default=1, help=t._("how many invites"))
    invite.add_argument("--expires", type=int, metavar=t._("DAYS"),
                        help=t._("days until the invites expire"))
    invite.add_argument("--deactivate", action="store_true",
                        help=t._("when revoking an invite already used: deactivate its user"))

    people = sub.add_parser("people", help=t._("list people; change their role, unit or access"))
    people_sub = people.add_subparsers(dest="people_command", required=True,
                                       metavar=t._("action"))
    plist = people_sub.add_parser("list", help=t._("list people: unit, role, apps, last seen"))
    plist.add_argument("words", nargs="?", default="", help=t._("part of a name or unit"))
    role = people_sub.add_parser("role", help=t._("change a person's role and unit"))
    role.add_argument("id", type=int, help=t._("the person's number (see: baocao people list)"))
    role.add_argument("role", choices=[r.value for r in Role], help=t._("the new role"))
    role.add_argument("--unit", help=t._("the unit code (an officer needs one)"))
    for verb, text in (("deactivate", t._("take all access away from a person")),
                       ("reactivate", t._("give a deactivated person their access back"))):
        people_sub.add_parser(verb, help=text).add_argument(
            "id", type=int, help=t._("the person's number (see: baocao people list)"))
    erase = people_sub.add_parser("erase", help=t._(
        "remove a person for good: apps, name and messages; their unit's reports stay"))
    erase.add_argument("id", type=int, help=t._("the person's number (see: baocao people list)"))
    erase.add_argument("--yes", action="store_true", help=t._("yes, erase: it cannot be undone"))
    unlink = people_sub.add_parser("unlink", help=t._("remove one of a person's apps"))
    unlink.add_argument("id", type=int, help=t._("the person's number (see: baocao people list)"))
    unlink.add_argument("channel", help=t._("telegram or zalo"))
    unlink.add_argument("external_id", nargs="?",
                        help=t._("the account id on that app, if they have several"))

    export = sub.add_parser("export", help=t._("write a period's spreadsheet (.xlsx)"))
    export.add_argument("--period", required=True,
                        help=t._("the period: 2026, 2026-H1, 2026-Q3, 2026-M03 or an ad hoc id"))
    export.add_argument("--out", type=Path, required=True, help=t._("the .xlsx file to write"))
    export.add_argument("--roll-up", action="store_true", help=t._(
        "name for each report the unit it counts under (a successor for units that ceased to "
        "exist)"))

    compile_ = sub.add_parser("compile", help=t._("draft the report to the City (.docx)"))
    compile_.add_argument("--period", required=True,
                          help=t._("2026, review-2025, review-2030, or any period of export"))
    compile_.add_argument("--out", type=Path, required=True, help=t._("the .docx file to write"))
    compile_.add_argument("--roll-up", action="store_true", help=t._(
        "count the figures of units that ceased to exist under their successors"))
    compile_.add_argument("--include-under-review", action="store_true",
                          help=t._("count reports still under review too (default: approved "
                                   "reports only)"))

    db = sub.add_parser("db", help=t._("database upkeep"))
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar=t._("action"))
    db_sub.add_parser("migrate", help=t._("apply pending migrations"))
    backup = db_sub.add_parser("backup", help=t._("copy the live database consistently"))
    backup.add_argument("path", type=Path, help=t._("where to write the copy"))
    # Operations (issue 20): restore.
    restore = db_sub.add_parser("restore", help=t._("replace the database with a backup (stop "
                                                    "the bot first)"))
    restore.add_argument("path", type=Path, help=t._("the backup file"))
    # PostgreSQL (issue 19): a SQLite deployment moves with its data.
    copy = db_sub.add_parser("copy", help=t._(
        "copy a SQLite database into PostgreSQL, checked table by table"))
    copy.add_argument("--from", dest="source", required=True,
                      help=t._("the database to copy: sqlite:///path"))
    copy.add_argument("--to", dest="target", required=True,
                      help=t._("where to copy it: postgresql://user@host/database"))
    copy.add_argument("--force", action="store_true",
                      help=t._("replace what the target already holds"))
    sub.add_parser("doctor", help=t._("check the installation: settings, token, database, "
                                      "programme, file permissions, free disk"))
    return parser


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: yyyy-mm-dd") from None


def unit_kinds(settings: Settings) -> list[str]:
    """The kinds the programme's obligations chase; the kinds named in the database and in a
    units file are added to them (kinds are data: a file or a programme may add one)."""
    programme = load_programme(settings.programme_file)
    return sorted({kind for obligation in programme.obligations
                   for kind in obligation.unit_kinds})


async def _units_import(settings: Settings, t: Translator, path: Path) -> None:
    async with Database(settings.database) as db:
        async with db.transaction() as tx:
            counts = await import_units(tx, path, t, unit_kinds(settings), datetime.now(UTC))
    print(t._("{added} added, {updated} updated, {unchanged} unchanged.").format(
        added=t.number(counts.added), updated=t.number(counts.updated),
        unchanged=t.number(counts.unchanged)))


async def _units_list(settings: Settings, t: Translator, kind: str | None) -> None:
    async with Database(settings.database) as db:
        async with db.read() as tx:
            kinds = sorted(set(unit_kinds(settings)) | set(await tx.units.kinds()))
            if kind is not None and kind not in kinds:
                raise UserError(t._("Unknown kind of unit \u201c{kind}\u201d; the kinds are: "
                                    "{kinds}.").format(kind=kind, kinds=", ".join(kinds)))
            units = await tx.units.list(kind)
    if not units:
        print(t._("No units yet. Import some with: baocao units import FILE"))
    for unit in units:
        life = ""
        if unit.valid_from or unit.valid_to:
            life = "  " + t._("{start} – {end}").format(
                start=t.date(unit.valid_from) if unit.valid_from else "…",
                end=t.date(unit.valid_to) if unit.valid_to else "…")
        after = "  → " + ", ".join(unit.successors) if unit.successors else ""
        print(f"{unit.code:<14} {unit.kind:<13} {unit.name}{life}{after}")


async def _units_change(settings: Settings, t: Translator, args: argparse.Namespace) -> None:
    """`units merge` and `units retire`: one transaction, audited; the officers of a unit
    that has ended are told (when the day has come) and the admin reads who needs an invite."""
    from handlers.units import UnitChangeError, carried_lines, carry_officers, end_units
    runtime = _runtime(settings)
    await runtime.open()
    now = datetime.now(UTC)
    merging = args.units_command == "merge"
    try:
        async with runtime.db.transaction() as tx:
            if merging and await tx.units.by_code(args.into) is None:
                await _new_unit(tx, t, args, now)
            into = (await tx.units.by_code(args.into)).code if merging else None
            try:
                ended = await end_units(tx, t, args.codes, (into,) if into else (), args.on,
                                        "cli", now)
            except UnitChangeError as exc:
                raise UserError(str(exc)) from None
            out, carried = await carry_officers(tx, runtime.config, now)
            await runtime.write(tx, out, now)
            waiting = await tx.units.needing_invites(now.astimezone(settings.zone).date())
    finally:
        await runtime.db.close()
    last = t.date(args.on - timedelta(days=1))
    for unit in ended:
        print(t._("{code} exists until {day}; from then on its work is carried on by {into}.")
              .format(code=unit.code, day=last, into=into) if into else
              t._("{code} exists until {day}.").format(code=unit.code, day=last))
    for line in carried_lines(t, carried):
        print(html.unescape(line))
    if not carried and args.on > now.astimezone(settings.zone).date():
        print(t._("Their officers will be told on {day}.").format(day=t.date(args.on)))
    if waiting:
        print(t._("Officers who need a new invite:"))
        for contact_id, name, code, successors in waiting:
            print(f"  #{contact_id} {name} ({code} → {successors or '—'})")


async def _new_unit(tx, t: Translator, args: argparse.Namespace, now: datetime) -> None:
    """The unit a merger goes into does not exist yet: make it, beginning on the day."""
    if not args.name:
        raise UserError(t._("Unknown unit {code}: to make it, add --name (and --kind).").format(
            code=args.into))
    first_unit = await tx.units.by_code(args.codes[0])
    kind = args.kind or (first_unit.kind if first_unit else None)
    try:
        unit = UnitIn(code=args.into, name=args.name, kind=kind or "", valid_from=args.on)
    except ValidationError:
        raise UserError(t._("{code} cannot be a unit's code (letters, digits, - . _).").format(
            code=args.into)) from None
    await tx.units.upsert_many([unit], now)


def _runtime(settings: Settings):
    """What the people commands need of the program: its database, its handlers' settings, and
    the outbox writer (the running bot delivers what they queue)."""
    from bot.runtime import Runtime
    return Runtime(settings, check_floods=False)


async def _invite_revoke(settings: Settings, t: Translator, args: argparse.Namespace) -> None:
    """Withdraw an unused invite; for one already used, say by whom and offer to deactivate
    them (--deactivate, or a yes at the keyboard)."""
    if not args.code:
        raise UserError(t._("Name the invite code to revoke."))
    code, now = args.code.strip().upper(), datetime.now(UTC)
    async with Database(settings.database) as db:
        async with db.transaction() as tx:
            invite = await tx.invites.get(code)
            contact_id = invite.used_by if invite else None
            if contact_id is None:
                if not await tx.invites.revoke(code, now):
                    raise UserError(t._("No unused invite with code {code}.").format(code=code))
                await tx.audit.record("cli", "invite.revoke", now, code=code)
                print(t._("Invite {code} revoked.").format(code=code))
                return
            found = await tx.contacts.people(contact_id=contact_id)
    if not found:
        raise UserError(t._("Invite {code} was used by someone no longer registered.")
                        .format(code=code))
    print(t._("Invite {code} was already used, by:").format(code=code))
    print(_person_row(t, found[0]))
    if not found[0].contact.active:
        return
    if not args.deactivate and sys.stdin.isatty():
        answer = await asyncio.to_thread(input, t._("Deactivate them? [y/N] "))
        args.deactivate = answer.strip().lower() in ("y", "c")
    if not args.deactivate:
        print(t._("To take their access away: baocao people deactivate {id}").format(
            id=found[0].contact.id))
        return
    await _people_change(settings, t, "deactivate", found[0].contact.id)


async def _invite(settings: Settings, t: Translator, args: argparse.Namespace) -> None:
    if args.action == "revoke":
        await _invite_revoke(settings, t, args)
        return
    now = datetime.now(UTC)
    async with Database(settings.database) as db:
        async with db.transaction() as tx:
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
                today = now.astimezone(settings.zone).date()
                if not unit.valid_on(today) and (unit.valid_to or today) < today:
                    raise UserError(t._("{code} does not exist on {day}; the units that carry "
                                        "on its work: {codes}. See: baocao units list").format(
                        code=unit.code, day=t.date(today), codes=", ".join(unit.successors)
                        or "—"))
                unit_id = unit.id
            if not 1 <= args.count <= MAX_INVITES_AT_ONCE:
                raise UserError(t._("--count must be between 1 and {n}.").format(
                    n=MAX_INVITES_AT_ONCE))
            days = args.expires if args.expires is not None else settings.invite_expiry_days
            if not 1 <= days <= 365:
                raise UserError(t._("--expires must be between 1 and 365 days."))
            username = settings.telegram_bot_username or await tx.meta.get("telegram_username")
            invites = [await tx.invites.create(unit_id=unit_id, role=role, created_by="cli",
                                               now=now, days=days) for _ in range(args.count)]
            await tx.audit.record("cli", "invite.create", now, unit=args.unit, role=role.value,
                                  count=args.count)
    unit_code = unit.code if unit_id else "—"
    for invite in invites:
        # One line per code, the code first, so it can be cut and pasted or sent on as is.
        until = t._("until {day}").format(day=t.date(invite.expires_at.astimezone(settings.zone)))
        link = f"  https://t.me/{username}?start={invite.code}" if username else ""
        print(f"{invite.code}  {t._(ROLE_NAMES[role])}  {unit_code}  {until}{link}")


def _person_row(t: Translator, person) -> str:
    contact = person.contact
    seen = t.datetime(person.last_seen) if person.last_seen else "—"
    state = "" if contact.active else "  " + t._("deactivated")
    return (f"{contact.id:>5}  {contact.name[:28]:<28}  {contact.role.value:<11}  "
            f"{person.unit_code or '—':<14}  {','.join(person.channels) or '—':<14}  {seen}"
            f"{state}")


async def _people_list(settings: Settings, t: Translator, words: str) -> None:
    async with Database(settings.database) as db:
        async with db.read() as tx:
            people = await tx.contacts.people(words)
    if not people:
        print(t._("Nobody is registered yet.") if not words else
              t._("Nobody matches “{words}”.").format(words=words))
    for person in people:
        print(_person_row(t, person))


async def _people_change(settings: Settings, t: Translator, verb: str, contact_id: int,
                         args: argparse.Namespace | None = None) -> None:
    """Change one person's access, as an admin would in chat; they are told by the bot."""
    from handlers import access, admin
    runtime = _runtime(settings)
    await runtime.open()
    now = datetime.now(UTC)
    try:
        async with runtime.db.transaction() as tx:
            contact = await tx.contacts.get(contact_id)
            if contact is None:
                raise UserError(t._("There is nobody with the number #{id}.").format(
                    id=contact_id))
            if await access.listed_admin(tx, runtime.config, contact):
                raise UserError(t._("#{id} is an administrator through the ADMIN_IDS setting: "
                                    "remove them from it first.").format(id=contact_id))
            config = runtime.config
            if verb == "deactivate":
                out = await access.deactivate(tx, config, contact, "cli", now)
            elif verb == "reactivate":
                out = await access.reactivate(tx, config, contact, "cli", now)
            elif verb == "role":
                out = await access.change_role(tx, config, contact, Role(args.role),
                                               await _unit_id(tx, t, args), "cli", now)
            elif verb == "erase":
                if not args.yes:
                    raise UserError(t._("Erasing #{id} cannot be undone: their apps, name and "
                                        "the texts of their messages go; their unit's reports "
                                        "stay. Add --yes to do it.").format(id=contact_id))
                await admin.erase_person(tx, contact.id, now, "cli")
                print(t._("Erased #{id}. Their unit's reports now read “a former officer”.")
                      .format(id=contact_id))
                return
            else:
                out = await _unlink(tx, t, config, contact, args, now)
            await runtime.write(tx, out, now)
    finally:
        await runtime.db.close()
    print(t._("Done: #{id}. The person is told the next time the bot runs.").format(
        id=contact_id) if out else t._("Nothing to change for #{id}.").format(id=contact_id))


async def _unit_id(tx, t: Translator, args: argparse.Namespace) -> int | None:
    if Role(args.role) is Role.OFFICER and not args.unit:
        raise UserError(t._("An officer belongs to a unit: add --unit CODE."))
    if not args.unit:
        return None
    unit = await tx.units.by_code(args.unit)
    if unit is None:
        raise UserError(t._("Unknown unit {code}. See: baocao units list").format(code=args.unit))
    return unit.id


async def _unlink(tx, t: Translator, config, contact, args: argparse.Namespace, now: datetime):
    from handlers import access
    matching = [i for i in await tx.contacts.identities(contact.id)
                if i.channel == args.channel
                and args.external_id in (None, i.external_id)]
    if len(matching) != 1:
        raise UserError(t._("#{id} has {n} accounts on {channel}; name the one to remove.")
                        .format(id=contact.id, n=len(matching), channel=args.channel))
    return await access.remove_identity(tx, config, contact, args.channel,
                                        matching[0].external_id, "cli", now)


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

    async with Database(settings.database) as db:
        counts = await write_workbook(db, config, t, period, args.out, progress, args.roll_up)
    print(file=sys.stderr)
    print(t._("Wrote {path}: {n} reports for {period}.").format(
        path=args.out, n=t.number(sum(counts.values())), period=period.label(t)))


async def _compile(settings: Settings, t: Translator, args: argparse.Namespace) -> None:
    from bot.runtime import config_from
    from handlers.compile import CompileError, write_report

    config = config_from(settings)
    period = config.programme.period(args.period)
    if period is None:
        raise UserError(t._("Unknown period {key}; use e.g. 2026, 2026-H1, review-2025 or "
                            "review-2030.").format(key=args.period))
    async with Database(settings.database) as db:
        try:
            context = await write_report(db, config, t, period, args.out,
                                         args.include_under_review, roll_up=args.roll_up)
        except CompileError as exc:
            raise UserError(str(exc)) from None
    print(t._("Wrote {path}: the draft report for {period} ({scope})").format(
        path=args.out, period=period.label(t), scope=context["scope"]))


async def _db(settings: Settings, t: Translator, args: argparse.Namespace) -> None:
    async with Database(settings.database) as db:
        if args.db_command == "backup":
            await db.backup(args.path)
            print(t._("Backup written to {path}.").format(path=args.path))
        else:
            print(t._("Database is at schema version {version}.").format(
                version=await db.schema_version()))


async def _copy(t: Translator, args: argparse.Namespace) -> None:
    """`baocao db copy --from sqlite:///... --to postgresql://...`, with a line per table."""
    from storage.copy import CopyMismatchError, TargetNotEmptyError, copy_database
    if not args.source.startswith("sqlite:///") or not args.target.startswith(
            ("postgresql://", "postgres://")):
        raise UserError(t._("Copy from sqlite:///path to postgresql://..."))
    try:
        copied = await copy_database(args.source, args.target, force=args.force)
    except TargetNotEmptyError as exc:
        raise UserError(t._("The target already holds data ({tables}); add --force to "
                            "replace it.").format(tables=", ".join(exc.tables))) from None
    except CopyMismatchError as exc:
        raise UserError(t._("The copy differs from the source in {tables}; nothing was "
                            "kept.").format(tables=str(exc))) from None
    for one in copied:
        print(t.ngettext("{table}: {n} row, checksum {checksum}",
                         "{table}: {n} rows, checksum {checksum}", one.rows).format(
            table=one.table, n=t.number(one.rows), checksum=one.checksum[:16]))
    print(t._("Copied {n} tables; the counts and checksums match.").format(
        n=t.number(len(copied))))


def _refuse_live_target(settings: Settings, t: Translator, target: Path) -> None:
    """A backup written over the database it copies would destroy it."""
    live = Path(settings.database_path).resolve()
    if target.resolve() == live or (target.exists() and live.exists()
                                    and os.path.samefile(target, live)):
        raise UserError(t._("{path} is the live database; write the backup to another "
                            "file.").format(path=target))


def _restore(settings: Settings, t: Translator, path: Path) -> None:
    """`baocao db restore PATH`: only a Baocao database of a known schema version, and only
    while no bot runs on the database (its lock is held throughout)."""
    from bot import backups
    with lockfile.hold(settings.database_path):
        try:
            version = backups.check_restorable(path)
        except ValueError as exc:
            raise UserError(t._("Not restored: {detail}").format(detail=exc)) from None
        aside = backups.restore(path, settings.database_path)
    print(t._("Restored {path} (schema version {version}). The database it replaced was kept "
              "as {aside}. Start the bot: it applies any newer migrations.").format(
                  path=path, version=version, aside=aside))


def _doctor(settings: Settings, t: Translator) -> None:
    """`baocao doctor`: one line per check; exit status 1 when something needs fixing."""
    from bot.doctor import check
    results = check(settings, t, datetime.now(settings.zone).date())
    for good, line in results:
        print(("✓ " if good else "✗ ") + line)
    problems = sum(1 for good, _line in results if not good)
    if problems:
        raise UserError(t.ngettext("{n} thing to fix.", "{n} things to fix.", problems).format(
            n=t.number(problems)))


async def _check_database(settings: Settings) -> None:
    async with Database(settings.database):
        pass


def _dispatch(settings: Settings, t: Translator, args: argparse.Namespace) -> None:
    has_token = settings.telegram_bot_token or settings.zalo_bot_token
    command = args.command or ("run" if has_token else "demo")
    if command == "run":
        if not has_token:
            raise UserError(t._("Set TELEGRAM_BOT_TOKEN or ZALO_BOT_TOKEN (see .env.example)."))
        from bot.run import run
        # One bot per database, checked before anything touches it (an upgrade started while
        # the old version runs must not migrate under its feet).
        # (On PostgreSQL several processes may run: they elect who ticks and who sends.)
        with nullcontext() if settings.on_postgres else lockfile.hold(settings.database_path):
            asyncio.run(_check_database(settings))  # a wrong DATABASE_PATH shows before network
            run(settings)
    elif command == "demo":
        from bot.console import run_demo
        asyncio.run(run_demo(settings, role=getattr(args, "role", "officer"),
                             unit_code=getattr(args, "unit", DEMO_UNIT)))
    elif command == "units" and args.units_command == "import":
        asyncio.run(_units_import(settings, t, args.file))
    elif command == "units" and args.units_command in ("merge", "retire"):
        asyncio.run(_units_change(settings, t, args))
    elif command == "units":
        asyncio.run(_units_list(settings, t, args.kind))
    elif command == "invite":
        asyncio.run(_invite(settings, t, args))
    elif command == "people" and args.people_command == "list":
        asyncio.run(_people_list(settings, t, args.words))
    elif command == "people":
        asyncio.run(_people_change(settings, t, args.people_command, args.id, args))
    elif command == "doctor":
        _doctor(settings, t)
    elif command == "db" and args.db_command == "copy":
        asyncio.run(_copy(t, args))
    elif command == "db" and args.db_command == "restore":
        _restore(settings, t, args.path)
    elif command == "db":
        if args.db_command == "backup":
            _refuse_live_target(settings, t, args.path)
        asyncio.run(_db(settings, t, args))
    elif command == "export":
        asyncio.run(_export(settings, t, args))
    elif command == "compile":
        asyncio.run(_compile(settings, t, args))


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
    except DatabasePathError as exc:
        print(t._("Invalid setting {detail}").format(detail="DATABASE_PATH: " + t._(
            "not a database Baocao can open ({detail})").format(detail=exc)), file=sys.stderr)
        return 2
    except lockfile.LockedError as exc:
        print(t._("Another Baocao (process {pid}) is already running on {database}: stop it "
                  "first (its lock file is {path}).").format(
                      pid=exc.holder, database=exc.database, path=exc.path), file=sys.stderr)
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
