"""The compiled report to the City (issue 17): a year of activity driven through the
conversations, drafted by /compile and `baocao compile`, read back with python-docx; the layout
of Decree 30/2020 and every figure checked against /status and the spreadsheet export."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import docx
import openpyxl
from docx.shared import Mm

from bot.cli import main
from handlers.compile_template import shipped
from storage.models import Role
from tests.telegram_fakes import register

HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
APPROVED_ONLY = ("Số liệu hoạt động chỉ tính các báo cáo đã được duyệt; tình hình thực hiện chế "
                 "độ báo cáo tính mọi báo cáo đã gửi.")
WITH_UNDER_REVIEW = ("Số liệu hoạt động tính các báo cáo đã duyệt và các báo cáo đang chờ duyệt; "
                     "tình hình thực hiện chế độ báo cáo tính mọi báo cáo đã gửi.")
# The FIGURES as /status and the spreadsheet's totals name them.
FIGURE_LABELS = {
    "count_plan": "Số kế hoạch, chương trình ban hành trong kỳ",
    "count_dissemination": "Số hoạt động tuyên truyền tổ chức trong kỳ",
    "reached": "Số lượt người được tuyên truyền trong kỳ",
    "count_study": "Số buổi học tập, quán triệt tổ chức trong kỳ",
    "participants": "Số người tham dự học tập, quán triệt trong kỳ",
    "count_inspection": "Số cuộc kiểm tra, giám sát tiến hành trong kỳ",
    "count_review": "Số hội nghị sơ kết, tổng kết tổ chức trong kỳ",
    "count_model": "Số mô hình sáng tạo, cách làm mới, điển hình tiên tiến được báo cáo trong kỳ",
}


def at(year: int, month: int, day: int, hour: int = 9) -> datetime:
    return datetime(year, month, day, hour, tzinfo=HANOI).astimezone(UTC)


async def report(chat, kind: str, *steps: str) -> None:
    """An officer files a report: strings are typed, "press:LABEL" presses a button."""
    chat.h.clock.advance(minutes=2)  # a person between two reports (no flood warning)
    await chat.say("/report")
    await chat.press_data(f"rk:{kind}", chat.last())
    for step in steps:
        if step.startswith("press:"):
            await chat.press(step[6:])
        else:
            await chat.say(step)
    await chat.press("Bỏ qua")
    await chat.press("Xác nhận")
    assert "Đã tiếp nhận báo cáo" in chat.last().text, chat.last().text


async def people(h, year: int = 2026):
    h.clock.now = at(year, 1, 2)  # the clock only moves forward from here
    coordinator = await register(h, 301, "Phạm Văn Điều", Role.COORDINATOR, "SO-TTTT")
    le_chan = await register(h, 501, "Trần Thị Bình", unit="Q-LECHAN")
    ngo_quyen = await register(h, 502, "Đỗ Văn Cần", unit="Q-NGOQUYEN")
    return coordinator, le_chan, ngo_quyen


async def a_year(h, year: int, coordinator, le_chan, ngo_quyen, extra: int = 0) -> None:
    """Two districts through a reporting year: a plan, dissemination in two forms, a study
    session, an inspection, a review, a good model, a difficulty answered and one
    dissemination left under review; the coordinator approves everything else. `extra` more
    dissemination activities make the years differ."""
    h.clock.now = at(year, 3, 8)
    await report(le_chan, "plan", f"{45 + year % 10}/KH-UBND", f"05/03/{year}",
                 "Kế hoạch triển khai Nghị quyết", "Phân công nhiệm vụ")
    h.clock.now = at(year, 3, 10)
    await report(le_chan, "dissemination", "press:Loa truyền thanh cơ sở",
                 f"09/03/{year}", "Nhân dân", "1.200", "Phát thanh")
    for n in range(extra + 1):
        await report(ngo_quyen, "dissemination", "press:Cuộc thi", f"0{n + 3}/03/{year}",
                     "Học sinh", "300", "Cuộc thi tìm hiểu")
    h.clock.now = at(year, 5, 12)
    await report(le_chan, "study", f"11/05/{year}", "press:Trực tiếp", "press:Đảng viên",
                 "press:Xong", "45", "Quán triệt Nghị quyết")
    h.clock.now = at(year, 6, 9)
    await report(ngo_quyen, "inspection", f"05/06/{year}", "Phường Lạch Tray", "Đạt yêu cầu",
                 "Tiếp tục theo dõi")
    await report(le_chan, "review", "press:Sơ kết", f"08/06/{year}", "Hoàn thành các chỉ tiêu")
    h.clock.now = at(year, 8, 4)
    await report(ngo_quyen, "model", "Tổ dân phố kiểu mẫu", "Phường Lạch Tray", f"01/03/{year}",
                 "Tự quản", "Giảm vi phạm")
    await le_chan.say("/difficulty")
    for step in ("Thiếu kinh phí in tài liệu", "press:Kinh phí", "press:Bình thường",
                 "Đề nghị hỗ trợ 20 triệu đồng", "press:Bỏ qua", "press:Xác nhận"):
        await (le_chan.press(step[6:]) if step.startswith("press:") else le_chan.say(step))
    await coordinator.press("Trả lời")
    await coordinator.say("Sở sẽ đề xuất bổ sung kinh phí trong quý IV")
    async with h.runtime.db.read() as tx:
        ids = [r[0] for r in await tx.conn.execute_fetchall(
            "SELECT id FROM reports WHERE status = 'received'")]
    for report_id in ids:
        await coordinator.press_data(f"rv:ok:{report_id}")
    h.clock.now = at(year, 9, 1)
    await report(ngo_quyen, "dissemination", "press:Cổng thông tin, mạng xã hội",
                 f"31/08/{year}", "Thanh niên", "700", "Đăng bài")  # left under review
    h.clock.now = at(year, 12, 1)


async def year_2026(h):
    coordinator, le_chan, ngo_quyen = await people(h)
    await a_year(h, 2026, coordinator, le_chan, ngo_quyen)
    return coordinator


def status_figures(text: str) -> dict[str, int]:
    """The figures of the annual report's line in /status: label → number."""
    line = next(x for x in text.split("\n") if x.startswith("Tổng hợp từ các báo cáo đến nay"))
    found = {}
    for part in line.split(": ", 1)[1].split("; "):
        label, _, number = part.rpartition(": ")
        found[label] = int(number.replace(".", ""))
    return found


