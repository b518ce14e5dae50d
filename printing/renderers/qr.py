"""The QR symbol of a slip: error correction M, a quiet zone of 4 modules."""

import functools

import qrcode
import qrcode.constants
from PIL import Image

QUIET_ZONE = 4  # modules
MIN_MODULE_MM = 0.5


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
    """The symbol as a 1-bit image, `module_dots` pixels per module."""
    matrix = qr_matrix(text)
    n = len(matrix)
    # Mode "1": 0 is black. Build at one pixel per module, then scale without smoothing.
    raw = bytes(0 if dark else 255 for row in matrix for dark in row)
    small = Image.frombytes("L", (n, n), raw).convert("1", dither=Image.Dither.NONE)
    return small.resize((n * module_dots, n * module_dots), Image.Resampling.NEAREST)
