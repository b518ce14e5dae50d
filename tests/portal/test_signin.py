"""Signing in with a phone number and an SMS code (portal.otp, portal.resident.views)."""

import datetime

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from healthcard.models import OutboxMessage, SmsSend
from healthcard.sms import SmsGatewayError
from portal import otp
from portal.models import SmsDevice
from tests.portal.conftest import PHONE, last_code, sign_in

pytestmark = pytest.mark.django_db


def send(client, phone=PHONE, **extra):
    return client.post("/signin/", {"phone": phone}, **extra)


def test_code_signs_in_and_the_account_has_no_password(client):
    assert send(client).status_code == 302
    response = client.post("/signin/code/", {"code": last_code()})
    assert response.status_code == 302
    assert response["Location"] == "/me/"
    device = SmsDevice.objects.get()
    assert not device.user.has_usable_password()
    assert device.user.username.startswith("sms:") and PHONE not in device.user.username
    assert client.get("/me/").status_code == 200


def test_the_code_is_stored_only_as_a_hash(client):
    send(client)
    assert PHONE not in str(dict(client.session))  # the session holds the device id
    device = SmsDevice.objects.get()
    code = last_code()
    assert code not in device.token_hash and len(device.token_hash) == 64
    assert PHONE.encode() not in bytes(device.phone_enc)


@pytest.mark.parametrize("phone", ["12345678901", "1381234567", "23800138000", "abc", ""])
def test_a_number_that_is_not_a_mainland_mobile_is_refused(client, phone):
    response = send(client, phone)
    assert response.status_code == 200
    assert "mainland mobile" in response.content.decode() or "required" in response.content.decode()
    assert not OutboxMessage.objects.exists()


def test_wrong_code_is_refused_and_locks_for_longer_each_time(client):
    send(client)
    code = last_code()
    wrong = "000000" if code != "000000" else "111111"
    response = client.post("/signin/code/", {"code": wrong})
    assert "not correct" in response.content.decode()
    # At once again: locked (2 s after the first failure, 4 s after the second ...).
    response = client.post("/signin/code/", {"code": code})
    assert "Too many wrong codes" in response.content.decode()
    device = SmsDevice.objects.get()
    assert device.throttling_failure_count == 1
    with time_machine.travel(timezone.now() + datetime.timedelta(seconds=3)):
        client.post("/signin/code/", {"code": wrong})
        assert SmsDevice.objects.get().throttling_failure_count == 2
    with time_machine.travel(timezone.now() + datetime.timedelta(seconds=6)):
        response = client.post("/signin/code/", {"code": code})
        assert "Too many wrong codes" in response.content.decode()  # 4 s needed after #2
    with time_machine.travel(timezone.now() + datetime.timedelta(seconds=8)):
        response = client.post("/signin/code/", {"code": code})
        assert response.status_code == 302
    assert SmsDevice.objects.get().throttling_failure_count == 0


def test_expired_code_is_refused(client):
    send(client)
    code = last_code()
    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=5, seconds=1)):
        response = client.post("/signin/code/", {"code": code})
    assert "expired" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_code_works_within_five_minutes(client):
    send(client)
    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=4, seconds=50)):
        assert client.post("/signin/code/", {"code": last_code()}).status_code == 302


def test_a_used_code_does_not_work_again(client):
    send(client)
    code = last_code()
    assert client.post("/signin/code/", {"code": code}).status_code == 302
    with pytest.raises(otp.OtpError) as refused:
        otp.check_code(SmsDevice.objects.get(), code)
    assert refused.value.code == "no_code"
    # Asking again (the cooldown ends with a sign-in) sends a new code; the old one
    # stays dead.
    other = Client()
    other.post("/signin/", {"phone": PHONE})
    assert OutboxMessage.objects.count() == 2
    response = other.post("/signin/code/", {"code": code if code != last_code() else "x"})
    assert response.status_code == 200
    assert "_auth_user_id" not in other.session


def test_resend_waits_for_the_cooldown(client):
    send(client)
    response = client.post("/signin/resend/", follow=True)
    assert "in 60 seconds" in response.content.decode() or "seconds" in response.content.decode()
    assert OutboxMessage.objects.count() == 1
    with time_machine.travel(timezone.now() + datetime.timedelta(seconds=61)):
        client.post("/signin/resend/")
        assert OutboxMessage.objects.count() == 2


def test_code_page_shows_time_left_and_resend(client):
    send(client)
    page = client.get("/signin/code/").content.decode()
    assert 'data-countdown="300"' in page or 'data-countdown="299"' in page
    assert "data-enable-after=" in page
    assert "139****5678" in page


