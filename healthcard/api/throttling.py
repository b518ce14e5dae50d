"""Rate limits per terminal and per client IP, counted in the cache (Redis in
production, so every web node shares the counts). Rates are the `terminal` and `ip`
entries of REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]."""

from rest_framework.throttling import SimpleRateThrottle

from healthcard.models import Terminal


class TerminalRateThrottle(SimpleRateThrottle):
    scope = "terminal"

    def get_cache_key(self, request, view):
        if not isinstance(request.auth, Terminal):
            return None  # unauthenticated requests are limited per IP only
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}


class IPRateThrottle(SimpleRateThrottle):
    scope = "ip"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
