from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class TerminalKind(models.TextChoices):
    """National terminal types (终端类型), also the `terminal_kind` of a scan (`channel`
    in the API)."""

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
