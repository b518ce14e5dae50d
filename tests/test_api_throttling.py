"""healthcard.api.throttling counts fixed windows with one increment per request, on
the in-process cache and on Redis (what production web nodes share)."""

import pytest
from django.conf import settings
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache

from healthcard.api.throttling import IPRateThrottle

from .conftest import service_unavailable


class Request:
    def __init__(self, ip="10.0.0.1"):
        self.META = {"REMOTE_ADDR": ip}
        self.headers = {}
        self.auth = None


class Clock:
    now = 6000.0  # a window boundary for minutes and seconds alike

    def __call__(self) -> float:
        return self.now


def throttle(cache, clock, rate="3/min"):
    t = IPRateThrottle.__new__(IPRateThrottle)
    t.cache, t.timer, t.rate = cache, clock, rate
    t.num_requests, t.duration = t.parse_rate(rate)
    return t


def redis_cache():
    url = settings.CELERY_BROKER_URL
    if not url.startswith("redis://"):
        service_unavailable("no Redis (CELERY_BROKER_URL is not redis://)")
    # The broker's server, another database number: what CACHE_URL is in production.
    cache = RedisCache(url.rsplit("/", 1)[0] + "/14", {"KEY_PREFIX": "throttle-test"})
    cache.clear()
    return cache


@pytest.fixture(params=["locmem", pytest.param("redis", marks=pytest.mark.redis)])
def cache(request):
    if request.param == "locmem":
        return LocMemCache("throttle-test", {})
    return redis_cache()


def allowed(cache, clock, n, request=None):
    return [throttle(cache, clock).allow_request(request or Request(), None) for _ in range(n)]


def test_the_rate_holds_within_a_window_and_resets_with_the_next(cache):
    clock = Clock()
    assert allowed(cache, clock, 4) == [True, True, True, False]
    clock.now += 30
    t = throttle(cache, clock)
    assert not t.allow_request(Request(), None)
    assert t.wait() == 30
    clock.now += 30  # the next minute
    assert allowed(cache, clock, 4) == [True, True, True, False]


def test_each_address_has_its_own_count(cache):
    clock = Clock()
    assert allowed(cache, clock, 4, Request("10.0.0.1"))[-1] is False
    assert allowed(cache, clock, 1, Request("10.0.0.2")) == [True]


def test_the_wait_is_at_least_one_second():
    clock = Clock()
    clock.now += 59.9
    t = throttle(LocMemCache("throttle-wait", {}), clock, "1/min")
    assert t.allow_request(Request(), None)
    assert not t.allow_request(Request(), None)
    assert t.wait() == 1
