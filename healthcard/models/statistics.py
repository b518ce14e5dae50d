"""Adoption statistics: daily roll-ups (rebuilt by healthcard.statistics, never edited
by hand) and the visit totals institutions report (their one input)."""

from django.core.validators import MaxValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from .cards import Channel
from .terminals import TerminalKind
from .usage import CareStep

# Roll-ups are derived data, rewritten by the hundred thousand rows: no foreign-key
# trigger and no index of their own on the institution (the unique constraint, which
# starts with the day, serves every query), so a month's rebuild inserts faster. The
# ORM still cascades when an institution is deleted.
ROLLUP_INSTITUTION = "healthcard.Institution"
ROLLUP_FK = {
    "on_delete": models.CASCADE,
    "related_name": "+",
    "db_constraint": False,
    "db_index": False,
}

# No outpatient department sees a million visits a day: a larger figure is a typo.
MAX_DAILY_VISITS = 1_000_000


class DailyIssuance(models.Model):
    """Cards issued and replaced on one day (China Standard Time) by one institution
    through one application channel."""

    day = models.DateField(_("day"))
    institution = models.ForeignKey(ROLLUP_INSTITUTION, **ROLLUP_FK)
    channel = models.CharField(_("application channel"), max_length=1, choices=Channel.choices)
    issued = models.PositiveIntegerField(_("cards issued"), default=0)
    replaced = models.PositiveIntegerField(_("cards replaced"), default=0)

    class Meta:
        verbose_name = _("daily issuance")
        verbose_name_plural = _("daily issuance")
        constraints = [
            models.UniqueConstraint(
                fields=["day", "institution", "channel"], name="unique_daily_issuance"
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.channel} {self.issued}"


class DailyUsage(models.Model):
    """Scans on one day (CST) at one institution for one care step and terminal type:
    `uses` verified, `failed` refused."""

    day = models.DateField(_("day"))
    institution = models.ForeignKey(ROLLUP_INSTITUTION, **ROLLUP_FK)
    care_step = models.CharField(_("care step"), max_length=6, choices=CareStep.choices)
    terminal_kind = models.CharField(_("terminal type"), max_length=2, choices=TerminalKind.choices)
    uses = models.PositiveIntegerField(_("uses"), default=0)
    failed = models.PositiveIntegerField(_("failed scans"), default=0)

    class Meta:
        verbose_name = _("daily usage")
        verbose_name_plural = _("daily usage")
        constraints = [
            models.UniqueConstraint(
                fields=["day", "institution", "care_step", "terminal_kind"],
                name="unique_daily_usage",
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.care_step} {self.uses}"


class DailyInstitutionUse(models.Model):
    """Scans at one institution on one day (CST): `uses` verified, `failed` refused,
    and `cardholders`, the distinct cards verified: the day's electronic-health-card
    visits, the numerator of the visit share."""

    day = models.DateField(_("day"))
    institution = models.ForeignKey(ROLLUP_INSTITUTION, **ROLLUP_FK)
    uses = models.PositiveIntegerField(_("uses"), default=0)
    failed = models.PositiveIntegerField(_("failed scans"), default=0)
    cardholders = models.PositiveIntegerField(_("distinct cardholders"), default=0)

    class Meta:
        verbose_name = _("daily use at an institution")
        verbose_name_plural = _("daily use at institutions")
        constraints = [
            models.UniqueConstraint(
                fields=["day", "institution"], name="unique_daily_institution_use"
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.uses} {self.cardholders}"


class VisitTotal(models.Model):
    """Total outpatient visits an institution reported for one day (CST). One row per
    institution and day: a later report replaces the figure (healthcard.statistics.
    report_visits, audited)."""

    institution = models.ForeignKey(
        "healthcard.Institution",
        on_delete=models.CASCADE,
        related_name="visit_totals",
        verbose_name=_("institution"),
    )
    day = models.DateField(_("day"))
    visits = models.PositiveIntegerField(
        _("outpatient visits"), validators=[MaxValueValidator(MAX_DAILY_VISITS)]
    )
    source = models.CharField(_("reported via"), max_length=10, help_text=_("'api' or 'csv'."))
    reported_by = models.CharField(_("reported by"), max_length=80)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("visit total")
        verbose_name_plural = _("visit totals")
        ordering = ["-day", "institution"]
        constraints = [
            models.UniqueConstraint(
                fields=["institution", "day"], name="unique_visit_total_per_day"
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.visits}"
