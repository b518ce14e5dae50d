"""The whole slip as one 1-bit image, drawn with the CJK TrueType font chain (for
ESC/POS raster printing and PNG previews): any character the fonts have prints."""

import functools
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont

from printing import fonts
from printing.renderers.errors import RenderError
from printing.renderers.qr import MIN_MODULE_MM, qr_image, qr_matrix
from printing.renderers.text import LineBreaking
from printing.slip import Slip

DOTS_PER_MM = 8  # 203 dpi, the resolution of 58 and 80 mm thermal printers
PAPER_DOTS = {58: 384, 80: 576}


@functools.cache
def _pil_font(path: str, index: int, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size, index=index)


class TextDrawer(LineBreaking):
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
    t = TextDrawer(draw)
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
