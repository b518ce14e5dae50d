"""Key store: secret material sealed under the key-store data key, which
HEALTHCARD_KEK wraps (healthcard.datakeys).

This module keeps the key records and their wrapping; signing and verification of
codes live in healthcard.codes and ehccode.signing.
"""

import datetime
import functools
import hashlib
import json
import secrets
from collections.abc import Callable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from ehccode import signing
from healthcard import audit, datakeys, envelope, keystate
from healthcard.errors import DomainError
from healthcard.models import DataKeyPurpose, Key, KeyPurpose, KeyState


class KeyUnwrapError(Exception):
    pass


def _context(kid: str, purpose: str) -> bytes:
    return f"{kid}|{purpose}".encode()


def wrap(secret: bytes, kid: str, purpose: str) -> bytes:
    """Seal a key's secret under the active key-store data key (healthcard.datakeys),
    bound to the key record."""
    data_kid, data_key = datakeys.active(DataKeyPurpose.KEY_STORE)
    return envelope.seal(data_key, data_kid, secret, _context(kid, purpose))


def unwrap(key: Key) -> bytes:
    return _unwrap(key.kid, key.purpose, bytes(key.secret_enc))


def _unwrap(kid: str, purpose: str, blob: bytes) -> bytes:
    try:
        data_key = datakeys.secret(envelope.key_id(blob))
        return envelope.unseal(data_key, blob, _context(kid, purpose))
    except envelope.EnvelopeError:
        raise KeyUnwrapError(f"key {kid} does not unwrap under HEALTHCARD_KEK") from None


# Signing and dynamic codes need a key's secret on every use: unwrapped once per
# process. Keyed by the wrapped secret itself, so a changed key is never served from
# the cache; a failure (KeyUnwrapError) is not cached.
_unwrapped = functools.lru_cache(maxsize=64)(_unwrap)


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
    keystate.changed()
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


# --- signing and protection keys: lifecycle ---------------------------------------------


class KeyManagementError(DomainError):
    """A refused key operation; `code` is stable, the message is for people."""


ROTATABLE = (
    KeyPurpose.CODE_SIGNING,
    KeyPurpose.DYNAMIC_PROTECTION,
    KeyPurpose.PRINT_DELIVERY,
    KeyPurpose.OIDC_SIGNING,
)
# Keys whose public half is published (each purpose in its own key set; the sign-in
# keys in the provider's JWKS).
SIGNING = (KeyPurpose.CODE_SIGNING, KeyPurpose.PRINT_DELIVERY)
# A retired protection key stays usable just long enough for dynamic codes in flight.
RETIRED_PROTECTION_GRACE = datetime.timedelta(hours=1)
# A retired delivery key verifies deliveries still in a site's queue (they expire sooner).
RETIRED_DELIVERY_GRACE = datetime.timedelta(days=1)


def retired_signing_key_grace() -> datetime.timedelta:
    """The key's not_after is set to retirement + this (settings, docs/keys.md)."""
    return datetime.timedelta(days=settings.HEALTHCARD_RETIRED_SIGNING_KEY_DAYS)


def retired_oidc_key_grace() -> datetime.timedelta:
    """A retired ID-token key stays in the JWKS until every ID token it signed has
    expired (the ID-token lifetime), plus a minute for clock skew."""
    return datetime.timedelta(seconds=settings.HEALTHCARD_OIDC_ID_TOKEN_SECONDS + 60)


def generate(purpose: str, algorithm: str | None = None) -> tuple[str, bytes, bytes]:
    """(algorithm, secret, public) for a new key of `purpose`."""
    if purpose in SIGNING:
        algorithm = algorithm or settings.HEALTHCARD_SIGNING_ALGORITHM
        secret, public = signing.get(algorithm).generate()
        return algorithm, secret, public
    if purpose == KeyPurpose.DYNAMIC_PROTECTION:
        if algorithm not in (None, "sm4"):
            raise KeyManagementError(
                "algorithm", _("The dynamic-code protection key is an SM4 key.")
            )
        return "sm4", secrets.token_bytes(16), b""
    if purpose == KeyPurpose.OIDC_SIGNING:
        # RS256: the one ID-token algorithm every OpenID Connect client library verifies.
        if algorithm not in (None, "rs256"):
            raise KeyManagementError("algorithm", _("The sign-in signing key is an RSA key."))
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        secret = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        public = private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return "rs256", secret, public
    raise KeyManagementError("purpose", _("Keys of this purpose are not generated here."))


