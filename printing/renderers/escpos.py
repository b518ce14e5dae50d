"""ESC/POS bytes for thermal slip printers, through python-escpos' Dummy printer.

- render_escpos_raster: the whole slip as one raster image (GS v 0); prints on every
  ESC/POS printer, any character the fonts have.
- render_escpos_native: GBK text in the printer's Chinese mode and the native QR
  command (GS ( k); falls back to raster for a slip whose text is not GBK.

python-escpos' public API does initialise, align, QR, line feed and cut. It has no
command for the Chinese mode (FS & / FS .), Chinese character size (FS !), a feed in
dots (ESC J) or size via GS !, and its image() prints a warning on stdout for every
profile without a known paper width: those bytes go through `_raw`, python-escpos' one
way to send bytes of our own.
"""

import struct

from escpos.constants import QR_ECLEVEL_M
from escpos.printer import Dummy
from PIL import Image

from printing.renderers.errors import RenderError
from printing.renderers.qr import QUIET_ZONE, qr_matrix
from printing.renderers.raster import PAPER_DOTS, render_slip_image
from printing.slip import Slip

FS_CHINESE_ON = b"\x1c&"
FS_CHINESE_OFF = b"\x1c."
DOUBLE_SIZE = b"\x1d!\x11\x1c!\x0c"  # GS ! and FS !: double width and height, both scripts
NORMAL_SIZE = b"\x1d!\x00\x1c!\x00"
_INVERT = bytes(255 - b for b in range(256))
FRAGMENT_ROWS = 1024  # printers buffer a limited number of rows per GS v 0 command


def _printer(profile: str | None) -> Dummy:
    try:
        printer = Dummy(profile=profile or None)
    except Exception as exc:  # python-escpos raises its own NotSupported / KeyError
        raise RenderError(f"unknown python-escpos profile {profile!r}") from exc
    printer.hw("INIT")
    return printer


def _finish(printer: Dummy) -> bytes:
    printer.control("LF")
    printer.cut(feed=True)
    return printer.output


def raster_bytes(image: Image.Image) -> bytes:
    """GS v 0 commands for a 1-bit image (bit 1 = black), in bands of FRAGMENT_ROWS."""
    if image.mode != "1":
        image = image.convert("1")
    width_bytes = (image.width + 7) // 8
    out = bytearray()
    for top in range(0, image.height, FRAGMENT_ROWS):
        band = image.crop((0, top, width_bytes * 8, min(top + FRAGMENT_ROWS, image.height)))
        out += b"\x1dv0\x00" + struct.pack("<HH", width_bytes, band.height)
        out += band.tobytes().translate(_INVERT)  # Pillow: bit 1 = white
    return bytes(out)


def render_escpos_raster(slip: Slip, paper_width: int = 80, profile: str | None = None) -> bytes:
    """ESC/POS bytes printing the slip as one raster image (GS v 0), then a cut."""
    image = render_slip_image(slip, PAPER_DOTS[paper_width])
    printer = _printer(profile)
    printer._raw(raster_bytes(image))
    return _finish(printer)


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
    p = _printer(profile)
    chars = 32 if paper_width == 58 else 48  # ASCII columns of font A (12 dots)

    def line(text: str, *, big: bool = False) -> None:
        # FS & / FS . around every line: the printer's mode is never left to chance.
        if big:
            p._raw(DOUBLE_SIZE)
        p._raw(FS_CHINESE_ON + text.encode("gbk") + FS_CHINESE_OFF + b"\n")
        if big:
            p._raw(NORMAL_SIZE)

    def quiet_zone() -> None:
        # The symbol itself is printed without one: feed it in dots (ESC J n).
        p._raw(b"\x1bJ" + bytes([QUIET_ZONE * module_dots]))

    p.set(align="center")
    line(slip.title, big=True)
    quiet_zone()
    p.qr(slip.code, ec=QR_ECLEVEL_M, size=module_dots, model=2, native=True)
    quiet_zone()
    line(slip.masked_name, big=True)
    p.set(align="left")
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
