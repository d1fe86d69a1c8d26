"""The desk's queries on their covering indexes (issue 15): the per-kind counts the digests
read agree with every unit's status, and weekly counts put each day in its own week."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from storage.difficulties import DifficultyStatus
from storage.tracking import Owed

T0 = datetime(2025, 12, 10, 3, 0, tzinfo=UTC)
BOUND = datetime(2025, 12, 19, 17, 0, tzinfo=UTC)  # the end of the deadline day, local


async def _units(db) -> None:
    """Five districts and a department: one ended before the deadline, one created after it."""
    await db.conn.executemany(
        "INSERT INTO units (id, code, name, kind, valid_from, valid_to, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, '2025-01-01', '2025-01-01')",
        [(1, "D1", "Quận 1", "district", None, None), (2, "D2", "Quận 2", "district", None, None),
         (3, "D3", "Quận 3", "district", None, "2025-06-30"),
         (4, "D4", "Quận 4", "district", "2026-01-01", None),
         (5, "D5", "Quận 5", "district", None, "2026-06-30"),
         (6, "S1", "Sở 1", "department", None, None)])
    await db.conn.execute("INSERT INTO contacts (id, unit_id, role, name, language, created_at) "
                          "VALUES (1, 1, 'officer', 'Cán bộ', 'vi', '2025-01-01')")


async def _report(tx, unit_id: int, kind: str, at: datetime, *, period: str | None = None,
                  day: date | None = None, level: str | None = None) -> None:
    await tx.reports.create(unit_id=unit_id, contact_id=1, kind=kind, period_key=period,
                            activity_date=day, answers={"level": level} if level else {},
                            attachments=[], channel="telegram", now=at, local_year=at.year)


def _counts(statuses) -> dict[str, tuple[int, int, int]]:
    found: dict[str, list[int]] = {}
    for s in statuses:
        row = found.setdefault(s.kind, [0, 0, 0])
        row[0] += 1
        row[1] += bool(s.first_at)
        row[2] += s.on_time
    return {kind: tuple(row) for kind, row in found.items()}


async def test_counts_per_kind_agree_with_every_units_status(db):
    await _units(db)
    async with db.transaction() as tx:
        # The periodic report of 2025: unit 1 on time, then again late (the first counts);
        # unit 2 late but given more time; unit 3 ended before the deadline (owes nothing);
        # unit 6 late; unit 5 nothing.
        await _report(tx, 1, "periodic", T0, period="2025")
        await _report(tx, 1, "periodic", T0 + timedelta(days=20), period="2025")
        await _report(tx, 2, "periodic", T0 + timedelta(days=12), period="2025")
        await _report(tx, 3, "periodic", T0, period="2025")
        await _report(tx, 6, "periodic", T0 + timedelta(days=15), period="2025")
        await tx.tracking.extend("annual", "2025", 2, date(2025, 12, 31),
                                 datetime(2025, 12, 31, 17, 0, tzinfo=UTC), 1, T0)
        # Reviews: a final one does not satisfy the preliminary review, nor one held before
        # the period began.
        await _report(tx, 1, "review", T0, day=date(2025, 11, 1), level="final")
        await _report(tx, 2, "review", T0, day=date(2025, 11, 2), level="preliminary")
        await _report(tx, 5, "review", T0, day=date(2022, 5, 1), level="preliminary")
        await _report(tx, 6, "review", T0 + timedelta(days=30), day=date(2025, 12, 1),
                      level="preliminary")
        # Plans, by activity day whatever their level.
        await _report(tx, 5, "plan", T0, day=date(2025, 3, 1))
    kinds = ("district", "department")
    annual = Owed("periodic", None, kinds, "2025", date(2024, 12, 15), date(2025, 12, 14),
                  BOUND, "annual", date(2025, 12, 19), by_period=True)
    review = Owed("review", "preliminary", kinds, "review-2025", date(2023, 2, 15), date.max,
                  BOUND, "review-2025", date(2025, 12, 19))
    plan = Owed("plan", None, kinds, "programme", date(2023, 2, 15), date.max, BOUND, "plan",
                date(2025, 12, 19))
    async with db.read() as tx:
        for due, expected in (
                (annual, {"district": (3, 2, 2), "department": (1, 1, 0)}),
                (review, {"district": (3, 1, 1), "department": (1, 1, 0)}),
                (plan, {"district": (3, 1, 1), "department": (1, 0, 0)})):
            statuses = await tx.tracking.status(due)
            assert _counts(statuses) == expected, due.obligation
            tallies = await tx.tracking.tally(due)
            assert {t.kind: (t.expected, t.sent, t.on_time) for t in tallies} == expected
            assert [t.kind for t in tallies] == sorted(expected)
            missing = await tx.tracking.missing(due)
            assert [m[0] for m in missing] == [s.unit_id for s in sorted(
                statuses, key=lambda s: s.code) if not s.first_at]
        first = {s.unit_id: s.first_at for s in await tx.tracking.status(annual)}
        assert first[1] == T0  # the first of its two reports


async def test_weekly_counts_put_a_monday_in_its_own_week(db):
    await _units(db)
    monday = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    async with db.transaction() as tx:
        for at in (monday - timedelta(days=8), monday - timedelta(hours=2), monday,
                   monday + timedelta(days=6, hours=22), monday + timedelta(days=14)):
            await _report(tx, 1, "dissemination", at, day=at.date())
    async with db.read() as tx:
        # From the Saturday before: that week has one report (Sunday), the Saturday of the
        # week before is left out, the week with none (30 Nov) is not listed.
        assert await tx.reports.weekly_counts(monday - timedelta(days=2)) == [
            ("2026-11-16", 1), ("2026-11-23", 2), ("2026-12-07", 1)]
        assert await tx.reports.weekly_counts(monday + timedelta(days=30)) == []


async def test_waiting_difficulties_are_counted_by_age_as_days_would(db):
    await _units(db)
    now = datetime(2026, 3, 10, 2, 0, 0, 500_000, tzinfo=UTC)
    ages = [timedelta(days=1), timedelta(days=7) - timedelta(milliseconds=1),
            timedelta(days=7), timedelta(days=27, hours=23), timedelta(days=28),
            timedelta(days=90)]
    async with db.transaction() as tx:
        for age in ages:
            await tx.difficulties.create(unit_id=1, contact_id=1, field="other",
                                         urgency="normal", text="…", proposal=None,
                                         attachments=[], channel="telegram", now=now - age,
                                         local_year=2026)
        answered = await tx.difficulties.create(
            unit_id=1, contact_id=1, field="other", urgency="normal", text="…", proposal=None,
            attachments=[], channel="telegram", now=now - timedelta(days=2), local_year=2026)
        await tx.difficulties.set_status(answered.id, DifficultyStatus.ANSWERED, now)
    async with db.read() as tx:
        waiting = await tx.difficulties.awaiting()
        by_days = [0, 0, 0]
        for d in waiting:
            days = (now - d.opened_at).days
            by_days[0 if days < 7 else 1 if days < 28 else 2] += 1
        assert await tx.difficulties.waiting_ages(now) == tuple(by_days) == (2, 2, 2)
