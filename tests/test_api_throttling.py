"""healthcard.api.throttling counts fixed windows with one increment per request, on
the in-process cache and on Redis (what production web nodes share)."""

import time

import pytest
from django.conf import settings
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache

from healthcard import codes
from healthcard.api import throttling
from healthcard.api.throttling import IPRateThrottle, TerminalRateThrottle
from healthcard.models import Terminal, UsageEvent

from .conftest import service_unavailable


class Request:
    def __init__(self, ip="10.0.0.1", forwarded_for=None):
        self.META = {"REMOTE_ADDR": ip}
        if forwarded_for is not None:
            self.META["HTTP_X_FORWARDED_FOR"] = forwarded_for
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


def test_a_forwarded_for_header_does_not_open_a_new_count_without_a_trusted_proxy(cache):
    """Without HEALTHCARD_TRUSTED_PROXIES anyone can send X-Forwarded-For: a new value
    each request must not make a new count (DRF's own get_ident counted by it)."""
    clock = Clock()
    results = [
        throttle(cache, clock).allow_request(Request("10.0.0.3", f"203.0.113.{n}"), None)
        for n in range(4)
    ]
    assert results == [True, True, True, False]


def test_behind_a_trusted_proxy_the_address_it_saw_is_counted(cache, settings):
    settings.HEALTHCARD_TRUSTED_PROXIES = 1
    clock = Clock()
    # The client wrote the left entries itself; the proxy appended the right one.
    spoofed = [Request("10.9.9.9", f"198.51.100.{n}, 203.0.113.7") for n in range(4)]
    assert [throttle(cache, clock).allow_request(r, None) for r in spoofed] == [
        True,
        True,
        True,
        False,
    ]
    assert allowed(cache, clock, 1, Request("10.9.9.9", "203.0.113.8")) == [True]


def test_the_wait_is_at_least_one_second():
    clock = Clock()
    clock.now += 59.9
    t = throttle(LocMemCache("throttle-wait", {}), clock, "1/min")
    assert t.allow_request(Request(), None)
    assert not t.allow_request(Request(), None)
    assert t.wait() == 1


# --- the counters' cache unreachable ---------------------------------------------------
class UnreachableCache:
    """A cache whose server does not answer; counts how often it was asked."""

    def __init__(self):
        self.asked = 0

    def incr(self, key, delta=1):
        self.asked += 1
        raise ConnectionError("cache server unreachable")

    add = incr


@pytest.fixture
def outage_reset(monkeypatch):
    monkeypatch.setattr(throttling._CacheOutage, "until", 0.0)


def test_without_its_cache_the_limit_allows_and_waits_before_asking_again(outage_reset, caplog):
    clock, cache = Clock(), UnreachableCache()
    assert allowed(cache, clock, 5) == [True] * 5
    assert cache.asked == 1  # then not asked again for a while: no timeout per request
    warnings = [r for r in caplog.records if r.name == "healthcard.api.throttling"]
    assert len(warnings) == 1
    assert warnings[0].levelname == "WARNING"
    clock.now += throttling.CACHE_RETRY_SECONDS
    assert allowed(cache, clock, 1) == [True]
    assert cache.asked == 2


def test_the_limit_counts_again_once_its_cache_is_back(outage_reset):
    clock = Clock()
    assert allowed(UnreachableCache(), clock, 1) == [True]
    clock.now += throttling.CACHE_RETRY_SECONDS
    back = LocMemCache("throttle-back", {})
    assert allowed(back, clock, 4) == [True, True, True, False]


