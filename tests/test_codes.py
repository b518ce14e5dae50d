"""Online issuing and verification of signed codes (healthcard.codes)."""

import datetime

import pytest
from django.test import override_settings
from django.utils import timezone

import ehccode
from ehccode import national
from healthcard import cards, codes, keys
from healthcard.codes import CodeError, Reason, dynamic_code, static_code, verify_code
from healthcard.models import Card, CardStatus, Key, KeyPurpose, KeyState


def _refused(result, reason):
    assert not result.ok
    assert result.reason == reason, result
    assert result.card is None
    assert result.message
    return result


def _replace_char(text: str, index: int) -> str:
    new = "A" if text[index] != "A" else "B"
    return text[:index] + new + text[index + 1 :]


# --- happy paths -------------------------------------------------------------------


def test_static_code_verifies_and_returns_the_card(card):
    text = static_code(card)
    result = verify_code(text)
    assert result.ok and result.reason is None
    assert result.card == card
    assert result.kind == "static"
    assert result.ehc_id == card.ehc_id
    assert result.kid == Key.objects.get(purpose=KeyPurpose.CODE_SIGNING, state="active").kid
    assert result.message


def test_static_code_is_national_compatible_and_carries_seq_and_date(card):
    fields = static_code(card).split(":")
    assert fields[0] == card.ehc_id and fields[1] == "1"
    assert fields[2] == "H1"
    assert fields[3] == str(card.issue_seq)
    assert fields[4] == card.seq_issued_at.astimezone(ehccode.CST).strftime("%Y%m%d")


def test_dynamic_code_verifies_and_carries_national_validity_and_org_code(card):
    now = timezone.now().replace(microsecond=0)
    text = dynamic_code(card, now=now)
    fields = text.split(":")
    assert fields[:2] == [card.ehc_id, "0"]
    assert fields[3] == "4300A0001"
    protection = keys.unwrap(Key.objects.get(purpose=KeyPurpose.DYNAMIC_PROTECTION))
    expires_cst = (now + datetime.timedelta(seconds=60)).astimezone(ehccode.CST)
    assert national.decode_validity(fields[2], protection) == expires_cst.replace(tzinfo=None)
    result = verify_code(text, at=now + datetime.timedelta(seconds=59))
    assert result.ok and result.kind == "dynamic" and result.card == card


@override_settings(HEALTHCARD_ORG_CODE="4300B0002")
def test_dynamic_code_uses_the_configured_org_code(card):
    assert dynamic_code(card).split(":")[3] == "4300B0002"


def test_dynamic_code_expires_after_default_lifetime_of_60_seconds(card):
    now = timezone.now().replace(microsecond=0)
    text = dynamic_code(card, now=now)
    assert verify_code(text, at=now + datetime.timedelta(seconds=59)).ok
    _refused(verify_code(text, at=now + datetime.timedelta(seconds=60)), Reason.EXPIRED)


@override_settings(HEALTHCARD_DYNAMIC_CODE_SECONDS=120)
def test_dynamic_code_lifetime_is_configurable(card):
    now = timezone.now().replace(microsecond=0)
    text = dynamic_code(card, now=now)
    assert verify_code(text, at=now + datetime.timedelta(seconds=119)).ok
    text = dynamic_code(card, now=now, lifetime=5)
    _refused(verify_code(text, at=now + datetime.timedelta(seconds=5)), Reason.EXPIRED)


def test_expired_dynamic_code_is_rejected_with_time_machine(card, time_machine):
    time_machine.move_to(datetime.datetime(2026, 5, 1, 8, 0, tzinfo=datetime.UTC), tick=False)
    text = dynamic_code(card)
    time_machine.shift(datetime.timedelta(seconds=61))
    _refused(verify_code(text), Reason.EXPIRED)


@pytest.mark.parametrize("lifetime", [0, -1, 3601])
def test_dynamic_code_refuses_lifetime_outside_one_second_to_one_hour(card, lifetime):
    with pytest.raises(ValueError):
        dynamic_code(card, lifetime=lifetime)


def test_dynamic_code_far_in_the_future_is_not_yet_valid(card):
    now = timezone.now()
    text = dynamic_code(card, now=now + datetime.timedelta(hours=3))
    _refused(verify_code(text, at=now), Reason.NOT_YET_VALID)


