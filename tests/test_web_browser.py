"""The web desk in a real browser: Playwright drives Debian's headless chromium (/usr/bin/chromium;
no browser is downloaded) against the real runtime and the fake Bot API. A coordinator signs in
with a one-time link, reads the status grid, filters reports, approves one (the officer's chat
gets the notice), answers a difficulty; every page is photographed and the picture checked."""

from __future__ import annotations

import io
import os
import re
import shutil
from pathlib import Path

import pytest
import tornado.httpserver
import tornado.netutil

from bot import health
from bot.units_file import CURRENT_UNITS, import_units
from handlers import broadcasts
from locales.i18n import translator
from storage.models import Role
from tests.telegram_fakes import register

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
if not Path(CHROMIUM).is_file():
    reason = f"no chromium at {CHROMIUM} (.ci/run installs Debian's chromium package)"
    print(f"SKIPPED test_web_browser: {reason}")
    pytest.skip(reason, allow_module_level=True)

playwright = pytest.importorskip("playwright.async_api")


def evidence_png() -> bytes:
    """A photo of evidence, as a person would send one."""
    from PIL import Image, ImageDraw

    picture = Image.new("RGB", (320, 200), "#f4d03f")
    draw = ImageDraw.Draw(picture)
    draw.rectangle((20, 20, 300, 180), outline="#922b21", width=6)
    draw.text((40, 90), "Hoi nghi tuyen truyen", fill="#1c2833")
    out = io.BytesIO()
    picture.save(out, "PNG")
    return out.getvalue()


def check_picture(path: Path) -> None:
    """A screenshot that shows something: large enough, with many colours (not a blank page)."""
    from PIL import Image

    assert path.stat().st_size > 15_000, path
    with Image.open(path) as picture:
        colours = picture.convert("RGB").getcolors(maxcolors=1_000_000)
    assert colours is not None and len(colours) > 50, (path, len(colours or []))


@pytest.fixture
async def site(harness):
    app = health.health_app(harness.runtime)
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    server = tornado.httpserver.HTTPServer(app)
    server.add_sockets(sockets)
    yield f"http://127.0.0.1:{sockets[0].getsockname()[1]}"
    server.stop()


async def fill_report(officer, photo: str | None = None) -> None:
    await officer.say("/report")
    await officer.press("Hoạt động tuyên truyền")
    await officer.press("Loa truyền thanh cơ sở")
    for answer in ("02/03/2026", "Nhân dân", "1.200", "Phát thanh về chuyển đổi số"):
        await officer.say(answer)
    if photo:
        await officer.send_photo(photo)
        await officer.press("Xong")
    else:
        await officer.press("Bỏ qua")
    await officer.press("Xác nhận")
    assert "BC-2026-" in officer.last().text, officer.last().text


