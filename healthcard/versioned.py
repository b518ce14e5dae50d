"""Per-process snapshots kept current through a version token in the shared cache.

The verification hot path needs the key state and the calling terminal on every
request, and both change rarely. A `Versioned` holds one value per process, built by
its `load` function, and trusts it for at most `check_seconds`: after that it reads a
version token from the cache backend (`CACHES`, Redis shared by every web node in
production) and rebuilds the value when the token changed. Every change calls
`changed()` inside its transaction: the process that made it forgets its value at
once, and a new token is written when the transaction commits, so the other nodes
rebuild within `check_seconds`. Whatever happens to the cache (Redis down, the token
evicted, a process that died between commit and writing the token), a value is never
older than `max_age_seconds`: that is the longest a change takes to apply on every
node. docs/keys.md ("Revocation delay") and docs/api.md ("Tokens") give the numbers.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from django.core.cache import cache
from django.db import transaction

log = logging.getLogger(__name__)

T = TypeVar("T")
_UNREACHABLE = object()  # what _token() gives when the cache itself fails
_every: list[Versioned] = []


def forget_all() -> None:
    """Drop every process value (the test suite, whose databases come and go)."""
    for versioned in _every:
        versioned.forget()


class Versioned(Generic[T]):
    def __init__(
        self,
        cache_key: str,
        load: Callable[[], T],
        *,
        check_seconds: float = 1.0,
        max_age_seconds: float = 5.0,
    ):
        self.cache_key = cache_key
        self.load = load
        self.check_seconds = check_seconds
        self.max_age_seconds = max_age_seconds
        # (value, the token it was built under or None, built at, token checked at):
        # one tuple, replaced whole, so threads of one process never see a mix.
        self._state: tuple[T, str | None, float, float] | None = None
        _every.append(self)

    def current(self) -> T:
        """The value this process may use now (rebuilt when stale, see above)."""
        now = time.monotonic()
        state = self._state
        token = None
        if state is not None and now - state[2] < self.max_age_seconds:
            value, version, built_at, checked_at = state
            if now - checked_at < self.check_seconds:
                return value
            token = self._token()
            if token is _UNREACHABLE or (token is not None and token == version):
                # Without the cache, the value lives out its max age: one rebuild per
                # max_age_seconds, not one per check.
                self._state = (value, version, built_at, now)
                return value
        else:
            token = self._token()
        if token is _UNREACHABLE:
            token = None
        elif token is None:
            token = self._publish()
        value = self.load()
        self._state = (value, token, now, now)
        return value

    def forget(self) -> None:
        """Drop this process's value: the next use rebuilds it."""
        self._state = None

    def changed(self) -> None:
        """Call inside the transaction of every change: this process rebuilds at once
        (reading its own transaction's writes), every other one within check_seconds
        of the commit (a new token), or max_age_seconds without the cache."""
        self.forget()
        transaction.on_commit(self._after_commit)

    def _after_commit(self) -> None:
        self.forget()
        self._publish()

    def _token(self) -> str | object | None:
        """The cache's token, None when it has none, _UNREACHABLE when the cache fails."""
        try:
            return cache.get(self.cache_key)
        except Exception:  # the cache is an accelerator: without it, max age applies
            log.warning("%s unavailable from the cache", self.cache_key, exc_info=True)
            return _UNREACHABLE

    def _publish(self) -> str | None:
        token = secrets.token_hex(8)
        try:
            cache.set(self.cache_key, token, timeout=None)
        except Exception:
            log.warning("%s not written to the cache", self.cache_key, exc_info=True)
            return None
        return token