def test_static_code_dated_after_the_verification_day_is_not_yet_valid(card):
    text = static_code(card)
    _refused(
        verify_code(text, at=timezone.now() - datetime.timedelta(days=2)), Reason.NOT_YET_VALID
    )


# --- card state --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "reason"),
    [(CardStatus.FROZEN, Reason.CARD_FROZEN), (CardStatus.CANCELLED, Reason.CARD_CANCELLED)],
)
def test_codes_are_not_made_for_inactive_cards(card, supervisor, status, reason):
    cards.set_status(card, status, by=supervisor, reason="test")
    card.refresh_from_db()
    for make in (static_code, dynamic_code):
        with pytest.raises(CodeError) as exc:
            make(card)
        assert exc.value.reason == reason


def test_frozen_card_code_is_refused_then_accepted_after_unfreeze(card, supervisor):
    text = static_code(card)
    cards.set_status(card, CardStatus.FROZEN, by=supervisor, reason="suspected misuse")
    _refused(verify_code(text), Reason.CARD_FROZEN)
    cards.set_status(card, CardStatus.ACTIVE, by=supervisor, reason="cleared")
    assert verify_code(text).ok


def test_cancelled_card_code_is_refused(card, supervisor):
    text = dynamic_code(card)
    cards.set_status(card, CardStatus.CANCELLED, by=supervisor, reason="deceased")
    _refused(verify_code(text), Reason.CARD_CANCELLED)


def test_replacement_supersedes_the_old_static_code_at_once(card, clerk):
    old = static_code(card)
    card = cards.replace_card(card, by=clerk, reason="lost")
    result = _refused(verify_code(old), Reason.SUPERSEDED)
    assert result.ehc_id == card.ehc_id and result.kind == "static"
    new = static_code(card)
    assert new.split(":")[3] == "2"
    assert verify_code(new).ok


def test_unknown_card_is_refused(db):
    kid, sign = keys.code_signer()
    prefix = ehccode.static_prefix("AB" * 32, 1, datetime.date(2026, 1, 1), kid)
    _refused(verify_code(ehccode.finish(prefix, sign)), Reason.UNKNOWN_CARD)


def test_issue_sequence_never_issued_is_unknown(card):
    kid, sign = keys.code_signer()
    prefix = ehccode.static_prefix(card.ehc_id, card.issue_seq + 1, datetime.date(2026, 1, 1), kid)
    _refused(verify_code(ehccode.finish(prefix, sign)), Reason.UNKNOWN_CARD)


def test_static_codes_in_bulk_match_single_codes(make_card):
    batch = [make_card() for _ in range(3)]
    texts = codes.static_codes(batch)
    assert [verify_code(t).card for t in texts] == batch


# --- keys --------------------------------------------------------------------------


def test_revoked_key_verifies_nothing(card):
    static, dynamic = static_code(card), dynamic_code(card)
    key = Key.objects.get(purpose=KeyPurpose.CODE_SIGNING, state=KeyState.ACTIVE)
    keys.revoke(key, reason="compromised")
    _refused(verify_code(static), Reason.KEY_REVOKED)
    _refused(verify_code(dynamic), Reason.KEY_REVOKED)
    # The next code is signed by a fresh key.
    assert verify_code(static_code(card)).ok


def test_retired_key_verifies_static_codes_until_its_not_after(card):
    text = static_code(card)
    old = keys.rotate(KeyPurpose.CODE_SIGNING) and Key.objects.get(
        purpose=KeyPurpose.CODE_SIGNING, state=KeyState.RETIRED
    )
    assert verify_code(text).ok
    assert verify_code(text, at=old.not_after).ok
    _refused(verify_code(text, at=old.not_after + datetime.timedelta(seconds=1)), Reason.EXPIRED)
    assert static_code(card) != text


def test_retired_key_verifies_dynamic_codes_it_signed_until_they_expire(card):
    now = timezone.now().replace(microsecond=0)
    text = dynamic_code(card, now=now)
    keys.rotate(KeyPurpose.CODE_SIGNING)
    assert verify_code(text, at=now + datetime.timedelta(seconds=30)).ok
    _refused(verify_code(text, at=now + datetime.timedelta(seconds=60)), Reason.EXPIRED)


