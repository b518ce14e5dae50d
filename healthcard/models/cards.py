from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class CardStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    FROZEN = "frozen", _("Frozen")
    CANCELLED = "cancelled", _("Cancelled")


class Channel(models.TextChoices):
    """National application channels (申领方式)."""

    ONLINE = "1", _("Online self-service")
    INSTITUTION = "2", _("By an institution")
    COUNTER = "3", _("At a counter")
    BATCH = "4", _("Batch registration")


class Card(models.Model):
    """A person's electronic health card. Status changes go through
    healthcard.cards.set_status, which enforces TRANSITIONS and writes the audit row."""

    TRANSITIONS = {
        CardStatus.ACTIVE: {CardStatus.FROZEN, CardStatus.CANCELLED},
        CardStatus.FROZEN: {CardStatus.ACTIVE, CardStatus.CANCELLED},
        CardStatus.CANCELLED: set(),
    }

    person = models.OneToOneField(
        "healthcard.Person", on_delete=models.PROTECT, related_name="card", verbose_name=_("holder")
    )
    ehc_id = models.CharField(_("EHC ID"), max_length=64, unique=True, editable=False)
    status = models.CharField(
        _("status"), max_length=10, choices=CardStatus.choices, default=CardStatus.ACTIVE
    )
    status_reason = models.CharField(_("reason for status"), max_length=200, blank=True)
    issue_seq = models.PositiveIntegerField(
        _("issue sequence"), default=1, help_text=_("Increases each time a lost card is replaced.")
    )
    seq_issued_at = models.DateTimeField(_("current issue date"))
    channel = models.CharField(_("application channel"), max_length=1, choices=Channel.choices)
    institution = models.ForeignKey(
        "healthcard.Institution",
        on_delete=models.PROTECT,
        related_name="issued_cards",
        verbose_name=_("issuing institution"),
    )
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("issued by"),
    )
    issued_at = models.DateTimeField(_("issued"))
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("health card")
        verbose_name_plural = _("health cards")
        permissions = [
            ("reveal_identity", _("Can reveal full identity")),
            ("change_card_status", _("Can freeze, unfreeze and cancel cards")),
        ]
        indexes = [models.Index(fields=["institution", "status"])]

    def __str__(self) -> str:
        return f"{self.ehc_id[:8]}… ({self.get_status_display()})"

    def can_become(self, status: str) -> bool:
        return status in self.TRANSITIONS[CardStatus(self.status)]
