"""Signature algorithms: every key and every signature of the right size round-trips,
including the byte patterns that once broke SM2 through gmssl."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ehccode import signing

SM2_N = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123", 16)
# d = 11: the public x coordinate begins with byte 0x04. gmssl's CryptSM2 constructor
# stripped "04" with str.lstrip, truncating such keys (1 in 256), so codes signed with
# them never verified: the old 1-in-~200 failure of test_algorithm_is_chosen_by_key_id.
X_BEGINS_WITH_04 = (11).to_bytes(32, "big")


def test_sm2_key_whose_x_begins_with_byte_04_signs_and_verifies():
    public = signing._sm2_public_from_secret(X_BEGINS_WITH_04)
    assert public[0] == 0x04
    sign, verify = signing.SM2.signer(X_BEGINS_WITH_04), signing.SM2.verifier(public)
    assert verify(b"EHC", sign(b"EHC"))
    assert not verify(b"EHD", sign(b"EHC"))


@pytest.mark.parametrize("nonce", [373, 705], ids=["r_leading_zero", "s_leading_zero"])
def test_sm2_signature_with_a_leading_zero_byte_verifies(nonce):
    # Fixed nonces whose r (373) or s (705) begins with a zero byte for this key and
    # message: the 64-byte r || s layout keeps them, the verifier accepts them.
    secret = bytes.fromhex("3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8")
    public = signing._sm2_public_from_secret(secret)
    engine = signing._sm2(secret.hex(), public.hex())
    signature = bytes.fromhex(engine.sign_with_sm3(b"leading zero", f"{nonce:064x}"))
    assert 0 in (signature[0], signature[32])
    assert signing.SM2.verifier(public)(b"leading zero", signature)


@settings(max_examples=25, deadline=None)
@given(d=st.integers(min_value=1, max_value=SM2_N - 2), message=st.binary(max_size=200))
def test_every_sm2_key_round_trips(d, message):
    secret = d.to_bytes(32, "big")
    public = signing._sm2_public_from_secret(secret)
    signature = signing.SM2.signer(secret)(message)
    assert len(signature) == signing.SIGNATURE_SIZE
    assert signing.SM2.verifier(public)(message, signature)


@settings(max_examples=25, deadline=None)
@given(
    prefix=st.sampled_from([b"\x04", b"\x04\x04", b"\x00", b"\x40"]),
    rest=st.binary(min_size=63, max_size=63),
)
def test_sm2_verifier_keeps_the_public_key_it_is_given(prefix, rest):
    # Whatever the leading bytes, the engine works on exactly the 64 bytes passed in.
    public = (prefix + rest)[:64]
    assert signing._sm2("", public.hex()).public_key == public.hex()


def test_ed25519_round_trip_and_refusals():
    secret, public = signing.ED25519.generate()
    signature = signing.ED25519.signer(secret)(b"EHC")
    verify = signing.ED25519.verifier(public)
    assert verify(b"EHC", signature)
    assert not verify(b"EHD", signature)
    assert not verify(b"EHC", bytes(64))


def test_sm2_verifier_refuses_out_of_range_signatures_and_points():
    _secret, public = signing.SM2.generate()
    verify = signing.SM2.verifier(public)
    assert not verify(b"EHC", bytes(64))  # r = s = 0
    assert not verify(b"EHC", SM2_N.to_bytes(32, "big") * 2)  # r = s = n
    assert not verify(b"EHC", b"\x01" * 63)
    with pytest.raises(ValueError):
        signing.SM2.verifier(bytes(64))  # not on the curve


def test_unknown_algorithm_is_refused_by_name():
    with pytest.raises(signing.UnsupportedAlgorithm):
        signing.get("rsa")