def test_five_sends_an_hour_per_number(client):
    start = timezone.now()
    for minute in range(5):
        with time_machine.travel(start + datetime.timedelta(minutes=2 * minute)):
            send(client)
    assert SmsSend.objects.count() == 5
    with time_machine.travel(start + datetime.timedelta(minutes=12)):
        response = send(client)
    assert "Too many codes were sent to this number" in response.content.decode()
    assert SmsSend.objects.count() == 5
    with time_machine.travel(start + datetime.timedelta(minutes=61)):
        send(client)
    assert SmsSend.objects.count() == 6


def test_ten_sends_a_day_per_number(client):
    start = timezone.now()
    for n in range(10):
        with time_machine.travel(start + datetime.timedelta(hours=2 * n)):
            send(client)
    with time_machine.travel(start + datetime.timedelta(hours=20, minutes=30)):
        response = send(client)
    assert "Too many codes were sent to this number" in response.content.decode()
    assert SmsSend.objects.count() == 10


def test_sends_per_ip_address_are_limited(client, settings):
    settings.HEALTHCARD_SMS_IP_PER_HOUR = 3
    for n in range(3):
        send(client, f"1380013800{n}")
    response = send(client, "13800138009")
    assert "Too many codes were requested from here" in response.content.decode()
    other_ip = send(Client(), "13800138009", REMOTE_ADDR="10.1.2.3")
    assert other_ip.status_code == 302


def test_behind_a_trusted_proxy_sends_are_limited_per_forwarded_address(client, settings):
    """Every resident reaches the site through the proxy (one REMOTE_ADDR): the limit
    counts the address the proxy saw, not the proxy, and not what a client wrote."""
    settings.HEALTHCARD_SMS_IP_PER_HOUR = 2
    settings.HEALTHCARD_TRUSTED_PROXIES = 1
    proxy = {"REMOTE_ADDR": "10.0.0.254"}
    for n in range(2):
        forged = f"198.51.100.{n}, 203.0.113.9"  # the left entry is the client's own
        assert (
            send(client, f"1380013800{n}", HTTP_X_FORWARDED_FOR=forged, **proxy).status_code == 302
        )
    response = send(client, "13800138009", HTTP_X_FORWARDED_FOR="203.0.113.9", **proxy)
    assert "Too many codes were requested from here" in response.content.decode()
    other = send(Client(), "13800138009", HTTP_X_FORWARDED_FOR="203.0.113.10", **proxy)
    assert other.status_code == 302


def test_a_gateway_failure_is_not_counted_and_says_so(client, monkeypatch):
    def fail(self, phone, body):
        raise SmsGatewayError("HTTP 503")

    monkeypatch.setattr("healthcard.sms.OutboxBackend.send", fail)
    response = send(client)
    assert "does not count against you" in response.content.decode()
    assert not SmsSend.objects.exists()
    device = SmsDevice.objects.get()
    assert device.last_generated_timestamp is None  # no cooldown either
    monkeypatch.undo()
    assert send(client).status_code == 302


def test_signout_ends_the_session(resident_client):
    assert resident_client.get("/me/").status_code == 200
    resident_client.post("/signout/")
    response = resident_client.get("/me/")
    assert response.status_code == 302 and response["Location"].startswith("/signin/")


def test_session_expires_after_30_minutes_without_a_request(db):
    client = Client()
    sign_in(client)
    assert client.get("/me/").status_code == 200
    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=29)):
        assert client.get("/me/").status_code == 200
    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=29 + 31)):
        assert client.get("/me/").status_code == 302


def test_staff_signed_in_with_totp_is_not_a_resident(client, clerk, otp_login):
    otp_login(client, clerk)
    response = client.get("/me/")
    assert response.status_code == 302 and response["Location"].startswith("/signin/")


def test_next_must_stay_on_this_site(client):
    client.post("/signin/?next=https://evil.example/", {"phone": PHONE})
    response = client.post("/signin/code/?next=https://evil.example/", {"code": last_code()})
    assert response["Location"] == "/me/"


def test_codes_are_compared_in_constant_time(client, monkeypatch):
    from django.utils import crypto

    calls = []

    def spy(a, b):
        calls.append((a, b))
        return crypto.constant_time_compare(a, b)

    monkeypatch.setattr("portal.models.constant_time_compare", spy)
    send(client)
    client.post("/signin/code/", {"code": last_code()})
    assert len(calls) == 1
    stored, given = calls[0][1], calls[0][0]
    assert stored == given and len(stored) == 64  # hashes, not the code
