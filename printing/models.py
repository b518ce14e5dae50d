"""Printers and print jobs.

A print job moves queued -> sending -> printed | failed | cancelled (JOB_TRANSITIONS).
State changes go through printing.jobs, which claims work with conditional UPDATEs and
writes the audit rows; nothing here changes state by itself.
"""

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from printing import targets


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


class Printer(models.Model):
    """A slip printer at an institution. Which fields matter depends on `kind`."""

    institution = models.ForeignKey(
        "healthcard.Institution",
        on_delete=models.PROTECT,
        related_name="printers",
        verbose_name=_("institution"),
    )
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=20, choices=PrinterKind.choices)
    is_active = models.BooleanField(_("active"), default=True)
    # escpos-network
    host = models.CharField(_("host"), max_length=255, blank=True)
    port = models.PositiveIntegerField(
        _("port"), default=9100, validators=[MinValueValidator(1), MaxValueValidator(65535)]
    )
    # escpos-usb
    usb_vendor_id = models.PositiveIntegerField(_("USB vendor ID"), null=True, blank=True)
    usb_product_id = models.PositiveIntegerField(_("USB product ID"), null=True, blank=True)
    # escpos-serial / escpos-file
    device = models.CharField(
        _("device"), max_length=255, blank=True, help_text=_("e.g. /dev/ttyUSB0 or /dev/usb/lp0")
    )
    baudrate = models.PositiveIntegerField(_("baud rate"), default=9600)
    status_check = models.BooleanField(
        _("ask for printer status"),
        default=True,
        help_text=_(
            "Ask a network printer for its status (DLE EOT) before and after each job, "
            "so an offline printer is retried and a dropped job is noticed. Turn off for "
            "printers that do not answer."
        ),
    )
    # ESC/POS rendering
    paper_width = models.PositiveSmallIntegerField(
        _("paper width"), choices=PaperWidth.choices, default=PaperWidth.MM80
    )
    profile = models.CharField(
        _("python-escpos profile"),
        max_length=50,
        blank=True,
        help_text=_("Capabilities profile name, e.g. TM-T88V; empty for the default."),
    )
    text_mode = models.CharField(
        _("text mode"), max_length=10, choices=TextMode.choices, default=TextMode.RASTER
    )
    # pdf
    pdf_layout = models.CharField(
        _("PDF layout"), max_length=10, choices=PdfLayout.choices, default=PdfLayout.CARD
    )
    last_test_at = models.DateTimeField(_("last test page"), null=True, blank=True)
    last_test_result = models.CharField(_("last test result"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("printer")
        verbose_name_plural = _("printers")
        ordering = ["institution", "name"]
        constraints = [
            models.UniqueConstraint(fields=["institution", "name"], name="unique_printer_name"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    def clean(self) -> None:
        try:
            self.check_target()
        except targets.TargetRefused as exc:
            raise ValidationError({exc.field: exc.message}) from None

    def check_target(self) -> targets.IPAddress | None:
        """Refuse a device file or network address this platform does not allow
        (printing.targets); for a network printer, return the address to connect to."""
        if self.kind == PrinterKind.ESCPOS_NETWORK:
            return targets.check_host(self.host, self.port)
        if self.kind in (PrinterKind.ESCPOS_FILE, PrinterKind.ESCPOS_SERIAL):
            targets.check_device(self.device)
        return None

    @property
    def is_escpos(self) -> bool:
        return self.kind != PrinterKind.PDF

    @property
    def queue_name(self) -> str:
        return queue_for(self.institution.code)


def queue_for(institution_code: str) -> str:
    """Each institution's jobs go to their own Celery queue, consumed at its site."""
    return f"print.{institution_code}"


class JobStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENDING = "sending", _("Sending")
    PRINTED = "printed", _("Printed")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", pgettext_lazy("print job", "Cancelled")


def new_idempotency_key() -> str:
    return uuid.uuid4().hex


class PrintJob(models.Model):
    """One request to print a card's slip. `idempotency_key` makes a double click or a
    retried request produce one job. `needs_confirmation` marks a job a crashed worker
    left in `sending`: the printer cannot tell whether the slip came out, so a clerk
    decides (confirm printed, or print again)."""

    TRANSITIONS = {
        JobStatus.QUEUED: {JobStatus.SENDING, JobStatus.CANCELLED},
        JobStatus.SENDING: {JobStatus.PRINTED, JobStatus.QUEUED, JobStatus.FAILED},
        JobStatus.FAILED: {JobStatus.QUEUED, JobStatus.CANCELLED},
        JobStatus.PRINTED: set(),
        JobStatus.CANCELLED: set(),
    }

    card = models.ForeignKey(
        "healthcard.Card",
        on_delete=models.PROTECT,
        related_name="print_jobs",
        verbose_name=_("card"),
    )
    printer = models.ForeignKey(
        Printer, on_delete=models.PROTECT, related_name="jobs", verbose_name=_("printer")
    )
    copies = models.PositiveSmallIntegerField(
        _("copies"), default=1, validators=[MinValueValidator(1), MaxValueValidator(10)]
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("requested by"),
    )
    status = models.CharField(
        _("status"), max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED
    )
    needs_confirmation = models.BooleanField(
        _("needs confirmation"),
        default=False,
        help_text=_(
            "A worker stopped while sending this job: check the printer, then confirm "
            "it printed or print it again."
        ),
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    idempotency_key = models.CharField(
        _("idempotency key"), max_length=64, unique=True, default=new_idempotency_key
    )
    # Relative to MEDIA_ROOT, for PDF printers; the staff console serves it for download.
    output = models.CharField(_("output file"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    sending_at = models.DateTimeField(_("sending since"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("print job")
        verbose_name_plural = _("print jobs")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["printer", "status"]),
            models.Index(fields=["status", "needs_confirmation"]),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_status_display()}"
