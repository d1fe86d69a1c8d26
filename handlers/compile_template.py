"""The Word template of the compiled report, in the layout of Decree 30/2020/NĐ-CP (Appendix I).

The shipped templates (bot/data/report-vi.docx, report-en.docx) are made by this script:
`python -m handlers.compile_template`. An office edits its own copy in Word and points
COMPILE_TEMPLATE at it; the fields it may use are the keys of the context that
handlers/compile.py builds ({{ issuing_body }}, {% for p in plans %} ...). python-docx sets the
page, fonts and fields here because a template needs them once; the report itself is filled by
docxtpl, never by hand-built XML.
"""

from __future__ import annotations

from pathlib import Path

from docx import Document
from docx.document import Document as DocxDocument
from docx.enum.section import WD_SECTION
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_BREAK
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Mm, Pt
from docx.table import Table, _Cell
from docx.text.paragraph import Paragraph
from docx.text.run import Run

from handlers.kinds import KINDS
from locales.i18n import Translator, translator

FONT = "Times New Roman"
DATA = Path(__file__).resolve().parent.parent / "bot" / "data"


def shipped(language: str) -> Path:
    return DATA / f"report-{language}.docx"


def _font(run: Run, size: float | None = None, bold: bool = False, italic: bool = False) -> None:
    run.font.name = FONT
    run.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), FONT)
    if size:
        run.font.size = Pt(size)
    run.bold, run.italic = bold or None, italic or None


def _para(container: DocxDocument | _Cell, text: str = "", size: float | None = None,
          bold: bool = False, italic: bool = False, align: WD_ALIGN_PARAGRAPH | None = None,
          indent: bool = False) -> Paragraph:
    paragraph = container.add_paragraph()
    if align is not None:
        paragraph.alignment = align
    if not indent:
        paragraph.paragraph_format.first_line_indent = Cm(0)
    if text:
        _font(paragraph.add_run(text), size, bold, italic)
    return paragraph


def _centre(cell: _Cell, text: str, size: float, bold: bool = False, italic: bool = False,
            first: bool = False) -> Paragraph:
    paragraph = cell.paragraphs[0] if first else cell.add_paragraph()
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    paragraph.paragraph_format.first_line_indent = Cm(0)
    paragraph.paragraph_format.space_after = Pt(0)
    _font(paragraph.add_run(text), size, bold, italic)
    return paragraph


def _page_field(paragraph: Paragraph) -> None:
    """A PAGE field: Word and LibreOffice put the page number there."""
    run = paragraph.add_run()
    _font(run, 13)
    for kind, text in (("begin", None), (None, " PAGE "), ("end", None)):
        if kind:
            element = OxmlElement("w:fldChar")
            element.set(qn("w:fldCharType"), kind)
        else:
            element = OxmlElement("w:instrText")
            element.set(qn("xml:space"), "preserve")
            element.text = text
        run._r.append(element)


def _no_borders(table: Table) -> None:
    borders = OxmlElement("w:tblBorders")
    for side in ("top", "left", "bottom", "right", "insideH", "insideV"):
        element = OxmlElement(f"w:{side}")
        element.set(qn("w:val"), "nil")
        borders.append(element)
    table._tbl.tblPr.append(borders)


def _table(document: DocxDocument, header: list[str], row_fields: list[str], loop: str,
           item: str) -> None:
    """A bordered table: a header row, then one row per item of `loop` (docxtpl's {%tr %})."""
    table = document.add_table(rows=4, cols=len(header))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for cell, text in zip(table.rows[0].cells, header, strict=True):
        _centre(cell, text, 11, bold=True, first=True)
    table.rows[1].cells[0].paragraphs[0].add_run(f"{{%tr for {item} in {loop} %}}")
    for cell, field in zip(table.rows[2].cells, row_fields, strict=True):
        paragraph = cell.paragraphs[0]
        paragraph.paragraph_format.first_line_indent = Cm(0)
        _font(paragraph.add_run(f"{{{{ {item}.{field} }}}}"), 11)
    table.rows[3].cells[0].paragraphs[0].add_run("{%tr endfor %}")