def paragraphs(document) -> list[str]:
    return [p.text for p in document.paragraphs]


def number_after(texts: list[str], prefix: str) -> int:
    line = next(t for t in texts if t.startswith(prefix))
    return int(re.match(r"[\d.]+", line[len(prefix):].lstrip(": ")).group(0).replace(".", ""))


def check_layout(document) -> None:
    """Decree 30/2020/NĐ-CP, Appendix I, as far as a document can show it."""
    section = document.sections[0]
    assert abs(section.page_width - Mm(210)) < Mm(1) and abs(section.page_height - Mm(297)) < Mm(1)
    assert Mm(20) <= section.top_margin <= Mm(25) and Mm(20) <= section.bottom_margin <= Mm(25)
    assert Mm(30) <= section.left_margin <= Mm(35) and Mm(15) <= section.right_margin <= Mm(20)
    normal = document.styles["Normal"]
    assert normal.font.name == "Times New Roman" and 13 <= normal.font.size.pt <= 14
    assert normal.paragraph_format.first_line_indent > 0
    fonts = {r.font.name for p in document.paragraphs for r in p.runs if r.font.name}
    assert fonts <= {"Times New Roman"}, fonts
    # The page number: none on page 1, the PAGE field top centre from page 2.
    assert section.different_first_page_header_footer
    assert "PAGE" in section.header._element.xml
    assert section.header.paragraphs[0].alignment == 1  # centre
    assert "PAGE" not in section.first_page_header._element.xml
    head = document.tables[0]
    left, right = head.rows[0].cells
    assert [p.text for p in left.paragraphs][:2] == ["ỦY BAN NHÂN DÂN THÀNH PHỐ HẢI PHÒNG",
                                                     "SỞ VĂN HÓA, THỂ THAO VÀ DU LỊCH"]
    assert left.paragraphs[1].runs[0].bold
    assert [p.text for p in right.paragraphs][:2] == ["CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
                                                      "Độc lập - Tự do - Hạnh phúc"]
    assert set(right.paragraphs[2].text) == {"―"}  # the rule under the motto
    number, place = head.rows[1].cells
    assert number.text == "Số: …/BC-SVHTTDL"
    assert re.fullmatch(r"Hải Phòng, ngày \.\.\. tháng \.\.\. năm \d{4}", place.text)
    assert place.paragraphs[0].runs[0].italic
    texts = paragraphs(document)
    title = texts.index("BÁO CÁO")
    assert texts[title + 1].startswith("Kết quả thực hiện Chương trình")
    # The sections in the order such reports use.
    order = ["1. Công tác lãnh đạo", "2. Công tác tuyên truyền", "3. Công tác học tập",
             "4. Công tác kiểm tra", "5. Công tác sơ kết", "6. Mô hình sáng tạo",
             "II. TÌNH HÌNH THỰC HIỆN CHẾ ĐỘ BÁO CÁO", "III. KHÓ KHĂN",
             "IV. PHƯƠNG HƯỚNG"]
    where = [next(i for i, t in enumerate(texts) if t.startswith(h)) for h in order]
    assert where == sorted(where)
    assert any(t.startswith("[PHẦN CẦN VIẾT: đánh giá chung") for t in texts)
    assert any(t.startswith("[PHẦN CẦN VIẾT: nhiệm vụ, phương hướng") for t in texts)
    end = next(t for t in document.tables if t.rows[0].cells[0].text.startswith("Nơi nhận:"))
    recipients, signer = end.rows[0].cells
    assert [p.text for p in recipients.paragraphs] == [
        "Nơi nhận:", "- UBND thành phố (để b/c)", "- Lãnh đạo Sở", "- Lưu: VT"]
    assert [p.text for p in signer.paragraphs][:2] == ["KT. GIÁM ĐỐC", "PHÓ GIÁM ĐỐC"]
    assert document.sections[1].start_type == 2  # the appendices begin on a new page


