"""Key state for online verification without a query per request.

Every verification needs the state and validity window of the code's signing key (and,
for a dynamic code, the current and previous protection keys). Each process keeps a
snapshot of those keys, loaded in one query, and trusts it for at most
`CHECK_SECONDS`: after that it reads a version token from the cache backend
(`CACHES`, Redis shared by every web node in production) and reloads when the token
changed. Every key event (healthcard.keys: create, rotate, retire, revoke) calls
`changed()` inside its transaction: the process that made the change forgets its
snapshot at once, and a new token is written to the cache when the transaction
commits, so the other nodes reload within `CHECK_SECONDS`. Whatever happens to the
cache (Redis down, token lost, a commit whose process died before writing it), a
snapshot is never older than `MAX_AGE_SECONDS`: that is the longest a revocation takes
to apply on every node. docs/keys.md, "Revocation delay".
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass, field

from django.core.cache import cache
from django.db import transaction

from healthcard.models import Key, KeyPurpose, KeyState

log = logging.getLogger(__name__)

CACHE_KEY = "healthcard:key-state-version"
CHECK_SECONDS = 1.0
MAX_AGE_SECONDS = 5.0


@dataclass(frozen=True)
class Snapshot:
    version: str | None  # the cache token it was loaded under (None: cache unavailable)
    loaded_at: float  # time.monotonic()
    signing: dict[str, Key] = field(default_factory=dict)  # code-signing keys by kid
    protection: tuple[Key, ...] = ()  # the current protection key, then the previous one


_snapshot: Snapshot | None = None
_checked_at = 0.0


def _token() -> str | None:
    try:
        return cache.get(CACHE_KEY)
    except Exception:  # the cache is an accelerator: without it, MAX_AGE_SECONDS applies
        log.warning("key-state version unavailable from the cache", exc_info=True)
        return None


def _load(version: str | None) -> Snapshot:
    signing: dict[str, Key] = {}
    active = None
    retired: list[Key] = []
    purposes = (KeyPurpose.CODE_SIGNING, KeyPurpose.DYNAMIC_PROTECTION)
    for key in Key.objects.filter(purpose__in=purposes).order_by():
        if key.purpose == KeyPurpose.CODE_SIGNING:
            signing[key.kid] = key
        elif key.state == KeyState.ACTIVE:
            active = key
        elif key.state == KeyState.RETIRED and key.retired_at is not None:
            retired.append(key)
    previous = max(retired, key=lambda k: k.retired_at, default=None)
    protection = tuple(k for k in (active, previous) if k is not None)
    return Snapshot(version, time.monotonic(), signing, protection)


def current() -> Snapshot:
    """The key snapshot this process may use now (reloaded when stale, see above)."""
    global _snapshot, _checked_at
    now = time.monotonic()
    snap = _snapshot
    if snap is not None and now - snap.loaded_at < MAX_AGE_SECONDS:
        if now - _checked_at < CHECK_SECONDS:
            return snap
        _checked_at = now
        token = _token()
        if token is not None and token == snap.version:
            return snap
    else:
        _checked_at = now
        token = _token()
    if token is None:
        token = _publish()
    snap = _snapshot = _load(token)
    return snap


def signing_key(kid: str) -> Key | None:
    return current().signing.get(kid)


def protection_keys() -> tuple[Key, ...]:
    """The current dynamic-protection key first, then the most recently retired one."""
    return current().protection


def _publish() -> str | None:
    token = secrets.token_hex(8)
    try:
        cache.set(CACHE_KEY, token, timeout=None)
    except Exception:
        log.warning("key-state version not written to the cache", exc_info=True)
        return None
    return token


def forget() -> None:
    """Drop this process's snapshot: the next verification reloads the keys."""
    global _snapshot
    _snapshot = None


def changed() -> None:
    """Call inside the transaction of every key event: this process reloads at once
    (reading its own transaction's writes), every other one within CHECK_SECONDS of
    the commit (a new cache token), or MAX_AGE_SECONDS without the cache."""
    forget()
    transaction.on_commit(_after_commit)


def _after_commit() -> None:
    forget()
    _publish()
