"""Personal data at rest: authenticated encryption and blind indexes.

Identity and phone numbers (and addresses, card-link numbers) are sealed with
healthcard.envelope under the active `pii` data key (healthcard.datakeys, wrapped under
HEALTHCARD_KEK), next to an HMAC-SHA256 "blind index" of the normalised value under the
`pii-index` data key, which allows exact-match lookups and uniqueness without
decrypting anything. Each ciphertext is bound to its purpose (the field name) as
associated data, so a ciphertext copied into another column does not decrypt; its
header names the data key, so re-encryption (healthcard.reencrypt) can move rows to a
new one while everything keeps decrypting.
"""

import hashlib
import hmac

from healthcard import datakeys, envelope
from healthcard.models import DataKeyPurpose

VERSION = envelope.VERSION


class DecryptionError(envelope.EnvelopeError):
    """The ciphertext was altered, truncated, or made under another key."""


def encrypt(plaintext: str, field: str) -> bytes:
    kid, key = datakeys.active(DataKeyPurpose.PII)
    return envelope.seal(key, kid, plaintext.encode("utf-8"), field.encode())


def decrypt(blob: bytes, field: str) -> str:
    try:
        key = datakeys.secret(envelope.key_id(blob))
        return envelope.unseal(key, blob, field.encode()).decode("utf-8")
    except envelope.EnvelopeError as exc:
        raise DecryptionError(str(exc)) from None


def blind_index(value: str, field: str) -> str:
    """Keyed hash of an already normalised value; equal inputs give equal indexes."""
    _kid, key = datakeys.active(DataKeyPurpose.PII_INDEX)
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
