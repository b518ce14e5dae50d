"""ehccode: the signed QR code of the Hunan electronic health card, format H1
(docs/qr-format.md), for the platform and for terminal vendors alike.

Parsing, the signed bytes, the signature algorithms (Ed25519, SM2 with SM3), the
national SM4 derivations (EHC ID, dynamic-code VALIDITY), the card reference, the key
set and revocation list, and `OfflineVerifier`. No Django, no database, no network.

    from ehccode import OfflineVerifier
    verifier = OfflineVerifier.from_files("keys.json", "revocations.json")
    result = verifier.verify(scanned_text)
    result.ok, result.reason   # True, None  /  False, "expired"

Command line: python -m ehccode verify --keys keys.json --revocations rev.json CODE...
"""

from ehccode.grammar import (
    CST,
    MAX_DYNAMIC_LIFETIME,
    MAX_TEXT_LENGTH,
    VERSION,
    ParsedCode,
    decode_signature,
    dynamic_prefix,
    encode_signature,
    finish,
    parse,
    static_prefix,
)
from ehccode.keyset import KeyInfo, check, load_key_set
from ehccode.reasons import Reason, Rejected
from ehccode.revocations import RevocationState, card_ref, merge_revocation_pages
from ehccode.verifier import OfflineVerifier, Verification, verify_offline

__all__ = [
    "CST",
    "MAX_DYNAMIC_LIFETIME",
    "MAX_TEXT_LENGTH",
    "VERSION",
    "KeyInfo",
    "OfflineVerifier",
    "ParsedCode",
    "Reason",
    "Rejected",
    "RevocationState",
    "Verification",
    "card_ref",
    "check",
    "decode_signature",
    "dynamic_prefix",
    "encode_signature",
    "finish",
    "load_key_set",
    "merge_revocation_pages",
    "parse",
    "static_prefix",
    "verify_offline",
]
