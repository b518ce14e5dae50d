"""The national EHC scheme's SM4 constructions: the EHC ID and the dynamic code's
VALIDITY field (docs/qr-format.md section 1).

Pure functions over bytes and strings: no database, no settings. The root security key
and the dynamic-code protection key are passed in by the caller (on the platform,
healthcard.keys; terminals never hold them).
"""

import datetime
import re

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ehccode.grammar import FIELD

# The same fields as in the code grammar.
EHC_ID_RE = re.compile(FIELD["ehcid"])
VALIDITY_RE = re.compile(FIELD["validity"])


def _sm4_ecb_encrypt(key: bytes, data: bytes) -> bytes:
    encryptor = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()  # noqa: S305 - national scheme
    return encryptor.update(data) + encryptor.finalize()


def _sm4_ecb_decrypt(key: bytes, data: bytes) -> bytes:
    decryptor = Cipher(algorithms.SM4(key), modes.ECB()).decryptor()  # noqa: S305 - national scheme
    return decryptor.update(data) + decryptor.finalize()


def _person_key(master_index: bytes, root_key: bytes) -> bytes:
    if len(master_index) != 32:
        raise ValueError("the master index ID is 32 bytes")
    if len(root_key) != 16:
        raise ValueError("the root security key is a 16-byte SM4 key")
    factor = bytearray(8)
    for group in range(4):
        for i in range(8):
            factor[i] ^= master_index[group * 8 + i]
    inverted = bytes(b ^ 0xFF for b in factor)
    return _sm4_ecb_encrypt(root_key, bytes(factor) + inverted)


def _identity_block(id_type: str, id_number: str) -> bytes:
    text = (id_type + id_number).encode("utf-8")
    if len(text) > 32:
        raise ValueError("id_type + id_number exceeds the 32-byte EHC ID block")
    return text.ljust(32, b"\x00")


def derive_ehc_id(master_index: bytes, id_type: str, id_number: str, root_key: bytes) -> str:
    """The national EHC ID: 64 upper-case hex characters.

    per-person key = SM4-ECB(root key, factor || NOT factor), factor being the XOR of the
    master index's four 8-byte groups; EHC ID = SM4-ECB(per-person key,
    (id_type + id_number) zero-padded to 32 bytes).
    """
    key = _person_key(master_index, root_key)
    return _sm4_ecb_encrypt(key, _identity_block(id_type, id_number)).hex().upper()


def recover_identity(ehc_id: str, master_index: bytes, root_key: bytes) -> tuple[str, str]:
    """Inverse of derive_ehc_id for the platform's own use: (id_type, id_number)."""
    if not EHC_ID_RE.fullmatch(ehc_id):
        raise ValueError("an EHC ID is 64 upper-case hex characters")
    key = _person_key(master_index, root_key)
    block = _sm4_ecb_decrypt(key, bytes.fromhex(ehc_id)).rstrip(b"\x00")
    text = block.decode("utf-8")
    return text[:2], text[2:]


def encode_validity(expires_at: datetime.datetime, protection_key: bytes) -> str:
    """National dynamic-code VALIDITY: SM4-ECB(key, 'YYYYMMDDHHMMSS' zero-padded to 16)."""
    stamp = expires_at.strftime("%Y%m%d%H%M%S").encode("ascii").ljust(16, b"\x00")
    return _sm4_ecb_encrypt(protection_key, stamp).hex().upper()


def decode_validity(validity: str, protection_key: bytes) -> datetime.datetime | None:
    """The naive expiry time inside VALIDITY, or None when it does not decrypt to one."""
    if not VALIDITY_RE.fullmatch(validity):
        return None
    plain = _sm4_ecb_decrypt(protection_key, bytes.fromhex(validity))
    stamp = plain.rstrip(b"\x00")
    if len(stamp) != 14 or plain[14:] != b"\x00\x00" or not stamp.isdigit():
        return None
    try:
        return datetime.datetime.strptime(stamp.decode(), "%Y%m%d%H%M%S")
    except ValueError:
        return None
