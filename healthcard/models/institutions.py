from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

region_code = RegexValidator(r"^\d{6}$", _("A region code is 6 digits (GB/T 2260)."))


class Level(models.TextChoices):
    AUTHORITY = "authority", _("Health authority")
    TERTIARY = "3", _("Tertiary hospital")
    SECONDARY = "2", _("Secondary hospital")
    PRIMARY_HOSPITAL = "1", _("Primary hospital")
    COMMUNITY = "community", _("Primary-care centre")
    VILLAGE = "village", _("Village clinic")
    PUBLIC_HEALTH = "public", _("Public health institution")


class Institution(models.Model):
    code = models.CharField(
        _("institution code"),
        max_length=22,
        unique=True,
        validators=[RegexValidator(r"^[0-9A-Z]{6,22}$", _("6 to 22 digits or capital letters."))],
    )
    name = models.CharField(_("name"), max_length=100)
    level = models.CharField(_("level"), max_length=10, choices=Level.choices)
    city_code = models.CharField(_("city (市州) code"), max_length=6, validators=[region_code])
    county_code = models.CharField(
        _("county (县区) code"), max_length=6, blank=True, validators=[region_code]
    )
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent authority"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("institution")
        verbose_name_plural = _("institutions")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class Role(models.TextChoices):
    CLERK = "clerk", _("Counter clerk")
    SUPERVISOR = "supervisor", _("Supervisor")
    INSTITUTION_ADMIN = "institution_admin", _("Institution administrator")
    PROVINCE_ADMIN = "province_admin", _("Province administrator")


class StaffProfile(models.Model):
    """A staff user's institution and role; the role maps to a Django group of the same
    name (created by migration) that carries the permissions."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_profile"
    )
    institution = models.ForeignKey(
        Institution, on_delete=models.PROTECT, related_name="staff", verbose_name=_("institution")
    )
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    # The counter console remembers the printer a clerk last used.
    counter_printer = models.ForeignKey(
        "printing.Printer",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("counter printer"),
    )

    class Meta:
        verbose_name = _("staff profile")
        verbose_name_plural = _("staff profiles")

    def __str__(self) -> str:
        return f"{self.user} @ {self.institution.code} ({self.get_role_display()})"
