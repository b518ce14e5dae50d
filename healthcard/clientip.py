"""The client's address, one policy for everything that counts or records it: the
staff sign-in lockout (axes), the terminal API's per-IP rate limit, the resident
portal's SMS limits per address, and the addresses in audit records (views, admin
and API pass it to the domain functions)."""

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: REMOTE_ADDR, or behind HEALTHCARD_TRUSTED_PROXIES reverse
    proxies the address the outermost of them saw (each appends one entry to
    X-Forwarded-For, so entries further left were written by the client and prove
    nothing)."""
    proxies = settings.HEALTHCARD_TRUSTED_PROXIES
    if proxies:
        hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        if len(hops) >= proxies:
            candidate = hops[-proxies]
            try:
                return str(ipaddress.ip_address(candidate))
            except ValueError:
                pass
    return request.META.get("REMOTE_ADDR")
