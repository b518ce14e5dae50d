"""healthcard.api.acceptor never accepts what the serializer would refuse, and gives
exactly the serializer's validated data for what it accepts."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework import serializers

from healthcard.api import serializers as s
from healthcard.api.acceptor import acceptor
from healthcard.models import CareStep, FeeType, TerminalKind


class Sample(serializers.Serializer):
    """Every option the acceptor handles."""

    short = serializers.CharField(min_length=2, max_length=5)
    blank = serializers.CharField(required=False, allow_blank=True, max_length=3)
    choice = serializers.ChoiceField(choices=[("a", "A"), ("bb", "B")], required=False)
    blank_choice = serializers.ChoiceField(choices=[("x", "X")], required=False, allow_blank=True)
    renamed = serializers.CharField(required=False, source="other")


def _texts(choices=()):
    return st.one_of(
        st.sampled_from(["", " ", "a", " a", "a ", "\x00", "a\x00b", "\ud800", "张三", "ab\t"]),
        st.sampled_from(list(choices) or ["x"]),
        st.text(max_size=8),
        st.text(max_size=600),
        st.integers(),
        st.none(),
        st.booleans(),
        st.floats(allow_nan=False),
        st.lists(st.text(max_size=2), max_size=2),
    )


def _bodies(names, choices):
    values = _texts(choices)
    return st.one_of(
        st.dictionaries(st.sampled_from([*names, "unknown"]), values, max_size=len(names) + 1),
        st.fixed_dictionaries({n: values for n in names}),
        st.lists(st.integers(), max_size=2),
        st.text(max_size=3),
        st.none(),
    )


def _same_as_serializer(serializer_class, body):
    fast = acceptor(serializer_class)(body)
    serializer = serializer_class(data=body)
    valid = serializer.is_valid()
    if fast is not None:
        assert valid, (body, serializer.errors)
        assert fast == dict(serializer.validated_data)
    return fast


CHOICES = [*CareStep.values, *TerminalKind.values, *FeeType.values, "a", "bb", "x"]


@settings(max_examples=600, deadline=None)
@given(_bodies(["code", "care_step", "department", "channel", "fee_type", "institution"], CHOICES))
def test_verify_body(body):
    _same_as_serializer(s.VerifyRequestSerializer, body)


@settings(max_examples=600, deadline=None)
@given(_bodies(["short", "blank", "choice", "blank_choice", "renamed"], CHOICES))
def test_every_option(body):
    _same_as_serializer(Sample, body)


def test_a_plain_valid_body_is_accepted_without_the_serializer():
    body = {"code": "H1:abc", "care_step": CareStep.values[0], "unknown": 1}
    assert acceptor(s.VerifyRequestSerializer)(body) == {
        "code": "H1:abc",
        "care_step": CareStep.values[0],
    }
    assert _same_as_serializer(Sample, {"short": "ab", "renamed": "r", "blank": ""}) == {
        "short": "ab",
        "other": "r",
        "blank": "",
    }


@pytest.mark.parametrize(
    "body",
    [
        {"short": " ab"},  # DRF trims: the serializer decides
        {"short": 12},  # DRF turns numbers into text
        {"short": "a"},  # too short: the serializer gives the error
        {"blank": "   "},
        {},
    ],
)
def test_what_it_cannot_decide_goes_to_the_serializer(body):
    assert acceptor(Sample)(body) is None


class WithDefault(serializers.Serializer):
    a = serializers.CharField(default="x")


class WithValidate(serializers.Serializer):
    a = serializers.CharField()

    def validate_a(self, value):
        return value


class WithOtherField(serializers.Serializer):
    a = serializers.IntegerField()


@pytest.mark.parametrize("serializer_class", [WithDefault, WithValidate, WithOtherField])
def test_serializers_with_more_than_plain_fields_get_none(serializer_class):
    assert acceptor(serializer_class) is None
