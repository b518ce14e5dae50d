"""Text messages to residents: one `send_sms` with per-phone and per-IP limits, and the
backends chosen by HEALTHCARD_SMS_BACKEND.

- `console`: the message goes to the server log (phone masked) and to the outbox table,
  which the development outbox page shows (DEBUG only);
- `outbox`: the outbox table only (tests);
- `http`: the province's SMS gateway (docs/portal.md gives the request format).

A send the gateway refuses raises SmsGatewayError and is not counted against the
resident's limits: only accepted sends are recorded (SmsSend).
"""

import datetime
import logging
import urllib.error
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from healthcard import outbound, pii
from healthcard.errors import DomainError
from healthcard.models import OutboxMessage, Person, SmsSend

log = logging.getLogger(__name__)


class SmsError(DomainError):
    """A message was not sent: 'rate_phone', 'rate_ip' (limits) or 'gateway'."""

    http_status = 429


class SmsGatewayError(SmsError):
    def __init__(self, detail: str = ""):
        super().__init__(
            "gateway",
            gettext_lazy(
                "The text message could not be sent just now. This attempt does not count "
                "against you; please try again in a few minutes."
            ),
        )
        self.detail = detail


@dataclass(frozen=True)
class Limit:
    scope: str  # "phone" or "ip"
    count: int
    window: datetime.timedelta


def limits() -> list[Limit]:
    hour, day = datetime.timedelta(hours=1), datetime.timedelta(days=1)
    return [
        Limit("phone", settings.HEALTHCARD_SMS_PHONE_PER_HOUR, hour),
        Limit("phone", settings.HEALTHCARD_SMS_PHONE_PER_DAY, day),
        Limit("ip", settings.HEALTHCARD_SMS_IP_PER_HOUR, hour),
        Limit("ip", settings.HEALTHCARD_SMS_IP_PER_DAY, day),
    ]


def check_limits(phone: str, ip: str | None) -> None:
    """Refuse (SmsError 'rate_phone' / 'rate_ip') a send beyond any limit."""
    now = timezone.now()
    index = Person.phone_index_for(phone)
    for limit in limits():
        if limit.scope == "ip" and not ip:
            continue
        rows = SmsSend.objects.filter(sent_at__gt=now - limit.window)
        rows = rows.filter(phone_index=index) if limit.scope == "phone" else rows.filter(ip=ip)
        if rows.count() >= limit.count:
            if limit.scope == "phone":
                raise SmsError(
                    "rate_phone",
                    _("Too many codes were sent to this number. Please try again later."),
                )
            raise SmsError(
                "rate_ip", _("Too many codes were requested from here. Please try again later.")
            )


def send_sms(phone: str, body: str, *, purpose: str, ip: str | None = None) -> None:
    """Send `body` to `phone` within the limits; record the send only when the gateway
    accepted it. Raises SmsError (limits) or SmsGatewayError (not sent, not counted)."""
    check_limits(phone, ip)
    backend().send(phone, body)
    SmsSend.objects.create(
        phone_index=Person.phone_index_for(phone), ip=ip, purpose=purpose, sent_at=timezone.now()
    )


def notify(phone: str, body: str, *, purpose: str) -> bool:
    """A notification from the platform itself (no IP limit, never raises): True when
    the gateway accepted it."""
    try:
        send_sms(phone, body, purpose=purpose)
    except SmsError as exc:
        log.warning("SMS notification (%s) not sent: %s", purpose, exc.code)
        return False
    return True


# --- Backends --------------------------------------------------------------------------
class OutboxBackend:
    def send(self, phone: str, body: str) -> None:
        OutboxMessage.objects.create(
            phone_enc=pii.encrypt(phone, "phone"),
            phone_index=Person.phone_index_for(phone),
            body=body,
        )


class ConsoleBackend(OutboxBackend):
    def send(self, phone: str, body: str) -> None:
        super().send(phone, body)
        log.info("SMS to %s: %s", pii.mask_number(phone, 3, 4), body)


class HttpBackend:
    """POST {"phone", "message", "sign"} as JSON with a bearer token; the gateway answers
    {"code": 0} when it accepted the message. Connection errors, timeouts and 5xx
    answers are retried; anything else is a refusal."""

    def send(self, phone: str, body: str) -> None:
        payload = {"phone": phone, "message": body, "sign": settings.HEALTHCARD_SMS_SIGN}
        detail = ""
        for _attempt in range(settings.HEALTHCARD_SMS_RETRIES + 1):
            try:
                answer = outbound.post_json(
                    settings.HEALTHCARD_SMS_URL,
                    settings.HEALTHCARD_SMS_TOKEN,
                    payload,
                    timeout=settings.HEALTHCARD_SMS_TIMEOUT,
                )
            except urllib.error.HTTPError as exc:
                detail = f"HTTP {exc.code}"
                if exc.code < 500:
                    break
                continue
            except (OSError, ValueError) as exc:  # URLError, timeouts, bad JSON
                detail = type(exc).__name__
                continue
            if isinstance(answer, dict) and answer.get("code") == 0:
                return
            detail = f"gateway code {answer.get('code') if isinstance(answer, dict) else '?'}"
            break
        log.warning("SMS gateway refused a message: %s", detail)
        raise SmsGatewayError(detail)


BACKENDS = {"console": ConsoleBackend, "outbox": OutboxBackend, "http": HttpBackend}


def backend():
    name = settings.HEALTHCARD_SMS_BACKEND
    try:
        return BACKENDS[name]()
    except KeyError:
        raise SmsGatewayError(f"unknown backend {name!r}") from None
