"""Personal data at rest: authenticated encryption and blind indexes.

Identity and phone numbers are stored as AES-256-GCM ciphertexts under a data key
derived from HEALTHCARD_KEK, next to an HMAC-SHA256 "blind index" of the normalised
value that allows exact-match lookups and uniqueness without decrypting anything.
Each ciphertext is bound to its purpose (the field name) as associated data, so a
ciphertext copied into another column does not decrypt.

Stored format: version byte 0x01 || 12-byte nonce || ciphertext || 16-byte tag.
"""

import hashlib
import hmac
from functools import cache

from Crypto.Cipher import AES
from Crypto.Hash import SHA256
from Crypto.Protocol.KDF import HKDF
from Crypto.Random import get_random_bytes
from django.conf import settings

VERSION = b"\x01"


class DecryptionError(Exception):
    """The ciphertext was altered, truncated, or made under another key."""


@cache
def _derived_key(kek: bytes, purpose: bytes) -> bytes:
    return HKDF(kek, 32, salt=b"healthcard-pii-v1", hashmod=SHA256, context=purpose)


def _kek() -> bytes:
    return settings.HEALTHCARD_KEK


def encrypt(plaintext: str, field: str) -> bytes:
    key = _derived_key(_kek(), b"encrypt")
    nonce = get_random_bytes(12)
    cipher = AES.new(key, AES.MODE_GCM, nonce=nonce)
    cipher.update(field.encode())
    body, tag = cipher.encrypt_and_digest(plaintext.encode("utf-8"))
    return VERSION + nonce + body + tag


def decrypt(blob: bytes, field: str) -> str:
    blob = bytes(blob)
    if len(blob) < 1 + 12 + 16 or blob[:1] != VERSION:
        raise DecryptionError("unknown ciphertext format")
    key = _derived_key(_kek(), b"encrypt")
    cipher = AES.new(key, AES.MODE_GCM, nonce=blob[1:13])
    cipher.update(field.encode())
    try:
        plain = cipher.decrypt_and_verify(blob[13:-16], blob[-16:])
    except ValueError:
        raise DecryptionError("ciphertext failed authentication") from None
    return plain.decode("utf-8")


def blind_index(value: str, field: str) -> str:
    """Keyed hash of an already normalised value; equal inputs give equal indexes."""
    key = _derived_key(_kek(), b"index")
    msg = field.encode() + b"\x00" + value.encode("utf-8")
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


def mask_name(name: str) -> str:
    """张三 -> 张*, 张小三 -> 张*三, 欧阳小峰 -> 欧**峰, one character stays as it is."""
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_number(number: str, head: int = 3, tail: int = 4) -> str:
    """430***********1234: keeps the length, hides all but the ends."""
    if len(number) <= head + tail:
        return "*" * len(number)
    return number[:head] + "*" * (len(number) - head - tail) + number[-tail:]
