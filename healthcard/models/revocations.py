from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class RevocationKind(models.TextChoices):
    FROZEN = "frozen", _("Card frozen")
    UNFROZEN = "unfrozen", _("Card unfrozen (lifts an earlier freeze)")
    CANCELLED = "cancelled", _("Card cancelled")
    SUPERSEDED = "superseded", _("Earlier issue sequences superseded")


class RevocationEntry(models.Model):
    """One entry of the revocation list offline terminals sync (docs/qr-format.md).

    Keyed by a privacy-preserving card reference (ehccode.card_ref), never
    the EHC ID. `seq` is assigned under a lock on RevocationCounter, so entries become
    visible in `seq` order and a cursor never skips one committed late.
    """

    seq = models.PositiveBigIntegerField(_("sequence"), unique=True)
    card_ref = models.CharField(_("card reference"), max_length=32, db_index=True)
    kind = models.CharField(_("kind"), max_length=12, choices=RevocationKind.choices)
    issue_seq = models.PositiveIntegerField(
        _("lowest valid issue sequence"),
        null=True,
        blank=True,
        help_text=_("For 'superseded': codes with a lower issue sequence are refused."),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("revocation entry")
        verbose_name_plural = _("revocation entries")
        ordering = ["seq"]

    def __str__(self) -> str:
        return f"#{self.seq} {self.card_ref[:8]}… {self.kind}"


class RevocationCounter(models.Model):
    """A single row whose lock serialises revocation-entry numbering."""

    last_seq = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name = _("revocation counter")
        verbose_name_plural = _("revocation counters")

    def __str__(self) -> str:
        return str(self.last_seq)
