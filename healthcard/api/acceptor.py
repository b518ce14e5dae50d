"""Accept well-formed request bodies without building a serializer.

Building a DRF serializer deep-copies every declared field, and validating runs each
field's validator chain: about 0.4 ms of CPU for the verify body, a fifth of a whole
masked verification (docs/performance.md). Most bodies terminals send are plainly
valid, so `acceptor(serializer_class)` derives, from the serializer's own declared
fields, a check that either returns exactly the `validated_data` the serializer
would return, or None when it is not sure. On None the caller runs the serializer,
which accepts what this check could not decide and gives the field errors: the
serializer stays the one definition of the rules and the messages.

Only serializers made of plain `CharField` and `ChoiceField` (no default, no extra
validators, no `validate*` methods) get an acceptor; any other gives None.
"""

from collections.abc import Callable
from functools import cache
from typing import Any

from rest_framework import fields as drf_fields
from rest_framework import serializers

Acceptor = Callable[[Any], dict | None]

# Validators DRF itself attaches to a CharField; the check below covers each of them.
_CHAR_VALIDATORS = (
    drf_fields.MaxLengthValidator,
    drf_fields.MinLengthValidator,
    drf_fields.ProhibitNullCharactersValidator,
    drf_fields.ProhibitSurrogateCharactersValidator,
)


def _char_check(field: serializers.CharField) -> Callable[[str], bool] | None:
    if not field.trim_whitespace or any(
        not isinstance(v, _CHAR_VALIDATORS) for v in field.validators
    ):
        return None
    longest = field.max_length if field.max_length is not None else float("inf")
    shortest = field.min_length or 0
    allow_blank = field.allow_blank

    def check(value: str) -> bool:
        if not value:
            return allow_blank
        return (
            shortest <= len(value) <= longest
            and value.strip() == value
            and "\x00" not in value
            and (value.isascii() or not any("\ud800" <= c <= "\udfff" for c in value))
        )

    return check


def _choice_check(field: serializers.ChoiceField) -> Callable[[str], bool] | None:
    if field.validators:
        return None
    # Choices whose value is not its own string (an integer key, say) map to another
    # type: leave them to DRF.
    mapping = field.choice_strings_to_values
    if any(key != value for key, value in mapping.items()):
        return None
    allowed = frozenset(mapping)
    allow_blank = field.allow_blank
    return lambda value: value in allowed or (allow_blank and value == "")


def _field_check(field: drf_fields.Field) -> Callable[[str], bool] | None:
    if (
        field.read_only
        or field.default is not drf_fields.empty
        or field.allow_null
        or "." in field.source
    ):
        return None
    if type(field) is serializers.ChoiceField:
        return _choice_check(field)
    if type(field) is serializers.CharField:
        return _char_check(field)
    return None


@cache
def acceptor(serializer_class: type[serializers.Serializer]) -> Acceptor | None:
    """The fast check for `serializer_class`, or None when it has fields or
    validation this module does not cover."""
    if serializer_class.validate is not serializers.Serializer.validate:
        return None
    serializer = serializer_class()
    if serializer.validators:
        return None
    declared = serializer.fields  # built once, here
    if any(hasattr(serializer_class, f"validate_{name}") for name in declared):
        return None
    checks = []
    for name, field in declared.items():
        check = _field_check(field)
        if check is None:
            return None
        checks.append((name, field.source, field.required, check))

    def accept(data: Any) -> dict | None:
        if type(data) is not dict:
            return None
        out = {}
        for name, source, required, check in checks:
            value = data.get(name, drf_fields.empty)
            if value is drf_fields.empty:
                if required:
                    return None
                continue
            if type(value) is not str or not check(value):
                return None
            out[source] = value
        return out

    return accept
