"""The H1 grammar: one table of fields builds the whole-code patterns and names the
reason for a refusal."""

import datetime

import pytest
from ehccode.reasons import Reason, Rejected

import ehccode
from ehccode import grammar

KID = "E0000001"
SIG = "A" * 103
STATIC = f"{'AB' * 32}:1:H1:7:20260301:{KID}:{SIG}"
DYNAMIC = f"{'AB' * 32}:0:{'0' * 32}:4300A0001:H1:1764057600:{KID}:{SIG}"


def _reason(text):
    with pytest.raises(Rejected) as exc:
        ehccode.parse(text)
    return exc.value


def test_builders_and_parser_agree_on_the_layout():
    prefix = ehccode.static_prefix("AB" * 32, 7, datetime.date(2026, 3, 1), KID)
    assert ehccode.parse(f"{prefix}:{SIG}").signed_bytes == prefix.encode()
    code = ehccode.parse(DYNAMIC)
    assert (code.kind, code.org_code, code.validity) == ("dynamic", "4300A0001", "0" * 32)
    assert code.expires_at == datetime.datetime(2025, 11, 25, 8, 0, tzinfo=datetime.UTC)
    assert code.signed_bytes == DYNAMIC.rsplit(":", 1)[0].encode()


def test_layouts_name_every_field_of_the_grammar_once():
    named = [f for layout in grammar.LAYOUT.values() for f in layout if f in grammar.FIELD]
    assert set(named) == set(grammar.FIELD)


@pytest.mark.parametrize(
    ("text", "reason", "kid"),
    [
        (STATIC.replace(":1:H1:", ":9:H1:"), Reason.UNSUPPORTED_VERSION, None),
        (STATIC.replace(":H1:", ":H2:"), Reason.UNSUPPORTED_VERSION, None),
        (DYNAMIC.replace(":H1:", ":H9Z:"), Reason.UNSUPPORTED_VERSION, None),
        (STATIC.replace("20260301", "20261301"), Reason.MALFORMED, KID),  # no 13th month
        (STATIC.replace(":7:", ":07:"), Reason.MALFORMED, KID),
        (STATIC[:-1] + "B", Reason.MALFORMED, KID),  # spare bits set: not canonical
        (STATIC.lower(), Reason.MALFORMED, None),
        ("AB" * 32 + ":1", Reason.MALFORMED, None),  # a bare national static code
        ("AB" * 32 + ":0:" + "0" * 32 + ":4300A0001", Reason.MALFORMED, None),
        (STATIC + " ", Reason.MALFORMED, KID),
        ("", Reason.MALFORMED, None),
        ("A" * 5000, Reason.MALFORMED, None),
        ("Ａ" + STATIC[1:], Reason.MALFORMED, None),  # full-width letter
    ],
)
def test_refusals_name_the_reason_and_what_was_read(text, reason, kid):
    exc = _reason(text)
    assert exc.reason == reason
    assert exc.parsed.get("kid") == kid


def test_bytes_are_read_as_ascii_and_other_types_are_malformed():
    assert ehccode.parse(STATIC.encode()).issue_seq == 7
    assert _reason(b"\xff" * 10).reason == Reason.MALFORMED
    assert _reason(None).reason == Reason.MALFORMED
