"""Reading back what an ESC/POS printer was sent: raster images (GS v 0), native QR
payloads (GS ( k, function 180) and Chinese-mode text (between FS & and FS .)."""

from PIL import Image

GS_V0 = b"\x1dv0"
GS_QR = b"\x1d(k"


def raster_slips(data: bytes) -> list[Image.Image]:
    """One image per slip: GS v 0 fragments stitched until each cut (GS V)."""
    slips: list[Image.Image] = []
    parts: list[Image.Image] = []
    i = 0
    while i < len(data):
        if data.startswith(GS_V0, i):
            x = data[i + 4] + 256 * data[i + 5]
            y = data[i + 6] + 256 * data[i + 7]
            payload = data[i + 8 : i + 8 + x * y]
            # ESC/POS: bit 1 = black; Pillow mode "1": bit 1 = white
            inverted = bytes(b ^ 0xFF for b in payload)
            parts.append(Image.frombytes("1", (x * 8, y), inverted))
            i += 8 + x * y
        elif data.startswith(b"\x1dV", i):
            mode = data[i + 2]
            i += 4 if mode in (65, 66) else 3
            if parts:
                slips.append(_stack(parts))
                parts = []
        else:
            i += 1
    if parts:
        slips.append(_stack(parts))
    return slips


def _stack(parts: list[Image.Image]) -> Image.Image:
    width = max(p.width for p in parts)
    image = Image.new("1", (width, sum(p.height for p in parts)), 1)
    y = 0
    for part in parts:
        image.paste(part, (0, y))
        y += part.height
    return image


def qr_payloads(data: bytes) -> list[bytes]:
    """Data stored in the printer's QR symbol (GS ( k pL pH 49 80 48 d1...dk)."""
    payloads = []
    i = data.find(GS_QR)
    while i != -1:
        length = data[i + 3] + 256 * data[i + 4]
        cn, fn = data[i + 5], data[i + 6]
        if cn == 49 and fn == 80:
            payloads.append(data[i + 8 : i + 5 + length])
        i = data.find(GS_QR, i + 5 + length)
    return payloads


def qr_settings(data: bytes) -> dict[str, int]:
    """Module size (fn 67) and error-correction level (fn 69) of native QR commands."""
    out = {}
    i = data.find(GS_QR)
    while i != -1:
        length = data[i + 3] + 256 * data[i + 4]
        cn, fn = data[i + 5], data[i + 6]
        if cn == 49 and fn == 67:
            out["module"] = data[i + 7]
        if cn == 49 and fn == 69:
            out["ec"] = data[i + 7]
        i = data.find(GS_QR, i + 5 + length)
    return out


def chinese_texts(data: bytes) -> list[str]:
    """Text printed in Chinese mode, decoded from GBK."""
    texts = []
    start = data.find(b"\x1c&")
    while start != -1:
        end = data.find(b"\x1c.", start)
        assert end != -1, "Chinese mode switched on and never off"
        texts.append(data[start + 2 : end].decode("gbk"))
        start = data.find(b"\x1c&", end)
    return texts


def read_qr(image: Image.Image) -> list[str]:
    import zxingcpp

    return [r.text for r in zxingcpp.read_barcodes(image.convert("L"))]
