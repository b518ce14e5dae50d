"""PDF slips with the CJK fonts embedded (reportlab):

- render_pdf_card: one ID-1 card (85.6 × 54 mm) per page, for card printers or the
  browser;
- render_pdf_sheet: A4 sheets of ten cards (2 × 5) with cut marks, for batch printing.
"""

import functools
import io
from collections.abc import Sequence

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

from printing import fonts
from printing.renderers import reportlab_fix  # noqa: F401 - patches reportlab on import
from printing.renderers.errors import RenderError
from printing.renderers.qr import MIN_MODULE_MM, qr_matrix
from printing.renderers.text import LineBreaking
from printing.slip import Slip

CARD_W, CARD_H = 85.6 * mm, 54 * mm
SHEET_COLUMNS, SHEET_ROWS = 2, 5


@functools.cache
def _pdf_fonts() -> tuple[tuple[fonts.FontFace, str], ...]:
    """Register the PDF font chain with reportlab once per process (embedded subsets)."""
    registered = []
    for i, face in enumerate(fonts.font_chain(for_pdf=True)):
        name = f"HealthcardCJK{i}"
        pdfmetrics.registerFont(TTFont(name, face.path, subfontIndex=face.index))
        registered.append((face, name))
    return tuple(registered)


class _PdfText(LineBreaking):
    def __init__(self, c: canvas.Canvas):
        self.c = c
        self.fonts = _pdf_fonts()
        self.chain = tuple(face for face, _name in self.fonts)
        self.names = {face: name for face, name in self.fonts}

    def length(self, text: str, size: float) -> float:
        return sum(
            pdfmetrics.stringWidth(run, self.names[face], size)
            for face, run in fonts.runs(text, self.chain)
        )

    def text(self, x: float, y: float, text: str, size: float) -> None:
        obj = self.c.beginText(x, y)
        for face, run in fonts.runs(text, self.chain):
            obj.setFont(self.names[face], size)
            obj.textOut(run)
        self.c.drawText(obj)


def draw_qr(c: canvas.Canvas, text: str, x: float, y: float, size: float) -> None:
    """Draw the QR (quiet zone included) in a `size` square whose lower left is (x, y)."""
    matrix = qr_matrix(text)
    n = len(matrix)
    module = size / n
    if module < MIN_MODULE_MM * mm - 1e-9:
        raise RenderError(f"QR modules of {module / mm:.2f} mm are below {MIN_MODULE_MM} mm")
    path = c.beginPath()
    for r, row in enumerate(matrix):
        col = 0
        while col < n:  # one rectangle per run of dark modules keeps the PDF small
            if row[col]:
                start = col
                while col < n and row[col]:
                    col += 1
                path.rect(
                    x + start * module, y + (n - r - 1) * module, (col - start) * module, module
                )
            else:
                col += 1
    c.setFillGray(0)
    c.drawPath(path, stroke=0, fill=1)


