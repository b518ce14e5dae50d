"""The printer choices, apart from the models: the site print worker (printing.site)
uses them without Django models or a database."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class PrinterKind(models.TextChoices):
    ESCPOS_NETWORK = "escpos-network", _("ESC/POS network printer")
    ESCPOS_USB = "escpos-usb", _("ESC/POS USB printer")
    ESCPOS_SERIAL = "escpos-serial", _("ESC/POS serial printer")
    ESCPOS_FILE = "escpos-file", _("ESC/POS device file")
    PDF = "pdf", _("PDF (download or browser print)")


class PaperWidth(models.IntegerChoices):
    MM58 = 58, _("58 mm (384 dots)")
    MM80 = 80, _("80 mm (576 dots)")


class TextMode(models.TextChoices):
    RASTER = "raster", _("Raster (slip drawn as one image; works everywhere)")
    NATIVE = "native", _("Native (GBK text and native QR; printer needs a Chinese font)")


class PdfLayout(models.TextChoices):
    CARD = "card", _("ID-1 card (85.6 × 54 mm)")
    SHEET = "sheet", _("A4 sheet of ten cards")
