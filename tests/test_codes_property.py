"""Property-based: every mutation of a valid code is refused, never with an
exception and never with a card."""

import datetime
import string

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import ehccode
from ehccode import signing
from healthcard import codes

SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
AT = datetime.datetime(2026, 11, 25, 8, 0, tzinfo=datetime.UTC)
KEY_SET = {
    "keys": [
        {
            "kid": "E0000001",
            "algorithm": "ed25519",
            "public_key": PUBLIC,
            "state": "active",
            "not_before": "2025-01-01T00:00:00Z",
        }
    ]
}
SIGN = signing.ED25519.signer(SEED)
STATIC = ehccode.finish(
    ehccode.static_prefix("AB12" * 16, 3, datetime.date(2026, 3, 1), "E0000001"), SIGN
)
DYNAMIC = ehccode.finish(
    ehccode.dynamic_prefix(
        "CD34" * 16,
        "0123456789ABCDEF0123456789ABCDEF",
        "4300A0001",
        AT + datetime.timedelta(seconds=60),
        "E0000001",
    ),
    SIGN,
)
VERIFIER = ehccode.OfflineVerifier(KEY_SET, {})
# The QR alphanumeric set, lower case, and a few bytes a broken scanner might produce.
ALPHABET = string.digits + string.ascii_uppercase + " $%*+-./:" + "abcxyz\x00\n\r\t\xff二"


@st.composite
def mutations(draw, original: str):
    text = original
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["replace", "delete", "insert", "swap", "truncate", "append"]))
        if op == "replace" and text:
            i = draw(st.integers(0, len(text) - 1))
            text = text[:i] + draw(st.sampled_from(ALPHABET)) + text[i + 1 :]
        elif op == "delete" and text:
            i = draw(st.integers(0, len(text) - 1))
            text = text[:i] + text[i + 1 :]
        elif op == "insert":
            i = draw(st.integers(0, len(text)))
            text = text[:i] + draw(st.sampled_from(ALPHABET)) + text[i:]
        elif op == "swap" and len(text) > 1:
            i = draw(st.integers(0, len(text) - 2))
            text = text[:i] + text[i + 1] + text[i] + text[i + 2 :]
        elif op == "truncate":
            text = text[: draw(st.integers(0, len(text)))]
        elif op == "append":
            text += draw(st.text(alphabet=ALPHABET, min_size=1, max_size=5))
    return text


def test_unmutated_codes_are_valid():
    assert VERIFIER.verify(STATIC, at=AT).ok
    assert VERIFIER.verify(DYNAMIC, at=AT).ok


@settings(max_examples=1500, deadline=None)
@given(st.one_of(mutations(STATIC), mutations(DYNAMIC)))
def test_every_mutation_of_a_valid_code_is_refused_offline(mutated):
    assume(mutated not in (STATIC, DYNAMIC))
    result = VERIFIER.verify(mutated, at=AT)
    assert not result.ok
    assert result.reason in codes.Reason.ALL
    assert result.card is None


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_are_refused_offline(data):
    result = VERIFIER.verify(data, at=AT)
    assert not result.ok and result.reason in codes.Reason.ALL


@pytest.fixture
def online_code(card):
    return codes.static_code(card)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_every_mutation_is_refused_online(online_code, data):
    mutated = data.draw(mutations(online_code))
    assume(mutated != online_code)
    result = codes.verify_code(mutated)
    assert not result.ok
    assert result.reason in codes.Reason.ALL
    assert result.card is None
