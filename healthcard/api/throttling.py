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
Measured in-process: 165 → 77 µs of CPU per count, two counts per request
(docs/performance.md).

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
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        self.window_end = (window + 1) * self.duration
        if self.now < _CacheOutage.until:
            return True
        try:
            count = self._count(f"{self.key}:{window}")
        except Exception:  # any failure of the cache backend: allow, see the module
            _CacheOutage.until = self.now + CACHE_RETRY_SECONDS
            log.warning(
                "rate-limit counts unavailable from the cache; not limiting for %s s",
                CACHE_RETRY_SECONDS,
                exc_info=True,
            )
            return True
        return count <= self.num_requests

    def _count(self, key: str) -> int:
        """This window's count after this request."""
        client = _redis_for(self.cache)
        if client is not None:
            name = self.cache.make_key(key)
            pipe = client.pipeline(transaction=False)
            pipe.set(name, 0, ex=self.duration + 1, nx=True)
            pipe.incr(name)
            return pipe.execute()[1]
        try:
            return self.cache.incr(key)
        except ValueError:  # the window's first request (on this cache)
            if self.cache.add(key, 1, timeout=self.duration + 1):
                return 1
            return self.cache.incr(key)  # another node's request came first

    def wait(self) -> float:
        return max(1, math.ceil(self.window_end - self.now))


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
