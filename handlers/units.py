"""Units through reorganisation: a merger or retirement on a date, the officers of a unit that
ceased to exist told once (moved to its successor when there is exactly one, otherwise their
access ends and the admins see who needs a new invite), and a retired unit's history rolled up
to its successor when a view asks for it (merges and renames pass it on; a split keeps it apart,
see rolled_up).

```mermaid
flowchart LR
    M[merge A B into C on D / retire A on D / units file valid_to] --> E[A ends on D-1]
    E --> T{clock tick from D: officer of A}
    T -- one successor --> S[moved to it, told once]
    T -- none or several --> X[access ends, told once; admins: needs a new invite]
```
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from handlers import access
from handlers.context import Config
from handlers.text import esc
from handlers.types import Outgoing, Reply
from locales.i18n import Translator
from storage.models import Role, Unit
from storage.repos import Tx


class UnitChangeError(Exception):
    """A merger or retirement that cannot be done; the message says why (translated)."""


async def end_units(tx: Tx, t: Translator, codes: list[str], successors: tuple[str, ...], on: date,
                    actor: str, now: datetime) -> list[Unit]:
    """Units `codes` cease to exist on `on` (their last day is the day before), carried on by
    `successors`; audited, in the caller's transaction. Their reports stay theirs."""
    ended = []
    for code in codes:
        unit = await tx.units.by_code(code)
        if unit is None:
            raise UnitChangeError(t._("Unknown unit {code}. See: baocao units list").format(
                code=code))
        if unit.valid_to is not None and unit.valid_to < on - timedelta(days=1):
            raise UnitChangeError(t._("{code} already ceased to exist after {day}.").format(
                code=unit.code, day=t.date(unit.valid_to)))
        if unit.valid_from is not None and unit.valid_from >= on:
            raise UnitChangeError(t._("{code} only begins on {day}.").format(
                code=unit.code, day=t.date(unit.valid_from)))
        if unit.code in successors:
            raise UnitChangeError(t._("{code} cannot succeed itself.").format(code=unit.code))
        await tx.units.end(unit.code, on - timedelta(days=1), successors, now)
        ended.append(unit)
    await tx.audit.record(actor, "unit.merge" if successors else "unit.retire", now,
                          units=[u.code for u in ended], successors=list(successors),
                          on=on.isoformat())
    return ended


def _heir(unit: Unit, by_code: dict[str, Unit], day: date) -> Unit | None:
    """The one unit existing on `day` that carries on `unit`'s work, following renames and
    mergers; None when there is none or the work was split among several."""
    seen = {unit.code}
    while len(unit.successors) == 1 and unit.successors[0] in by_code:
        unit = by_code[unit.successors[0]]
        if unit.code in seen:
            return None
        seen.add(unit.code)
        if unit.valid_on(day):
            return unit
    return None


def is_split(unit: Unit) -> bool:
    """The unit's work was divided among several units that carry it on."""
    return len(unit.successors) > 1


def rolled_up(units: list[Unit]) -> dict[int, Unit]:
    """unit id -> the unit its history is counted under when figures are rolled up.

    A rename or a merger (exactly one successor) passes a unit's history on, along the whole
    chain (A → B → C: counted under C). A split (several successors) stops it there: the
    split unit's reports cannot be divided among the units that took over parts of its work,
    and giving them all to one of them (or to each) would make that unit's figures, or the
    programme's, wrong. So a split unit's history, and that of the units merged into it
    before, stays under the split unit, listed apart and marked (see counted_name); the
    programme's totals still add up. A unit that still exists, or ended with no successor, is
    its own."""
    by_code = {u.code: u for u in units}
    found = {}
    for unit in units:
        target, seen = unit, {unit.code}
        while len(target.successors) == 1 and target.successors[0] in by_code \
                and target.successors[0] not in seen:
            target = by_code[target.successors[0]]
            seen.add(target.code)
        found[unit.id] = target
    return found


def counted_name(t: Translator, unit: Unit) -> str:
    """The unit's name as a rolled-up list shows it: a split unit's line is marked, since it
    holds history that no single unit of today carries on."""
    return t._("{name} (split)").format(name=unit.name) if is_split(unit) else unit.name


