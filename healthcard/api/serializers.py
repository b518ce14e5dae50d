"""Request validation and response shapes (which the OpenAPI schema documents).

Identity rules are not repeated here: registration fields are checked only for type
and size, then healthcard.people.clean_person_data decides, exactly as for the counter.
"""

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from healthcard.models import CardStatus, CareStep, FeeType, LinkKind, TerminalKind
from healthcard.usage import MAX_BATCH

MAX_CARDS_BATCH = 1000
CODE_MAX = 512


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text=_("Stable machine-readable error code."))
    message = serializers.CharField(help_text=_("Explanation for people (localised)."))
    fields = serializers.DictField(
        required=False, help_text=_("Per-field messages, for code 'invalid'.")
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


class InstitutionCheckMixin(serializers.Serializer):
    institution = serializers.CharField(
        required=False,
        max_length=22,
        help_text=_(
            "Optional: the institution code the caller acts for. It must be the "
            "terminal's own institution (403 institution_mismatch otherwise)."
        ),
    )


# --- Verification -----------------------------------------------------------------
class VerifyRequestSerializer(InstitutionCheckMixin):
    code = serializers.CharField(max_length=CODE_MAX, help_text=_("The scanned QR text."))
    care_step = serializers.ChoiceField(choices=CareStep.choices)
    department = serializers.CharField(max_length=50, required=False, allow_blank=True)
    # The API's name for the scan's terminal type, stored as UsageEvent.terminal_kind.
    channel = serializers.ChoiceField(
        source="terminal_kind",
        choices=TerminalKind.choices,
        required=False,
        help_text=_("Terminal type of the scan; defaults to the terminal's own type."),
    )
    fee_type = serializers.ChoiceField(choices=FeeType.choices, required=False, allow_blank=True)


class CardSummarySerializer(serializers.Serializer):
    ehc_id = serializers.CharField()
    status = serializers.ChoiceField(choices=CardStatus.choices)
    issue_seq = serializers.IntegerField()
    code_kind = serializers.CharField(allow_null=True, required=False)


class HolderSerializer(serializers.Serializer):
    revealed = serializers.BooleanField(
        help_text=_("True when name and numbers are in full (scope reveal_identity).")
    )
    name = serializers.CharField()
    sex = serializers.CharField()
    birth_date = serializers.DateField()
    id_type = serializers.CharField()
    id_number = serializers.CharField()
    phone = serializers.CharField(allow_blank=True)


class LinksSerializer(serializers.Serializer):
    local_patient = serializers.CharField(required=False)
    social_security = serializers.CharField(required=False)
    medical_insurance = serializers.CharField(required=False)
    citizen_card = serializers.CharField(required=False)


class VerifyResponseSerializer(serializers.Serializer):
    card = CardSummarySerializer()
    holder = HolderSerializer()
    links = LinksSerializer()
    usage_event = serializers.UUIDField()


# --- Usage events -------------------------------------------------------------------
class ScanTimeField(serializers.DateTimeField):
    """DRF raises OverflowError (a 500) for times that do not fit once converted, such
    as 0001-01-01T00:00 in China Standard Time; refuse them as invalid instead."""

    def to_internal_value(self, value):
        try:
            return super().to_internal_value(value)
        except OverflowError:
            raise serializers.ValidationError(_("The time is out of range.")) from None


class UsageEventSerializer(serializers.Serializer):
    uuid = serializers.UUIDField(help_text=_("Chosen by the terminal; unique per terminal."))
    code = serializers.CharField(max_length=CODE_MAX)
    scanned_at = ScanTimeField()
    care_step = serializers.ChoiceField(choices=CareStep.choices)
    department = serializers.CharField(max_length=50, required=False, allow_blank=True)
    channel = serializers.ChoiceField(
        source="terminal_kind", choices=TerminalKind.choices, required=False
    )
    fee_type = serializers.ChoiceField(choices=FeeType.choices, required=False, allow_blank=True)


class UsageBatchSerializer(InstitutionCheckMixin):
    # Items are validated one by one in the view, so one bad item does not refuse the
    # batch; this declaration documents their shape.
    events = UsageEventSerializer(many=True, max_length=MAX_BATCH)


class UsageItemResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    uuid = serializers.CharField(allow_null=True)
    status = serializers.CharField(help_text=_("created, duplicate, conflict or invalid."))
    http_status = serializers.IntegerField(help_text=_("201, 200, 409 or 400 for this item."))
    result = serializers.CharField(
        allow_null=True, help_text=_("'ok' or the reason the code was refused.")
    )
    error = ErrorDetailSerializer(required=False)


class UsageBatchResponseSerializer(serializers.Serializer):
    summary = serializers.DictField(child=serializers.IntegerField())
    results = UsageItemResultSerializer(many=True)


# --- Registration -------------------------------------------------------------------
class PersonSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, trim_whitespace=False)
    id_type = serializers.CharField(max_length=2)
    id_number = serializers.CharField(max_length=64)
    sex = serializers.CharField(max_length=1, required=False, allow_blank=True)
    birth_date = serializers.DateField(required=False, allow_null=True)
    nation = serializers.CharField(max_length=2, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True)
    address = serializers.CharField(max_length=400, required=False, allow_blank=True)


