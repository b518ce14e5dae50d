"""Signature algorithms for QR codes, chosen by name (the key set maps each key ID to
its algorithm, so a verifier picks the algorithm from the key ID it reads in a code).

Pure functions over bytes: no database, no settings. Every algorithm produces and
accepts a fixed 64-byte signature (Ed25519: R || S as in RFC 8032; SM2: r || s, each
32 bytes big-endian), so the QR code format does not depend on the algorithm.

- ``ed25519``: RFC 8032 pure Ed25519. Secret = 32-byte seed, public = 32-byte encoded
  point. Keys made and codes signed with pycryptodome; verified through
  `cryptography` (OpenSSL), about 3.7 times faster on the hot path.
- ``sm2``: SM2 signature with SM3 (GB/T 32918.2, GM/T 0009 default user ID
  ``1234567812345678``). Secret = 32-byte scalar d, public = 64 bytes x || y
  (uncompressed point without the 04 prefix). Keys made and codes signed with the
  gmssl package; verified with gmalglib (C, about 27 times faster); see docs/keys.md.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from Crypto.PublicKey import ECC
from Crypto.Signature import eddsa
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from gmalglib.sm2 import SM2 as Sm2Engine
from gmssl import sm2

SIGNATURE_SIZE = 64

Verifier = Callable[[bytes, bytes], bool]


class UnsupportedAlgorithm(ValueError):
    pass


@dataclass(frozen=True)
class Algorithm:
    name: str
    generate: Callable[[], tuple[bytes, bytes]]  # () -> (secret, public)
    signer: Callable[[bytes], Callable[[bytes], bytes]]  # secret -> (message -> signature)
    verifier: Callable[[bytes], Verifier]  # public -> (message, signature) -> bool
    public_size: int


# --- Ed25519 ---------------------------------------------------------------------------


def _ed25519_generate() -> tuple[bytes, bytes]:
    key = ECC.generate(curve="ed25519")
    return key.seed, key.public_key().export_key(format="raw")


def _ed25519_signer(secret: bytes) -> Callable[[bytes], bytes]:
    signer = eddsa.new(eddsa.import_private_key(secret), "rfc8032")
    return signer.sign


def _ed25519_verifier(public: bytes) -> Verifier:
    # Refuse what pycryptodome refuses (a key that is not a valid point), so a key set
    # accepts the same keys whichever library verifies; OpenSSL does the per-code work.
    eddsa.import_public_key(public)
    verifier = Ed25519PublicKey.from_public_bytes(public)

    def verify(message: bytes, signature: bytes) -> bool:
        try:
            verifier.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    return verify


ED25519 = Algorithm(
    name="ed25519",
    generate=_ed25519_generate,
    signer=_ed25519_signer,
    verifier=_ed25519_verifier,
    public_size=32,
)


# --- SM2 with SM3 ----------------------------------------------------------------------

_SM2_N = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123", 16)
_SM2_P = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF", 16)
_SM2_A = _SM2_P - 3
_SM2_B = int("28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93", 16)


def _sm2(private_hex: str, public_hex: str) -> sm2.CryptSM2:
    engine = sm2.CryptSM2(private_key=private_hex, public_key="")
    # Set after construction: CryptSM2.__init__ drops a leading "04" (the uncompressed
    # point marker) with public_key.lstrip("04"), which strips every leading '0' and '4'
    # character, so any key whose x coordinate begins with byte 0x04 (1 key in 256) was
    # silently truncated and verified nothing. Our public keys never carry the marker.
    engine.public_key = public_hex
    return engine


def _sm2_on_curve(public: bytes) -> bool:
    if len(public) != 64:
        return False
    x, y = int.from_bytes(public[:32], "big"), int.from_bytes(public[32:], "big")
    if not (0 <= x < _SM2_P and 0 <= y < _SM2_P):
        return False
    return (y * y - (x * x * x + _SM2_A * x + _SM2_B)) % _SM2_P == 0


def _sm2_public_from_secret(secret: bytes) -> bytes:
    d = int.from_bytes(secret, "big")
    engine = _sm2(f"{d:064x}", "")
    return bytes.fromhex(engine._kg(d, engine.ecc_table["g"]))


def _sm2_generate() -> tuple[bytes, bytes]:
    # d in [1, n-2] as GB/T 32918 requires (d+1 must be invertible mod n).
    d = secrets.randbelow(_SM2_N - 2) + 1
    secret = d.to_bytes(32, "big")
    return secret, _sm2_public_from_secret(secret)


def _sm2_signer(secret: bytes) -> Callable[[bytes], bytes]:
    public = _sm2_public_from_secret(secret)
    engine = _sm2(secret.hex(), public.hex())

    def sign(message: bytes) -> bytes:
        while True:
            # gmssl's own nonce comes from `random`, which is not a CSPRNG: a predictable
            # nonce leaks the private key, so we always pass one from `secrets`.
            k = secrets.randbelow(_SM2_N - 1) + 1
            signature = engine.sign_with_sm3(message, f"{k:064x}")
            if signature:
                return bytes.fromhex(signature)

    return sign


def _sm2_verifier(public: bytes) -> Verifier:
    if not _sm2_on_curve(public):
        raise ValueError("not an SM2 public key")
    engine = Sm2Engine(pk=b"\x04" + public)  # default user ID 1234567812345678

    def verify(message: bytes, signature: bytes) -> bool:
        if len(signature) != SIGNATURE_SIZE:
            return False
        r = int.from_bytes(signature[:32], "big")
        s = int.from_bytes(signature[32:], "big")
        # GB/T 32918.2 step B1/B2: r and s in [1, n-1], checked here whatever the library.
        if not (0 < r < _SM2_N and 0 < s < _SM2_N):
            return False
        try:
            return bool(engine.verify(message, signature))
        except (ValueError, TypeError):
            return False

    return verify


SM2 = Algorithm(
    name="sm2",
    generate=_sm2_generate,
    signer=_sm2_signer,
    verifier=_sm2_verifier,
    public_size=64,
)


ALGORITHMS: dict[str, Algorithm] = {ED25519.name: ED25519, SM2.name: SM2}


def get(name: str) -> Algorithm:
    """The algorithm called `name`; raises UnsupportedAlgorithm for anything else."""
    try:
        return ALGORITHMS[name]
    except KeyError:
        raise UnsupportedAlgorithm(name) from None