@dataclass(frozen=True)
class Carried:
    """An officer of a unit that ceased to exist: moved to `to`, or (None) access ended."""

    contact_id: int
    name: str
    unit: Unit
    to: Unit | None


async def carry_officers(tx: Tx, config: Config, now: datetime
                         ) -> tuple[list[Outgoing], list[Carried]]:
    """Officers of units that no longer exist today, each told once: moved to the unit that
    carries on the work when there is exactly one, otherwise their access ends."""
    today = now.astimezone(config.zone).date()
    ended = await tx.units.officers_of_ended(today)
    if not ended:
        return [], []
    units = await tx.units.list()
    by_code, by_id = {u.code: u for u in units}, {u.id: u for u in units}
    out, carried = [], []
    for contact_id, unit_id in ended:
        if not await tx.tracking.first_notification(f"unit-ended:{contact_id}:{unit_id}",
                                                    "unit", now):
            continue
        contact = await tx.contacts.get(contact_id)
        unit = by_id[unit_id]
        # An active officer (officers_of_ended) of a unit that has ended (so has a last day).
        assert contact is not None and unit.valid_to is not None
        heir = _heir(unit, by_code, today)
        t = config.translator(contact.language)
        day = t.date(unit.valid_to + timedelta(days=1))
        if heir is not None:
            await tx.contacts.update(contact.id, unit_id=heir.id, role=Role.OFFICER)
            await tx.audit.record("clock", "contact.unit_moved", now, contact=contact.id,
                                  unit=unit.code, to=heir.code)
            out += await access.tell(tx, contact.id, Reply(t._(
                "From {day}, the work of {old} is carried on by {new}, after the "
                "reorganisation of units. You now report for {new}; the reports sent "
                "earlier stay with {old}.").format(day=day, old=esc(unit.name),
                                                   new=esc(heir.name))))
        else:
            names = [by_code[c].name for c in unit.successors if c in by_code]
            text = (t._("From {day}, {old} no longer exists, after the reorganisation of "
                        "units, so your access to Baocao as its contact person ends. The "
                        "reports sent earlier are kept. If you now work for one of the "
                        "units that carry on its work ({successors}), the administrator will "
                        "send a new invite. Thank you for your work.") if names else
                    t._("From {day}, {old} no longer exists, after the reorganisation of "
                        "units, so your access to Baocao as its contact person ends. The "
                        "reports sent earlier are kept. Thank you for your work."))
            out += await access.deactivate(
                tx, config, contact, "clock", now, reason=f"unit {unit.code} ended",
                text=text.format(day=day, old=esc(unit.name),
                                 successors=esc("; ".join(names))))
        carried.append(Carried(contact.id, contact.name, unit, heir))
    return out, carried


def carried_lines(t: Translator, carried: list[Carried]) -> list[str]:
    """What the admin reads: who was moved where, and who needs a new invite."""
    lines = []
    for item in carried:
        if item.to is not None:
            lines.append(t._("#{id} {name}: moved from {old} to {new}.").format(
                id=item.contact_id, name=esc(item.name), old=esc(item.unit.code),
                new=esc(item.to.code)))
        else:
            lines.append(t._("#{id} {name} ({old}): access ended; needs a new invite{to}.")
                         .format(id=item.contact_id, name=esc(item.name),
                                 old=esc(item.unit.code),
                                 to=t._(" for one of: {codes}").format(
                                     codes=", ".join(item.unit.successors))
                                 if item.unit.successors else ""))
    return lines


async def tick(tx: Tx, config: Config, now: datetime) -> list[Outgoing]:
    """The clock job: carry officers of units that ended, and tell the admins what was done."""
    out, carried = await carry_officers(tx, config, now)
    if not carried:
        return out
    for contact, identity in await tx.contacts.reachable_identities(roles=[Role.ADMIN]):
        t = config.translator(contact.language)
        text = "\n".join([t._("<b>Units that ceased to exist</b>: their officers were told.")]
                         + carried_lines(t, carried))
        out.append(Outgoing(identity.channel, identity.chat_id, Reply(text), contact.id))
    return out
