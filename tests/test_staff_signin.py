"""One staff sign-in for the admin and the console: password + TOTP, lockout per user
name and per IP, the same message for every failure, enrolment of a first device."""

import datetime

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from healthcard import clientip, staffauth
from healthcard.models import AuditRecord
from tests.conftest import PASSWORD

ADMIN_LOGIN = reverse("admin:login")
CONSOLE_LOGIN = reverse("portal:staff:login")
FAILED = str(staffauth.FAILED)


def code(device) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


@pytest.fixture(autouse=True)
def _limit(settings):
    settings.AXES_FAILURE_LIMIT = 3


@pytest.fixture
def device(clerk):
    return TOTPDevice.objects.create(user=clerk, name="phone", confirmed=True)


def post(client, url, username="clerk", password=PASSWORD, token="", ip="10.0.0.1"):
    field = {"otp_token": token}
    return client.post(url, {"username": username, "password": password, **field}, REMOTE_ADDR=ip)


def signed_in(client) -> bool:
    response = client.get(reverse("portal:staff:home"))
    return response.status_code == 200


@pytest.mark.parametrize("url", [ADMIN_LOGIN, CONSOLE_LOGIN])
def test_password_and_code_sign_in(client, device, url):
    response = post(client, url, token=code(device))
    assert response.status_code == 302
    assert signed_in(client)
    assert AuditRecord.objects.filter(action="staff.sign_in").count() == 1


@pytest.mark.parametrize("url", [ADMIN_LOGIN, CONSOLE_LOGIN])
def test_every_failure_shows_the_same_message(client, device, url, settings):
    settings.AXES_FAILURE_LIMIT = 100
    wrong_password = post(client, url, password="wrong", token=code(device))
    wrong_code = post(client, url, token="000000")
    no_code = post(client, url)
    unknown = post(client, url, username="nobody", token=code(device))
    bodies = []
    for response in (wrong_password, wrong_code, no_code, unknown):
        assert response.status_code == 200
        text = response.content.decode()
        assert FAILED in text
        # the page is the same but for the CSRF token and the typed user name
        bodies.append(text.count("errornote") + text.count('class="msg error"'))
    assert len(set(bodies)) == 1
    # django-otp's template asks for a device once the password was right: never here
    assert "id_otp_device" not in wrong_code.content.decode()
    assert not signed_in(client)


@pytest.mark.parametrize("url", [ADMIN_LOGIN, CONSOLE_LOGIN])
def test_account_is_locked_after_repeated_wrong_passwords(client, device, url):
    for n in range(3):
        post(client, url, password=f"wrong-{n}", ip=f"10.0.1.{n}")  # a new address each time
    response = post(client, url, token=code(device), ip="10.0.2.1")
    assert FAILED in response.content.decode()
    assert not signed_in(client)


@pytest.mark.parametrize("url", [ADMIN_LOGIN, CONSOLE_LOGIN])
def test_address_is_locked_after_failures_on_different_accounts(client, device, supervisor, url):
    for name in ("a", "b", "c"):
        post(client, url, username=name, password="guess")
    response = post(client, url, token=code(device))  # the right clerk, same address
    assert FAILED in response.content.decode()
    assert not signed_in(client)
    # another address is not locked for this account
    assert post(client, url, token=code(device), ip="10.9.9.9").status_code == 302


def test_wrong_codes_count_towards_the_lockout(client, device):
    for _ in range(3):
        post(client, CONSOLE_LOGIN, token="123456", ip="10.0.3.1")
    response = post(client, CONSOLE_LOGIN, token=code(device), ip="10.0.3.2")
    assert FAILED in response.content.decode()


def test_lockout_in_the_admin_also_locks_the_console(client, device):
    for _ in range(3):
        post(client, ADMIN_LOGIN, password="wrong", ip="10.0.4.1")
    response = post(client, CONSOLE_LOGIN, token=code(device), ip="10.0.4.2")
    assert FAILED in response.content.decode()


def test_password_alone_never_signs_in_a_user_with_a_device(client, device):
    post(client, CONSOLE_LOGIN)
    assert not signed_in(client)
    assert client.get(reverse("admin:index")).status_code == 302


def test_resident_account_cannot_sign_in_to_the_console(client, resident):
    TOTPDevice.objects.create(user=resident, name="phone", confirmed=True)
    response = post(client, CONSOLE_LOGIN, username="resident")
    assert FAILED in response.content.decode()


