"""The programme as configuration: who owes which report for which period, by when, and when
messages may go out (working hours, weekends, holidays)."""

from __future__ import annotations

import hashlib
from datetime import date, datetime, time, timedelta
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from handlers import periods
from handlers.periods import Period

RECURRING = ("annual", "half", "quarter", "month")
DEFAULT_PROGRAMME = Path(__file__).resolve().parent.parent / "bot" / "data" / "programme.yaml"
# Holidays are listed a year at a time (the Government announces them late in the year before):
# admins are warned this long before the list runs out, time enough to add the next year.
HOLIDAYS_AHEAD = timedelta(days=60)


class ProgrammeError(Exception):
    """The programme file cannot be used; the message says where."""


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AdhocPeriod(Model):
    id: str
    name: dict[str, str]
    start: date
    end: date


class Obligation(Model):
    id: str
    name: dict[str, str]
    report: str  # a report kind (handlers.kinds)
    level: str | None = None  # one of the kind's levels (a review: preliminary or final)
    unit_kinds: tuple[str, ...]
    period: str
    first_year: int | None = None
    due: date | None = None
    due_days_after_end: int | None = Field(default=None, ge=0, le=365)

    @model_validator(mode="after")
    def _one_deadline(self) -> Obligation:
        if (self.due is None) == (self.due_days_after_end is None):
            raise ValueError(f"obligation {self.id}: give either due or due_days_after_end")
        return self

    @model_validator(mode="after")
    def _known_kind(self) -> Obligation:
        # Imported here: the kinds' questions need the forms, which need this module.
        from handlers.kinds import KINDS
        kind = KINDS.get(self.report)
        if kind is None:
            raise ValueError(f"obligation {self.id}: unknown report kind {self.report!r} "
                             f"(one of {', '.join(KINDS)})")
        if self.level is not None and self.level not in kind.levels:
            raise ValueError(f"obligation {self.id}: a {self.report} report has no level "
                             f"{self.level!r}")
        return self

    def label(self, language: str) -> str:
        return self.name.get(language) or next(iter(self.name.values()))

    @property
    def ref(self) -> str:
        """A short stable name for button data, which Telegram caps at 64 bytes (ids are
        written by people and can be long)."""
        return hashlib.blake2s(self.id.encode(), digest_size=4).hexdigest()


class Reminders(Model):
    days_before: tuple[int, ...] = (7, 3, 1)
    leaders_after_days: int = Field(default=5, ge=1)


class WorkingHours(Model):
    start: time = time(8, 0)
    end: time = time(17, 0)


class DifficultyDeadlines(Model):
    """Working hours allowed, by urgency (9 working hours make one working day)."""

    acknowledge_hours: dict[str, float] = {"normal": 9, "urgent": 2}
    answer_hours: dict[str, float] = {"normal": 45, "urgent": 9}


