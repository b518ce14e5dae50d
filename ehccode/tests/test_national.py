"""ehccode.national: SM4, the national EHC ID derivation and dynamic-code VALIDITY."""

import datetime
import secrets

import pytest
from gmssl.sm4 import SM4_ENCRYPT, CryptSM4

from ehccode import national

NO_PADDING = -1  # gmssl pads unless told neither PKCS7 (0) nor ZERO (1)


def gmssl_sm4_ecb(key: bytes, data: bytes) -> bytes:
    sm4 = CryptSM4(SM4_ENCRYPT, padding_mode=NO_PADDING)
    sm4.set_key(key, SM4_ENCRYPT)
    return sm4.crypt_ecb(data)


def reference_ehc_id(master_index: bytes, id_type: str, id_number: str, root_key: bytes) -> str:
    """DESIGN.md section 2, written out independently with gmssl's SM4."""
    groups = [master_index[i : i + 8] for i in range(0, 32, 8)]
    factor = bytes(a ^ b ^ c ^ d for a, b, c, d in zip(*groups, strict=True))
    person_key = gmssl_sm4_ecb(root_key, factor + bytes(255 - b for b in factor))
    block = (id_type + id_number).encode("ascii") + b"\x00" * (32 - len(id_type + id_number))
    return gmssl_sm4_ecb(person_key, block).hex().upper()


def test_sm4_known_answer_from_gb_t_32907():
    key = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    expected = bytes.fromhex("681EDF34D206965E86B3E94F536E4246")
    assert national._sm4_ecb_encrypt(key, key) == expected
    assert national._sm4_ecb_decrypt(key, expected) == key
    assert gmssl_sm4_ecb(key, key) == expected  # the reference agrees too


def test_ehc_id_matches_an_independent_implementation():
    for _ in range(50):
        master = secrets.token_bytes(32)
        root = secrets.token_bytes(16)
        number = f"43010219{secrets.randbelow(10**10):010d}"
        ehc_id = national.derive_ehc_id(master, "01", number, root)
        assert ehc_id == reference_ehc_id(master, "01", number, root)


def test_ehc_id_fixed_vector():
    master = bytes(range(32))
    root = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    ehc_id = national.derive_ehc_id(master, "01", "43010219900517001X", root)
    assert ehc_id == reference_ehc_id(master, "01", "43010219900517001X", root)
    assert national.EHC_ID_RE.fullmatch(ehc_id)
    assert len(ehc_id) == 64 and ehc_id == ehc_id.upper()


def test_different_master_index_or_identity_gives_a_different_ehc_id():
    root = secrets.token_bytes(16)
    master = secrets.token_bytes(32)
    base = national.derive_ehc_id(master, "01", "430102199005170017", root)
    other_master = bytes([master[0] ^ 1]) + master[1:]
    assert national.derive_ehc_id(other_master, "01", "430102199005170017", root) != base
    assert national.derive_ehc_id(master, "02", "430102199005170017", root) != base
    assert national.derive_ehc_id(master, "01", "430102199005170025", root) != base
    assert national.derive_ehc_id(master, "01", "430102199005170017", secrets.token_bytes(16)) != (
        base
    )


def test_recover_identity_inverts_the_derivation():
    root = secrets.token_bytes(16)
    master = secrets.token_bytes(32)
    for id_type, number in [
        ("01", "43010219900517001X"),
        ("04", "南字第1234567号"),
        ("99", "A" * 30),
    ]:
        ehc_id = national.derive_ehc_id(master, id_type, number, root)
        assert national.recover_identity(ehc_id, master, root) == (id_type, number)


def test_recover_identity_refuses_malformed_ehc_ids():
    for bad in ["", "AB" * 31, "ab" * 32, "G" * 64]:
        with pytest.raises(ValueError):
            national.recover_identity(bad, secrets.token_bytes(32), secrets.token_bytes(16))


def test_identity_longer_than_the_32_byte_block_is_refused():
    with pytest.raises(ValueError, match="32-byte"):
        national.derive_ehc_id(secrets.token_bytes(32), "99", "A" * 31, secrets.token_bytes(16))
    with pytest.raises(ValueError, match="32-byte"):
        # 11 Chinese characters are 33 bytes in UTF-8
        national.derive_ehc_id(secrets.token_bytes(32), "04", "南" * 11, secrets.token_bytes(16))


def test_wrong_key_and_master_index_sizes_are_refused():
    with pytest.raises(ValueError, match="master index"):
        national.derive_ehc_id(b"x" * 31, "01", "1", secrets.token_bytes(16))
    with pytest.raises(ValueError, match="root security key"):
        national.derive_ehc_id(b"x" * 32, "01", "1", secrets.token_bytes(32))


# --- dynamic-code VALIDITY ---------------------------------------------------------------


def test_validity_round_trip():
    key = secrets.token_bytes(16)
    expires = datetime.datetime(2026, 11, 25, 18, 40, 59)
    validity = national.encode_validity(expires, key)
    assert national.VALIDITY_RE.fullmatch(validity)
    assert national.decode_validity(validity, key) == expires


def test_validity_matches_an_independent_implementation():
    key = secrets.token_bytes(16)
    expires = datetime.datetime(2030, 1, 2, 3, 4, 5)
    expected = gmssl_sm4_ecb(key, b"20300102030405\x00\x00").hex().upper()
    assert national.encode_validity(expires, key) == expected


def test_garbage_validity_decodes_to_none():
    key = secrets.token_bytes(16)
    other = secrets.token_bytes(16)
    validity = national.encode_validity(datetime.datetime(2026, 1, 1), key)
    assert national.decode_validity(validity, other) is None
    assert national.decode_validity("0" * 32, key) is None
    assert national.decode_validity("xyz", key) is None
    assert national.decode_validity(validity.lower(), key) is None
    assert national.decode_validity(validity + "00", key) is None
    # Decrypts to digits, but not to a date.
    not_a_date = gmssl_sm4_ecb(key, b"20261399999999\x00\x00").hex().upper()
    assert national.decode_validity(not_a_date, key) is None
    # Decrypts to 14 characters that are not digits.
    letters = gmssl_sm4_ecb(key, b"2026AB01000000\x00\x00").hex().upper()
    assert national.decode_validity(letters, key) is None