async def test_coordinator_at_the_desk_in_chromium(harness, site, tmp_path):
    h = harness
    h.request.files["PHOTO-1"] = evidence_png()
    # The city's units as of 2026 (the README's pictures are taken here): wards, not districts.
    async with h.runtime.db.transaction() as tx:
        await import_units(tx, CURRENT_UNITS, translator("vi"), None, h.clock())
    coordinator = await register(h, 301, "Phạm Văn Điều", Role.COORDINATOR, "SO-KHCN")
    le_chan = await register(h, 501, "Trần Thị Bình", unit="P-LECHAN")
    ngo_quyen = await register(h, 502, "Đỗ Văn Cần", unit="P-NGOQUYEN")
    await fill_report(le_chan, photo="PHOTO-1")
    await le_chan.press_data("rp:2026", le_chan.last())  # and its annual report, on time
    for answer in ("Đạt kế hoạch", "Thiếu kinh phí"):
        await le_chan.say(answer)
    for label in ("Bỏ qua", "Bỏ qua", "Xác nhận"):
        await le_chan.press(label)
    await fill_report(ngo_quyen)
    await le_chan.say("/difficulty")
    await le_chan.say("Chưa có tài liệu hướng dẫn về chuyển đổi số")
    await le_chan.press("Kế hoạch, hướng dẫn")
    await le_chan.press("Khẩn")
    await le_chan.press("Bỏ qua")
    await le_chan.press("Bỏ qua")
    await le_chan.press("Xác nhận")
    await coordinator.say("/web")
    link = re.search(r"http://\S+/desk/signin\?code=[\w-]+", coordinator.last().text).group(0)
    link = re.sub(r"http://[^/]+", site, link)  # the server of this test, on its own port
    shots = tmp_path / "shots"
    shots.mkdir()

    async with playwright.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                          args=["--no-sandbox"])
        page = await browser.new_page(viewport={"width": 1280, "height": 900}, locale="vi-VN")

        async def shot(name: str, full_page: bool = True) -> None:
            path = shots / f"desk-{name}.png"
            await page.screenshot(path=str(path), full_page=full_page)
            check_picture(path)

        # Sign in with the one-time link: a page with a button, then the status grid.
        await page.goto(link)
        await page.get_by_role("button", name="Đăng nhập").click()
        await page.wait_for_url(f"{site}/desk/")
        grid = page.locator("table.grid")
        assert await grid.locator("tbody tr").count() >= 40  # every unit that owes a report
        le_chan_row = grid.locator("tbody tr", has_text="Phường Lê Chân")
        assert await le_chan_row.locator("td.cell.ok").count() >= 1  # its report, on time
        assert "Tỷ lệ gửi và tỷ lệ đúng hạn" in await page.content()
        await shot("status", full_page=False)  # the first screen: the grid is 160 units long
        await le_chan_row.get_by_role("link").first.click()
        await page.wait_for_url(re.compile(r".*/desk/units/\d+"))
        assert "phường Lê Chân" in await page.locator("h1").inner_text()
        await shot("unit")

        # Reports: filtered by unit, then one opened with its evidence photo, and approved.
        await page.goto(f"{site}/desk/reports")
        assert await page.locator("table.list tbody tr").count() == 3
        await page.fill("input[name=unit]", "P-LECHAN")
        await page.select_option("select[name=kind]", "dissemination")
        await page.select_option("select[name=status]", "received")
        await page.get_by_role("button", name="Lọc").click()
        rows = page.locator("table.list tbody tr")
        assert await rows.count() == 1 and "Lê Chân" in await rows.inner_text()
        await shot("reports")
        await rows.get_by_role("link").click()
        assert "Phát thanh về chuyển đổi số" in await page.locator("ul.answers").inner_text()
        photo = page.locator(".files img")
        await photo.wait_for()
        # The element is on the page before its picture has arrived (the desk fetches it from
        # the platform): wait for the load to end, then check it loaded whole (a broken picture
        # also ends "complete", with no width).
        await photo.evaluate("""img => img.complete || new Promise(done => {
            img.addEventListener("load", done, {once: true});
            img.addEventListener("error", done, {once: true});
        })""")
        assert await photo.evaluate("img => img.complete && img.naturalWidth") == 320
        await shot("report")
        await page.locator("#approve").click()
        await page.wait_for_selector("p.flash")
        assert "BC-2026-0001" in await page.locator("p.flash").inner_text()
        await h.drain()
        assert "BC-2026-0001" in le_chan.last().text and "✅" in le_chan.last().text

        # Difficulties: the urgent one with its deadlines; answered from its page.
        await page.goto(f"{site}/desk/difficulties?sort=urgency")
        item = page.locator("table.list tbody tr.urgent")
        assert await item.count() == 1
        await shot("difficulties")
        await item.get_by_role("link").click()
        assert "Hạn tiếp nhận" in await page.content()
        answer = page.locator("form", has=page.locator("button[data-action=ans]"))
        await answer.locator("textarea").fill("Sở sẽ gửi hướng dẫn trong tuần này.")
        await answer.locator("button").click()
        await page.wait_for_selector("p.flash")
        assert "Sở sẽ gửi hướng dẫn trong tuần này." in await page.locator(
            "ol.thread").inner_text()
        await shot("difficulty")
        await h.drain()
        assert "Sở sẽ gửi hướng dẫn trong tuần này." in le_chan.last().text

        # Notices are the admins' (as /broadcasts): the coordinator is refused them.
        assert (await page.goto(f"{site}/desk/broadcasts")).status == 403
        await page.goto(f"{site}/desk/charts")
        chart = page.locator("img.chart")
        await chart.wait_for()
        await page.wait_for_function("document.querySelector('img.chart').naturalWidth > 0")
        assert await chart.evaluate("img => img.naturalWidth") == 1100
        await shot("charts")
        await page.goto(f"{site}/desk/downloads")
        async with page.expect_download() as waiting:
            await page.locator("form[action='/desk/download/export'] button").click()
        download = await waiting.value
        saved = tmp_path / "export.xlsx"
        await download.save_as(saved)
        assert saved.read_bytes()[:2] == b"PK"  # a workbook (a zip)
        await shot("downloads")

        # On a phone: the list fits the screen's width (the grid scrolls in its own box).
        await page.set_viewport_size({"width": 390, "height": 844})
        for path in ("/desk/reports", "/desk/", "/desk/difficulties"):
            await page.goto(f"{site}{path}")
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= 392, (path, width)
        await shot("phone")

        # The admin's notices: delivered, read, and who has not read.
        admin = h.chat(1, "Nguyễn Quản Trị")
        await admin.say("/start")
        async with h.runtime.db.transaction() as tx:
            admin_id = (await tx.contacts.by_identity("telegram", "1")).id
            notice = await tx.broadcasts.create(
                created_by=admin_id, text="Đề nghị các đơn vị gửi báo cáo năm 2026 đúng hạn.",
                audience={"scope": "roles", "roles": ["officer"]}, attachment=None,
                scheduled_at=None, now=h.clock())
            await h.runtime.write(tx, await broadcasts.dispatch(tx, h.runtime.config, notice,
                                                                h.clock()), h.clock())
        await h.drain()
        await le_chan.press("Đã nhận")
        await admin.say("/web")
        link = re.search(r"/desk/signin\?code=[\w-]+", admin.last().text).group(0)
        page = await (await browser.new_context(viewport={"width": 1280, "height": 900})
                      ).new_page()
        await page.goto(site + link)
        await page.get_by_role("button", name="Đăng nhập").click()
        await page.wait_for_url(f"{site}/desk/")
        await page.goto(f"{site}/desk/broadcasts")
        card = page.locator("section.notice-card")
        text = await card.inner_text()
        assert "Đề nghị các đơn vị gửi báo cáo năm 2026" in text
        assert re.search(r"Nơi nhận\s+2", text) and re.search(r"Đã đọc \(xác nhận\)\s+1", text)
        await card.locator("summary").click()
        assert "Ngô Quyền" in await card.locator("details").inner_text()
        await shot("broadcasts")
        await browser.close()

    # `DESK_SCREENSHOTS=docs python -m pytest tests/test_web_browser.py` refreshes the README's.
    keep = os.environ.get("DESK_SCREENSHOTS")
    if keep:
        for picture in shots.glob("*.png"):
            shutil.copy(picture, Path(keep) / picture.name)