def build(t: Translator, path: Path) -> None:
    _ = t._
    document = Document()
    normal = document.styles["Normal"]
    normal.font.name, normal.font.size = FONT, Pt(14)
    normal.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), FONT)
    normal.paragraph_format.first_line_indent = Cm(1.27)
    normal.paragraph_format.space_after = Pt(6)
    normal.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
    for name in ("Table Grid",):
        document.styles[name].font.name = FONT

    section = document.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.bottom_margin = Mm(20), Mm(20)
    section.left_margin, section.right_margin = Mm(30), Mm(16)
    section.header_distance = Mm(10)
    # The page number from page 2 on, top centre: the first page has its own, empty header.
    section.different_first_page_header_footer = True
    number = section.header.paragraphs[0]
    number.alignment = WD_ALIGN_PARAGRAPH.CENTER
    number.paragraph_format.first_line_indent = Cm(0)
    _page_field(number)

    # The header table: issuing body under its superior, the national motto; number and place.
    head = document.add_table(rows=2, cols=2)
    _no_borders(head)
    head.autofit = False
    for column, width in zip(head.columns, (Cm(7), Cm(9.5)), strict=True):
        column.width = width
        for cell in column.cells:
            cell.width = width
    left, right = head.rows[0].cells
    _centre(left, "{{ superior }}", 12.5, first=True)
    _centre(left, "{{ issuing_body }}", 12.5, bold=True)
    _centre(left, "―――――――", 12.5)
    _centre(right, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", 12, bold=True, first=True)
    _centre(right, "Độc lập - Tự do - Hạnh phúc", 13.5, bold=True)
    _centre(right, "―――――――――――――――", 13)
    left, right = head.rows[1].cells
    _centre(left, "Số: {{ number }}/BC-{{ symbol }}", 13, first=True)
    _centre(right, _("{place}, day ... month ... year {year}").format(
        place="{{ place }}", year="{{ year }}"), 13, italic=True, first=True)

    _para(document, "", 13)
    _para(document, _("REPORT"), 14, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER)
    _para(document, "{{ subject }}", 14, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER)
    _para(document, "―――――――", 13, align=WD_ALIGN_PARAGRAPH.CENTER)
    body = _para(document, _("Carrying out the City's programme, {issuing_body} reports on "
                             "{period} as follows.").format(issuing_body="{{ issuing_body_name }}",
                                                           period="{{ period }}"), indent=True)
    body.style = normal
    _para(document, "{{ scope }}", italic=True, indent=True)

    def heading(text: str) -> None:
        _para(document, text, bold=True, indent=True)

    def line(text: str) -> None:
        _para(document, text, indent=True)

    def line_if(field: str) -> None:
        _para(document, f"{{%p if {field} %}}")
        line(f"{{{{ {field} }}}}")
        _para(document, "{%p endif %}")

    listed: set[str] = set()  # the loops written so far

    def each(loop: str, text: str) -> None:
        listed.add(loop)
        _para(document, f"{{%p for item in {loop} %}}")
        line(text)
        _para(document, "{%p endfor %}")

    heading(_("I. RESULTS"))
    heading(_("1. Leadership, direction and planning"))
    line(_("Plans and programmes issued in the period: {n}.").format(n="{{ f.count_plan }}"))
    each("plans", "- {{ item.unit }}: {{ item.text }}")
    line_if("plans_more")
    line(_("Units that have not yet issued a plan: {n}.").format(n="{{ no_plan_count }}"))
    line_if("no_plan")
    heading(_("2. Dissemination"))
    line(_("Dissemination activities held: {n}, reaching {reached} people.").format(
        n="{{ f.count_dissemination }}", reached="{{ f.reached }}"))
    each("by_option.dissemination", "- {{ item.label }}: {{ item.value }}")
    line(_("By kind of unit:"))
    each("by_unit_kind",
         "- {{ item.kind }}: {{ item.count_dissemination }} ({{ item.reached }})")
    heading(_("3. Study and briefing sessions"))
    line(_("Sessions held: {n}, with {participants} participants.").format(
        n="{{ f.count_study }}", participants="{{ f.participants }}"))
    heading(_("4. Inspection and supervision"))
    line(_("Inspections and supervisions held: {n}.").format(n="{{ f.count_inspection }}"))
    each("inspections", "- {{ item.unit }} ({{ item.date }}): {{ item.text }}")
    line_if("inspections_more")
    heading(_("5. Preliminary and final reviews"))
    line(_("Reviews held: {n}.").format(n="{{ f.count_review }}"))
    each("reviews", "- {{ item.unit }} ({{ item.date }}): {{ item.text }}")
    line_if("reviews_more")
    heading(_("6. Creative models and exemplary cases"))
    line(_("Reported in the period: {n}.").format(n="{{ f.count_model }}"))
    each("models", "- {{ item.text }} ({{ item.unit }})")
    line_if("models_more")
    # A kind listed in the report (kinds.Listing) that no section above was written for gets a
    # section of its own, numbered on: a new kind needs no edit here, only this script run again
    # (tests/test_kinds.py checks that the shipped templates list every listed kind).
    number = 7
    for kind in KINDS.values():
        if kind.listing is None or kind.listing.key in listed:
            continue
        heading(f"{number}. {_(kind.title)}")
        each(kind.listing.key,
             "- {{ item.unit }}{% if item.date %} ({{ item.date }}){% endif %}: {{ item.text }}")
        line_if(f"{kind.listing.key}_more")
        if kind.listing.missing:
            line(_("Units that have not yet sent it: {n}.").format(
                n=f"{{{{ {kind.listing.missing}_count }}}}"))
            line_if(kind.listing.missing)
        number += 1
    # Every figure the reports give, whatever kind adds it: a kind added later shows here
    # before anyone writes a section for it.
    line(_("All the figures of the period, from the reports:"))
    each("figures", "- {{ item.label }}: {{ item.value }}")
    _para(document, "{%p if years %}")
    heading(_("{n}. Year by year").format(n=number))
    _table(document, [_("Year"), _("Plans"), _("Dissemination"), _("People reached"),
                      _("Sessions"), _("Participants"), _("Inspections"), _("Reviews"),
                      _("Models")],
           ["year", "count_plan", "count_dissemination", "reached", "count_study",
            "participants", "count_inspection", "count_review", "count_model"], "years", "y")
    _para(document, "")
    _para(document, "{%p endif %}")
    heading(_("II. COMPLETENESS AND TIMELINESS OF REPORTING"))
    each("completeness", _("- {name} ({period}, deadline {deadline}): {sent}/{expected} units "
                           "sent, {on_time} on time.").format(
        name="{{ item.name }}", period="{{ item.period }}", deadline="{{ item.deadline }}",
        sent="{{ item.sent }}", expected="{{ item.expected }}", on_time="{{ item.on_time }}"))
    heading(_("III. DIFFICULTIES AND PROPOSALS"))
    line(_("Difficulties reported: {n}; resolved: {resolved}; still open: {open}.").format(
        n="{{ difficulties|length }}", resolved="{{ resolved_count }}",
        open="{{ open_count }}"))
    line(_("Still open, for the City's decision:"))
    each("open_difficulties", "- {{ item.unit }}: {{ item.text }}. {{ item.proposal }}")
    line("{{ placeholder_assessment }}")
    heading(_("IV. DIRECTIONS FOR THE NEXT PERIOD"))
    line("{{ placeholder_directions }}")

    # Recipients on the left, the signature block on the right.
    end = document.add_table(rows=1, cols=2)
    _no_borders(end)
    left, right = end.rows[0].cells
    paragraph = left.paragraphs[0]
    paragraph.paragraph_format.first_line_indent = Cm(0)
    _font(paragraph.add_run(_("Recipients:")), 12, bold=True, italic=True)
    _para(left, "{%p for item in recipients %}")
    _para(left, "- {{ item }}", 11)
    _para(left, "{%p endfor %}")
    _centre(right, "{{ signer_first }}", 13, bold=True, first=True)
    _para(right, "{%p for item in signer_rest %}")
    _centre(right, "{{ item }}", 13, bold=True)
    _para(right, "{%p endfor %}")
    for _blank in range(3):
        _centre(right, "", 13)
    _centre(right, "{{ signer_name }}", 13, bold=True)

    # Appendices, on their own pages.
    appendices = document.add_section(WD_SECTION.NEW_PAGE)
    appendices.different_first_page_header_footer = False  # numbered on every page
    _para(document, _("APPENDIX 1. FIGURES PER UNIT"), 13, bold=True,
          align=WD_ALIGN_PARAGRAPH.CENTER)
    _para(document, "{{ period }}", 13, italic=True, align=WD_ALIGN_PARAGRAPH.CENTER)
    _table(document, [_("No."), _("Unit"), _("Plans"), _("Dissemination"), _("People reached"),
                      _("Sessions"), _("Participants"), _("Inspections"), _("Reviews"),
                      _("Models")],
           ["no", "unit", "count_plan", "count_dissemination", "reached", "count_study",
            "participants", "count_inspection", "count_review", "count_model"], "units", "u")
    _para(document, _("Total: plans {plans}, dissemination {diss}, people reached {reached}, "
                      "sessions {study}, participants {participants}, inspections {insp}, "
                      "reviews {reviews}, models {models}.").format(
        plans="{{ f.count_plan }}", diss="{{ f.count_dissemination }}",
        reached="{{ f.reached }}", study="{{ f.count_study }}",
        participants="{{ f.participants }}", insp="{{ f.count_inspection }}",
        reviews="{{ f.count_review }}", models="{{ f.count_model }}"), 12, italic=True)
    paragraph = _para(document)
    paragraph.add_run().add_break(WD_BREAK.PAGE)
    _para(document, _("APPENDIX 2. UNITS THAT DID NOT REPORT"), 13, bold=True,
          align=WD_ALIGN_PARAGRAPH.CENTER)
    _table(document, [_("No."), _("Unit"), _("Kind of unit"), _("Report owed")],
           ["no", "unit", "kind", "obligation"], "missing", "m")
    paragraph = _para(document)
    paragraph.add_run().add_break(WD_BREAK.PAGE)
    _para(document, _("APPENDIX 3. DIFFICULTIES AND THEIR STATE"), 13, bold=True,
          align=WD_ALIGN_PARAGRAPH.CENTER)
    _table(document, [_("Number"), _("Unit"), _("Difficulty"), _("Proposal"), _("Answer"),
                      _("State")],
           ["number", "unit", "text", "proposal", "answer", "state"], "difficulties", "d")
    path.parent.mkdir(parents=True, exist_ok=True)
    document.save(str(path))


if __name__ == "__main__":
    for language in ("vi", "en"):
        build(translator(language), shipped(language))
        print(shipped(language))
