"""Staff sign-in: user name, password and a TOTP code, for the admin and the console.

One function decides (`check_credentials`); the admin's login form and the console's
sign-in view only call it. django-axes counts failures per user name and per client IP
(it listens to `user_login_failed`), and `check_credentials` asks it first, refusing a
locked-out name or address before the password is checked. (Axes' authentication
backend is not installed: with a second backend every `login(request, user)` elsewhere,
such as the residents' SMS sign-in, would have to name its backend, and
`Client.login()` would fail for want of a request.) A wrong code counts as a failure
too, so the code cannot be guessed either once the password is known.

Every failure (unknown user, wrong password, wrong or missing code, not staff, locked
out) raises the same SignInFailed with the same message: nothing tells an attacker
which part was right.

A staff user without a confirmed TOTP device gets, after a correct password, an
enrolment step instead: `start_enrolment` keeps the user in the session (not signed
in), `enrolment_device` makes an unconfirmed device whose secret the clerk adds to an
authenticator app, and `confirm_enrolment` signs them in once a code from it matches.
"""

import base64
import time
from dataclasses import dataclass
from io import BytesIO
from typing import Any

import qrcode
import qrcode.image.svg
from axes.handlers.proxy import AxesProxyHandler
from django.contrib.auth import authenticate, get_user_model, login
from django.contrib.auth.signals import user_login_failed
from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from healthcard import access, audit
from healthcard.clientip import client_ip
from healthcard.errors import DomainError

#: The one message for every failed sign-in.
FAILED = _(
    "Sign-in failed. Check your user name, password and the 6-digit code from your "
    "authenticator app. After repeated failures sign-in is blocked for a while."
)
ENROL_SESSION_KEY = "staffauth_enrol_user"


class SignInFailed(DomainError):
    http_status = 401

    def __init__(self) -> None:
        super().__init__("sign_in_failed", FAILED)


@dataclass(frozen=True)
class Checked:
    """A correct password of a staff user; `device` is None when they must enrol."""

    user: Any
    device: TOTPDevice | None


def is_staff_member(user) -> bool:
    """May sign in to the admin or the console: active, staff, with a role (or a
    superuser)."""
    return bool(user and user.is_active and user.is_staff and access.is_staff_user(user))


def _count_failure(request: HttpRequest, username: str) -> None:
    # The same signal authenticate() sends for a wrong password: axes counts it.
    user_login_failed.send(sender=__name__, credentials={"username": username}, request=request)


def check_credentials(
    request: HttpRequest, username: str, password: str, token: str = ""
) -> Checked:
    """Check the password (through axes) and, for a user with a device, the code.
    Raises SignInFailed for any failure; returns the user with the device that
    accepted the code, or with device None when they have no device yet."""
    username = (username or "").strip()
    if not username or not password:
        raise SignInFailed()
    if not AxesProxyHandler.is_allowed(request, {"username": username}):
        # Locked out (this name, or this address): the password is not even checked.
        _count_failure(request, username)
        raise SignInFailed()
    user = authenticate(request, username=username, password=password)
    if user is None:
        raise SignInFailed()  # authenticate() sent user_login_failed: axes counted it
    if not is_staff_member(user):
        _count_failure(request, username)
        raise SignInFailed()
    devices = list(TOTPDevice.objects.devices_for_user(user, confirmed=True))
    if not devices:
        return Checked(user, None)
    token = "".join((token or "").split())
    if token.isascii() and token.isdigit():
        for device in devices:
            # verify_token applies django-otp's own growing delay per device.
            with transaction.atomic():
                device = TOTPDevice.objects.select_for_update().get(pk=device.pk)
                if device.verify_token(token):
                    return Checked(user, device)
    _count_failure(request, username)
    raise SignInFailed()


def complete_sign_in(request: HttpRequest, user, device: TOTPDevice) -> None:
    """Log the user in with a verified second factor and audit it."""
    user.otp_device = device  # django-otp's user_logged_in handler marks the session
    login(request, user)
    request.session.pop(ENROL_SESSION_KEY, None)
    record_sign_in(request, user)


def record_sign_in(request: HttpRequest, user, action: str = "staff.sign_in") -> None:
    """The audit row of a successful staff sign-in (the admin's LoginView logs in)."""
    profile = getattr(user, "staff_profile", None)
    audit.record(
        action,
        actor=user,
        obj=user,
        institution=profile.institution if profile is not None else None,
        ip=client_ip(request),
    )


# --- enrolment -------------------------------------------------------------------------


#: How long after the password step the enrolment page stays open: an abandoned
#: browser must not let the next person at the counter enrol their own phone.
ENROL_SECONDS = 600


def start_enrolment(request: HttpRequest, user) -> None:
    """Remember, in the session, a user whose password was right and who has no device."""
    request.session[ENROL_SESSION_KEY] = {"user": user.pk, "at": int(time.time())}


def enrolling_user(request: HttpRequest):
    """The user in the middle of enrolment, or None (also once they have a device, or
    when the password step is more than ENROL_SECONDS ago)."""
    pending = request.session.get(ENROL_SESSION_KEY)
    if not isinstance(pending, dict) or time.time() - pending.get("at", 0) > ENROL_SECONDS:
        return None
    user = get_user_model().objects.filter(pk=pending.get("user")).first()
    if not is_staff_member(user) or TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        return None
    return user


def enrolment_device(user) -> TOTPDevice:
    """The user's unconfirmed device (made once; the same secret on every reload)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)
    return device


def confirm_enrolment(request: HttpRequest, user, token: str) -> bool:
    """Confirm the enrolment device with a code from the app and sign the user in.
    False (counted as a failure) when the code does not match."""
    device = enrolment_device(user)
    token = "".join((token or "").split())
    if not (token.isascii() and token.isdigit() and device.verify_token(token)):
        _count_failure(request, user.get_username())
        return False
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    record_sign_in(request, user, "staff.otp_enrolled")
    complete_sign_in(request, user, device)
    return True


def secret_base32(device: TOTPDevice) -> str:
    """The device's secret as authenticator apps take it when typed in."""
    return base64.b32encode(device.bin_key).decode("ascii").rstrip("=")


def qr_svg(text: str) -> str:
    """An inline SVG QR code of `text` (no file, no external service)."""
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    out = BytesIO()
    image.save(out)
    return out.getvalue().decode("utf-8")
