import secrets

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from healthcard import pii
from healthcard.identity import NATIONS, IdType, Sex


def new_master_index() -> str:
    return secrets.token_hex(32).upper()


class Person(models.Model):
    """A resident known to the platform. ID, phone and address are encrypted at rest;
    `identity_index` (blind index over type and number) makes each identity unique."""

    master_index = models.CharField(
        _("master index ID"), max_length=64, unique=True, default=new_master_index, editable=False
    )
    name = models.CharField(_("full name"), max_length=50)
    id_type = models.CharField(_("ID type"), max_length=2, choices=IdType.CHOICES)
    id_number_enc = models.BinaryField(editable=False)
    identity_index = models.CharField(max_length=64, unique=True, editable=False)
    sex = models.CharField(_("sex"), max_length=1, choices=Sex.CHOICES)
    birth_date = models.DateField(_("birth date"))
    nation = models.CharField(_("nation"), max_length=2, choices=NATIONS, blank=True)
    phone_enc = models.BinaryField(null=True, editable=False)
    phone_index = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    address_enc = models.BinaryField(null=True, editable=False)
    registered_by = models.ForeignKey(
        "healthcard.Institution",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
        verbose_name=_("registering institution"),
        help_text=_("Where the person was registered; empty for online self-service."),
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="person",
        verbose_name=_("resident account"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("person")
        verbose_name_plural = _("people")
        # Counter clerks update phone and address, nothing else (healthcard.people).
        permissions = [("change_contact", _("Can change phone and address"))]

    def __str__(self) -> str:
        return self.masked_name

    @staticmethod
    def identity_index_for(id_type: str, id_number: str) -> str:
        return pii.blind_index(f"{id_type}:{id_number}", "identity")

    @staticmethod
    def phone_index_for(phone: str) -> str:
        return pii.blind_index(phone, "phone")

    # Encrypted attributes -------------------------------------------------------------
    @property
    def id_number(self) -> str:
        return pii.decrypt(self.id_number_enc, "id_number")

    def set_identity(self, id_type: str, id_number: str) -> None:
        self.id_type = id_type
        self.id_number_enc = pii.encrypt(id_number, "id_number")
        self.identity_index = self.identity_index_for(id_type, id_number)

    @property
    def phone(self) -> str:
        return pii.decrypt(self.phone_enc, "phone") if self.phone_enc else ""

    @phone.setter
    def phone(self, value: str) -> None:
        self.phone_enc = pii.encrypt(value, "phone") if value else None
        self.phone_index = self.phone_index_for(value) if value else ""

    @property
    def address(self) -> str:
        return pii.decrypt(self.address_enc, "address") if self.address_enc else ""

    @address.setter
    def address(self, value: str) -> None:
        self.address_enc = pii.encrypt(value, "address") if value else None

    # Masked forms for lists, logs and anyone without a reveal -------------------------
    @property
    def masked_name(self) -> str:
        return pii.mask_name(self.name)

    @property
    def masked_id_number(self) -> str:
        return pii.mask_number(self.id_number)

    @property
    def masked_phone(self) -> str:
        phone = self.phone  # decrypts: once, not once for the test and once to mask
        return pii.mask_number(phone, 3, 4) if phone else ""


class Relation(models.TextChoices):
    CHILD = "child", _("Child")
    PARENT = "parent", _("Parent")
    SPOUSE = "spouse", _("Spouse")
    OTHER = "other", _("Other")


class Guardianship(models.Model):
    """`guardian` manages the card of `dependant` (a child, an elderly parent ...)."""

    guardian = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="dependants")
    dependant = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="guardians")
    relation = models.CharField(_("relation"), max_length=10, choices=Relation.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("family member")
        verbose_name_plural = _("family members")
        constraints = [
            models.UniqueConstraint(fields=["guardian", "dependant"], name="unique_guardianship"),
            models.CheckConstraint(
                condition=~models.Q(guardian=models.F("dependant")), name="no_self_guardianship"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.guardian} → {self.dependant} ({self.get_relation_display()})"