def test_first_sign_in_enrols_an_authenticator(client, clerk, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # django-otp's delay after the wrong code
    response = post(client, CONSOLE_LOGIN)
    assert response.status_code == 302
    assert response.url.startswith(reverse("portal:staff:enrol"))
    page = client.get(response.url)
    assert page.status_code == 200
    assert "<svg" in page.content.decode()
    assert not signed_in(client)
    device = TOTPDevice.objects.get(user=clerk, confirmed=False)
    assert page.context["secret"] in page.content.decode()
    wrong = client.post(reverse("portal:staff:enrol"), {"otp_token": "000000"})
    assert wrong.status_code == 200 and not signed_in(client)
    done = client.post(reverse("portal:staff:enrol"), {"otp_token": code(device)})
    assert done.status_code == 302
    device.refresh_from_db()
    assert device.confirmed
    assert signed_in(client)
    assert AuditRecord.objects.filter(action="staff.otp_enrolled").exists()


def test_enrolment_page_needs_a_correct_password_first(client, clerk):
    assert client.get(reverse("portal:staff:enrol")).status_code == 302
    post(client, CONSOLE_LOGIN, password="wrong")
    assert client.get(reverse("portal:staff:enrol")).status_code == 302


def test_admin_sign_in_without_a_device_goes_to_enrolment(client, clerk):
    response = post(client, ADMIN_LOGIN)
    assert response.status_code == 302
    assert response.url.startswith(reverse("portal:staff:enrol"))


def test_user_with_a_device_cannot_enrol_another(client, device):
    client.post(CONSOLE_LOGIN, {"username": "clerk", "password": PASSWORD})
    assert client.get(reverse("portal:staff:enrol")).status_code == 302
    assert not TOTPDevice.objects.filter(confirmed=False).exists()


def test_console_pages_require_a_verified_second_factor(client, clerk):
    client.force_login(clerk)
    response = client.get(reverse("portal:staff:home"))
    assert response.status_code == 302
    assert response.url.startswith(CONSOLE_LOGIN)


def test_sign_out(client, clerk, otp_login):
    otp_login(client, clerk)
    assert signed_in(client)
    client.post(reverse("portal:staff:logout"))
    assert not signed_in(client)


def test_lockout_ends_after_the_cool_off(client, device, settings):
    for _ in range(3):
        post(client, CONSOLE_LOGIN, password="wrong")
    assert FAILED in post(client, CONSOLE_LOGIN, token=code(device)).content.decode()
    later = timezone.now() + settings.AXES_COOLOFF_TIME + datetime.timedelta(minutes=1)
    with time_machine.travel(later, tick=False):
        assert post(client, CONSOLE_LOGIN, token=code(device)).status_code == 302


def test_a_successful_sign_in_clears_the_failures(client, device):
    post(client, CONSOLE_LOGIN, password="wrong")
    post(client, CONSOLE_LOGIN, password="wrong")
    assert post(client, CONSOLE_LOGIN, token=code(device)).status_code == 302
    client.post(reverse("portal:staff:logout"))
    post(client, CONSOLE_LOGIN, password="wrong")
    post(client, CONSOLE_LOGIN, password="wrong")
    # the next time step: django-otp refuses a code that was used once already
    with time_machine.travel(timezone.now() + datetime.timedelta(seconds=60), tick=False):
        assert post(client, CONSOLE_LOGIN, token=code(device)).status_code == 302


def test_a_used_code_cannot_be_replayed(client, device):
    used = code(device)
    assert post(client, CONSOLE_LOGIN, token=used).status_code == 302
    client.post(reverse("portal:staff:logout"))
    assert FAILED in post(client, CONSOLE_LOGIN, token=used).content.decode()


def test_failed_attempts_keep_no_password_or_code(client, device):
    from axes.models import AccessAttempt

    post(client, CONSOLE_LOGIN, password="s3cret-guess", token="654321")
    attempt = AccessAttempt.objects.get()
    assert "s3cret-guess" not in attempt.post_data
    assert "654321" not in attempt.post_data


def test_enrolment_page_closes_ten_minutes_after_the_password(client, clerk):
    post(client, CONSOLE_LOGIN)
    assert client.get(reverse("portal:staff:enrol")).status_code == 200
    later = timezone.now() + datetime.timedelta(seconds=staffauth.ENROL_SECONDS + 1)
    with time_machine.travel(later, tick=False):
        assert client.get(reverse("portal:staff:enrol")).status_code == 302


def test_the_test_clients_login_still_works(client, clerk):
    """Sign-ins without a request (Client.login, the shell) are not refused by axes."""
    from tests.conftest import PASSWORD as password

    assert client.login(username="clerk", password=password)


@pytest.mark.parametrize(
    "proxies,forwarded,expected",
    [
        (0, "203.0.113.9", "10.0.0.1"),  # no proxy: the header is the client's own
        (1, "198.51.100.1, 203.0.113.9", "203.0.113.9"),  # the proxy appended the last
        (2, "198.51.100.1, 203.0.113.9, 10.1.1.1", "203.0.113.9"),
        (1, "not-an-address", "10.0.0.1"),
        (2, "203.0.113.9", "10.0.0.1"),  # fewer hops than proxies: forged or misrouted
    ],
)
def test_client_address_behind_trusted_proxies(rf, settings, proxies, forwarded, expected):
    settings.HEALTHCARD_TRUSTED_PROXIES = proxies
    request = rf.post("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)
    assert clientip.client_ip(request) == expected


def test_lockout_counts_the_forwarded_address_behind_a_proxy(client, device, settings):
    settings.HEALTHCARD_TRUSTED_PROXIES = 1
    for n in range(3):
        client.post(
            CONSOLE_LOGIN,
            {"username": f"guess{n}", "password": "x"},
            REMOTE_ADDR="10.0.0.254",  # the proxy
            HTTP_X_FORWARDED_FOR="203.0.113.7",
        )
    other_client = client.post(
        CONSOLE_LOGIN,
        {"username": "clerk", "password": PASSWORD, "otp_token": code(device)},
        REMOTE_ADDR="10.0.0.254",
        HTTP_X_FORWARDED_FOR="203.0.113.8",
    )
    assert other_client.status_code == 302  # another client behind the same proxy
