"""Online self-service: SMS sending records and outbox, the population register used
for real-name checks, and applications made in the resident portal."""

import secrets

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from healthcard import pii
from healthcard.identity import NATIONS, IdType, Sex


class EncryptedPhone:
    """`phone` and `masked_phone` of a model that keeps the number in `phone_enc`."""

    phone_enc: bytes

    @property
    def phone(self) -> str:
        return pii.decrypt(self.phone_enc, "phone")

    @property
    def masked_phone(self) -> str:
        return pii.mask_number(self.phone, 3, 4)


class SmsSend(models.Model):
    """One SMS the gateway accepted; the per-phone and per-IP limits count these rows.
    A send the gateway refused leaves no row, so it never counts against anyone."""

    phone_index = models.CharField(max_length=64, db_index=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    purpose = models.CharField(max_length=20)
    sent_at = models.DateTimeField(db_index=True)

    class Meta:
        indexes = [
            models.Index(fields=["phone_index", "sent_at"]),
            models.Index(fields=["ip", "sent_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.purpose} SMS at {self.sent_at:%Y-%m-%d %H:%M}"


class OutboxMessage(EncryptedPhone, models.Model):
    """A message of the `outbox` and `console` SMS backends (tests, the dev outbox page)."""

    phone_enc = models.BinaryField()
    phone_index = models.CharField(max_length=64, db_index=True)
    body = models.CharField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"SMS {self.pk}"


class PopulationRecord(models.Model):
    """One entry of the local copy of the population register: the identity and the
    name it belongs to, both as keyed hashes, so the table holds no personal data in
    clear (healthcard.realname)."""

    identity_index = models.CharField(max_length=64, unique=True)
    name_index = models.CharField(max_length=64)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"population record {self.pk}"


class ApplicationStatus(models.TextChoices):
    PENDING = "pending", _("Pending review")
    CONFIRMING = "confirming", _("Waiting for the family member's confirmation")
    ISSUED = "issued", _("Card issued")
    MISMATCH = "mismatch", _("Details do not match the register")
    REJECTED = "rejected", _("Not approved")
    COUNTER = "counter", _("Please visit a counter")


class ApplicationRelation(models.TextChoices):
    SELF = "self", _("Myself")
    CHILD = "child", _("My child")
    PARENT = "parent", _("My parent")
    SPOUSE = "spouse", _("My spouse")
    OTHER = "other", _("Other family member")


def new_ref() -> str:
    return secrets.token_urlsafe(12)


class Application(models.Model):
    """An online application for a card (申领), for oneself or a family member.

    Holds what the applicant entered until it is decided (the ID number, address and
    phone encrypted like on Person); healthcard.applications decides it."""

    applicant = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="card_applications"
    )
    #: The opaque id in portal URLs.
    ref = models.CharField(max_length=20, unique=True, default=new_ref, editable=False)
    #: One per rendered form: a second submission of the same form finds the first.
    form_token = models.CharField(max_length=64)
    relation = models.CharField(max_length=10, choices=ApplicationRelation.choices)
    name = models.CharField(max_length=50)
    id_type = models.CharField(max_length=2, choices=IdType.CHOICES)
    id_number_enc = models.BinaryField()
    identity_index = models.CharField(max_length=64, db_index=True)
    sex = models.CharField(max_length=1, choices=Sex.CHOICES)
    birth_date = models.DateField()
    nation = models.CharField(max_length=2, choices=NATIONS, blank=True)
    address_enc = models.BinaryField(null=True)
    phone_enc = models.BinaryField(null=True)
    #: The applicant's own number, for the SMS that tells them the decision.
    notify_phone_enc = models.BinaryField(null=True)
    status = models.CharField(max_length=10, choices=ApplicationStatus.choices)
    checks = models.PositiveIntegerField(default=0)
    next_check_at = models.DateTimeField(null=True, blank=True)
    confirm_hash = models.CharField(max_length=64, blank=True)
    confirm_salt = models.CharField(max_length=32, blank=True)
    confirm_until = models.DateTimeField(null=True, blank=True)
    confirm_failures = models.PositiveSmallIntegerField(default=0)
    person = models.ForeignKey(
        "healthcard.Person", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["applicant", "form_token"], name="one_application_per_form"
            )
        ]
        indexes = [models.Index(fields=["applicant", "status", "created_at"])]

    def __str__(self) -> str:
        return f"application {self.pk} ({self.status})"

    @property
    def id_number(self) -> str:
        return pii.decrypt(self.id_number_enc, "id_number")

    @property
    def phone(self) -> str:
        return pii.decrypt(self.phone_enc, "phone") if self.phone_enc else ""

    @property
    def address(self) -> str:
        return pii.decrypt(self.address_enc, "address") if self.address_enc else ""

    @property
    def notify_phone(self) -> str:
        return pii.decrypt(self.notify_phone_enc, "phone") if self.notify_phone_enc else ""

    @property
    def masked_name(self) -> str:
        return pii.mask_name(self.name)