def test_an_unreachable_redis_fails_fast_and_allows(outage_reset):
    # Nothing listens on port 1: the real client's error, within the settings' timeout.
    cache = RedisCache(
        "redis://127.0.0.1:1/0",
        {"OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}},
    )
    started = time.monotonic()
    assert allowed(cache, Clock(), 2) == [True, True]
    assert time.monotonic() - started < 5


@pytest.mark.django_db
def test_verification_goes_on_while_the_shared_cache_is_down(
    outage_reset, terminal, card, settings
):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    body = {"code": codes.static_code(card), "care_step": "010101"}
    answers = [terminal.post("/api/v1/codes/verify", body) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert UsageEvent.objects.filter(card=card, result=UsageEvent.RESULT_OK).count() == 3


# --- one round trip per count on the default Redis cache ------------------------------
@pytest.fixture
def default_redis(settings):
    redis_cache()  # skips (or fails, where services are required) without Redis
    location = settings.CELERY_BROKER_URL.rsplit("/", 1)[0] + "/14"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": location,
            "KEY_PREFIX": "throttle-default",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    from django.core.cache import cache

    cache.clear()
    return cache


@pytest.mark.redis
def test_the_default_redis_cache_counts_in_one_pipelined_round_trip(default_redis):
    assert throttling._redis_for(default_redis) is not None
    clock = Clock()
    assert allowed(default_redis, clock, 4) == [True, True, True, False]
    key = f"{throttle(default_redis, clock).get_cache_key(Request(), None)}:{int(clock.now // 60)}"
    # The cache's own key and value: Django's incr and get see the same count...
    assert default_redis.get(key) == 4
    assert default_redis.incr(key) == 5
    # ...and the window's key expires with its window, never lives on without a TTL.
    client = throttling._redis_for(default_redis)
    assert 0 < client.ttl(default_redis.make_key(key)) <= 61
    clock.now += 60
    assert allowed(default_redis, clock, 1) == [True]


def test_other_caches_count_through_their_own_incr(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    from django.core.cache import cache

    assert throttling._redis_for(cache) is None
    assert throttling._redis_for(LocMemCache("throttle-other", {})) is None
    # A Redis cache object that is not the default one counts through Django's incr.
    assert throttling._redis_for(RedisCache("redis://127.0.0.1:1/0", {})) is None


class TerminalRequest(Request):
    def __init__(self, ip="10.0.0.1", terminal_pk=7):
        super().__init__(ip)
        self.auth = Terminal(pk=terminal_pk)


def both(cache, clock, ip_rate="5/min", terminal_rate="2/min"):
    """An API request's two throttles, as ApiView gets them."""
    ip = throttle(cache, clock, ip_rate)
    terminal = TerminalRateThrottle.__new__(TerminalRateThrottle)
    terminal.cache, terminal.timer, terminal.rate = cache, clock, terminal_rate
    terminal.num_requests, terminal.duration = terminal.parse_rate(terminal_rate)
    return [ip, terminal]


def test_both_limits_count_every_request_and_the_one_over_says_how_long(cache):
    clock = Clock()
    clock.now += 20
    request = TerminalRequest("10.0.0.4", terminal_pk=41)
    waits = [throttling.refusals(both(cache, clock), request, None) for _ in range(3)]
    assert waits == [[], [], [40]]  # the terminal's limit (2/min), 40 s to its window's end
    # The IP's count went on too: a terminal of its own at that address gets 2 more.
    other = TerminalRequest("10.0.0.4", terminal_pk=42)
    waits = [throttling.refusals(both(cache, clock), other, None) for _ in range(3)]
    assert waits == [[], [], [40, 40]]  # 6th request from the address: both over


@pytest.mark.redis
def test_on_the_default_redis_cache_both_counts_take_one_round_trip(default_redis, monkeypatch):
    client = throttling._redis_for(default_redis)
    pipelines = []
    real = client.pipeline
    monkeypatch.setattr(client, "pipeline", lambda **kw: pipelines.append(kw) or real(**kw))
    clock = Clock()
    request = TerminalRequest("10.0.0.5", terminal_pk=51)
    assert throttling.refusals(both(default_redis, clock), request, None) == []
    assert len(pipelines) == 1
    keys = [
        f"{t.get_cache_key(request, None)}:{int(clock.now // 60)}"
        for t in both(default_redis, clock)
    ]
    assert [default_redis.get(k) for k in keys] == [1, 1]


def test_an_unauthenticated_request_is_counted_per_address_only(cache):
    clock = Clock()
    request = Request("10.0.0.6")
    assert [throttling.refusals(both(cache, clock, "1/min"), request, None) for _ in range(2)] == [
        [],
        [60],
    ]
