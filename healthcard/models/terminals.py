from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from healthcard import pii


class TerminalKind(models.TextChoices):
    """National terminal / channel types (终端类型), also the `channel` of a scan."""

    COUNTER = "01", _("Staffed counter")
    KIOSK = "02", _("Self-service kiosk")
    WORKSTATION = "03", _("Doctor's workstation")
    ONLINE = "04", _("Online service")
    OTHER = "99", _("Other")


class Scope(models.TextChoices):
    """What a terminal's credential allows (healthcard.api.permissions)."""

    VERIFY = "verify", _("Verify codes")
    REVEAL_IDENTITY = "reveal_identity", _("See full name and identity number")
    REGISTER = "register", _("Register people and issue cards")
    LINK = "link", _("Link patient, social-security and insurance numbers")
    REPORT = "report", _("Report card use")


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


class Terminal(models.Model):
    """A hospital system, kiosk or workstation that calls the API with a Bearer token.

    Only a SHA-256 hash of the token is stored; `token_prefix` (the public first part
    of the token) finds the row without scanning. healthcard.terminals creates,
    authenticates and disables terminals.
    """

    institution = models.ForeignKey(
        "healthcard.Institution",
        on_delete=models.PROTECT,
        related_name="terminals",
        verbose_name=_("institution"),
    )
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(
        _("type"), max_length=2, choices=TerminalKind.choices, default=TerminalKind.COUNTER
    )
    scopes = models.JSONField(_("scopes"), default=list, blank=True)
    token_prefix = models.CharField(_("token prefix"), max_length=16, unique=True, editable=False)
    token_hash = models.CharField(max_length=64, editable=False)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
        editable=False,
    )
    disabled_at = models.DateTimeField(_("disabled"), null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("terminal")
        verbose_name_plural = _("terminals")
        ordering = ["institution", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.institution.code})"

    @property
    def audit_label(self) -> str:
        return f"terminal:{self.pk}"

    def has_scope(self, scope: str) -> bool:
        return scope in (self.scopes or [])


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
    terminal = models.ForeignKey(
        Terminal, on_delete=models.PROTECT, related_name="usage_events", verbose_name=_("terminal")
    )
    institution = models.ForeignKey(
        "healthcard.Institution",
        on_delete=models.PROTECT,
        related_name="usage_events",
        verbose_name=_("institution"),
    )
    card = models.ForeignKey(
        "healthcard.Card",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="usage_events",
        verbose_name=_("card"),
    )
    scanned_at = models.DateTimeField(_("scanned"))
    received_at = models.DateTimeField(_("received"), auto_now_add=True)
    care_step = models.CharField(_("care step"), max_length=6, choices=CareStep.choices)
    department = models.CharField(_("department"), max_length=50, blank=True)
    channel = models.CharField(_("terminal type"), max_length=2, choices=TerminalKind.choices)
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


class LinkKind(models.TextChoices):
    """Numbers a card can carry for 多卡合一 (one code, many cards)."""

    LOCAL_PATIENT = "local_patient", _("Local patient number")
    SOCIAL_SECURITY = "social_security", _("Social security card")
    MEDICAL_INSURANCE = "medical_insurance", _("Medical insurance code")
    CITIZEN_CARD = "citizen_card", _("Citizen card")


class CardLink(models.Model):
    """A number linked to a card. A local patient number belongs to one institution and
    is shown only to it; the other kinds are one per card. The number is encrypted at
    rest with a blind index beside it (healthcard.links)."""

    card = models.ForeignKey(
        "healthcard.Card", on_delete=models.CASCADE, related_name="links", verbose_name=_("card")
    )
    kind = models.CharField(_("kind"), max_length=20, choices=LinkKind.choices)
    institution = models.ForeignKey(
        "healthcard.Institution",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="patient_links",
        verbose_name=_("institution"),
        help_text=_("Only for local patient numbers."),
    )
    number_enc = models.BinaryField(editable=False)
    number_index = models.CharField(max_length=64, db_index=True, editable=False)
    source_institution = models.ForeignKey(
        "healthcard.Institution",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("linked by"),
        editable=False,
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("linked number")
        verbose_name_plural = _("linked numbers")
        ordering = ["card", "kind"]
        constraints = [
            # Two partial constraints because NULLs never collide in a unique index.
            models.UniqueConstraint(
                fields=["card", "kind", "institution"],
                condition=Q(institution__isnull=False),
                name="unique_local_link_per_institution",
            ),
            models.UniqueConstraint(
                fields=["card", "kind"],
                condition=Q(institution__isnull=True),
                name="unique_shared_link_per_card",
            ),
            models.CheckConstraint(
                condition=(Q(kind="local_patient") & Q(institution__isnull=False))
                | (~Q(kind="local_patient") & Q(institution__isnull=True)),
                name="institution_only_for_local_links",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.masked_number}"

    @property
    def number(self) -> str:
        return pii.decrypt(self.number_enc, "card_link")

    @property
    def masked_number(self) -> str:
        return pii.mask_number(self.number, 2, 4)
