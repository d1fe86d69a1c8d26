"""The fault scenarios: the real `python -m bot run` in a subprocess against the fake Bot API,
people at work, `kill -9` at random moments and a restart each time; then the figures.

Stored reports are read from the database file (table `reports`: kind and answers) and matched to
the officers' plans by the tag every planned text answer carries; everything else is judged from
what the fake Bot API saw.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bot.settings import Settings
from bot.units_file import SAMPLE_UNITS
from storage.units import MAX_INVITES_AT_ONCE
from tests.dbquery import query
from tests.faults.fake_api import FakeTelegram
from tests.faults.officers import NOTICE_HEAD, Admin, Officer

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "123456:FAULT-SUITE"
ADMIN_ID = 1
UNITS = ("Q-LECHAN", "Q-NGOQUYEN", "SO-YT", "SO-TC", "THANHDOAN")


@dataclass
class Profile:
    """The numbers of a run: small in CI, big in the bench."""

    officers: int = 5
    kills: int = 3
    kill_gap: tuple[float, float] = (3.0, 6.0)  # seconds of work between a restart and a kill
    recipients: int = 100
    broadcast_kills: int = 1
    replay_officers: int = 3
    replay_reports: int = 2  # reports each officer fills while every update comes twice
    patience: float = 12.0  # seconds without an answer (bot up) before a person acts again
    # The broadcast is interrupted by SIGTERM (an upgrade: must stop within 10 s, lose nothing
    # and send nothing twice) instead of kill -9.
    graceful: bool = False
    seed: int = 12


@dataclass
class Figures:
    """What one scenario measured, and the bars it must meet."""

    scenario: str
    kills: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def failures(self) -> list[str]:
        """The bars this run missed, in words."""
        c, missed = self.counts, []
        for name in ("updates lost", "reports stored twice", "reports wrong", "forms stuck",
                     "reports missing", "recipients lost", "sends refused (400)",
                     "unclean stops"):
            if c.get(name):
                missed.append(f"{name}: {c[name]} (bar 0)")
        if self.scenario.endswith("SIGTERM") and c.get("duplicate sends"):
            missed.append(f"duplicate sends: {c['duplicate sends']} (bar 0 after SIGTERM)")
        if c.get("duplicate sends", 0) > max(self.kills, 0):
            missed.append(f"duplicate sends: {c['duplicate sends']} over {self.kills} kills "
                          f"(bar: at most 1 per kill)")
        return missed


def print_table(rows: list[Figures]) -> None:
    names = list(dict.fromkeys(name for row in rows for name in row.counts))
    width = max(len(n) for n in names + ["kills"])
    print()
    print(f"{'':<{width}}  " + "  ".join(f"{r.scenario:>18}" for r in rows))
    for name in ["kills", *names]:
        cells = [str(r.kills if name == "kills" else r.counts.get(name, "")) for r in rows]
        print(f"{name:<{width}}  " + "  ".join(f"{c:>18}" for c in cells))
    for row in rows:
        for note in row.notes:
            print(f"  {row.scenario}: {note}")
        missed = row.failures()
        print(f"  {row.scenario}: " + ("bars met" if not missed else "MISSED " + "; ".join(missed)))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class BotProcess:
    """`python -m bot run` in a subprocess on a database in `folder`, killed and restarted."""

    def __init__(self, folder: Path, fake: FakeTelegram):
        self.folder, self.fake = folder, fake
        self.db_path = folder / "baocao.db"
        self.log_path = folder / "bot.log"
        self.process: asyncio.subprocess.Process | None = None
        self.up_since = time.monotonic()
        self.kills = 0
        self.unclean_stops = 0
        # The health server on a port of its own, the same across restarts (it is watched).
        self.health_port = free_port()

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if k.lower() not in Settings.model_fields}
        env.update(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_BASE_URL=self.fake.base_url,
                   DATABASE_PATH=str(self.db_path), ADMIN_IDS=str(ADMIN_ID), LOG_LEVEL="WARNING",
                   DEFAULT_LOCALE="vi", PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1",
                   HEALTH_PORT=str(self.health_port))
        return env

    async def cli(self, *args: str) -> str:
        """Run one `python -m bot` command (units import, invite) and return what it printed."""
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", *args, cwd=self.folder, env=self.env(),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"bot {' '.join(args)}: {err.decode()}")
        return out.decode()

    async def invites(self, unit: str, count: int) -> list[str]:
        codes: list[str] = []
        while len(codes) < count:
            batch = min(MAX_INVITES_AT_ONCE, count - len(codes))
            out = await self.cli("invite", "--unit", unit, "--role", "officer",
                                 "--count", str(batch))
            codes += [line.split()[0] for line in out.splitlines() if line.strip()]
        return codes

    async def start(self) -> None:
        polls = self.fake.polls
        with self.log_path.open("a") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "run", cwd=self.folder, env=self.env(),
                stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while self.fake.polls == polls:  # ready once it asks for updates
            if self.process.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError("the bot did not start:\n" + self.log_tail())
            await asyncio.sleep(0.05)
        self.up_since = time.monotonic()

    async def kill(self) -> None:
        """kill -9 and start again at once."""
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()
        self.kills += 1
        await self.start()

    async def terminate(self) -> None:
        """SIGTERM, as an upgrade does, and start again; a stop that takes over 10 s or ends
        with an error is counted in `unclean_stops`."""
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), 10)
        except TimeoutError:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()
        if self.process.returncode != 0:
            self.unclean_stops += 1
        self.kills += 1
        await self.start()

    async def stop(self) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), 15)
        except TimeoutError:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def errors_logged(self) -> int:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return text.count("Traceback")


# ---------------------------------------------------------------------------------------------
# Checks


def duplicate_sends(fake: FakeTelegram) -> int:
    """Sends identical (method, text, buttons) to the one just before in the same chat."""
    previous: dict[int | None, tuple] = {}
    count = 0
    for call in fake.sent():
        key = (call.method, call.text, call.buttons)
        count += previous.get(call.chat_id) == key
        previous[call.chat_id] = key
    return count


def check_reports(db_path: Path, officers: list[Officer], figures: Figures) -> dict[str, int]:
    """Stored reports against the officers' plans: twice, wrong fields, missing. A report is
    matched by the number the bot told the officer, else by the tag of its text answers."""
    rows = query(db_path, "SELECT number, kind, answers FROM reports")
    planned = {p.tag: p for o in officers for p in o.plan}
    told = {number: planned[tag] for o in officers for number, tag in o.received.items()}
    stored: Counter = Counter()
    wrong = 0
    for number, kind, answers_json in rows:
        answers = json.loads(answers_json)
        tags = {str(v).split()[0] for v in answers.values() if isinstance(v, str) and v}
        plan = told.get(number) or next((planned[t] for t in tags if t in planned), None)
        if plan is None:
            wrong += 1  # a report nobody planned
            continue
        stored[plan.tag] += 1
        bad = {k: answers.get(k) for k, v in plan.answers.items() if answers.get(k) != v}
        if kind != plan.kind or bad:
            wrong += 1
            if wrong <= 3:  # a few examples, to see what went where
                figures.notes.append(f"report {number} ({plan.tag}): " + ", ".join(
                    f"{k}={v!r} (planned {plan.answers[k]!r})" for k, v in bad.items()))
    return {"reports stored": sum(stored.values()),
            "reports stored twice": sum(n - 1 for n in stored.values() if n > 1),
            "reports wrong": wrong,
            "reports missing": sum(1 for plan in told.values() if not stored[plan.tag])}


NOT_MODIFIED = "message is not modified"


def api_figures(fake: FakeTelegram, bot: BotProcess, figures: Figures) -> dict[str, int]:
    """Figures judged from the Bot API's side; the refusals' reasons go in the notes."""
    refused = fake.refused(400)
    # Telegram refuses an edit that changes nothing; the bot may repeat an edit after a kill,
    # which is harmless, so it is counted apart from real refusals.
    repeated = [c for c in refused if NOT_MODIFIED in c.error]
    for reason, n in Counter(f"{c.method}: {c.error[:90]}" for c in refused
                             if c not in repeated).most_common(5):
        figures.notes.append(f"{n} × 400 {reason}")
    return {"duplicate sends": duplicate_sends(fake),
            "sends refused (400)": len(refused) - len(repeated),
            "edits repeated": len(repeated),
            "answers 429": len(fake.refused(429)),
            "tracebacks logged": bot.errors_logged()}


def describe_update(fake: FakeTelegram, update_id: int) -> str:
    """Where an unanswered update got to, as the platform saw it."""
    handed, confirmed = fake.handed_at.get(update_id), fake.confirmed_at.get(update_id)
    if handed is None:
        return "never fetched by the bot"
    if confirmed is None:
        return "fetched, not confirmed yet"
    return f"fetched, confirmed {confirmed - handed:.2f} s later"


# ---------------------------------------------------------------------------------------------
# Scenarios


async def _with_bot(folder: Path, fake: FakeTelegram) -> BotProcess:
    fake.start()
    bot = BotProcess(folder, fake)
    await bot.cli("units", "import", str(SAMPLE_UNITS))
    return bot


async def _officers(bot: BotProcess, fake: FakeTelegram, count: int, profile: Profile,
                    first_id: int = 5001) -> list[tuple[Officer, str]]:
    """Officers registered through real invites, spread over a few units."""
    rng = random.Random(profile.seed)
    officers = []
    for n in range(count):
        officer = Officer(fake, first_id + n, f"Cán bộ {n + 1}", profile.patience,
                          lambda: bot.up_since, random.Random(rng.random()), number=n + 1)
        officers.append(officer)
    units = UNITS[:count]
    issued = await asyncio.gather(*(bot.invites(unit, len(officers[i::len(units)]))
                                    for i, unit in enumerate(units)))
    return [(o, issued[i % len(units)].pop()) for i, o in enumerate(officers)]


async def forms_under_kills(folder: Path, profile: Profile, replay: bool = False) -> Figures:
    """Officers fill reports while the bot is killed `kills` times (or, with `replay`, while
    every update is delivered twice and nothing is killed)."""
    began = time.monotonic()
    fake = FakeTelegram(TOKEN, replay_updates=replay, seed=profile.seed)
    bot = await _with_bot(folder, fake)
    count = profile.replay_officers if replay else profile.officers
    pairs = await _officers(bot, fake, count, profile)
    officers = [o for o, _code in pairs]
    await bot.start()
    figures = Figures("every update twice" if replay else f"{count} officers, kills")
    try:
        registered = await asyncio.gather(*(o.register(code, profile.patience)
                                            for o, code in pairs))
        kills_done = asyncio.Event()
        if replay:
            def more(officer: Officer) -> bool:
                return officer.done < profile.replay_reports
        else:
            def more(officer: Officer) -> bool:
                return not kills_done.is_set()

        work = [asyncio.create_task(o.fill(lambda o=o: more(o)))
                for o, ok in zip(officers, registered, strict=True) if ok]
        rng = random.Random(profile.seed)
        for _ in range(0 if replay else profile.kills):
            await asyncio.sleep(rng.uniform(*profile.kill_gap))
            await bot.kill()
        kills_done.set()
        # After the last kill each officer finishes the report in hand; one who gets no answer
        # for `patience` seconds several times over gives up (a stuck form).
        await asyncio.gather(*work)
    finally:
        await bot.stop()
        fake.stop()
    figures.kills = bot.kills
    figures.notes.append(f"{time.monotonic() - began:.0f} s")
    figures.counts = {
        "officers": count,
        "registrations failed": registered.count(False),
        "updates lost": sum(o.lost for o in officers),
        **check_reports(bot.db_path, officers, figures),
        **api_figures(fake, bot, figures),
        "forms stuck": sum(1 for o in officers if not o.finished),
        "officer confused": sum(o.confused for o in officers),
        "officer actions": sum(o.actions for o in officers),
    }
    for officer in officers:
        if officer.gave_up:
            figures.notes.append(f"officer {officer.number} gave up: {officer.gave_up}")
        for update_id in officer.unanswered:
            figures.notes.append(f"officer {officer.number}: no answer to update {update_id} "
                                 f"({describe_update(fake, update_id)})")
    if figures.counts["tracebacks logged"]:
        figures.notes.append("bot log tail:\n" + bot.log_tail(12))
    return figures


async def broadcast_under_kills(folder: Path, profile: Profile) -> Figures:
    """The admin sends a notice to `recipients` registered officers; the bot is killed
    `broadcast_kills` times while it goes out."""
    began = time.monotonic()
    fake = FakeTelegram(TOKEN, seed=profile.seed)
    bot = await _with_bot(folder, fake)
    pairs = await _officers(bot, fake, profile.recipients, profile, first_id=20_001)
    admin = Admin(fake, ADMIN_ID, "Phạm Thu Hà", profile.patience, lambda: bot.up_since)
    await bot.start()
    figures = Figures(f"notice to {profile.recipients}"
                      + (", SIGTERM" if profile.graceful else ""))
    rng = random.Random(profile.seed)
    try:
        total = profile.recipients
        await admin.start()
        # Every welcome waits its turn behind the others at 30 messages a second.
        within = profile.patience + 2 * total / 25
        registered = await asyncio.gather(*(o.register(code, within) for o, code in pairs))
        figures.notes.append(f"{total} registered after {time.monotonic() - began:.0f} s")
        if not await admin.broadcast(time.monotonic() + 10 * profile.patience):
            figures.notes.append("the admin could not send the notice")
        for k in range(profile.broadcast_kills):
            # Somewhere inside each stretch of the sending, so every kill lands mid-broadcast.
            goal = total * (k + rng.uniform(0.3, 0.8)) / profile.broadcast_kills
            while _notified(fake, pairs) < goal and _quiet_for(fake) < profile.patience:
                await fake.wait_any(0.5)
            figures.notes.append(f"{'SIGTERM' if profile.graceful else 'kill'} {k + 1} after "
                                 f"{_notified(fake, pairs)} notices")
            await (bot.terminate() if profile.graceful else bot.kill())
        while _notified(fake, pairs) < total and (
                time.monotonic() - max(bot.up_since, _last_notice(fake)) < profile.patience):
            await fake.wait_any(0.5)
    finally:
        await bot.stop()
        fake.stop()
    per_chat = Counter(c.chat_id for c in fake.sent() if NOTICE_HEAD in c.text)
    figures.kills = bot.kills
    figures.notes.append(f"{time.monotonic() - began:.0f} s")
    figures.counts = {
        "recipients": total,
        "registrations failed": registered.count(False),
        "recipients lost": sum(1 for o, _c in pairs if not per_chat[o.user_id]),
        "unclean stops": bot.unclean_stops,
        **api_figures(fake, bot, figures),
        # Notices repeated to a recipient: a duplicate however far apart the two copies are.
        "duplicate sends": sum(n - 1 for n in per_chat.values() if n > 1),
    }
    return figures


def _notified(fake: FakeTelegram, pairs: list) -> int:
    return len({c.chat_id for c in fake.sent() if NOTICE_HEAD in c.text})


def _last_notice(fake: FakeTelegram) -> float:
    return max((c.at for c in fake.sent() if NOTICE_HEAD in c.text), default=0.0)


def _quiet_for(fake: FakeTelegram) -> float:
    return time.monotonic() - max((c.at for c in fake.calls), default=time.monotonic())
