"""The chat export takes every period the CLI takes: past years, quarters, months and the
review periods, typed or from its buttons."""

from __future__ import annotations

import asyncio

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

    await coordinator.say("/export review-2025")
    assert "Đang chuẩn bị bảng tính giai đoạn 2023–2025" in coordinator.last().text
    await asyncio.wait_for(h.runtime._jobs, 30)
    await coordinator.say("/xuat 2024-Q3")
    assert "Đang chuẩn bị bảng tính quý III/2024" in coordinator.last().text
    await asyncio.wait_for(h.runtime._jobs, 30)
    await h.drain()
    captions = [c.params["caption"] for c in h.request.calls
                if c.chat_id == "301" and c.method == "sendDocument"]
    assert captions == ["Bảng tính giai đoạn 2023–2025: 0 báo cáo.",
                        "Bảng tính quý III/2024: 0 báo cáo."]
