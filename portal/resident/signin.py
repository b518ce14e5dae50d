"""Signing in with a phone number and an SMS code (portal.otp), signing out, the
large-text toggle and the development SMS outbox."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_otp import login as otp_login

from healthcard.clientip import client_ip
from healthcard.models import OutboxMessage
from healthcard.sms import SmsError
from portal import otp
from portal.models import SmsDevice
from portal.resident.base import safe_next, with_next
from portal.resident.context import ELDER_COOKIE
from portal.resident.forms import CodeForm, PhoneForm

#: The session remembers the device between the two sign-in steps, not the number.
SIGNIN_DEVICE = "portal_signin_device"


def signin(request):
    form = PhoneForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        phone = form.cleaned_data["phone"]
        try:
            sent = otp.request_code(phone, ip=client_ip(request))
        except ValidationError as exc:
            form.add_error("phone", exc)
        except otp.OtpError as exc:
            if exc.code != "cooldown":
                raise
            # A code is on its way already: go on and enter it.
            request.session[SIGNIN_DEVICE] = otp.device_for(otp.validate_phone(phone)).pk
            messages.info(request, exc.message)
            return redirect(with_next(request, "portal:signin_code"))
        except SmsError as exc:
            form.add_error(None, exc.message)
        else:
            request.session[SIGNIN_DEVICE] = sent.device.pk
            return redirect(with_next(request, "portal:signin_code"))
    return render(request, "portal/signin.html", {"form": form, "next": safe_next(request, "")})


def _signin_device(request) -> SmsDevice | None:
    device_id = request.session.get(SIGNIN_DEVICE)
    return SmsDevice.objects.filter(pk=device_id).first() if device_id else None


def signin_code(request):
    device = _signin_device(request)
    if device is None:
        return redirect("portal:signin")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device = otp.check_code(device, form.cleaned_data["code"])
        except otp.OtpError as exc:
            form.add_error("code", exc.message)
        else:
            login(request, device.user, backend="django.contrib.auth.backends.ModelBackend")
            otp_login(request, device)
            request.session.pop(SIGNIN_DEVICE, None)
            return redirect(safe_next(request, reverse("portal:dashboard")))
    state = otp.sent_state(device)
    now = timezone.now()
    valid = max(0, int((state.valid_until - now).total_seconds()))
    return render(
        request,
        "portal/signin_code.html",
        {
            "form": form,
            "masked_phone": device.masked_phone,
            "valid_seconds": valid,
            "valid_minutes": (valid + 59) // 60,
            "resend_seconds": max(0, int((state.resend_at - now).total_seconds())),
            "next": safe_next(request, ""),
        },
    )


@require_POST
def signin_resend(request):
    device = _signin_device(request)
    if device is None:
        return redirect("portal:signin")
    try:
        otp.request_code(device.phone, ip=client_ip(request))
    except (otp.OtpError, SmsError) as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("A new code has been sent."))
    return redirect(with_next(request, "portal:signin_code"))


@require_POST
def signout(request):
    logout(request)
    messages.success(request, _("You have signed out."))
    return redirect("portal:home")


@require_POST
def elder_toggle(request):
    response = redirect(safe_next(request, reverse("portal:home")))
    if request.COOKIES.get(ELDER_COOKIE) == "1":
        response.delete_cookie(ELDER_COOKIE)
    else:
        response.set_cookie(
            ELDER_COOKIE,
            "1",
            max_age=365 * 24 * 3600,
            secure=settings.SESSION_COOKIE_SECURE,
            httponly=True,
            samesite="Lax",
        )
    return response


def dev_outbox(request):
    """The SMS outbox of the console/outbox backends: DEBUG only (a 404 otherwise)."""
    if not settings.DEBUG:
        raise Http404
    return render(
        request, "portal/dev_outbox.html", {"messages_sent": OutboxMessage.objects.all()[:50]}
    )
