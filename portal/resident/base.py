"""What every resident page shares: safe redirects, the sign-in check."""

import functools

from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.cache import never_cache

from portal.models import SmsDevice


def safe_next(request, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def resident_required(view):
    """Signed in with an SMS code (django-otp verified through an SmsDevice)."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        user = request.user
        if not (
            user.is_authenticated
            and user.is_verified()
            and isinstance(getattr(user, "otp_device", None), SmsDevice)
        ):
            return redirect(f"{reverse('portal:signin')}?{urlencode({'next': request.path})}")
        return never_cache(view)(request, *args, **kwargs)

    return wrapper


def account_phone(request) -> str:
    return request.user.otp_device.phone


def with_next(request, name: str) -> str:
    url = reverse(name)
    target = safe_next(request, "")
    return f"{url}?{urlencode({'next': target})}" if target else url
