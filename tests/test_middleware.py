"""healthcard.middleware: the terminal API skips the browser middleware (sessions,
CSRF, sign-in, OTP, messages); every other page keeps all of them."""

import json

import pytest
from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.core import checks
from django.middleware.csrf import CsrfViewMiddleware
from django.test import Client
from django.utils.module_loading import import_string
from django_otp.middleware import OTPMiddleware

from healthcard import codes

pytestmark = pytest.mark.django_db

VERIFY = "/api/v1/codes/verify"


def test_each_browser_middleware_is_a_subclass_of_the_upstream_one_in_its_place():
    installed = [import_string(path) for path in settings.MIDDLEWARE]
    for upstream in (
        SessionMiddleware,
        CsrfViewMiddleware,
        AuthenticationMiddleware,
        OTPMiddleware,
        MessageMiddleware,
    ):
        assert sum(issubclass(cls, upstream) for cls in installed) == 1, upstream
    # Django's and the admin's own checks for these middleware still pass.
    assert [m for m in checks.run_checks() if m.level >= checks.ERROR] == []


def test_a_post_to_an_unknown_api_address_is_the_json_404_not_a_csrf_page():
    client = Client(enforce_csrf_checks=True)
    response = client.post("/api/v1/nothing-here", data="{}", content_type="application/json")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "not_found"


def test_api_answers_set_no_cookie_and_do_not_vary_on_it(terminal, card, superuser):
    client = Client(enforce_csrf_checks=True)
    client.force_login(superuser)  # a browser's session cookie, sent along
    body = json.dumps({"code": codes.static_code(card), "care_step": "010101"})
    response = client.post(
        VERIFY,
        data=body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {terminal.token}",
    )
    assert response.status_code == 200, response.content
    assert response.cookies == {}
    assert "Cookie" not in response.get("Vary", "")
    assert response["Content-Language"] == "en"  # the language still follows the request


def test_a_staff_session_does_not_authenticate_at_the_api(superuser):
    client = Client()
    client.force_login(superuser)
    response = client.post(VERIFY, data="{}", content_type="application/json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] in {"not_authenticated", "invalid_token"}


def test_api_messages_follow_accept_language(terminal):
    english = terminal.post(VERIFY, {"code": "garbage", "care_step": "010101"})
    chinese = terminal.post(
        VERIFY, {"code": "garbage", "care_step": "010101"}, HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    assert english.status_code == chinese.status_code == 422
    assert english["Content-Language"] == "en"
    assert chinese["Content-Language"] == "zh-hans"
    assert english.json()["error"]["message"] != chinese.json()["error"]["message"]


def test_pages_keep_sessions_csrf_sign_in_and_otp(superuser, otp_login):
    client = Client(enforce_csrf_checks=True)
    assert client.post("/signin/", {"phone": "13800000000"}).status_code == 403
    page = client.get("/signin/")
    assert page.status_code == 200
    assert "csrftoken" in page.cookies
    client.force_login(superuser)  # password only: the admin wants the second factor
    assert client.get("/admin/")["Location"] == "/admin/login/?next=/admin/"
    otp_login(client, superuser)
    assert client.get("/admin/").status_code == 200