class Programme(Model):
    reminders: Reminders = Reminders()
    difficulties: DifficultyDeadlines = DifficultyDeadlines()
    working_hours: WorkingHours = WorkingHours()
    holidays: frozenset[date] = frozenset()
    adhoc_periods: tuple[AdhocPeriod, ...] = ()
    obligations: tuple[Obligation, ...] = ()

    @model_validator(mode="after")
    def _known_periods(self) -> Programme:
        adhoc = {p.id for p in self.adhoc_periods}
        for obligation in self.obligations:
            if obligation.period not in RECURRING and obligation.period not in adhoc:
                raise ValueError(f"obligation {obligation.id}: unknown period "
                                 f"{obligation.period!r}")
        if len({o.ref for o in self.obligations}) != len(self.obligations):
            raise ValueError("two obligations have the same id (or ids too alike); rename one")
        return self

    def obligation(self, obligation_id: str) -> Obligation | None:
        return next((o for o in self.obligations if o.id == obligation_id), None)

    def ref(self, obligation: Obligation, period: Period) -> str:
        """An obligation's period in button data: "1a2b3c4d:2026-Q1", or "1a2b3c4d:" for an
        obligation of one ad hoc period (whose id, too, can be long)."""
        return f"{obligation.ref}:{period.key if obligation.period in RECURRING else ''}"

    def by_ref(self, ref: str) -> tuple[Obligation, Period] | None:
        """The obligation and period of button data made by `ref`, if they exist."""
        short, _, key = ref.partition(":")
        obligation = next((o for o in self.obligations if o.ref == short), None)
        if obligation is None:
            return None
        period = self.period(key if obligation.period in RECURRING else obligation.period)
        return (obligation, period) if period is not None else None

    def period_ref(self, key: str) -> str:
        """A period in button data: a regular key as it is, an ad hoc period's id (written by
        people, maybe long) as "~" and a short hash."""
        if periods.parse(key) is not None:
            return key
        return "~" + hashlib.blake2s(key.encode(), digest_size=4).hexdigest()

    def period_by_ref(self, ref: str) -> Period | None:
        """The period of button data made by `period_ref`."""
        if not ref.startswith("~"):
            return periods.parse(ref)
        return next((self.period(p.id) for p in self.adhoc_periods
                     if self.period_ref(p.id) == ref), None)

    def fixed_period(self, obligation: Obligation) -> Period:
        """The one period of an obligation that is not recurring (checked to exist at load)."""
        assert obligation.period not in RECURRING
        return self.known_period(obligation.period)

    def known_period(self, key: str) -> Period:
        """A period by a key the bot wrote itself (a queued job's, a form's): a KeyError if the
        programme no longer has it (an ad hoc period removed from the file since)."""
        period = self.period(key)
        if period is None:
            raise KeyError(f"period {key!r} is not in the programme")
        return period

    def period(self, key: str) -> Period | None:
        """A period by key: a regular one ("2026-Q1") or an ad hoc one by its id."""
        for adhoc in self.adhoc_periods:
            if adhoc.id == key:
                return Period(adhoc.id, adhoc.start, adhoc.end, adhoc.name)
        return periods.parse(key)

    def deadline(self, obligation: Obligation, period: Period) -> date:
        """The configured deadline (an admin's move is applied on top, see storage)."""
        if obligation.due is not None:
            return obligation.due
        return period.end + timedelta(days=obligation.due_days_after_end or 0)

    def due(self, obligation: Obligation, period: Period, moved: dict) -> date:
        """The deadline in force: an admin's move (`moved`, from storage) or the configured one."""
        return moved.get((obligation.id, period.key), self.deadline(obligation, period))

    def periods_due_around(self, obligation: Obligation, today: date, moved: dict,
                           lookback_days: int = 60) -> list[Period]:
        """The periods of an obligation whose deadline in force is near enough to today to act
        on: reminders ahead of it, escalation behind it. A deadline moved earlier than the
        configured one counts from its new date (and a moved one up to a year either side)."""
        if obligation.period not in RECURRING:
            period = self.period(obligation.period)
            if period is None or self.due(obligation, period, moved) < today - timedelta(
                    days=lookback_days):
                return []
            return [period]
        found = []
        ahead = max(self.reminders.days_before, default=0)
        # Start a year ahead: a later period's deadline may have been moved into reach.
        period = periods.of(obligation.period, today + timedelta(days=ahead + 366))
        for _ in range(40):
            if obligation.first_year and int(period.key[:4]) < obligation.first_year:
                break
            due = self.due(obligation, period, moved)
            if due < today - timedelta(days=lookback_days) and \
                    period.end < today - timedelta(days=366):
                break
            if today - timedelta(days=lookback_days) <= due <= today + timedelta(days=ahead):
                found.append(period)
            period = periods.previous(period)
        return found

    def upcoming(self, obligation: Obligation, today: date, moved: dict) -> tuple[Period, date]:
        """The obligation's next deadline (or its last one, if all have passed)."""
        if obligation.period not in RECURRING:
            period = self.fixed_period(obligation)
        else:
            period = periods.of(obligation.period, today)
            if moved.get((obligation.id, period.key), self.deadline(obligation, period)) < today:
                period = periods.of(obligation.period, period.end + timedelta(days=1))
            previous_ = periods.previous(period)
            if moved.get((obligation.id, previous_.key),
                         self.deadline(obligation, previous_)) >= today:
                period = previous_  # last period's deadline has not passed yet
        return period, moved.get((obligation.id, period.key), self.deadline(obligation, period))

    def holidays_run_out(self, today: date) -> date | None:
        """The last listed holiday when the list ends within HOLIDAYS_AHEAD of today (today
        itself when none is listed); None when it reaches further."""
        last = max(self.holidays, default=None)
        if last is None:
            return today
        return last if last < today + HOLIDAYS_AHEAD else None

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self.holidays

    def is_working_time(self, moment: datetime) -> bool:
        """Messages go out on working days, in working hours (local time)."""
        return (self.is_working_day(moment.date())
                and self.working_hours.start <= moment.time() < self.working_hours.end)

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        """The moment `hours` of working time after `start` (a local, aware datetime)."""
        remaining = timedelta(hours=hours)
        cursor = start
        opens, closes = self.working_hours.start, self.working_hours.end
        for _ in range(3660):  # ten years of days: a bound, never reached in practice
            if not self.is_working_day(cursor.date()) or cursor.time() >= closes:
                cursor = datetime.combine(cursor.date() + timedelta(days=1), opens,
                                          cursor.tzinfo)
                continue
            if cursor.time() < opens:
                cursor = datetime.combine(cursor.date(), opens, cursor.tzinfo)
            left_today = datetime.combine(cursor.date(), closes, cursor.tzinfo) - cursor
            if remaining <= left_today:
                return cursor + remaining
            remaining -= left_today
            cursor = datetime.combine(cursor.date() + timedelta(days=1), opens, cursor.tzinfo)
        raise ValueError("no working time within ten years")


def load_programme(path: Path | None = None) -> Programme:
    """Read and check a programme file (the shipped default when no path is given)."""
    path = path or DEFAULT_PROGRAMME
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return Programme.model_validate(data)
    except FileNotFoundError:
        raise ProgrammeError(f"{path}: file not found") from None
    except yaml.YAMLError as exc:
        raise ProgrammeError(f"{path}: not valid YAML ({exc})") from None
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise ProgrammeError(f"{path}: {where}: {error['msg']}") from None
