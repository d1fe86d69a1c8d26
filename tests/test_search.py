"""Finding reports: paging past the latest ten, and filters by text, kind, unit and period, in
/reports and /myreports. Real Application, real SQLite."""

from __future__ import annotations

from datetime import date, timedelta

from storage.models import Role
from tests.telegram_fakes import Harness, register


async def seed_reports(h: Harness, count: int, first_day: date = date(2025, 6, 2)) -> None:
    """`count` dissemination reports, alternating between Lê Chân and Ngô Quyền, a week apart;
    every third is about a radio broadcast, the others about banners."""
    async with h.runtime.db.transaction() as tx:
        units = [await tx.units.by_code("Q-LECHAN"), await tx.units.by_code("Q-NGOQUYEN")]
        contact = (await tx.contacts.reachable_identities(roles=[Role.OFFICER]))[0][0]
        for i in range(count):
            summary = "Phát thanh trên đài truyền thanh phường" if i % 3 == 0 else \
                "Treo băng rôn, khẩu hiệu"
            await tx.reports.create(
                unit_id=units[i % 2].id, contact_id=contact.id, kind="dissemination",
                period_key=None, activity_date=first_day + timedelta(weeks=i),
                answers={"channel": "conference", "audience": "Cán bộ", "reached": 100 + i,
                         "summary": summary}, attachments=[], channel="telegram",
                now=h.clock(), local_year=2026)


def numbers(text: str) -> list[str]:
    return [word for word in text.split() if word.startswith("BC-")]


async def test_reports_page_past_the_latest_ten_and_filter(harness):
    h = harness
    officer = await register(h, 501, "Trần Thị Bình", unit="Q-LECHAN")
    coordinator = await register(h, 301, "Phạm Văn Điều", Role.COORDINATOR, unit="SO-TTTT")
    await seed_reports(h, 24)

    await coordinator.say("/reports")
    first = coordinator.last()
    assert numbers(first.text) == [f"BC-2026-{n:04d}" for n in range(24, 14, -1)]
    await coordinator.press("Báo cáo cũ hơn ›")
    second = coordinator.last()
    assert second.text.startswith("<b>Báo cáo cũ hơn</b>")
    assert numbers(second.text) == [f"BC-2026-{n:04d}" for n in range(14, 4, -1)]
    await coordinator.press("Báo cáo cũ hơn ›")
    assert numbers(coordinator.last().text) == [f"BC-2026-{n:04d}" for n in range(4, 0, -1)]
    assert "Báo cáo cũ hơn ›" not in [label for label, _ in coordinator.last().buttons]

    # Words without diacritics, a unit and a period (year 2025 ends on 14/12/2025).
    await coordinator.say("/reports phat thanh")
    found = numbers(coordinator.last().text)
    assert found == [f"BC-2026-{n:04d}" for n in range(22, 0, -3)]
    await coordinator.say("/reports Q-LECHAN 2025")
    text = coordinator.last().text
    assert "Ủy ban nhân dân quận Lê Chân" in text and "năm 2025" in text
    # Lê Chân has the odd numbers; 2025 runs to 14/12/2025, the 29th week after 02/06/2025.
    assert numbers(text) == [f"BC-2026-{n:04d}" for n in range(23, 3, -2)]
    await coordinator.say("/reports 2026-Q1")
    assert numbers(coordinator.last().text) == []
    assert "Không có báo cáo phù hợp." in coordinator.last().text

    # A kind's button keeps the words typed.
    await coordinator.say("/reports phat thanh")
    await coordinator.press("Hoạt động tuyên truyền")
    assert numbers(coordinator.last().text) == found
    await coordinator.press("Kế hoạch, chương trình")
    assert numbers(coordinator.last().text) == []

    # An officer pages and searches within the unit only.
    await officer.say("/myreports")
    assert numbers(officer.last().text) == [f"BC-2026-{n:04d}" for n in range(23, 3, -2)]
    await officer.press("Báo cáo cũ hơn ›")
    assert numbers(officer.last().text) == ["BC-2026-0003", "BC-2026-0001"]
    await officer.say("/myreports phát thanh")
    assert numbers(officer.last().text) == ["BC-2026-0019", "BC-2026-0013", "BC-2026-0007",
                                            "BC-2026-0001"]