def active_key(purpose: str, *, actor=None) -> Key:
    """The one active key of a rotatable `purpose`, made on first use (like root_key)."""
    key = Key.objects.filter(purpose=purpose, state=KeyState.ACTIVE).first()
    if key is not None:
        return key
    algorithm, secret, public = generate(purpose)
    try:
        with transaction.atomic():
            return create_key(purpose, algorithm, secret, public, actor=actor)
    except IntegrityError:
        # Another process made it first; the constraint allows only one.
        return Key.objects.get(purpose=purpose, state=KeyState.ACTIVE)


def signer_for(key: Key) -> Callable[[bytes], bytes]:
    """message -> 64-byte signature with `key`'s private key (cached per process)."""
    return _signer(key.algorithm, _unwrapped(key.kid, key.purpose, bytes(key.secret_enc)))


@functools.lru_cache(maxsize=64)
def _signer(algorithm: str, secret: bytes) -> Callable[[bytes], bytes]:
    return signing.get(algorithm).signer(secret)


def code_signer() -> tuple[str, Callable[[bytes], bytes]]:
    """(kid, sign) of the active code-signing key."""
    key = active_key(KeyPurpose.CODE_SIGNING)
    return key.kid, signer_for(key)


def protection_secret_for(key: Key) -> bytes:
    """The unwrapped secret of a dynamic-protection key (cached per process)."""
    return _unwrapped(key.kid, key.purpose, bytes(key.secret_enc))


def protection_secret() -> bytes:
    """The active dynamic-protection key (made on first use), for new dynamic codes."""
    return protection_secret_for(active_key(KeyPurpose.DYNAMIC_PROTECTION))


def protection_keys() -> list[tuple[Key, bytes]]:
    """The current dynamic-protection key first, then the previous one (the most
    recently retired, unless revoked): verification tries both, so codes made just
    before a rotation still verify. Makes no key: verifying never creates one."""
    found = []
    current = Key.objects.filter(
        purpose=KeyPurpose.DYNAMIC_PROTECTION, state=KeyState.ACTIVE
    ).first()
    if current is not None:
        found.append((current, protection_secret_for(current)))
    previous = (
        Key.objects.filter(purpose=KeyPurpose.DYNAMIC_PROTECTION, state=KeyState.RETIRED)
        .order_by("-retired_at")
        .first()
    )
    if previous is not None:
        found.append((previous, protection_secret_for(previous)))
    return found


def _retire_now(key: Key, now: datetime.datetime) -> None:
    key.state = KeyState.RETIRED
    key.retired_at = now
    grace = {
        KeyPurpose.CODE_SIGNING: retired_signing_key_grace(),
        KeyPurpose.OIDC_SIGNING: retired_oidc_key_grace(),
        KeyPurpose.PRINT_DELIVERY: RETIRED_DELIVERY_GRACE,
    }.get(key.purpose, RETIRED_PROTECTION_GRACE)
    if key.not_after is None or key.not_after > now + grace:
        key.not_after = now + grace
    key.save(update_fields=["state", "retired_at", "not_after"])
    keystate.changed()


def rotate(purpose: str, *, algorithm: str | None = None, actor=None) -> Key:
    """Make a new active key for `purpose` and retire the current one, atomically.

    Refuses the EHC root key (every stored EHC ID derives from it). Two concurrent
    rotations cannot leave two active keys: the partial unique constraint
    `one_active_key_per_purpose` makes the loser's transaction fail, and it is retried
    on top of the winner's result (so two rotations rotate twice).
    """
    if purpose not in ROTATABLE:
        raise KeyManagementError("not_rotatable", _("The EHC root key is never rotated."))
    algorithm, secret, public = generate(purpose, algorithm)
    for attempt in range(5):
        try:
            with transaction.atomic():
                now = timezone.now()
                old = (
                    Key.objects.select_for_update()
                    .filter(purpose=purpose, state=KeyState.ACTIVE)
                    .first()
                )
                if old is not None:
                    _retire_now(old, now)
                    audit.record("key.retire", actor=actor, obj=old, kid=old.kid, by="rotate")
                key = create_key(purpose, algorithm, secret, public, actor=actor)
                audit.record(
                    "key.rotate",
                    actor=actor,
                    obj=key,
                    kid=key.kid,
                    previous=old.kid if old else "",
                    purpose=purpose,
                )
                return key
        except IntegrityError:
            if attempt == 4:
                raise
    raise AssertionError("unreachable")