def test_dynamic_code_signed_by_a_retired_key_after_retirement_is_refused(card):
    old = keys.active_key(KeyPurpose.CODE_SIGNING)
    keys.rotate(KeyPurpose.CODE_SIGNING)
    old.refresh_from_db()
    at = old.retired_at + datetime.timedelta(hours=2)
    protection = keys.unwrap(keys.active_key(KeyPurpose.DYNAMIC_PROTECTION))
    expires = (at + datetime.timedelta(seconds=30)).replace(microsecond=0)
    validity = national.encode_validity(
        expires.astimezone(ehccode.CST).replace(tzinfo=None), protection
    )
    prefix = ehccode.dynamic_prefix(card.ehc_id, validity, "4300A0001", expires, old.kid)
    _refused(verify_code(ehccode.finish(prefix, keys.signer_for(old)), at=at), Reason.KEY_RETIRED)


def test_dynamic_code_survives_one_protection_key_rotation_but_not_two(card):
    now = timezone.now().replace(microsecond=0)
    text = dynamic_code(card, now=now)
    at = now + datetime.timedelta(seconds=10)
    keys.rotate(KeyPurpose.DYNAMIC_PROTECTION)
    assert verify_code(text, at=at).ok
    keys.rotate(KeyPurpose.DYNAMIC_PROTECTION)
    _refused(verify_code(text, at=at), Reason.UNKNOWN_KEY)


def test_revoked_previous_protection_key_is_not_tried(card):
    now = timezone.now().replace(microsecond=0)
    text = dynamic_code(card, now=now)
    old = keys.active_key(KeyPurpose.DYNAMIC_PROTECTION)
    keys.rotate(KeyPurpose.DYNAMIC_PROTECTION)
    keys.revoke(Key.objects.get(pk=old.pk), reason="leaked")
    _refused(verify_code(text, at=now + datetime.timedelta(seconds=5)), Reason.UNKNOWN_KEY)


def test_pending_key_is_unknown(card):
    text = static_code(card)
    Key.objects.filter(purpose=KeyPurpose.CODE_SIGNING).update(state=KeyState.PENDING)
    _refused(verify_code(text), Reason.UNKNOWN_KEY)


def test_sm2_static_code_works_end_to_end_online_and_offline(card):
    keys.rotate(KeyPurpose.CODE_SIGNING, algorithm="sm2")
    text = static_code(card)
    result = verify_code(text)
    assert result.ok and Key.objects.get(kid=result.kid).algorithm == "sm2"
    offline_result = ehccode.verify_offline(text, codes.public_key_set())
    assert offline_result.ok and offline_result.kid == result.kid
    _refused(verify_code(_replace_char(text, len(text) - 20)), Reason.BAD_SIGNATURE)


def test_sm2_dynamic_code_verifies(card):
    keys.rotate(KeyPurpose.CODE_SIGNING, algorithm="sm2")
    assert verify_code(dynamic_code(card)).ok


# --- bad input ---------------------------------------------------------------------


@pytest.fixture
def text(card):
    return static_code(card)


def test_extra_field_is_malformed(text):
    _refused(verify_code(text + ":X"), Reason.MALFORMED)
    fields = text.split(":")
    _refused(verify_code(":".join([*fields[:4], "7", *fields[4:]])), Reason.MALFORMED)


def test_missing_field_is_malformed(text):
    fields = text.split(":")
    for i in range(2, len(fields)):
        _refused(verify_code(":".join(fields[:i] + fields[i + 1 :])), Reason.MALFORMED)


def test_bare_national_codes_are_malformed(card):
    _refused(verify_code(f"{card.ehc_id}:1"), Reason.MALFORMED)
    _refused(verify_code(f"{card.ehc_id}:0:{'0' * 32}:4300A0001"), Reason.MALFORMED)


def test_lower_case_hex_is_malformed(text):
    _refused(verify_code(text[:64].lower() + text[64:]), Reason.MALFORMED)
    _refused(verify_code(text.lower()), Reason.MALFORMED)


def test_non_hex_ehc_id_is_malformed(text):
    _refused(verify_code("G" + text[1:]), Reason.MALFORMED)


def test_truncated_signature_is_malformed(text):
    _refused(verify_code(text[:-1]), Reason.MALFORMED)
    _refused(verify_code(text[:-50]), Reason.MALFORMED)


def test_altered_signature_is_bad_signature(text):
    _refused(verify_code(_replace_char(text, len(text) - 20)), Reason.BAD_SIGNATURE)


