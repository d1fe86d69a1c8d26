"""The chat export takes every period the CLI takes: past years, quarters, months and the
review periods, typed or from its buttons."""

from __future__ import annotations

import asyncio

from locales.i18n import translator
from storage.models import Role
from tests.telegram_fakes import register


async def test_export_any_period_the_cli_accepts(harness):
    h = harness
    coordinator = await register(h, 301, "Phạm Văn Điều", Role.COORDINATOR, unit="SO-TTTT")
    await coordinator.say("/export")
    labels = [label for label, _data in coordinator.last().buttons]
    assert "Quý III/2026" in labels
    assert any(label.startswith("Giai đoạn 2023–2025") for label in labels)
    assert "review-2025" in coordinator.last().text

    await coordinator.say("/export 1999")
    assert coordinator.texts()[-2] == "Không có kỳ báo cáo 1999."
    assert "Năm 2026" in [b[0] for b in coordinator.last().buttons]

    # The answer, not necessarily the last message: a spreadsheet may follow it at once (the
    # job runs beside the drain), or the one before it go out with it.
    before = len(coordinator.texts())
    await coordinator.say("/export review-2025")
    assert any("Đang chuẩn bị bảng tính giai đoạn 2023–2025" in text
               for text in coordinator.texts()[before:])
    await asyncio.wait_for(h.runtime._jobs, 30)
    before = len(coordinator.texts())
    await coordinator.say("/xuat 2024-Q3")
    assert any("Đang chuẩn bị bảng tính quý III/2024" in text
               for text in coordinator.texts()[before:])
    await asyncio.wait_for(h.runtime._jobs, 30)
    await h.drain()
    captions = [c.params["caption"] for c in h.request.calls
                if c.chat_id == "301" and c.method == "sendDocument"]
    assert captions == ["Bảng tính giai đoạn 2023–2025: 0 báo cáo.",
                        "Bảng tính quý III/2024: 0 báo cáo."]


async def test_a_job_whose_period_left_the_programme_fails_and_says_so(harness):
    """A spreadsheet or a draft asked for an ad hoc period that the programme file no longer has
    when the job runs (the file was edited and the bot restarted in between): the job is
    marked failed and the person told, and the jobs after it still run."""
    h = harness
    coordinator = await register(h, 301, "Phạm Văn Điều", Role.COORDINATOR, unit="SO-TTTT")
    async with h.runtime.db.transaction() as tx:
        contact = await tx.contacts.by_identity("telegram", "301")
        for kind, period in (("export", "review-2099"), ("compile", "review-2099"),
                             ("chart", "review-2099"), ("export", "2024-Q3")):
            await tx.jobs.add(kind, {"period": period, "all": True}, contact.id, "telegram",
                              "301", h.clock())
    h.runtime.start_jobs()
    await h.jobs_done()
    vi = translator("vi")
    sorry = [text for text in coordinator.texts() if text.startswith("Xin lỗi")]
    assert sorry == [vi._("Sorry, the spreadsheet could not be made. Please try again later."),
                     vi._("Sorry, the report could not be drafted. Please try again later.")]
    # (none for the chart: a digest without its chart is not worth a message)
    captions = [c.params["caption"] for c in h.request.calls
                if c.chat_id == "301" and c.method == "sendDocument"]
    assert captions == ["Bảng tính quý III/2024: 0 báo cáo."]
    async with h.runtime.db.read() as tx:
        statuses = [r[0] for r in await tx.conn.execute_fetchall(
            "SELECT status FROM jobs ORDER BY id")]
    assert statuses == ["failed", "failed", "failed", "done"]
