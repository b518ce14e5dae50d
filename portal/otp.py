"""Signing in with a phone number and an SMS code (django-otp, portal.models.SmsDevice).

`request_code` sends a code within the limits (healthcard.sms: per phone and per IP;
the device's cooldown between sends); `check_code` verifies it under the device's
growing lockout and returns the resident account. Each phone number has one account:
a plain user with no usable password, so the SMS code is the only way in, and no
staff profile, so it can reach nothing but the resident portal.
"""

import datetime
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from healthcard import sms
from healthcard.errors import DomainError
from healthcard.identity import validate_phone
from healthcard.models import Person
from healthcard.pii import encrypt
from portal.models import SmsDevice


class OtpError(DomainError):
    """'cooldown', 'locked', 'expired', 'wrong' or 'no_code'; `retry_at` when known."""

    http_status = 429

    def __init__(self, code: str, message, retry_at: datetime.datetime | None = None):
        super().__init__(code, message)
        self.retry_at = retry_at


@dataclass(frozen=True)
class Sent:
    device: SmsDevice
    valid_until: datetime.datetime
    resend_at: datetime.datetime


def _seconds(until: datetime.datetime) -> int:
    return max(1, int((until - timezone.now()).total_seconds() + 0.999))


def device_for(phone: str, *, create: bool = False) -> SmsDevice | None:
    index = Person.phone_index_for(phone)
    device = SmsDevice.objects.filter(phone_index=index).first()
    if device is None and create:
        User = get_user_model()
        with transaction.atomic():
            user, _created = User.objects.get_or_create(username=f"sms:{index[:24]}")
            if _created:
                user.set_unusable_password()
                user.save(update_fields=["password"])
            device, _created = SmsDevice.objects.get_or_create(
                phone_index=index,
                defaults={"user": user, "name": "sms", "phone_enc": encrypt(phone, "phone")},
            )
    return device


def sent_state(device: SmsDevice) -> Sent:
    cooldown = datetime.timedelta(seconds=device.get_cooldown_duration())
    last = device.last_generated_timestamp or timezone.now() - cooldown
    return Sent(device, device.valid_until, last + cooldown)


def request_code(raw_phone: str, *, ip: str | None) -> Sent:
    """Send a sign-in code to `raw_phone`. Refuses a number that is not a mainland mobile
    (ValidationError), a resend within the cooldown (OtpError 'cooldown'), a send beyond
    the limits (SmsError) and reports a gateway failure (SmsGatewayError, not counted;
    the earlier code, if any, stays valid)."""
    phone = validate_phone(raw_phone)
    device = device_for(phone, create=True)
    with transaction.atomic():
        device = SmsDevice.objects.select_for_update().get(pk=device.pk)
        allowed, data = device.generate_is_allowed()
        if not allowed:
            at = data["next_generation_at"]
            raise OtpError(
                "cooldown",
                ngettext(
                    "A code was sent a moment ago. You can ask for a new one in %(n)d second.",
                    "A code was sent a moment ago. You can ask for a new one in %(n)d seconds.",
                    _seconds(at),
                )
                % {"n": _seconds(at)},
                retry_at=at,
            )
        token = device.new_token()
        body = _(
            "[Hunan health card] Your sign-in code is %(code)s, valid for %(minutes)d minutes. "
            "Never tell it to anyone."
        ) % {"code": token, "minutes": max(1, settings.HEALTHCARD_OTP_VALID_SECONDS // 60)}
        sms.send_sms(phone, body, purpose="signin", ip=ip)
        device.cooldown_set(commit=False)
        device.save()
    return sent_state(device)


def check_code(device: SmsDevice, token: str) -> SmsDevice:
    """Verify the code sent to `device`'s number; returns the device (its user is the
    account). Refuses with OtpError: 'locked' (too many wrong codes: wait, growing each
    time), 'no_code' (none sent, or already used), 'expired', 'wrong'."""
    with transaction.atomic():
        device = SmsDevice.objects.select_for_update().get(pk=device.pk)
        allowed, data = device.verify_is_allowed()
        if not allowed:
            at = data.get("locked_until")
            raise OtpError(
                "locked",
                _("Too many wrong codes. Please wait %(n)d seconds and try again.")
                % {"n": _seconds(at) if at else 60},
                retry_at=at,
            )
        had_code = bool(device.token_hash)
        expired = had_code and timezone.now() >= device.valid_until
        if device.verify_token(token):
            return device
    if not had_code:
        raise OtpError(
            "no_code", _("This code has been used or was never sent. Ask for a new code.")
        )
    if expired:
        raise OtpError("expired", _("The code has expired. Ask for a new code."))
    raise OtpError("wrong", _("The code is not correct. Check the text message and try again."))
