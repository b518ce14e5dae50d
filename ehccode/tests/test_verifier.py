"""The offline verifier: a saved key set and revocation list, no database, no network,
no Django."""

import datetime
import json

import pytest

import ehccode
from ehccode import OfflineVerifier, Reason, signing

AT = datetime.datetime(2026, 11, 25, 8, 0, tzinfo=datetime.UTC)
EHC = "AB12" * 16


def _key(kid="E0000001", algorithm="ed25519", **extra):
    secret, public = signing.get(algorithm).generate()
    entry = {
        "kid": kid,
        "algorithm": algorithm,
        "public_key": public.hex(),
        "state": "active",
        "not_before": "2025-01-01T00:00:00Z",
        "not_after": None,
        "retired_at": None,
        "revoked_at": None,
        **extra,
    }
    return entry, signing.get(algorithm).signer(secret)


def _static(sign, kid="E0000001", seq=1, ehc=EHC, date=datetime.date(2026, 1, 1)):
    return ehccode.finish(ehccode.static_prefix(ehc, seq, date, kid), sign)


def _dynamic(sign, kid="E0000001", expires=AT + datetime.timedelta(seconds=60), ehc=EHC):
    return ehccode.finish(ehccode.dynamic_prefix(ehc, "0" * 32, "4300A0001", expires, kid), sign)


@pytest.fixture
def ed():
    return _key()


def _entry(seq, kind, ehc=EHC, issue_seq=None):
    return {
        "seq": seq,
        "ref": ehccode.card_ref(ehc),
        "kind": kind,
        "issue_seq": issue_seq,
        "at": "2026-06-01T00:00:00Z",
    }


def test_valid_static_and_dynamic_codes_verify_without_a_database(ed):
    entry, sign = ed
    verifier = OfflineVerifier({"keys": [entry]}, {"entries": [], "cursor": "c0"})
    for text, kind in ((_static(sign), "static"), (_dynamic(sign), "dynamic")):
        result = verifier.verify(text, at=AT)
        assert result.ok and result.kind == kind and result.card is None
        assert result.ehc_id == EHC and result.kid == "E0000001"


def test_sm2_codes_verify_offline():
    entry, sign = _key("S0000001", "sm2")
    verifier = OfflineVerifier({"keys": [entry]})
    assert verifier.verify(_static(sign, "S0000001"), at=AT).ok
    assert verifier.verify(_dynamic(sign, "S0000001"), at=AT).ok


def test_algorithm_is_chosen_by_key_id():
    ed_entry, ed_sign = _key("E0000001", "ed25519")
    sm_entry, sm_sign = _key("S0000001", "sm2")
    verifier = OfflineVerifier({"keys": [ed_entry, sm_entry]})
    assert verifier.verify(_static(ed_sign, "E0000001"), at=AT).ok
    assert verifier.verify(_static(sm_sign, "S0000001"), at=AT).ok
    # An Ed25519 signature presented under the SM2 key ID does not verify.
    wrong = _static(ed_sign, "S0000001")
    assert verifier.verify(wrong, at=AT).reason == Reason.BAD_SIGNATURE


def test_unknown_pending_and_unusable_keys_are_unknown_key(ed):
    entry, sign = ed
    assert OfflineVerifier({"keys": []}).verify(_static(sign), at=AT).reason == Reason.UNKNOWN_KEY
    for change in (
        {"state": "pending"},
        {"state": "compromised?"},
        {"algorithm": "rsa"},
        {"public_key": "00" * 3},
    ):
        verifier = OfflineVerifier({"keys": [{**entry, **change}]})
        assert verifier.verify(_static(sign), at=AT).reason == Reason.UNKNOWN_KEY


def test_revoked_key_verifies_nothing(ed):
    entry, sign = ed
    verifier = OfflineVerifier({"keys": [{**entry, "state": "revoked"}]})
    assert verifier.verify(_static(sign), at=AT).reason == Reason.KEY_REVOKED
    assert verifier.verify(_dynamic(sign), at=AT).reason == Reason.KEY_REVOKED


def test_retired_key_verifies_static_codes_until_not_after(ed):
    entry, sign = ed
    retired = {
        **entry,
        "state": "retired",
        "retired_at": "2026-06-01T00:00:00Z",
        "not_after": "2026-12-01T00:00:00Z",
    }
    verifier = OfflineVerifier({"keys": [retired]})
    assert verifier.verify(_static(sign), at=AT).ok
    later = datetime.datetime(2026, 12, 1, 0, 0, 1, tzinfo=datetime.UTC)
    assert verifier.verify(_static(sign), at=later).reason == Reason.EXPIRED


def test_retired_key_refuses_dynamic_codes_signed_after_retirement(ed):
    entry, sign = ed
    retired = {**entry, "state": "retired", "retired_at": "2026-11-25T06:00:00Z"}
    verifier = OfflineVerifier({"keys": [retired]})
    assert verifier.verify(_dynamic(sign), at=AT).reason == Reason.KEY_RETIRED
    before = {**retired, "retired_at": "2026-11-25T07:59:30Z"}
    assert OfflineVerifier({"keys": [before]}).verify(_dynamic(sign), at=AT).ok