def appendix_totals(document) -> dict[str, int]:
    """Appendix 1 summed column by column."""
    table = next(t for t in document.tables if t.rows[0].cells[1].text == "Đơn vị"
                 and t.rows[0].cells[0].text == "TT")
    header = [c.text for c in table.rows[0].cells]
    sums = dict.fromkeys(header[2:], 0)
    for row in table.rows[1:]:
        for name, cell in zip(header[2:], row.cells[2:], strict=True):
            sums[name] += int(cell.text.replace(".", ""))
    return sums


async def compile_in_chat(h, coordinator, scope: str) -> Path:
    await coordinator.say("/compile")
    await coordinator.press("Năm 2026")
    await coordinator.press(scope)
    assert any("Đang soạn dự thảo báo cáo năm 2026" in t for t in coordinator.texts()[-3:])
    await asyncio.wait_for(h.runtime._jobs, 60)
    await h.drain()
    sent = [c for c in h.request.calls if c.chat_id == "301"][-1]
    assert sent.method == "sendDocument", sent
    assert "Dự thảo báo cáo năm 2026" in sent.params["caption"]
    return max(Path(h.settings.database_path).parent.glob("files/*.docx"),
               key=lambda p: p.stat().st_mtime)


async def test_a_year_compiled_matches_status_and_the_spreadsheet(harness, tmp_path,
                                                                  monkeypatch):
    h = harness
    coordinator = await year_2026(h)
    await coordinator.say("/status")
    status = status_figures(coordinator.last().text)

    await coordinator.say("/export")
    await coordinator.press("Năm 2026")
    await asyncio.wait_for(h.runtime._jobs, 30)
    await h.drain()
    book = openpyxl.load_workbook(next(Path(h.settings.database_path).parent.glob(
        "files/*.xlsx")), read_only=True)
    counted = {row[0]: row[1] for row in book["Tổng hợp"].iter_rows(values_only=True)
               if row[0]}

    # With the reports under review: the same figures as /status and the spreadsheet.
    everything = docx.Document(await compile_in_chat(h, coordinator,
                                                     "Đã duyệt và đang chờ duyệt"))
    check_layout(everything)
    texts = paragraphs(everything)
    assert WITH_UNDER_REVIEW in texts
    figures = {
        "count_plan": number_after(texts, "Số kế hoạch, chương trình ban hành trong kỳ"),
        "count_dissemination": number_after(texts, "Số hoạt động tuyên truyền đã tổ chức"),
        "count_study": number_after(texts, "Số buổi học tập, quán triệt đã tổ chức"),
        "count_inspection": number_after(texts, "Số cuộc kiểm tra, giám sát đã tiến hành"),
        "count_review": number_after(texts, "Số hội nghị sơ kết, tổng kết đã tổ chức"),
        "count_model": number_after(
            texts, "Số mô hình sáng tạo, cách làm mới, điển hình tiên tiến được báo cáo trong kỳ"),
    }
    reached = int(re.search(r"với ([\d.]+) lượt người được tiếp cận", "\n".join(texts))
                  .group(1).replace(".", ""))
    participants = int(re.search(r"với ([\d.]+) lượt người tham dự", "\n".join(texts))
                       .group(1).replace(".", ""))
    assert figures == {"count_plan": 1, "count_dissemination": 3, "count_study": 1,
                       "count_inspection": 1, "count_review": 1, "count_model": 1}
    assert (reached, participants) == (2200, 45)
    figures |= {"reached": reached, "participants": participants}
    for key, value in figures.items():
        assert status[FIGURE_LABELS[key]] == value, key
        assert counted[FIGURE_LABELS[key]] == value, key
    by_form = {t[2:].rsplit(": ", 1)[0]: int(t.rsplit(": ", 1)[1]) for t in texts
               if t.startswith("- ") and t.rsplit(": ", 1)[-1].isdigit()}
    assert by_form["Loa truyền thanh cơ sở"] == 1
    assert by_form["Cổng thông tin, mạng xã hội"] == 1
    # Appendix 1 adds up to the body, unit by unit.
    sums = appendix_totals(everything)
    assert sums["Tuyên truyền"] == 3 and sums["Số lượt người tiếp cận"] == 2200
    assert sums["Kế hoạch"] == 1 and sums["Lượt người tham dự"] == 45

    # Approved only (the default, by the CLI): the one under review is left out, and said so.
    out = tmp_path / "bao-cao-2026.docx"
    monkeypatch.setenv("DATABASE_PATH", str(h.settings.database_path))
    # (in a thread: the command runs its own event loop, as it does at a terminal)
    assert await asyncio.to_thread(main, ["compile", "--period", "2026", "--out", str(out)]) == 0
    approved = docx.Document(out)
    check_layout(approved)
    texts = paragraphs(approved)
    assert APPROVED_ONLY in texts
    assert number_after(texts, "Số hoạt động tuyên truyền đã tổ chức") == 2
    assert "tiếp cận" in next(t for t in texts if t.startswith("Số hoạt động tuyên truyền"))
    assert "với 1.500 lượt người được tiếp cận" in "\n".join(texts)
    assert appendix_totals(approved)["Tuyên truyền"] == 2

    # Named so the City can single them out: the plan, the model, the review, with their unit.
    joined = "\n".join(texts)
    assert "Ủy ban nhân dân quận Lê Chân: 51/KH-UBND (05/03/2026)" in joined
    assert number_after(texts, "Số đơn vị chưa ban hành kế hoạch") == 43  # of the 44 that owe
    no_plan = texts[texts.index("Số đơn vị chưa ban hành kế hoạch: 43.") + 1]
    assert no_plan.count(", ") == 42 and "Lê Chân" not in no_plan
    assert "Tổ dân phố kiểu mẫu: Giảm vi phạm (Ủy ban nhân dân quận Ngô Quyền)" in joined
    # Appendices 2 and 3: the units that did not send their annual report, the difficulty.
    missing = next(t for t in approved.tables if t.rows[0].cells[-1].text == "Báo cáo phải gửi")
    owing = [r.cells[1].text for r in missing.rows[1:]]
    assert "Ủy ban nhân dân quận Lê Chân" in owing  # no annual report sent
    difficulties = approved.tables[-1]
    row = [c.text for c in difficulties.rows[1].cells]
    assert row[0] == "KK-2026-0001" and row[1] == "Ủy ban nhân dân quận Lê Chân"
    assert row[3] == "Đề nghị hỗ trợ 20 triệu đồng"
    assert row[4] == "Sở sẽ đề xuất bổ sung kinh phí trong quý IV" and row[5] == "đã trả lời"