class RegisterRequestSerializer(InstitutionCheckMixin, PersonSerializer):
    pass


class BatchPersonSerializer(PersonSerializer):
    ref = serializers.CharField(
        max_length=64, required=False, help_text=_("Echoed in the item's result.")
    )


class RegisterBatchSerializer(InstitutionCheckMixin):
    people = BatchPersonSerializer(many=True, max_length=MAX_CARDS_BATCH)


class MaskedHolderSerializer(serializers.Serializer):
    name = serializers.CharField()
    id_type = serializers.CharField()
    id_number = serializers.CharField()


class CardSerializer(serializers.Serializer):
    ehc_id = serializers.CharField()
    status = serializers.ChoiceField(choices=CardStatus.choices)
    issue_seq = serializers.IntegerField()
    channel = serializers.CharField()
    issued_at = serializers.DateTimeField()
    qr_code = serializers.CharField(
        allow_null=True, help_text=_("Static code text; null when the card is not active.")
    )
    holder = MaskedHolderSerializer()


class RegisterResponseSerializer(serializers.Serializer):
    created = serializers.BooleanField()
    card = CardSerializer()


class RegisterItemResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    ref = serializers.CharField(allow_null=True)
    status = serializers.CharField(help_text=_("created, existing, invalid or refused."))
    http_status = serializers.IntegerField()
    card = CardSerializer(required=False)
    error = ErrorDetailSerializer(required=False)


class RegisterBatchResponseSerializer(serializers.Serializer):
    summary = serializers.DictField(child=serializers.IntegerField())
    results = RegisterItemResultSerializer(many=True)


# --- Links --------------------------------------------------------------------------
class LinkRequestSerializer(InstitutionCheckMixin):
    number = serializers.CharField(max_length=64)


class LinkResponseSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=LinkKind.choices)
    number = serializers.CharField()
    institution = serializers.CharField(allow_null=True)
    created = serializers.BooleanField()


# --- Keys, revocations, health ------------------------------------------------------
class PublicKeySerializer(serializers.Serializer):
    kid = serializers.CharField()
    algorithm = serializers.CharField()
    public_key = serializers.CharField(help_text=_("Hex."))
    state = serializers.CharField()
    not_before = serializers.CharField(allow_null=True)
    not_after = serializers.CharField(allow_null=True)
    retired_at = serializers.CharField(allow_null=True)
    revoked_at = serializers.CharField(allow_null=True)


class KeySetSerializer(serializers.Serializer):
    format = serializers.CharField()
    keys = PublicKeySerializer(many=True)
    etag = serializers.CharField()


class RevocationEntrySerializer(serializers.Serializer):
    seq = serializers.IntegerField()
    ref = serializers.CharField()
    kind = serializers.CharField()
    issue_seq = serializers.IntegerField(allow_null=True)
    at = serializers.CharField()


class RevocationsSerializer(serializers.Serializer):
    format = serializers.CharField()
    entries = RevocationEntrySerializer(many=True)
    cursor = serializers.CharField(help_text=_("Pass back as `since` to continue."))
    more = serializers.BooleanField()


class HealthSerializer(serializers.Serializer):
    status = serializers.CharField()