def retire(key: Key, *, actor=None) -> Key:
    """Retire an active code-signing or protection key without a replacement (the next
    code made creates a new active key). A retired signing key keeps verifying codes it
    signed until its not_after; refuses the root key and keys not active."""
    with transaction.atomic():
        key = Key.objects.select_for_update().get(pk=key.pk)
        if key.purpose not in ROTATABLE:
            raise KeyManagementError("not_rotatable", _("The EHC root key is never retired."))
        if key.state != KeyState.ACTIVE:
            raise KeyManagementError("not_active", _("Only an active key can be retired."))
        _retire_now(key, timezone.now())
        audit.record("key.retire", actor=actor, obj=key, kid=key.kid)
    return key


def revoke(key: Key, *, actor=None, reason: str = "") -> Key:
    """Revoke a key: from now on it verifies nothing. Refuses the root key and keys
    already revoked."""
    with transaction.atomic():
        key = Key.objects.select_for_update().get(pk=key.pk)
        if key.purpose not in ROTATABLE:
            raise KeyManagementError("not_rotatable", _("The EHC root key cannot be revoked."))
        if key.state == KeyState.REVOKED:
            raise KeyManagementError("revoked", _("This key is already revoked."))
        old = key.state
        key.state = KeyState.REVOKED
        key.revoked_at = timezone.now()
        key.save(update_fields=["state", "revoked_at"])
        keystate.changed()
        audit.record(
            "key.revoke", actor=actor, obj=key, kid=key.kid, old=old, reason=(reason or "")[:200]
        )
    return key


def _iso(value: datetime.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(datetime.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def public_key_set(purpose: str = KeyPurpose.CODE_SIGNING) -> dict:
    """JSON-ready public key set of every published key of a signing `purpose`
    (code-signing: docs/qr-format.md; print-delivery: what print sites verify
    deliveries with, docs/printing.md): no secret material. `etag` is a hash of the key
    list, for HTTP caching."""
    items = []
    for key in (
        Key.objects.filter(purpose=purpose)
        .exclude(state=KeyState.PENDING)
        .order_by("created_at", "kid")
    ):
        items.append(
            {
                "kid": key.kid,
                "algorithm": key.algorithm,
                "public_key": bytes(key.public_key).hex(),
                "state": key.state,
                "not_before": _iso(key.not_before),
                "not_after": _iso(key.not_after),
                "retired_at": _iso(key.retired_at),
                "revoked_at": _iso(key.revoked_at),
            }
        )
    canonical = json.dumps(items, sort_keys=True, separators=(",", ":"))
    return {
        "format": "ehc-keys/1" if purpose == KeyPurpose.CODE_SIGNING else "ehc-print-keys/1",
        "keys": items,
        "etag": hashlib.sha256(canonical.encode()).hexdigest()[:32],
    }


# --- sign-in (OpenID Connect) ID-token keys ---------------------------------------------


def oidc_signing_key() -> tuple[str, bytes]:
    """(kid, private PEM) of the active ID-token signing key, made on first use. The PEM
    never leaves the process: healthcard.oidc signs with it and forgets it."""
    key = active_key(KeyPurpose.OIDC_SIGNING)
    return key.kid, unwrap(key)


def oidc_public_keys() -> list[Key]:
    """The keys whose ID tokens may still be valid: the active one, and retired ones
    until their not_after (the ID-token lifetime after retirement). Never revoked ones.
    Makes no key."""
    now = timezone.now()
    return list(
        Key.objects.filter(purpose=KeyPurpose.OIDC_SIGNING)
        .filter(Q(state=KeyState.ACTIVE) | Q(state=KeyState.RETIRED, not_after__gt=now))
        .order_by("-created_at")
    )