def year_rows(document) -> dict[str, list[int]]:
    table = next(t for t in document.tables if t.rows[0].cells[0].text == "Năm")
    return {row.cells[0].text: [int(c.text.replace(".", "")) for c in row.cells[1:]]
            for row in table.rows[1:]}


async def test_the_preliminary_review_compares_year_by_year(harness, tmp_path, monkeypatch):
    """2023–2025, year by year: each year's row equals /status for that year, and the rows add
    up to the review's totals, which equal the spreadsheet of the review period."""
    h = harness
    coordinator, le_chan, ngo_quyen = await people(h, 2023)
    for extra, year in enumerate((2023, 2024, 2025)):
        await a_year(h, year, coordinator, le_chan, ngo_quyen, extra)
    h.clock.now = at(2025, 12, 1)
    monkeypatch.setenv("DATABASE_PATH", str(h.settings.database_path))
    out, book = tmp_path / "so-ket.docx", tmp_path / "so-ket.xlsx"
    assert await asyncio.to_thread(main, ["compile", "--period", "review-2025", "--out",
                                          str(out), "--include-under-review"]) == 0
    assert await asyncio.to_thread(main, ["export", "--period", "review-2025", "--out",
                                          str(book)]) == 0
    document = docx.Document(out)
    check_layout(document)
    texts = paragraphs(document)
    assert texts[texts.index("BÁO CÁO") + 1] == (
        "Kết quả thực hiện Chương trình, giai đoạn 2023–2025")
    rows = year_rows(document)
    assert list(rows) == ["2023", "2024", "2025"]
    columns = ["count_plan", "count_dissemination", "reached", "count_study", "participants",
               "count_inspection", "count_review", "count_model"]
    for year, row in rows.items():
        await coordinator.say(f"/status {year}")
        status = status_figures(coordinator.last().text)
        assert {key: status[FIGURE_LABELS[key]] for key in columns} == dict(
            zip(columns, row, strict=True)), year
    assert [row[1] for row in rows.values()] == [3, 4, 5]  # dissemination grew each year
    totals = [sum(row[i] for row in rows.values()) for i in range(len(columns))]
    counted = {row[0]: row[1] for row in openpyxl.load_workbook(book, read_only=True)[
        "Tổng hợp"].iter_rows(values_only=True) if row[0]}
    assert [counted[FIGURE_LABELS[key]] for key in columns] == totals
    assert number_after(texts, "Số hoạt động tuyên truyền đã tổ chức") == totals[1] == 12
    assert appendix_totals(document)["Tuyên truyền"] == 12
    difficulties = [r.cells[0].text for r in document.tables[-1].rows[1:]]
    assert difficulties == ["KK-2023-0001", "KK-2024-0001", "KK-2025-0001"]


