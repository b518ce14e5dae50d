"""Card use (用卡数据): every scan a terminal reports (healthcard/usage.py)."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from .terminals import Terminal, TerminalKind


class CareStep(models.TextChoices):
    """National care-step codes (诊疗环节) of a scan."""

    REGISTRATION = "010101", _("Registration")
    DIAGNOSIS = "010102", _("Diagnosis")
    DISPENSING = "010103", _("Dispensing")
    EXAMINATION = "010104", _("Examination")
    PAYMENT = "010105", _("Payment")
    PRESCRIPTION = "010106", _("Prescription")
    SURGERY = "010107", _("Surgery")
    OTHER = "000000", _("Other")


class FeeType(models.TextChoices):
    """National fee types (费别) of a scan."""

    SELF_PAID = "0100", _("Self-paid")
    MEDICAL_INSURANCE = "0200", _("Medical insurance")
    PUBLIC = "0300", _("Publicly funded")
    OTHER = "0000", _("Other")


class UsageEvent(models.Model):
    """One scan of a code by a terminal (用卡数据), successful or not.

    `uuid` is chosen by the terminal (offline batches) or by the server (online
    verification) and is unique per terminal, so a re-uploaded batch creates nothing
    new. `fingerprint` hashes what the terminal reported, so the same UUID with other
    content is recognised as a conflict rather than a repeat. Failed attempts keep no
    card and no identity.
    """

    RESULT_OK = "ok"

    uuid = models.UUIDField(_("event ID"))
    # No single-column index on the foreign keys (db_index=False): the unique
    # constraint and the two indexes in Meta lead with them, and every index more is
    # written on each of the 5 million inserts a day and stored for 1.8 billion rows a
    # year.
    terminal = models.ForeignKey(
        Terminal,
        on_delete=models.PROTECT,
        related_name="usage_events",
        verbose_name=_("terminal"),
        db_index=False,
    )
    institution = models.ForeignKey(
        "healthcard.Institution",
        on_delete=models.PROTECT,
        related_name="usage_events",
        verbose_name=_("institution"),
        db_index=False,
    )
    card = models.ForeignKey(
        "healthcard.Card",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="usage_events",
        verbose_name=_("card"),
        db_index=False,
    )
    scanned_at = models.DateTimeField(_("scanned"))
    received_at = models.DateTimeField(_("received"), auto_now_add=True)
    care_step = models.CharField(_("care step"), max_length=6, choices=CareStep.choices)
    department = models.CharField(_("department"), max_length=50, blank=True)
    terminal_kind = models.CharField(_("terminal type"), max_length=2, choices=TerminalKind.choices)
    fee_type = models.CharField(_("fee type"), max_length=4, choices=FeeType.choices, blank=True)
    result = models.CharField(
        _("result"), max_length=30, help_text=_("'ok' or the reason the code was refused.")
    )
    code_kind = models.CharField(_("code kind"), max_length=10, blank=True)
    offline = models.BooleanField(_("reported offline"), default=False)
    fingerprint = models.CharField(max_length=64, editable=False)

    class Meta:
        verbose_name = _("card use")
        verbose_name_plural = _("card uses")
        ordering = ["-scanned_at", "-id"]
        constraints = [
            # On PostgreSQL the table is partitioned by month of scanned_at, and a
            # unique constraint must hold the partition key: a re-upload (same
            # content, so the same scan time) always meets this constraint, a same
            # UUID with another scan time is found by usage.upload_batch under a
            # per-terminal lock. docs/data-model.md, "Usage events for years".
            models.UniqueConstraint(
                fields=["terminal", "uuid", "scanned_at"], name="unique_usage_uuid_per_terminal"
            )
        ]
        indexes = [
            models.Index(fields=["card", "scanned_at"]),
            models.Index(fields=["institution", "scanned_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.scanned_at:%Y-%m-%d %H:%M} {self.care_step} {self.result}"

    @property
    def ok(self) -> bool:
        return self.result == self.RESULT_OK