def test_key_not_yet_valid(ed):
    entry, sign = ed
    verifier = OfflineVerifier({"keys": [{**entry, "not_before": "2027-01-01T00:00:00+08:00"}]})
    assert verifier.verify(_static(sign), at=AT).reason == Reason.NOT_YET_VALID


def test_dynamic_expiry_window(ed):
    entry, sign = ed
    verifier = OfflineVerifier({"keys": [entry]})
    text = _dynamic(sign)
    assert verifier.verify(text, at=AT + datetime.timedelta(seconds=59)).ok
    assert verifier.verify(text, at=AT + datetime.timedelta(seconds=60)).reason == Reason.EXPIRED
    far = _dynamic(sign, expires=AT + datetime.timedelta(hours=2))
    assert verifier.verify(far, at=AT).reason == Reason.NOT_YET_VALID


def test_static_code_dated_in_the_future_is_not_yet_valid(ed):
    entry, sign = ed
    text = _static(sign, date=datetime.date(2026, 11, 26))
    verifier = OfflineVerifier({"keys": [entry]})
    assert verifier.verify(text, at=AT).reason == Reason.NOT_YET_VALID
    # 2026-11-25 16:00 UTC is already 11-26 in China Standard Time.
    assert verifier.verify(text, at=AT + datetime.timedelta(hours=8)).ok


def test_revocation_list_freeze_unfreeze_cancel(ed):
    entry, sign = ed
    text = _static(sign)
    states = [
        ([_entry(1, "frozen")], Reason.CARD_FROZEN),
        ([_entry(1, "frozen"), _entry(2, "unfrozen")], None),
        ([_entry(1, "cancelled")], Reason.CARD_CANCELLED),
        ([_entry(1, "frozen"), _entry(2, "cancelled"), _entry(3, "unfrozen")], "card_cancelled"),
        ([_entry(1, "frozen", ehc="CD34" * 16)], None),
    ]
    for entries, reason in states:
        result = OfflineVerifier({"keys": [entry]}, {"entries": entries}).verify(text, at=AT)
        assert result.reason == reason, entries


def test_revocation_list_supersedes_older_issue_sequences_of_static_codes_only(ed):
    entry, sign = ed
    revocations = {
        "entries": [_entry(1, "superseded", issue_seq=3), _entry(2, "superseded", issue_seq=2)]
    }
    verifier = OfflineVerifier({"keys": [entry]}, revocations)
    assert verifier.verify(_static(sign, seq=2), at=AT).reason == Reason.SUPERSEDED
    assert verifier.verify(_static(sign, seq=3), at=AT).ok
    assert verifier.verify(_dynamic(sign), at=AT).ok


def test_merging_pages_keeps_order_and_last_cursor(ed):
    entry, sign = ed
    saved = ehccode.merge_revocation_pages(None, {"entries": [_entry(1, "frozen")], "cursor": "c1"})
    saved = ehccode.merge_revocation_pages(
        saved, {"entries": [_entry(2, "unfrozen")], "cursor": "c2"}
    )
    assert saved["cursor"] == "c2" and len(saved["entries"]) == 2
    assert OfflineVerifier({"keys": [entry]}, saved).verify(_static(sign), at=AT).ok
    unchanged = ehccode.merge_revocation_pages(saved, {"entries": [], "cursor": None})
    assert unchanged["cursor"] == "c2"


def test_card_reference_is_not_the_ehc_id():
    ref = ehccode.card_ref(EHC)
    assert len(ref) == 32 and EHC not in ref and ref == ref.upper()
    assert ehccode.card_ref("CD34" * 16) != ref


def test_from_files(tmp_path, ed):
    entry, sign = ed
    (tmp_path / "keys.json").write_text(json.dumps({"keys": [entry]}))
    (tmp_path / "rev.json").write_text(json.dumps({"entries": [_entry(1, "frozen")]}))
    verifier = OfflineVerifier.from_files(tmp_path / "keys.json", tmp_path / "rev.json")
    assert verifier.verify(_static(sign), at=AT).reason == Reason.CARD_FROZEN
    assert OfflineVerifier.from_files(tmp_path / "keys.json", None).verify(_static(sign), at=AT).ok


def test_default_time_is_now(ed):
    entry, sign = ed
    text = _dynamic(
        sign, expires=datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=30)
    )
    assert OfflineVerifier({"keys": [entry]}).verify(text).ok


@pytest.mark.parametrize("bad", [None, b"\xff" * 10, "x" * 2000, "", 3.5])
def test_garbage_never_raises(ed, bad):
    entry, _sign = ed
    result = OfflineVerifier({"keys": [entry]}).verify(bad, at=AT)
    assert not result.ok and result.reason == Reason.MALFORMED
