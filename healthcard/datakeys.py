"""Data keys: the keys that encrypt personal data and the key store, wrapped under the
key-encryption key (KEK).

    HEALTHCARD_KEK ──wraps──▶ DataKey (pii, pii-index, key-store) ──encrypt──▶ rows

A KEK rotation re-wraps the few DataKey rows (`rewrap`) instead of re-encrypting every
row; re-encrypting rows under a new data key is healthcard.reencrypt. During a rolling
deploy a process also holds the old KEK as HEALTHCARD_KEK_PREVIOUS: a wrapped data key
names the KEK that wraps it (`kek_id`), so each is opened with the right one.

Unwrapped data keys are cached per process, keyed by the KEKs the process holds. The
active key of a purpose is cached for HEALTHCARD_DATA_KEY_CACHE_SECONDS, so a new data
key reaches every process within that time (re-encryption waits for it).
"""

import functools
import hashlib
import hmac
import secrets
import time

from Crypto.Hash import SHA256
from Crypto.Protocol.KDF import HKDF
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from healthcard import envelope
from healthcard.models import DataKey, DataKeyPurpose, DataKeyState


def _audit(action: str, **kwargs) -> None:
    # Imported when a data-key event is written, not with this module: the models
    # import pii, which imports this module, and audit imports the models (via sql).
    from healthcard import audit

    audit.record(action, **kwargs)


class DataKeyError(envelope.EnvelopeError):
    """A data key is missing, destroyed, or wrapped under a KEK this process lacks."""


@functools.lru_cache(maxsize=8)
def kek_id(kek: bytes) -> str:
    """A public name for a KEK (8 hex characters of a keyed hash): says which KEK wraps
    a data key without revealing anything about it. Remembered per KEK: every
    decryption asks for the IDs of the KEKs held (`_held`)."""
    return hmac.new(kek, b"healthcard-kek-id", hashlib.sha256).hexdigest()[:8].upper()


def _wrapping_key(kek: bytes) -> bytes:
    return HKDF(kek, 32, salt=b"healthcard-kek-v2", hashmod=SHA256)


def keks() -> dict[str, bytes]:
    """The KEKs this process holds by ID: HEALTHCARD_KEK, and HEALTHCARD_KEK_PREVIOUS
    during a rotation."""
    held = {kek_id(settings.HEALTHCARD_KEK): settings.HEALTHCARD_KEK}
    previous = getattr(settings, "HEALTHCARD_KEK_PREVIOUS", None)
    if previous:
        held.setdefault(kek_id(previous), previous)
    return held


def _context(kid: str, purpose: str) -> bytes:
    return f"data-key|{kid}|{purpose}".encode()


def wrap(secret: bytes, kid: str, purpose: str, kek: bytes) -> bytes:
    return envelope.seal(_wrapping_key(kek), kek_id(kek), secret, _context(kid, purpose))


def unwrap(key: DataKey) -> bytes:
    """The secret of `key`. Refuses (DataKeyError) a destroyed key and one wrapped under
    a KEK this process does not hold."""
    if key.state == DataKeyState.DESTROYED:
        raise DataKeyError(f"data key {key.kid} was destroyed")
    wrapped = bytes(key.wrapped)
    kek = keks().get(envelope.key_id(wrapped))
    if kek is None:
        raise DataKeyError(f"data key {key.kid} is wrapped under a KEK this process lacks")
    try:
        return envelope.unseal(_wrapping_key(kek), wrapped, _context(key.kid, key.purpose))
    except envelope.EnvelopeError:
        raise DataKeyError(f"data key {key.kid} does not unwrap") from None


# --- per-process caches ----------------------------------------------------------------

_secrets: dict[tuple, bytes] = {}
_active: dict[tuple, tuple[str, bytes, float]] = {}


def _held() -> tuple:
    return tuple(sorted(keks()))


def forget() -> None:
    """Drop the cached data keys (after a rotation in this process)."""
    _secrets.clear()
    _active.clear()


def secret(kid: str) -> bytes:
    """The secret of data key `kid` (to decrypt something it sealed)."""
    cache_key = (_held(), kid)
    found = _secrets.get(cache_key)
    if found is None:
        key = DataKey.objects.filter(kid=kid).first()
        if key is None:
            raise DataKeyError(f"no data key {kid}")
        found = unwrap(key)
        _secrets[cache_key] = found
    return found


