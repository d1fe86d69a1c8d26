"""The clock jobs, in the order a tick runs them, and their health: a job that fails tick after
tick is reported to the admins once, and again only after it has worked in between.

The count of failures and whether they were reported live in the meta table, so a restart
neither forgets a failing job nor reports it a second time.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from handlers import broadcasts, core, desk, difficulties, reminders, units
from handlers.context import Config
from handlers.types import Outgoing, Reply
from locales.i18n import N_
from storage.models import Role
from storage.repos import Tx

REPORT_AFTER = 3  # consecutive failed ticks; one failure may be a passing database hiccup


@dataclass(frozen=True)
class ClockJob:
    key: str  # names its record in the meta table and in the log
    label: str  # N_(): what admins are told failed
    run: Callable[[Tx, Config, datetime], Awaitable[list[Outgoing]]]


def jobs() -> list[ClockJob]:
    """Every clock job; looked up at each tick, so the module functions can be replaced."""
    return [
        ClockJob("sessions", N_("closing forms left idle"), core.expire_idle_sessions),
        # Before the reminders: an officer of a unit that ended is moved to its successor first.
        ClockJob("units", N_("officers of units that ceased to exist"), units.tick),
        ClockJob("reminders", N_("deadline reminders and escalations"), reminders.tick),
        ClockJob("difficulties", N_("reminders and escalations of difficulties"),
                 difficulties.tick),
        ClockJob("digests", N_("coordinators' digests"), desk.tick),
        ClockJob("notices", N_("scheduled notices"), broadcasts.tick),
        ClockJob("retention", N_("forgetting the texts of old messages"), _forget_old_texts),
        ClockJob("holidays", N_("checking the list of holidays"), holidays_running_out),
    ]


HOLIDAYS_WARNED = "holidays_warned"


async def holidays_running_out(tx: Tx, config: Config, now: datetime) -> list[Outgoing]:
    """Tell the admins once when the programme's holidays end within 60 days: past the list,
    reminders would go out on a holiday. Once per list: a longer list that runs out in its
    turn is told again."""
    last = config.programme.holidays_run_out(now.astimezone(config.zone).date())
    if last is None or await tx.meta.get(HOLIDAYS_WARNED) == last.isoformat():
        return []
    out = []
    for contact, identity in await tx.contacts.reachable_identities(roles=[Role.ADMIN]):
        t = config.translator(contact.language)
        text = t._("⚠️ The programme file lists public holidays only until {day}. Please add "
                   "next year's holidays, as the Government announces them, to the programme "
                   "file (PROGRAMME_FILE) and restart the bot; until then reminders may go out "
                   "on a holiday.").format(day=t.date(last))
        out.append(Outgoing(identity.channel, identity.chat_id, Reply(text), contact.id))
    if out:  # with no admin reachable yet, the first one to register is told
        await tx.meta.set(HOLIDAYS_WARNED, last.isoformat())
    return out


async def _forget_old_texts(tx: Tx, config: Config, now: datetime) -> list[Outgoing]:
    """Personal data has an end: a sent message keeps its text only so long."""
    await tx.outbox.forget_texts(now - config.message_retention)
    return []


def _meta_key(job: ClockJob) -> str:
    return f"clock_job:{job.key}"


async def _health(tx: Tx, job: ClockJob) -> dict:
    stored = await tx.meta.get(_meta_key(job))
    return json.loads(stored) if stored else {"failures": 0, "reported": False}


async def succeeded(tx: Tx, job: ClockJob) -> None:
    """Forget past failures (in the job's own transaction); writes only after a failure."""
    if (await _health(tx, job))["failures"]:
        await tx.meta.set(_meta_key(job), json.dumps({"failures": 0, "reported": False}))


async def failed(tx: Tx, config: Config, job: ClockJob) -> list[Outgoing]:
    """Count one more failure; at the REPORT_AFTER-th in a row, tell every reachable admin."""
    health = await _health(tx, job)
    health["failures"] += 1
    due = health["failures"] >= REPORT_AFTER and not health["reported"]
    health["reported"] = health["reported"] or due
    await tx.meta.set(_meta_key(job), json.dumps(health))
    if not due:
        return []
    out = []
    for contact, identity in await tx.contacts.reachable_identities(roles=[Role.ADMIN]):
        t = config.translator(contact.language)
        text = t.ngettext(
            "⚠️ The scheduled task “{job}” has failed {n} time in a row. It is tried again "
            "automatically; the bot's log has the details. You will hear again only if it "
            "fails again after working.",
            "⚠️ The scheduled task “{job}” has failed {n} times in a row. It is tried again "
            "automatically; the bot's log has the details. You will hear again only if it "
            "fails again after working.",
            health["failures"]).format(job=t._(job.label), n=t.number(health["failures"]))
        out.append(Outgoing(identity.channel, identity.chat_id, Reply(text), contact.id))
    return out
