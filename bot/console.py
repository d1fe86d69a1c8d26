"""The console channel: chat with the bot in a terminal, on the same handlers and database."""

from __future__ import annotations

import asyncio
import html
import itertools
import os
import queue
import re
import sys
import threading
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot import health
from bot.delivery import ChannelLimits
from bot.runtime import Runtime
from bot.settings import Settings
from bot.units_file import CURRENT_UNITS, DEMO_UNIT, ensure_sample_units
from handlers.core import ROLE_NAMES
from handlers.text import numbered
from handlers.types import Attachment, Inbound
from locales.i18n import translator
from storage.messages import Edit, Files, Message
from storage.models import Role

CHANNEL = "console"
_TAG = re.compile(r"</?(b|i|code)>")
_BOLD = {"<b>": "\033[1m", "</b>": "\033[0m"}
# Demo people get ordinary names, so the bot's greetings read as they would for real users.
DEMO_NAMES = {Role.OFFICER: "Nguyễn Văn An", Role.COORDINATOR: "Trần Thị Bình",
              Role.LEADER: "Lê Văn Cường", Role.ADMIN: "Phạm Thu Hà"}


def _plain(text: str, color: bool) -> str:
    """Our markup as terminal text: tags dropped (or bold kept), entities unescaped."""
    return html.unescape(_TAG.sub(lambda m: _BOLD.get(m.group(0), "") if color else "", text))


def render(message: Message, color: bool) -> str | None:
    """A message as terminal text: markup turned to plain (or bold), choices numbered."""
    if isinstance(message, Files):
        caption = f"{_plain(message.caption, color)}\n" if message.caption else ""
        return caption + "\n".join(f"[{a.kind}: {a.name or ''} {a.path or a.file_id}]"
                                    for a in message.files)
    if isinstance(message, Edit) and not message.choices:
        return None  # a pressed button being marked; the terminal already shows the answer
    return "\n".join([_plain(message.text, color), *("  " + line
                                                     for line in numbered(message.choices))])


class ConsoleSender:
    """Prints what the bot says to the person at the terminal."""

    channel = CHANNEL
    # No platform limits here; the text limit only keeps long lists readable.
    limits = ChannelLimits(per_second=10_000, chat_per_second=10_000, chat_burst=10_000,
                           max_text=100_000, max_caption=100_000)

    def __init__(self, write: Callable[[str], None] = print, color: bool = False):
        self.write, self.color = write, color
        self._ids = itertools.count(1)
        # Everyone in the demo shares this terminal: messages for another person say for whom,
        # by the name the demo shows for them (never the internal address).
        self.current = ""
        self.names: dict[str, str] = {}

    def is_group(self, chat_id: str) -> bool:
        return False

    async def fetch(self, file_id: str) -> bytes:
        """A file sent from the terminal: its id is its path."""
        return await asyncio.to_thread(Path(file_id).read_bytes)

    async def send(self, chat_id: str, message: Message) -> str | None:
        shown = render(message, self.color)
        if shown is not None:
            to = "" if chat_id == self.current else f"[→ {self.names.get(chat_id, chat_id)}] "
            self.write(f"\n🤖 {to}{shown}\n")
        return str(next(self._ids))


def _read_line(prompt: str) -> str:
    """One line of stdin. At a terminal input() (line editing, history); otherwise the file
    descriptor itself, a byte at a time: input() would wait holding stdin's lock, and Python
    aborts at exit ("Fatal Python error") when a daemon thread holds it, as on Ctrl-C with a
    pipe still open."""
    if sys.stdin.isatty() and sys.stdout.isatty():
        return input(prompt)
    sys.stdout.write(prompt)
    sys.stdout.flush()
    line = bytearray()
    while not line.endswith(b"\n"):
        byte = os.read(sys.stdin.fileno(), 1)
        if not byte:
            if not line:
                raise EOFError
            break
        line += byte
    return line.decode("utf-8", errors="replace").rstrip("\r\n")