def active(purpose: str) -> tuple[str, bytes]:
    """(kid, secret) of the active data key of `purpose`, made on first use."""
    cache_key = (_held(), purpose)
    cached = _active.get(cache_key)
    if cached is not None and cached[2] > time.monotonic():
        return cached[0], cached[1]
    key = DataKey.objects.filter(purpose=purpose, state=DataKeyState.ACTIVE).first()
    if key is None:
        key = _create(purpose)
    found = unwrap(key)
    _secrets[(_held(), key.kid)] = found
    _active[cache_key] = (
        key.kid,
        found,
        time.monotonic() + settings.HEALTHCARD_DATA_KEY_CACHE_SECONDS,
    )
    return key.kid, found


def _create(purpose: str, *, actor=None) -> DataKey:
    kid = secrets.token_hex(4).upper()
    try:
        with transaction.atomic():
            key = DataKey.objects.create(
                kid=kid,
                purpose=purpose,
                wrapped=wrap(secrets.token_bytes(32), kid, purpose, settings.HEALTHCARD_KEK),
            )
            _audit(
                "datakey.create",
                actor=actor,
                obj=key,
                kid=kid,
                purpose=purpose,
                kek=kek_id(settings.HEALTHCARD_KEK),
            )
            return key
    except IntegrityError:
        # Another process made it first; the constraint allows one active key.
        return DataKey.objects.get(purpose=purpose, state=DataKeyState.ACTIVE)


def replace(purpose: str, *, actor=None) -> DataKey:
    """Retire the active data key of `purpose` and make a new one, atomically. Data
    sealed by the retired key still decrypts; healthcard.reencrypt moves it to the new
    key and then destroys the retired one. The lookup-index key is never replaced
    (every blind index would change at once; docs/keys.md)."""
    if purpose not in (DataKeyPurpose.PII, DataKeyPurpose.KEY_STORE):
        raise ValueError(f"data keys of purpose {purpose} are not replaced")
    with transaction.atomic():
        old = (
            DataKey.objects.select_for_update()
            .filter(purpose=purpose, state=DataKeyState.ACTIVE)
            .first()
        )
        if old is not None:
            old.state = DataKeyState.RETIRED
            old.retired_at = timezone.now()
            old.save(update_fields=["state", "retired_at"])
            _audit("datakey.retire", actor=actor, obj=old, kid=old.kid, purpose=purpose)
        key = _create(purpose, actor=actor)
    forget()
    return key


def destroy(key: DataKey, *, actor=None, reason: str = "") -> None:
    """Wipe a retired data key's wrapped secret: what it sealed never decrypts again."""
    with transaction.atomic():
        done = DataKey.objects.filter(pk=key.pk, state=DataKeyState.RETIRED).update(
            state=DataKeyState.DESTROYED, wrapped=b"", destroyed_at=timezone.now()
        )
        if done:
            _audit(
                "datakey.destroy",
                actor=actor,
                obj=key,
                kid=key.kid,
                purpose=key.purpose,
                reason=reason,
            )
    forget()


def rewrap(*, actor=None) -> dict[str, int]:
    """KEK rotation: re-wrap every data key under HEALTHCARD_KEK, in one transaction.
    Keys wrapped under HEALTHCARD_KEK_PREVIOUS are unwrapped with it. Refuses
    (DataKeyError, nothing changed) when a key is under a KEK this process lacks.
    Returns {"rewrapped": n, "current": m}."""
    current = settings.HEALTHCARD_KEK
    current_id = kek_id(current)
    counts = {"rewrapped": 0, "current": 0}
    sources: set[str] = set()
    with transaction.atomic():
        for key in DataKey.objects.select_for_update().exclude(state=DataKeyState.DESTROYED):
            under = envelope.key_id(bytes(key.wrapped))
            if under == current_id:
                counts["current"] += 1
                continue
            secret_ = unwrap(key)  # raises for a KEK we lack: the transaction rolls back
            key.wrapped = wrap(secret_, key.kid, key.purpose, current)
            key.save(update_fields=["wrapped"])
            sources.add(under)
            counts["rewrapped"] += 1
        _audit(
            "kek.rotate", actor=actor, kek=current_id, previous=",".join(sorted(sources)), **counts
        )
    forget()
    return counts


def under_kek(key: DataKey) -> str:
    """'current', 'previous', 'unknown' or 'destroyed': which KEK wraps `key`."""
    if key.state == DataKeyState.DESTROYED:
        return "destroyed"
    under = envelope.key_id(bytes(key.wrapped))
    if under == kek_id(settings.HEALTHCARD_KEK):
        return "current"
    return "previous" if under in keks() else "unknown"