def test_signature_moved_from_another_card_is_bad_signature(make_card, text):
    other = static_code(make_card())
    moved = text.rsplit(":", 1)[0] + ":" + other.rsplit(":", 1)[1]
    _refused(verify_code(moved), Reason.BAD_SIGNATURE)
    moved = other.rsplit(":", 1)[0] + ":" + text.rsplit(":", 1)[1]
    _refused(verify_code(moved), Reason.BAD_SIGNATURE)


def test_one_character_changed_in_the_ehc_id_is_refused(text):
    result = verify_code(_replace_char(text, 10))
    _refused(result, Reason.BAD_SIGNATURE)
    assert result.ehc_id == _replace_char(text, 10)[:64]


def test_very_long_input_is_refused_before_parsing(text):
    _refused(verify_code(text + ":" + "A" * 1024), Reason.MALFORMED)
    _refused(verify_code("A" * 10_000_000), Reason.MALFORMED)
    result = _refused(verify_code(text.ljust(1025, "A")), Reason.MALFORMED)
    assert result.ehc_id is None  # nothing was parsed


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x00\xff\xfe binary",
        bytes(range(256)),
        "\x00\x01\x02",
        "EHCID:1",
        "",
        ":::::::",
        "二维码",
        None,
        12345,
        ["A"],
    ],
)
def test_garbage_is_malformed(db, garbage):
    _refused(verify_code(garbage), Reason.MALFORMED)


def test_bytes_input_of_a_valid_code_verifies(text):
    assert verify_code(text.encode("ascii")).ok


def test_unknown_key_id_is_refused(text):
    fields = text.split(":")
    fields[5] = "ZZZZ9999"
    result = _refused(verify_code(":".join(fields)), Reason.UNKNOWN_KEY)
    assert result.kid == "ZZZZ9999"


def test_unsupported_version_and_type_are_refused(text):
    _refused(verify_code(text.replace(":H1:", ":H2:")), Reason.UNSUPPORTED_VERSION)
    _refused(verify_code(text[:64] + ":9" + text[66:]), Reason.UNSUPPORTED_VERSION)


def test_dynamic_with_tampered_expiry_is_bad_signature(card):
    now = timezone.now().replace(microsecond=0)
    fields = dynamic_code(card, now=now).split(":")
    fields[5] = str(int(fields[5]) + 30)
    _refused(verify_code(":".join(fields), at=now), Reason.BAD_SIGNATURE)


def test_verification_never_returns_a_card_on_failure(card, supervisor):
    text = static_code(card)
    cards.set_status(card, CardStatus.FROZEN, by=supervisor, reason="x")
    result = verify_code(text)
    assert result.card is None and result.ehc_id == card.ehc_id
    assert Card.objects.get(pk=card.pk).status == CardStatus.FROZEN


def test_every_reason_has_a_message():
    assert set(Reason.MESSAGES) == set(Reason.ALL)
    for reason in (
        "malformed",
        "unsupported_version",
        "unknown_key",
        "bad_signature",
        "key_revoked",
        "expired",
        "not_yet_valid",
        "superseded",
        "card_frozen",
        "card_cancelled",
        "unknown_card",
    ):
        assert reason in Reason.ALL
        assert str(Reason.MESSAGES[reason])


def test_public_key_set_lists_signing_keys_without_secrets(card):
    static_code(card)
    dynamic_code(card)
    data = codes.public_key_set()
    assert {k["kid"] for k in data["keys"]} == set(
        Key.objects.filter(purpose=KeyPurpose.CODE_SIGNING).values_list("kid", flat=True)
    )
    for key in data["keys"]:
        assert set(key) == {
            "kid",
            "algorithm",
            "public_key",
            "state",
            "not_before",
            "not_after",
            "retired_at",
            "revoked_at",
        }
    assert data["etag"]


def test_verifying_a_dynamic_code_never_creates_a_protection_key(card):
    kid, sign = keys.code_signer()
    expires = (timezone.now() + datetime.timedelta(seconds=30)).replace(microsecond=0)
    validity = national.encode_validity(
        expires.astimezone(ehccode.CST).replace(tzinfo=None), bytes(16)
    )
    text = ehccode.finish(
        ehccode.dynamic_prefix(card.ehc_id, validity, "4300A0001", expires, kid), sign
    )
    _refused(verify_code(text), Reason.UNKNOWN_KEY)
    assert not Key.objects.filter(purpose=KeyPurpose.DYNAMIC_PROTECTION).exists()
