"""healthcard.api.views.plainly_valid: the serializer-free check of request bodies must
accept only what the serializer accepts, and validate it to the same data."""

import pytest

from healthcard.api import serializers as s
from healthcard.api.views import plainly_valid

CODE = "A" * 200
CASES = [
    {"code": CODE, "care_step": "010101"},
    {"code": CODE, "care_step": "010101", "department": "内科", "fee_type": "0200"},
    {"code": CODE, "care_step": "010101", "department": "", "fee_type": ""},
    {"code": CODE, "care_step": "010101", "channel": "01", "institution": "430100000001"},
    {"code": CODE, "care_step": "010101", "unknown": "ignored"},
    {"code": CODE},
    {"care_step": "010101"},
    {"code": "", "care_step": "010101"},
    {"code": " " + CODE, "care_step": "010101"},
    {"code": CODE + "\n", "care_step": "010101"},
    {"code": "A\x00B", "care_step": "010101"},
    {"code": "A\ud800B", "care_step": "010101"},
    {"code": "A" * 513, "care_step": "010101"},
    {"code": 12345, "care_step": "010101"},
    {"code": None, "care_step": "010101"},
    {"code": CODE, "care_step": 10101},
    {"code": CODE, "care_step": "999999"},
    {"code": CODE, "care_step": "010101", "channel": ""},
    {"code": CODE, "care_step": "010101", "department": "x" * 51},
    {"code": CODE, "care_step": "010101", "department": "\u3000内科"},
    {"code": CODE, "care_step": "010101", "institution": ""},
    {"code": CODE, "care_step": "010101", "institution": "4" * 23},
    {"code": CODE, "care_step": "010101", "fee_type": "nope"},
]


@pytest.mark.parametrize("body", CASES)
def test_quick_check_agrees_with_the_serializer(body):
    quick = plainly_valid(s.VerifyRequestSerializer, body)
    serializer = s.VerifyRequestSerializer(data=body)
    valid = serializer.is_valid()
    if quick is not None:
        assert valid
        assert quick == dict(serializer.validated_data)


def test_plain_valid_bodies_take_the_quick_path():
    assert plainly_valid(s.VerifyRequestSerializer, CASES[1]) == CASES[1]


def test_serializers_with_other_fields_always_use_the_serializer():
    body = {"scans": []}
    assert plainly_valid(s.UsageBatchSerializer, body) is None
