"""Slip renderers: plain data in (`printing.slips.Slip`), bytes out. No database here.

- render_pdf_card: one ID-1 card (85.6 × 54 mm) per page, CJK fonts embedded.
- render_pdf_sheet: A4 sheets of ten cards (2 × 5) with cut marks, for batch printing.
- render_escpos_raster: the whole slip drawn as one image (GS v 0) with CJK TrueType
  fonts; prints on every ESC/POS printer, any character the fonts have.
- render_escpos_native: GBK text in the printer's Chinese mode and the native QR
  command (GS ( k); falls back to raster for a slip whose text is not GBK.

QR codes: error correction M, a quiet zone of 4 modules, modules of at least 0.5 mm.
"""

import functools
import io
import struct
from collections.abc import Sequence

import qrcode
import qrcode.constants
from escpos.constants import QR_ECLEVEL_M
from escpos.printer import Dummy
from PIL import Image, ImageDraw, ImageFont
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics, ttfonts
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

from printing import fonts
from printing.slips import Slip

QUIET_ZONE = 4  # modules
MIN_MODULE_MM = 0.5
DOTS_PER_MM = 8  # 203 dpi, the resolution of 58 and 80 mm thermal printers
PAPER_DOTS = {58: 384, 80: 576}
CARD_W, CARD_H = 85.6 * mm, 54 * mm

# ESC/POS bytes
ESC_INIT = b"\x1b@"
FS_CHINESE_ON = b"\x1c&"
FS_CHINESE_OFF = b"\x1c."


class RenderError(Exception):
    pass


# --- QR --------------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def qr_matrix(text: str) -> tuple[tuple[bool, ...], ...]:
    """The QR symbol for `text` (EC level M) with its 4-module quiet zone included.
    Encoding (with the choice of the best mask) is most of a slip's rendering time, and
    each renderer needs the symbol more than once: cached."""
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=QUIET_ZONE)
    qr.add_data(text.encode("utf-8"))
    qr.make(fit=True)
    return tuple(tuple(row) for row in qr.get_matrix())


def qr_image(text: str, module_dots: int) -> Image.Image:
    matrix = qr_matrix(text)
    n = len(matrix)
    # Mode "1": 0 is black. Build at one pixel per module, then scale without smoothing.
    raw = bytes(0 if dark else 255 for row in matrix for dark in row)
    small = Image.frombytes("L", (n, n), raw).convert("1", dither=Image.Dither.NONE)
    return small.resize((n * module_dots, n * module_dots), Image.Resampling.NEAREST)


# --- Raster (ESC/POS image and PNG previews) ------------------------------------------


@functools.cache
def _pil_font(path: str, index: int, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size, index=index)


class _LineBreaking:
    """Line breaking shared by the raster and PDF text drawers: both measure text with
    their own `length(text, size)`."""

    def length(self, text: str, size: float) -> float:
        raise NotImplementedError

    def wrap(self, text: str, size: float, width: float) -> list[str]:
        """Break `text` into lines no wider than `width`, between any two CJK characters
        and at spaces in Latin text."""
        lines, line = [], ""
        for word in _breakable(text):
            candidate = line + word
            if line and self.length(candidate.rstrip(), size) > width:
                lines.append(line.rstrip())
                line = word.lstrip()
            else:
                line = candidate
        if line.strip():
            lines.append(line.rstrip())
        return lines


class _TextDrawer(_LineBreaking):
    """Draws text with per-character font fallback along the raster font chain."""

    def __init__(self, draw: ImageDraw.ImageDraw):
        self.draw = draw
        self.chain = fonts.font_chain()

    def length(self, text: str, size: int) -> float:
        return sum(
            _pil_font(face.path, face.index, size).getlength(run)
            for face, run in fonts.runs(text, self.chain)
        )

    def text(self, x: float, y: float, text: str, size: int) -> None:
        for face, run in fonts.runs(text, self.chain):
            font = _pil_font(face.path, face.index, size)
            # anchor "ls": the baseline is the same for every font of the line
            self.draw.text((x, y + size), run, font=font, fill=0, anchor="ls")
            x += font.getlength(run)

    def centered(self, width: int, y: float, text: str, size: int) -> None:
        self.text((width - self.length(text, size)) / 2, y, text, size)