def _draw_card(c: canvas.Canvas, slip: Slip, x0: float, y0: float) -> None:
    """One ID-1 card with its lower left corner at (x0, y0)."""
    t = _PdfText(c)
    pad = 3 * mm
    c.setStrokeGray(0.75)
    c.setLineWidth(0.3)
    c.roundRect(x0, y0, CARD_W, CARD_H, 3 * mm, stroke=1, fill=0)
    # QR on the left, its quiet zone reaching the padding
    modules = len(qr_matrix(slip.code))
    qr_size = max(34 * mm, modules * MIN_MODULE_MM * mm)
    qr_x, qr_y = x0 + pad - 1 * mm, y0 + CARD_H - pad - qr_size + 1 * mm
    draw_qr(c, slip.code, qr_x, qr_y, qr_size)
    # Text on the right
    tx = qr_x + qr_size + 1 * mm
    text_w = x0 + CARD_W - pad - tx
    y = y0 + CARD_H - pad - 4.2 * mm
    c.setFillColorRGB(0.0, 0.4, 0.3)
    t.text(tx, y, slip.title, 11)
    c.setFillGray(0)
    y -= 7 * mm
    t.text(tx, y, slip.masked_name, 12)
    y -= 5 * mm
    t.text(tx, y, slip.labels.get("ehc_id", "EHC ID"), 5.5)
    y -= 3 * mm
    for line in slip.ehc_id_lines(4):
        t.text(tx, y, line, 6.8)
        y -= 2.9 * mm
    y -= 0.6 * mm
    for line in t.wrap(slip.institution_name, 6.5, text_w)[:2]:
        t.text(tx, y, line, 6.5)
        y -= 2.9 * mm
    t.text(tx, y, f"{slip.labels.get('date', '')} {slip.issued_on.isoformat()}", 5.5)
    y -= 2.6 * mm
    t.text(tx, y, f"{slip.labels.get('seq', '')} {slip.issue_seq}", 5.5)
    # Instruction under the QR, across the card
    lines = t.wrap(slip.instruction, 5.2, CARD_W - 2 * pad)
    y = y0 + pad - 0.5 * mm + 2.3 * mm * (len(lines) - 1)
    for line in lines:
        t.text(x0 + pad, y, line, 5.2)
        y -= 2.3 * mm


def _new_canvas(
    buf: io.BytesIO, pagesize: tuple[float, float], slips: Sequence[Slip]
) -> canvas.Canvas:
    # The initial font is ours so that no unembedded standard font appears in the file.
    c = canvas.Canvas(
        buf,
        pagesize=pagesize,
        invariant=True,
        pageCompression=1,
        initialFontName=_pdf_fonts()[0][1],
        initialFontSize=8,
    )
    c.setTitle(slips[0].title if slips else "")
    c.setCreator("healthcard printing")
    return c


def render_pdf_card(slips: Slip | Sequence[Slip]) -> bytes:
    """One ID-1 page (85.6 × 54 mm) per slip, for card printers or the browser."""
    slips = [slips] if isinstance(slips, Slip) else list(slips)
    buf = io.BytesIO()
    c = _new_canvas(buf, (CARD_W, CARD_H), slips)
    for slip in slips:
        _draw_card(c, slip, 0, 0)
        c.showPage()
    c.save()
    return buf.getvalue()


def render_pdf_sheet(slips: Slip | Sequence[Slip]) -> bytes:
    """A4 pages with ten cards each (2 columns × 5 rows) and cut marks."""
    slips = [slips] if isinstance(slips, Slip) else list(slips)
    page_w, page_h = A4
    left = (page_w - SHEET_COLUMNS * CARD_W) / 2
    top = (page_h - SHEET_ROWS * CARD_H) / 2
    buf = io.BytesIO()
    c = _new_canvas(buf, A4, slips)
    per_page = SHEET_COLUMNS * SHEET_ROWS
    for start in range(0, max(len(slips), 1), per_page):
        _cut_marks(c, left, top)
        for i, slip in enumerate(slips[start : start + per_page]):
            col, row = i % SHEET_COLUMNS, i // SHEET_COLUMNS
            _draw_card(c, slip, left + col * CARD_W, page_h - top - (row + 1) * CARD_H)
        c.showPage()
    c.save()
    return buf.getvalue()


def _cut_marks(c: canvas.Canvas, left: float, top: float) -> None:
    page_w, page_h = A4
    c.setStrokeGray(0.4)
    c.setLineWidth(0.25)
    mark = 4 * mm
    for col in range(SHEET_COLUMNS + 1):
        x = left + col * CARD_W
        c.line(x, page_h - top + 1 * mm, x, page_h - top + 1 * mm + mark)
        c.line(x, top - 1 * mm, x, top - 1 * mm - mark)
    for row in range(SHEET_ROWS + 1):
        y = page_h - top - row * CARD_H
        c.line(left - 1 * mm, y, left - 1 * mm - mark, y)
        c.line(page_w - left + 1 * mm, y, page_w - left + 1 * mm + mark, y)
