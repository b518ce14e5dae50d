"""Sign-in clients, residents' consents and the institutions' services directory.

django-oauth-toolkit's Application stays the protocol record (client id, secret,
redirect URIs, grant type); `SigninClient` adds what the platform needs on top: the
institution that owns it, the scopes it may ask for, the province's identity flag and
the on/off switch. The library has no stored consent: `Consent` is ours.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from oauth2_provider.models import Application, Grant

SCOPES = {
    "openid": _("sign you in (an ID for you that only this app uses)"),
    "ehc": _("your electronic health card ID, to find your records at this institution"),
    "profile": _("your verified name, sex and date of birth"),
    "phone": _("your mobile phone number"),
    "identity": _("your ID document type and number"),
}


class SigninClient(models.Model):
    application = models.OneToOneField(
        Application, on_delete=models.CASCADE, related_name="signin", editable=False
    )
    institution = models.ForeignKey(
        "healthcard.Institution",
        on_delete=models.PROTECT,
        related_name="signin_clients",
        verbose_name=_("institution"),
    )
    allowed_scopes = models.CharField(
        _("allowed scopes"),
        max_length=100,
        default="openid",
        help_text=_("Space-separated: openid ehc profile phone identity."),
    )
    identity_allowed = models.BooleanField(
        _("may receive ID numbers"),
        default=False,
        help_text=_("Set by the province only: the app may ask for the identity scope."),
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("sign-in client")
        verbose_name_plural = _("sign-in clients")
        ordering = ["institution__code", "application__name"]

    def __str__(self) -> str:
        return self.application.name

    @property
    def scopes(self) -> list[str]:
        return self.allowed_scopes.split()


class Consent(models.Model):
    """A resident's yes to one client for one card and one set of scopes. `person` is
    the card the app signs in as: the account's own, or a family member's it manages."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="signin_consents"
    )
    person = models.ForeignKey(
        "healthcard.Person", on_delete=models.CASCADE, related_name="signin_consents"
    )
    client = models.ForeignKey(SigninClient, on_delete=models.CASCADE, related_name="consents")
    scope = models.CharField(max_length=100)
    granted_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("sign-in consent")
        verbose_name_plural = _("sign-in consents")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "person", "client"],
                condition=Q(revoked_at__isnull=True),
                name="one_live_consent_per_card_and_client",
            )
        ]

    def __str__(self) -> str:
        return f"{self.client} ({self.scope})"

    @property
    def scopes(self) -> list[str]:
        return self.scope.split()


class GrantConsent(models.Model):
    """Which consent (and so which card) an authorization code was issued under."""

    grant = models.OneToOneField(Grant, on_delete=models.CASCADE, related_name="+")
    consent = models.ForeignKey(Consent, on_delete=models.CASCADE, related_name="+")

    def __str__(self) -> str:
        return f"grant {self.grant_id} -> consent {self.consent_id}"


class TokenFamily(models.Model):
    """Which consent a refresh-token family (one code exchange and its rotations) was
    issued under: revoking the consent revokes the family."""

    family = models.UUIDField(unique=True)
    consent = models.ForeignKey(Consent, on_delete=models.CASCADE, related_name="families")

    def __str__(self) -> str:
        return str(self.family)


class ServiceKind(models.TextChoices):
    BOOKING = "booking", _("Booking (预约挂号)")
    REPORTS = "reports", _("Test reports (检查检验报告)")
    RECORDS = "records", _("Health records (健康档案)")
    PAYMENT = "payment", _("Payment (缴费)")
    OTHER = "other", _("Other")


class Service(models.Model):
    institution = models.ForeignKey(
        "healthcard.Institution",
        on_delete=models.CASCADE,
        related_name="services",
        verbose_name=_("institution"),
    )
    kind = models.CharField(_("kind"), max_length=10, choices=ServiceKind.choices)
    name = models.CharField(_("name"), max_length=60)
    description = models.CharField(_("description"), max_length=200, blank=True)
    url = models.URLField(_("link"), max_length=300)
    client = models.ForeignKey(
        SigninClient,
        on_delete=models.CASCADE,
        related_name="services",
        verbose_name=_("sign-in client"),
        help_text=_("The registered app the link belongs to (its domain)."),
    )
    with_signin = models.BooleanField(_("opens with sign-in"), default=False)
    enabled = models.BooleanField(_("shown"), default=True)

    class Meta:
        verbose_name = _("service")
        verbose_name_plural = _("services")
        ordering = ["institution__name", "kind", "name"]

    def __str__(self) -> str:
        return self.name