async def test_an_office_template_and_broken_or_foreign_ones(harness, tmp_path, monkeypatch,
                                                             capsys):
    h = harness
    await year_2026(h)
    monkeypatch.setenv("DATABASE_PATH", str(h.settings.database_path))
    out = tmp_path / "out.docx"

    async def compile_with(template: Path) -> int:
        monkeypatch.setenv("COMPILE_TEMPLATE", str(template))
        return await asyncio.to_thread(main, ["compile", "--period", "2026", "--out", str(out)])

    # The office's own wording, edited in its copy of the shipped template.
    own = docx.Document(str(shipped("vi")))
    title = next(p for p in own.paragraphs if p.text == "BÁO CÁO")
    title.runs[0].text = "BÁO CÁO TỔNG HỢP"
    own.save(str(tmp_path / "own.docx"))
    monkeypatch.setenv("COMPILE_SIGNER", "TL. GIÁM ĐỐC|CHÁNH VĂN PHÒNG")
    assert await compile_with(tmp_path / "own.docx") == 0
    made = docx.Document(out)
    assert "BÁO CÁO TỔNG HỢP" in paragraphs(made)
    assert "TL. GIÁM ĐỐC" in made.tables[1].rows[0].cells[1].text
    capsys.readouterr()

    (tmp_path / "notes.docx").write_text("not a document")
    foreign = docx.Document()
    foreign.add_paragraph("Giấy mời họp")
    foreign.save(str(tmp_path / "foreign.docx"))
    broken = docx.Document()
    broken.add_paragraph("{{ issuing_body }} {% for x in plans %}")
    broken.save(str(tmp_path / "broken.docx"))
    unknown = docx.Document()
    unknown.add_paragraph("{{ issuing_body }} {{ chu_ky_so }}")
    unknown.save(str(tmp_path / "unknown.docx"))
    for name, problem in (("missing.docx", "Không tìm thấy mẫu báo cáo"),
                          ("notes.docx", "không phải là tài liệu Word (.docx)"),
                          ("foreign.docx", "không phải là mẫu báo cáo: không dùng trường nào"),
                          ("broken.docx", "có trường bị lỗi"),
                          ("unknown.docx", "dùng các trường không có: chu_ky_so")):
        out.unlink(missing_ok=True)
        assert await compile_with(tmp_path / name) == 1, name
        error = capsys.readouterr().err.strip().splitlines()
        assert len(error) == 1 and problem in error[0] and name in error[0], (name, error)
        assert not out.exists()


