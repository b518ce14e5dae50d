"""Slip renderers: plain data in (printing.slip.Slip), bytes out. No database, no
settings: a slip renders in any process (tests/printing/test_renderers.py renders one
in a subprocess without Django settings). One module per output:

- qr: the QR symbol every output draws (EC level M, 4-module quiet zone, modules of at
  least 0.5 mm);
- raster: the whole slip as a 1-bit image with CJK TrueType fonts (ESC/POS raster
  and PNG previews);
- escpos: ESC/POS bytes, as one raster image (GS v 0) or as GBK text in the printer's
  Chinese mode with its native QR command (GS ( k);
- pdf: ID-1 card pages and A4 sheets of ten cards with cut marks, fonts embedded
  (with reportlab_fix, the one patch to reportlab);
- text: the line breaking that raster and PDF share.
"""

from printing.renderers.errors import RenderError
from printing.renderers.escpos import gbk_encodable, render_escpos_native, render_escpos_raster
from printing.renderers.pdf import render_pdf_card, render_pdf_sheet
from printing.renderers.qr import qr_matrix
from printing.renderers.raster import render_slip_image

__all__ = [
    "RenderError",
    "gbk_encodable",
    "qr_matrix",
    "render_escpos_native",
    "render_escpos_raster",
    "render_pdf_card",
    "render_pdf_sheet",
    "render_slip_image",
]