def _keyboard() -> Callable[[], Awaitable[str]]:
    """Lines typed at the terminal, read by a daemon thread and awaited without blocking the
    loop, so Ctrl-C never has to wait for Enter. The thread reads a line only when one is asked
    for, so the prompt comes after the bot's answer and nothing is read past /quit."""
    loop = asyncio.get_running_loop()
    asked: queue.Queue[asyncio.Future] = queue.Queue()

    def answer(future: asyncio.Future, line: str | None) -> None:
        if future.done():  # cancelled by Ctrl-C
            return
        if line is None:
            future.set_exception(EOFError())
        else:
            future.set_result(line)

    def reader() -> None:
        while True:
            future = asked.get()
            try:
                line = _read_line("> ")
            except EOFError:
                line = None
            try:
                loop.call_soon_threadsafe(answer, future, line)
            except RuntimeError:  # the loop has closed: the program is ending
                return
            if line is None:
                return

    threading.Thread(target=reader, daemon=True).start()

    async def next_line() -> str:
        future = loop.create_future()
        asked.put(future)
        return await future

    return next_line


class ShiftedClock:
    """The demo's clock: real time moved forward by /skip, to watch reminders happen."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


_SKIP = re.compile(r"^(\d{1,4})\s*([dhm])$")


def parse_skip(text: str) -> timedelta | None:
    """'3d', '4h' or '30m' as a duration (days land at 09:00 local time, see run_demo)."""
    match = _SKIP.match(text.strip().lower())
    if not match:
        return None
    amount, unit = int(match.group(1)), match.group(2)
    return {"d": timedelta(days=amount), "h": timedelta(hours=amount),
            "m": timedelta(minutes=amount)}[unit]


class ConsoleSession:
    """Who the person at the terminal is acting as, and the events they type."""

    def __init__(self, runtime: Runtime, sender: ConsoleSender):
        self.runtime, self.sender = runtime, sender
        self.user_id = self.who = ""
        self.guests = 0
        self._updates = itertools.count(int(datetime.now(UTC).timestamp() * 1000))

    def act_as_guest(self) -> None:
        """Become someone new, not registered: to try an invite with /start CODE."""
        t = translator(self.runtime.config.default_locale)
        self.guests += 1
        self.user_id = self.sender.current = f"guest:{self.guests}"
        self.who = self.sender.names[self.user_id] = t._("a new person ({n}), not registered") \
            .format(n=self.guests)

    async def act_as(self, role: str, unit_code: str | None) -> str | None:
        """Become a demo contact of this role (and unit); return an error message or None."""
        if role in ("guest", "khach"):
            self.act_as_guest()
            return None
        t = translator(self.runtime.config.default_locale)
        now = self.runtime.clock()
        async with self.runtime.db.transaction() as tx:
            unit = await tx.units.by_code(unit_code) if unit_code else None
            if unit_code and unit is None:
                return t._("Unknown unit {code}. See: baocao units list").format(code=unit_code)
            try:
                role_ = Role(role)
            except ValueError:
                return t._("Unknown role {role}: use officer, coordinator, leader or admin.") \
                    .format(role=role)
            if role_ is Role.OFFICER and unit is None:
                return t._("An officer belongs to a unit: add --unit CODE.")
            today = now.astimezone(self.runtime.config.zone).date()
            if unit is not None and not unit.valid_on(today):
                return t._("{code} does not exist on {day}; the units that carry on its work: "
                           "{codes}. See: baocao units list").format(
                    code=unit.code, day=t.date(today), codes=", ".join(unit.successors) or "—")
            user_id = f"{role_.value}:{unit.code if unit else '-'}"
            if await tx.contacts.by_identity(CHANNEL, user_id) is None:
                contact = await tx.contacts.create(
                    unit_id=unit.id if unit else None, role=role_, name=DEMO_NAMES[role_],
                    language=t.language, now=now)
                await tx.contacts.bind(contact.id, CHANNEL, user_id, user_id, now)
                await tx.audit.record("console", "demo.contact", now, role=role_.value,
                                      unit=unit.code if unit else None)
        self.user_id = self.sender.current = user_id
        self.who = self.sender.names[user_id] = t._(ROLE_NAMES[role_]) + (
            f", {unit.name}" if unit else "")
        return None

    def event(self, text: str) -> Inbound:
        name = DEMO_NAMES[Role.OFFICER] if self.user_id.startswith("guest:") else ""
        return Inbound(CHANNEL, str(next(self._updates)), self.user_id, self.user_id, text=text,
                       name=name)

    def attachment(self, path_text: str) -> Inbound | str:
        """A file sent from the terminal (a path), as a photo or a document; or what is wrong."""
        t = translator(self.runtime.config.default_locale)
        path = Path(path_text.strip().strip("'\"")).expanduser()
        if not path_text.strip() or not path.is_file():
            return t._("No file at {path}. Use: /attach PATH").format(path=path_text.strip())
        kind = "photo" if path.suffix.lower() in (".jpg", ".jpeg", ".png") else "document"
        return Inbound(CHANNEL, str(next(self._updates)), self.user_id, self.user_id,
                       attachment=Attachment(kind, str(path.resolve()), path.name))


async def run_demo(settings: Settings, role: str = "officer", unit_code: str = DEMO_UNIT
                   ) -> None:
    """Chat in the terminal until /quit or end of input."""
    t = translator(settings.default_locale, settings.zone)
    clock = ShiftedClock()
    runtime = Runtime(settings, clock, check_floods=False)
    await runtime.open()
    added = await ensure_sample_units(runtime.db, settings.units_file or CURRENT_UNITS)
    sender = ConsoleSender(color=sys.stdout.isatty())
    await runtime.start([sender], background=True)
    worker = runtime.workers[CHANNEL]
    session = ConsoleSession(runtime, sender)
    if added:
        print(t._("First start: {n} sample units of Hải Phòng were imported.").format(
            n=t.number(added)))
    error = await session.act_as(role, unit_code if role == "officer" or unit_code else None)
    if error:
        print(error)
        await runtime.stop()
        return
    print(t._("Baocao console demo. You are {who}. Type as you would in Telegram: /start, /help, "
              "a number to pick an option. /as ROLE [UNIT] switches person (officer, "
              "coordinator, leader, admin); /skip 3d (or 4h, 30m) moves the clock forward to "
              "watch reminders; /as guest is someone new, to try an invite; /attach PATH sends a "
              "file; /quit leaves.").format(who=session.who))
    try:  # the web desk, on this machine: /web gives a sign-in link to it
        server = health.start(runtime)
    except health.PortError as exc:
        server = None
        print(exc)
    if server is not None:
        print(t._("Web desk: {url}/desk/ (send /web for a sign-in link)").format(
            url=settings.web_url))
    read = _keyboard()
    await runtime.receive([session.event("/start")], wait=True)
    await worker.drain()
    try:
        while True:
            try:
                line = (await read()).strip()
            except EOFError:
                break
            if not line:
                continue
            if line in ("/quit", "/exit", "/thoat"):
                break
            if line.startswith("/skip"):
                delta = parse_skip(line[5:])
                if delta is None:
                    print(t._("Use: /skip 3d, /skip 4h or /skip 30m"))
                    continue
                clock.offset += delta
                if delta.days:  # whole days land at 09:00, inside working hours
                    local = clock().astimezone(settings.zone)
                    nine = local.replace(hour=9, minute=0, second=0, microsecond=0)
                    clock.offset += nine - local
                print(t._("Demo time is now {when}.").format(when=t.datetime(clock())))
                await runtime.tick()
                await worker.drain()
                continue
            if line.startswith("/as"):
                parts = line.split()
                if len(parts) < 2:
                    print(t._("Use: /as ROLE [UNIT], e.g. /as coordinator or /as officer "
                              "P-LECHAN"))
                    continue
                error = await session.act_as(parts[1], parts[2] if len(parts) > 2 else None)
                if error:
                    print(error)
                    continue
                print(t._("You are now {who}.").format(who=session.who))
                if session.user_id.startswith("guest:"):
                    continue  # someone new says nothing until they have an invite code
                line = "/start"
            event = session.event(line)
            if line.startswith("/attach"):
                event = session.attachment(line[len("/attach"):])
                if isinstance(event, str):
                    print(event)
                    continue
            await runtime.receive([event], wait=True)
            await worker.drain()
    finally:
        if server is not None:
            server.stop()
        await runtime.stop()
