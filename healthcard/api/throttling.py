"""Rate limits per terminal and per client IP, counted in the cache (Redis in
production, so every web node shares the counts). Rates are the `terminal` and `ip`
entries of REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"].

DRF's SimpleRateThrottle keeps the time of every request of the last window in one
cache entry, read, trimmed, pickled and written back on each request: at the default
6,000 a minute that is a list of thousands, on every verification. These count the
requests of fixed windows instead, with one atomic increment per request. A client can
burst to twice its rate across a window boundary, which limits this generous allow.

On Django's Redis cache backend (production), a count is one pipelined round trip,
`SET key 0 EX ttl NX` then `INCR key`, on a client of this module's own made from the
cache's LOCATION and OPTIONS: Django's `incr` makes two (`EXISTS`, then `INCR`), and
a key that expires between them is re-created by `INCR` without an expiry. The keys
are the cache's own (`cache.make_key`), so nodes counting either way share the counts.
Measured in-process: 165 → 77 µs of CPU per count. An API request's two counts (per
IP, per terminal) go in one pipeline together (`refusals`, which ApiView calls
instead of asking each throttle in turn as DRF does): one round trip per request.

Rate limits protect the service; they must not stop it. When the cache that keeps the
counts cannot be reached, requests are allowed without counting, and for
CACHE_RETRY_SECONDS the cache is not asked again by this process (one warning per such
spell), so an unreachable Redis costs neither a failed answer nor a timeout per request.
"""

import functools
import logging
import math
import re

import redis
from django.conf import settings
from django.core.cache import cache as default_cache
from django.core.cache import caches
from rest_framework.throttling import SimpleRateThrottle

from healthcard.clientip import client_ip
from healthcard.models import Terminal

log = logging.getLogger(__name__)

CACHE_RETRY_SECONDS = 5


class _CacheOutage:
    """Until when this process does not ask the cache for counts (its clock's time)."""

    until = 0.0


@functools.lru_cache(maxsize=4)
def _redis_client(location: str, connect_timeout: float | None, timeout: float | None):
    return redis.Redis.from_url(
        location, socket_connect_timeout=connect_timeout, socket_timeout=timeout
    )


def _redis_for(cache) -> redis.Redis | None:
    """A Redis client on the write server of `cache` when it is the default cache and
    that is Django's Redis backend, else None (any other cache counts through its own
    incr and add)."""
    config = settings.CACHES.get("default", {})
    if config.get("BACKEND") != "django.core.cache.backends.redis.RedisCache":
        return None
    if cache is not default_cache and cache is not caches["default"]:
        return None  # another cache object (tests make their own): its own way
    location = config["LOCATION"]
    servers = re.split("[;,]", location) if isinstance(location, str) else list(location)
    options = config.get("OPTIONS", {})
    return _redis_client(
        servers[0], options.get("socket_connect_timeout"), options.get("socket_timeout")
    )


class WindowRateThrottle(SimpleRateThrottle):
    """At most `num_requests` per `duration`-second window (windows aligned on the
    clock, so every web node counts the same one)."""

    def allow_request(self, request, view) -> bool:
        return not refusals([self], request, view)

    def _window_key(self, request, view) -> str | None:
        """The key of this request's count in its window (None: not limited), with
        `now` and `window_end` set for wait()."""
        if self.rate is None:
            return None
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return None
        self.now = self.timer()
        window = int(self.now // self.duration)
        self.window_end = (window + 1) * self.duration
        return f"{self.key}:{window}"

    def wait(self) -> float:
        return max(1, math.ceil(self.window_end - self.now))


def refusals(throttles: list[WindowRateThrottle], request, view) -> list[float]:
    """Count `request` against each throttle; the waits of those over their limit
    (none: allowed). Throttles on the default Redis cache are counted together in one
    pipelined round trip (an API request has two: per IP, per terminal); any other
    cache counts through its own incr and add. An unreachable cache allows, see the
    module."""
    counted = []
    for throttle in throttles:
        key = throttle._window_key(request, view)
        if key is not None:
            counted.append((throttle, key))
    if not counted:
        return []
    now = counted[0][0].now  # the throttles read one clock (their class's timer)
    if now < _CacheOutage.until:
        return []
    try:
        counts = _counts(counted)
    except Exception:  # any failure of the cache backend: allow, see the module
        _CacheOutage.until = now + CACHE_RETRY_SECONDS
        log.warning(
            "rate-limit counts unavailable from the cache; not limiting for %s s",
            CACHE_RETRY_SECONDS,
            exc_info=True,
        )
        return []
    return [
        t.wait() for (t, _key), count in zip(counted, counts, strict=True) if count > t.num_requests
    ]


def _counts(counted: list[tuple[WindowRateThrottle, str]]) -> list[int]:
    """Each window's count after this request, in order: those on the default Redis
    cache (one client, _redis_for) in one pipeline, the others one by one."""
    counts = [0] * len(counted)
    client, piped = None, []
    for i, (throttle, key) in enumerate(counted):
        found = _redis_for(throttle.cache)
        if found is None:
            counts[i] = _count(throttle.cache, key, throttle.duration)
        else:
            client = found
            piped.append(i)
    if piped:
        pipe = client.pipeline(transaction=False)
        for i in piped:
            throttle, key = counted[i]
            name = throttle.cache.make_key(key)
            pipe.set(name, 0, ex=throttle.duration + 1, nx=True)
            pipe.incr(name)
        for i, count in zip(piped, pipe.execute()[1::2], strict=True):
            counts[i] = count
    return counts


def _count(cache, key: str, duration: int) -> int:
    try:
        return cache.incr(key)
    except ValueError:  # the window's first request (on this cache)
        if cache.add(key, 1, timeout=duration + 1):
            return 1
        return cache.incr(key)  # another node's request came first


class TerminalRateThrottle(WindowRateThrottle):
    scope = "terminal"

    def get_cache_key(self, request, view):
        if not isinstance(request.auth, Terminal):
            return None  # unauthenticated requests are limited per IP only
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}


class IPRateThrottle(WindowRateThrottle):
    scope = "ip"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def get_ident(self, request) -> str | None:
        """The client's address as the audit log and the staff lockout take it
        (healthcard.clientip: REMOTE_ADDR, or behind HEALTHCARD_TRUSTED_PROXIES reverse
        proxies the address the outermost saw). DRF's own, with NUM_PROXIES unset,
        counted whatever X-Forwarded-For a client sent: a new value each request and
        the limit never applied. (It also built request.headers from every header.)"""
        return client_ip(request)
