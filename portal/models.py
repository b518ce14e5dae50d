"""The resident's sign-in device: a django-otp device that sends codes by SMS."""

import datetime
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django_otp.models import CooldownMixin, Device, ThrottlingMixin

from healthcard import pii
from healthcard.models.selfservice import EncryptedPhone


class SmsDevice(EncryptedPhone, ThrottlingMixin, CooldownMixin, Device):
    """One per phone number, belonging to that number's resident account.

    Unlike django-otp's SideChannelDevice the code is never stored: a keyed hash of it
    (salted per code) is, and it is compared in constant time. ThrottlingMixin makes
    each wrong code double the wait before the next try; CooldownMixin spaces the sends.
    """

    phone_index = models.CharField(max_length=64, unique=True, editable=False)
    phone_enc = models.BinaryField(editable=False)
    token_hash = models.CharField(max_length=64, blank=True, editable=False)
    token_salt = models.CharField(max_length=32, blank=True, editable=False)
    valid_until = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = "SMS device"

    def get_throttle_factor(self) -> int:
        return settings.HEALTHCARD_OTP_THROTTLE_FACTOR

    def get_cooldown_duration(self) -> int:
        return settings.HEALTHCARD_OTP_COOLDOWN_SECONDS

    def _hash(self, token: str) -> str:
        return pii.blind_index(f"{self.pk}:{self.token_salt}:{token}", "sms_otp")

    def new_token(self) -> str:
        """Make a fresh code (replacing any earlier one) and return it; the caller sends
        it and then calls cooldown_set (a failed send must not start the cooldown)."""
        token = f"{secrets.randbelow(10**6):06d}"
        self.token_salt = secrets.token_hex(16)
        self.token_hash = self._hash(token)
        self.valid_until = timezone.now() + datetime.timedelta(
            seconds=settings.HEALTHCARD_OTP_VALID_SECONDS
        )
        return token

    def verify_token(self, token) -> bool:
        allowed, _data = self.verify_is_allowed()
        if not allowed:
            return False
        token = str(token or "").strip()
        now = timezone.now()
        ok = (
            bool(self.token_hash)
            and now < self.valid_until
            and constant_time_compare(self._hash(token), self.token_hash)
        )
        if ok:
            self.token_hash = ""  # a code works once
            self.valid_until = now
            self.throttle_reset(commit=False)
            self.cooldown_reset(commit=False)
            self.save()
        else:
            self.throttle_increment()
        return ok
