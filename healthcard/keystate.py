"""Key state for online verification without a query per request.

Every verification needs the state and validity window of the code's signing key (and,
for a dynamic code, the current and previous protection keys). Each process keeps a
snapshot of those keys, loaded in one query, through healthcard.versioned: checked
against a version token in the cache backend at most every `CHECK_SECONDS`, never
older than `MAX_AGE_SECONDS`. Every key event (healthcard.keys: create, rotate,
retire, revoke) calls `changed()` inside its transaction: this process forgets its
snapshot at once, the others within `CHECK_SECONDS` of the commit, every node within
`MAX_AGE_SECONDS` whatever happens to the cache: that is the longest a revocation
takes to apply. docs/keys.md, "Revocation delay".
"""

from __future__ import annotations

from dataclasses import dataclass, field

from healthcard.models import Key, KeyPurpose, KeyState
from healthcard.versioned import Versioned

CACHE_KEY = "healthcard:key-state-version"
CHECK_SECONDS = 1.0
MAX_AGE_SECONDS = 5.0


@dataclass(frozen=True)
class Snapshot:
    signing: dict[str, Key] = field(default_factory=dict)  # code-signing keys by kid
    protection: tuple[Key, ...] = ()  # the current protection key, then the previous one


def _load() -> Snapshot:
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
    return Snapshot(signing, protection)


_snapshot = Versioned(
    CACHE_KEY, _load, check_seconds=CHECK_SECONDS, max_age_seconds=MAX_AGE_SECONDS
)
current = _snapshot.current
forget = _snapshot.forget
changed = _snapshot.changed


def signing_key(kid: str) -> Key | None:
    return current().signing.get(kid)


def protection_keys() -> tuple[Key, ...]:
    """The current dynamic-protection key first, then the most recently retired one."""
    return current().protection