async def test_compile_in_english_and_once_for_a_double_press(harness):
    h = harness
    coordinator = await year_2026(h)
    await coordinator.say("/language")
    await coordinator.press_data("lang:en", coordinator.last())
    await coordinator.say("/compile")
    # The whole programme and its final review share their dates: one choice, not two alike.
    labels = [label for label, _data in coordinator.last().buttons]
    assert len(labels) == len(set(labels)) == 4, labels
    await coordinator.press_data("cp:2026", coordinator.last())
    asked = coordinator.last()
    await coordinator.press_data("cp:a:2026", asked, drain=False)
    await coordinator.press_data("cp:a:2026", asked)
    await asyncio.wait_for(h.runtime._jobs, 60)
    await h.drain()
    async with h.runtime.db.read() as tx:
        jobs = await tx.conn.execute_fetchall("SELECT kind FROM jobs")
    assert [j[0] for j in jobs] == ["compile"]
    sent = [c for c in h.request.calls if c.chat_id == "301" and c.method == "sendDocument"]
    assert len(sent) == 1 and "Draft report for year 2026" in sent[0].params["caption"]
    document = docx.Document(next(Path(h.settings.database_path).parent.glob("files/*.docx")))
    texts = paragraphs(document)
    assert "REPORT" in texts
    assert ("Activity figures count approved reports only; completeness counts every report "
            "sent.") in texts
    assert number_after(texts, "Dissemination activities held") == 2