def _breakable(text: str) -> list[str]:
    pieces, word = [], ""
    for char in text:
        if ord(char) >= 0x2E80:  # CJK: a break is allowed on either side
            if word:
                pieces.append(word)
                word = ""
            pieces.append(char)
        elif char == " ":
            pieces.append(word + " ")
            word = ""
        else:
            word += char
    if word:
        pieces.append(word)
    return pieces


def render_slip_image(slip: Slip, width_dots: int) -> Image.Image:
    """The whole slip as a 1-bit image `width_dots` wide (384 for 58 mm, 576 for 80 mm)."""
    scale = width_dots / 384
    margin = int(8 * scale)
    inner = width_dots - 2 * margin
    sizes = {
        "title": int(34 * scale),
        "name": int(30 * scale),
        "text": int(22 * scale),
        "mono": int(24 * scale),
        "small": int(18 * scale),
    }
    qr = qr_matrix(slip.code)
    modules = len(qr)
    module_dots = max(int(MIN_MODULE_MM * DOTS_PER_MM), min(8, int(inner * 0.8) // modules))
    if modules * module_dots > width_dots:
        raise RenderError(f"QR of {modules} modules does not fit {width_dots} dots")

    # Height is known only after wrapping; draw on a tall canvas and crop.
    img = Image.new("1", (width_dots, 4000), 1)
    draw = ImageDraw.Draw(img)
    t = _TextDrawer(draw)
    y = margin
    t.centered(width_dots, y, slip.title, sizes["title"])
    y += int(sizes["title"] * 1.4)
    code_img = qr_image(slip.code, module_dots)
    img.paste(code_img, ((width_dots - code_img.width) // 2, y))
    y += code_img.height + int(6 * scale)
    t.centered(width_dots, y, slip.masked_name, sizes["name"])
    y += int(sizes["name"] * 1.5)

    def field(label: str, lines: Sequence[str], size: int) -> None:
        nonlocal y
        t.text(margin, y, label, sizes["small"])
        y += int(sizes["small"] * 1.3)
        for line in lines:
            t.text(margin + int(8 * scale), y, line, size)
            y += int(size * 1.3)
        y += int(4 * scale)

    field(slip.labels.get("ehc_id", "EHC ID"), slip.ehc_id_lines(4), sizes["mono"])
    field(
        slip.labels.get("institution", ""),
        t.wrap(slip.institution_name, sizes["text"], inner - 8 * scale),
        sizes["text"],
    )
    date_seq = (
        f"{slip.labels.get('date', '')} {slip.issued_on.isoformat()}   "
        f"{slip.labels.get('seq', '')} {slip.issue_seq}"
    )
    for line in t.wrap(date_seq, sizes["text"], inner):
        t.text(margin, y, line, sizes["text"])
        y += int(sizes["text"] * 1.3)
    y += int(6 * scale)
    draw.line((margin, y, width_dots - margin, y), fill=0, width=max(1, int(2 * scale)))
    y += int(10 * scale)
    for line in t.wrap(slip.instruction, sizes["small"], inner):
        t.text(margin, y, line, sizes["small"])
        y += int(sizes["small"] * 1.35)
    y += margin
    return img.crop((0, 0, width_dots, y))


def _escpos(profile: str | None) -> Dummy:
    try:
        return Dummy(profile=profile or None)
    except Exception as exc:  # python-escpos raises its own NotSupported / KeyError
        raise RenderError(f"unknown python-escpos profile {profile!r}") from exc


def _finish(printer: Dummy) -> bytes:
    printer.control("LF")
    printer.cut(feed=True)
    return printer.output


def render_escpos_raster(slip: Slip, paper_width: int = 80, profile: str | None = None) -> bytes:
    """ESC/POS bytes printing the slip as one raster image (GS v 0), then a cut."""
    width = PAPER_DOTS[paper_width]
    image = render_slip_image(slip, width)
    printer = _escpos(profile)
    printer._raw(ESC_INIT)
    printer._raw(raster_bytes(image))
    return _finish(printer)


_INVERT = bytes(255 - b for b in range(256))
FRAGMENT_ROWS = 1024  # printers buffer a limited number of rows per GS v 0 command


def raster_bytes(image: Image.Image) -> bytes:
    """GS v 0 commands for a 1-bit image (bit 1 = black), in bands of FRAGMENT_ROWS.
    (python-escpos' image() does the same, but prints a warning on stdout for every
    profile without a known paper width.)"""
    if image.mode != "1":
        image = image.convert("1")
    width_bytes = (image.width + 7) // 8
    out = bytearray()
    for top in range(0, image.height, FRAGMENT_ROWS):
        band = image.crop((0, top, width_bytes * 8, min(top + FRAGMENT_ROWS, image.height)))
        out += b"\x1dv0\x00" + struct.pack("<HH", width_bytes, band.height)
        out += band.tobytes().translate(_INVERT)  # Pillow: bit 1 = white
    return bytes(out)


def gbk_encodable(slip: Slip) -> bool:
    try:
        for text in slip.texts:
            text.encode("gbk")
    except UnicodeEncodeError:
        return False
    return True


def render_escpos_native(slip: Slip, paper_width: int = 80, profile: str | None = None) -> bytes:
    """ESC/POS bytes with text in the printer's Chinese (GBK) mode and a native QR.
    A slip with text outside GBK (e.g. a name with 𠮷) is rendered as raster instead,
    so it never prints as '?'."""
    if not gbk_encodable(slip):
        return render_escpos_raster(slip, paper_width, profile)
    width = PAPER_DOTS[paper_width]
    qr_modules = len(qr_matrix(slip.code)) - 2 * QUIET_ZONE
    module_dots = max(4, min(8, int(width * 0.8) // (qr_modules + 2 * QUIET_ZONE)))
    p = _escpos(profile)
    chars = 32 if paper_width == 58 else 48  # ASCII columns of font A (12 dots)

    def line(text: str, *, big: bool = False) -> None:
        # FS & / FS . around every line: the printer's mode is never left to chance.
        if big:
            p._raw(b"\x1d!\x11\x1c!\x0c")  # double width and height, ASCII and Chinese
        p._raw(FS_CHINESE_ON + text.encode("gbk") + FS_CHINESE_OFF + b"\n")
        if big:
            p._raw(b"\x1d!\x00\x1c!\x00")

    p._raw(ESC_INIT)
    p._raw(b"\x1ba\x01")  # centre
    line(slip.title, big=True)
    # Quiet zone above and below: the symbol itself is printed without one.
    p._raw(b"\x1bJ" + bytes([QUIET_ZONE * module_dots]))
    p.qr(slip.code, ec=QR_ECLEVEL_M, size=module_dots, model=2, native=True)
    p._raw(b"\x1bJ" + bytes([QUIET_ZONE * module_dots]))
    line(slip.masked_name, big=True)
    p._raw(b"\x1ba\x00")  # left
    line(slip.labels.get("ehc_id", "EHC ID"))
    for text in slip.ehc_id_lines(2 if paper_width == 58 else 4):
        line("  " + text)
    line(slip.labels.get("institution", ""))
    line("  " + slip.institution_name)
    line(f"{slip.labels.get('date', '')} {slip.issued_on.isoformat()}")
    line(f"{slip.labels.get('seq', '')} {slip.issue_seq}")
    line("-" * chars)
    line(slip.instruction)
    return _finish(p)


# --- PDF -------------------------------------------------------------------------------


_reportlab_to_unicode = ttfonts.makeToUnicodeCMap


def _to_unicode_cmap(fontname: str, subset: list[int]) -> str:
    """reportlab writes characters beyond U+FFFF (CJK Extension B: 𠮷, 𡒄) into the
    ToUnicode map as five hex digits, which PDF readers misread, so copying or
    extracting such a name gives garbage. The map must hold UTF-16BE (surrogate pairs)."""
    cmap = _reportlab_to_unicode(fontname, subset)
    for code in subset:
        if code > 0xFFFF:
            utf16 = chr(code).encode("utf-16-be").hex().upper()
            cmap = cmap.replace(f"> <{code:04X}>", f"> <{utf16}>")
    return cmap


ttfonts.makeToUnicodeCMap = _to_unicode_cmap


@functools.cache
def _pdf_fonts() -> tuple[tuple[fonts.FontFace, str], ...]:
    """Register the PDF font chain with reportlab once per process (embedded subsets)."""
    registered = []
    for i, face in enumerate(fonts.font_chain(for_pdf=True)):
        name = f"HealthcardCJK{i}"
        pdfmetrics.registerFont(TTFont(name, face.path, subfontIndex=face.index))
        registered.append((face, name))
    return tuple(registered)


class _PdfText(_LineBreaking):
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


def _draw_qr(c: canvas.Canvas, text: str, x: float, y: float, size: float) -> None:
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
    _draw_qr(c, slip.code, qr_x, qr_y, qr_size)
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


SHEET_COLUMNS, SHEET_ROWS = 2, 5


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
