from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class KeyPurpose(models.TextChoices):
    CODE_SIGNING = "code-signing", _("QR code signing")
    EHC_ROOT = "ehc-root", _("EHC root security key")
    DYNAMIC_PROTECTION = "dynamic-protection", _("Dynamic code protection key")
    PRINT_DELIVERY = "print-delivery", _("Print delivery signing")
    OIDC_SIGNING = "oidc-signing", _("Sign-in (OpenID Connect) ID-token signing")


class KeyState(models.TextChoices):
    PENDING = "pending", _("Pending")
    ACTIVE = "active", _("Active")
    RETIRED = "retired", _("Retired")
    REVOKED = "revoked", _("Revoked")


class Key(models.Model):
    """A signing or secret key. Secret material is stored only wrapped under
    HEALTHCARD_KEK (healthcard.keys); the admin never shows it."""

    kid = models.CharField(_("key ID"), max_length=16, unique=True)
    purpose = models.CharField(_("purpose"), max_length=20, choices=KeyPurpose.choices)
    algorithm = models.CharField(_("algorithm"), max_length=16)
    state = models.CharField(
        _("state"), max_length=10, choices=KeyState.choices, default=KeyState.PENDING
    )
    public_key = models.BinaryField(_("public key"), blank=True, default=b"")
    secret_enc = models.BinaryField(editable=False)
    not_before = models.DateTimeField(_("valid from"))
    not_after = models.DateTimeField(_("valid until"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    activated_at = models.DateTimeField(_("activated"), null=True, blank=True)
    retired_at = models.DateTimeField(_("retired"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        verbose_name = _("key")
        verbose_name_plural = _("keys")
        ordering = ["purpose", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["purpose"], condition=Q(state="active"), name="one_active_key_per_purpose"
            )
        ]
        permissions = [("manage_keys", _("Can rotate, retire and revoke keys"))]

    def __str__(self) -> str:
        return f"{self.kid} ({self.purpose}, {self.state})"


class DataKeyPurpose(models.TextChoices):
    PII = "pii", _("Personal data encryption")
    PII_INDEX = "pii-index", _("Personal data lookup index")
    KEY_STORE = "key-store", _("Key store encryption")


class DataKeyState(models.TextChoices):
    ACTIVE = "active", _("Active")
    RETIRED = "retired", _("Retired")
    DESTROYED = "destroyed", _("Destroyed")


class DataKey(models.Model):
    """A random 32-byte key that encrypts personal data or the key store, stored only
    wrapped under HEALTHCARD_KEK (healthcard.datakeys). Rotating the KEK re-wraps these
    few rows; re-encrypting data under a new data key is a separate, online step."""

    kid = models.CharField(_("key ID"), max_length=8, unique=True)
    purpose = models.CharField(_("purpose"), max_length=12, choices=DataKeyPurpose.choices)
    state = models.CharField(
        _("state"), max_length=10, choices=DataKeyState.choices, default=DataKeyState.ACTIVE
    )
    # envelope under the KEK; its header names the KEK (healthcard.datakeys.kek_id)
    wrapped = models.BinaryField(editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    retired_at = models.DateTimeField(_("retired"), null=True, blank=True)
    destroyed_at = models.DateTimeField(_("destroyed"), null=True, blank=True)

    class Meta:
        verbose_name = _("data key")
        verbose_name_plural = _("data keys")
        ordering = ["purpose", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["purpose"],
                condition=Q(state="active"),
                name="one_active_data_key_per_purpose",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kid} ({self.purpose}, {self.state})"
