"""Numbers linked to a card: social security, medical insurance, hospitals' own
patient numbers (多码合一, healthcard/links.py)."""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from healthcard import pii


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
