"""QR codes for the browser as SVG (crisp at any size, no image library on the client)."""

import base64

import qrcode
import qrcode.image.svg


def svg(text: str) -> bytes:
    """The code as a standalone SVG with a white quiet zone (scanners need it)."""
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        border=4,
        box_size=10,
        image_factory=qrcode.image.svg.SvgPathFillImage,
    )
    code.add_data(text)
    code.make(fit=True)
    return code.make_image().to_string()


def data_uri(text: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg(text)).decode()
