"""The one authenticated-encryption envelope for everything encrypted at rest.

Personal data (under a data key), secret keys of the key store (under a data key) and
the data keys themselves (under the key-encryption key) are all sealed the same way:

    version 0x02 || key ID (8 ASCII characters) || 12-byte nonce || ciphertext || 16-byte tag

AES-256-GCM (through `cryptography`, i.e. OpenSSL: opening a blob costs a few
microseconds, against some 300 with pycryptodome's GCM, and every verification that
shows a holder opens one); the associated data is the header (version and key ID) followed by a
context the caller names (the column, or the key record), so a ciphertext copied into
another column, onto another key record, or relabelled with another key ID does not
open. The key ID says which key sealed it, so a reader picks the key without trying
several, and re-encryption finds what is still under an old key.

Pure functions over bytes: no database, no settings.
"""

import functools
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = b"\x02"
KID_SIZE = 8
NONCE_SIZE = 12
TAG_SIZE = 16
HEADER_SIZE = 1 + KID_SIZE
MINIMUM_SIZE = HEADER_SIZE + NONCE_SIZE + TAG_SIZE


class EnvelopeError(Exception):
    """The blob was altered, truncated, is of an unknown format, or was sealed under
    another key or for another context."""


def seal(key: bytes, kid: str, plaintext: bytes, context: bytes) -> bytes:
    """Encrypt and authenticate `plaintext` under `key` (32 bytes), named `kid`."""
    header = VERSION + _kid_bytes(kid)
    nonce = os.urandom(NONCE_SIZE)
    return header + nonce + _aead(bytes(key)).encrypt(nonce, plaintext, header + context)


def key_id(blob: bytes) -> str:
    """The ID of the key that sealed `blob` (no key needed; the header is not secret)."""
    blob = bytes(blob)
    if len(blob) < MINIMUM_SIZE or blob[:1] != VERSION:
        raise EnvelopeError("unknown ciphertext format")
    try:
        return blob[1:HEADER_SIZE].decode("ascii")
    except UnicodeDecodeError:
        raise EnvelopeError("unknown ciphertext format") from None


def unseal(key: bytes, blob: bytes, context: bytes) -> bytes:
    """The plaintext of `blob`; EnvelopeError unless it authenticates under `key` and
    `context`."""
    blob = bytes(blob)
    key_id(blob)  # checks the format
    nonce = blob[HEADER_SIZE : HEADER_SIZE + NONCE_SIZE]
    try:
        return _aead(bytes(key)).decrypt(
            nonce, blob[HEADER_SIZE + NONCE_SIZE :], blob[:HEADER_SIZE] + context
        )
    except (InvalidTag, ValueError):  # ValueError: a key of the wrong size
        raise EnvelopeError("ciphertext failed authentication") from None


@functools.lru_cache(maxsize=64)
def _aead(key: bytes) -> AESGCM:
    """The cipher of `key`, made once: an AESGCM object keeps its OpenSSL cipher
    context between calls, which a new one fetches and keys again (a few µs of the
    holder's masking per verification, docs/performance.md). The keys are data keys
    and KEK-derived wrapping keys, already held by this process (healthcard.datakeys);
    a key of the wrong size raises ValueError here, as AESGCM does, and is not kept."""
    return AESGCM(key)


def _kid_bytes(kid: str) -> bytes:
    raw = kid.encode("ascii")
    if len(raw) != KID_SIZE:
        raise ValueError(f"a key ID is {KID_SIZE} ASCII characters, got {kid!r}")
    return raw
