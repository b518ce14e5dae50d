"""Key store: secret material wrapped under HEALTHCARD_KEK.

This module keeps the key records and their wrapping; signing and verification of
codes live in healthcard.codes and healthcard.signing.
"""

import secrets

from Crypto.Cipher import AES
from Crypto.Hash import SHA256
from Crypto.Protocol.KDF import HKDF
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from healthcard import audit
from healthcard.models import Key, KeyPurpose, KeyState


class KeyUnwrapError(Exception):
    pass


def _wrapping_key() -> bytes:
    return HKDF(settings.HEALTHCARD_KEK, 32, salt=b"healthcard-keys-v1", hashmod=SHA256)


def wrap(secret: bytes, kid: str, purpose: str) -> bytes:
    nonce = secrets.token_bytes(12)
    cipher = AES.new(_wrapping_key(), AES.MODE_GCM, nonce=nonce)
    cipher.update(f"{kid}|{purpose}".encode())
    body, tag = cipher.encrypt_and_digest(secret)
    return b"\x01" + nonce + body + tag


def unwrap(key: Key) -> bytes:
    blob = bytes(key.secret_enc)
    cipher = AES.new(_wrapping_key(), AES.MODE_GCM, nonce=blob[1:13])
    cipher.update(f"{key.kid}|{key.purpose}".encode())
    try:
        return cipher.decrypt_and_verify(blob[13:-16], blob[-16:])
    except ValueError:
        raise KeyUnwrapError(f"key {key.kid} does not unwrap under HEALTHCARD_KEK") from None


def new_kid() -> str:
    return secrets.token_hex(4).upper()


def create_key(
    purpose: str,
    algorithm: str,
    secret: bytes,
    public: bytes = b"",
    *,
    activate: bool = True,
    actor=None,
) -> Key:
    kid = new_kid()
    now = timezone.now()
    key = Key.objects.create(
        kid=kid,
        purpose=purpose,
        algorithm=algorithm,
        state=KeyState.ACTIVE if activate else KeyState.PENDING,
        public_key=public,
        secret_enc=wrap(secret, kid, purpose),
        not_before=now,
        activated_at=now if activate else None,
    )
    audit.record(
        "key.create",
        actor=actor,
        obj=key,
        purpose=purpose,
        algorithm=algorithm,
        kid=kid,
        state=key.state,
    )
    return key


def root_key() -> bytes:
    """The EHC root security key (SM4, 16 bytes), made once on first use and never
    rotated: every stored EHC ID was derived from it."""
    key = Key.objects.filter(purpose=KeyPurpose.EHC_ROOT, state=KeyState.ACTIVE).first()
    if key is None:
        try:
            with transaction.atomic():
                key = create_key(KeyPurpose.EHC_ROOT, "sm4", secrets.token_bytes(16))
        except IntegrityError:
            # Another process made it first; the constraint allows only one.
            key = Key.objects.get(purpose=KeyPurpose.EHC_ROOT, state=KeyState.ACTIVE)
    return unwrap(key)
