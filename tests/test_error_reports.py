"""Error pages and error reports never show a secret (issue 8, hole 1).

Django hides settings named like KEY/SECRET/PASS, not HEALTHCARD_KEK: one request with
a wrong Host header under DEBUG showed the key-encryption key. Here the platform's
secrets are planted where a page can show them (settings, the process environment that
runserver copies into request.META, a local variable, an exception message, the
Authorization header), and every report is searched for every form of them."""

import base64
import io
import logging

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client
from django.urls import path
from django.utils.log import AdminEmailHandler

from healthcard import reporting

KEK = settings.HEALTHCARD_KEK
PREVIOUS_KEK = b"previous-kek-previous-kek-32byte"
DB_PASSWORD = "db-Pa55word-xyz"
BROKER_PASSWORD = "broker-Pa55word-xyz"
CACHE_PASSWORD = "cache-Pa55word-xyz"
SMS_SECRET = "sms-gateway-s3cret"
TERMINAL_TOKEN = "hct_abcd1234_terminal-secret-part"
DATABASE_URL = f"postgres://healthcard:{DB_PASSWORD}@db:5432/healthcard"


def forbidden() -> dict[str, str]:
    """Every secret, in every form it could take on a page."""
    return {
        "KEK base64": base64.b64encode(KEK).decode(),
        "KEK bytes": KEK.decode("latin-1"),
        "KEK hex": KEK.hex(),
        "previous KEK base64": base64.b64encode(PREVIOUS_KEK).decode(),
        "previous KEK bytes": PREVIOUS_KEK.decode(),
        "SECRET_KEY": settings.SECRET_KEY,
        "database password": DB_PASSWORD,
        "broker password": BROKER_PASSWORD,
        "cache password": CACHE_PASSWORD,
        "SMS secret": SMS_SECRET,
        "terminal token": TERMINAL_TOKEN,
    }


def assert_no_secret(text: str) -> None:
    leaked = [what for what, value in forbidden().items() if value in text]
    assert leaked == []


def fails(request):
    """A view that fails while holding secrets, and says them in its message."""
    wrapped = {"kek": base64.b64encode(settings.HEALTHCARD_KEK).decode()}  # noqa: F841
    material = settings.HEALTHCARD_KEK  # noqa: F841
    dsn = settings.DATABASE_URL
    raise RuntimeError(f"cannot unwrap with {base64.b64encode(KEK).decode()} at {dsn}")


urlpatterns = [path("fails", fails)]


@pytest.fixture
def secrets_in_settings(settings, monkeypatch):
    settings.ALLOWED_HOSTS = ["testserver"]
    settings.DATABASE_URL = DATABASE_URL
    settings.CELERY_BROKER_URL = f"redis://:{BROKER_PASSWORD}@redis:6379/2"
    settings.CACHE_URL = f"redis://default:{CACHE_PASSWORD}@redis:6379/1"
    settings.HEALTHCARD_KEK_PREVIOUS = PREVIOUS_KEK
    settings.HEALTHCARD_SMS_GATEWAY = {"url": "https://sms.example/send", "credential": SMS_SECRET}
    monkeypatch.setenv("DATABASE_URL", DATABASE_URL)
    monkeypatch.setenv("HEALTHCARD_KEK_PREVIOUS", base64.b64encode(PREVIOUS_KEK).decode())


# runserver (wsgiref) puts the whole process environment into request.META.
def environment() -> dict[str, str]:
    return {
        "HEALTHCARD_KEK": base64.b64encode(KEK).decode(),
        "HEALTHCARD_KEK_PREVIOUS": base64.b64encode(PREVIOUS_KEK).decode(),
        "SECRET_KEY": settings.SECRET_KEY,
        "DATABASE_URL": DATABASE_URL,
        "CELERY_BROKER_URL": f"redis://:{BROKER_PASSWORD}@redis:6379/2",
        "HEALTHCARD_SMS_PASSWORD": SMS_SECRET,
        "HTTP_AUTHORIZATION": f"Bearer {TERMINAL_TOKEN}",
    }


@pytest.mark.urls(__name__)
def test_debug_500_page_shows_no_secret(secrets_in_settings, settings):
    settings.DEBUG = True
    client = Client(raise_request_exception=False)
    response = client.get("/fails", **environment())
    page = response.content.decode()
    assert response.status_code == 500
    assert "RuntimeError" in page
    assert "HEALTHCARD_KEK" in page  # the setting is listed, its value is not
    assert "postgres://healthcard:" in page  # the URL stays readable without its password
    assert reporting.SUBSTITUTE in page
    assert_no_secret(page)


def test_disallowed_host_debug_400_page_shows_no_secret(secrets_in_settings, settings):
    settings.DEBUG = True
    response = Client().get("/api/v1/health", HTTP_HOST="attacker.example", **environment())
    page = response.content.decode()
    assert response.status_code == 400
    assert "DisallowedHost" in page
    assert "HEALTHCARD_KEK" in page
    assert_no_secret(page)


def test_debug_404_page_shows_no_secret(secrets_in_settings, settings):
    settings.DEBUG = True
    response = Client().get("/no-such-page", **environment())
    assert response.status_code == 404
    assert_no_secret(response.content.decode())


@pytest.mark.urls(__name__)
def test_error_email_shows_no_secret(secrets_in_settings, settings):
    """Django's own mail_admins handler (text), and one with the HTML page attached."""
    settings.DEBUG = False
    settings.ADMINS = [("Ops", "ops@example.cn")]
    with_html = AdminEmailHandler(include_html=True)
    with_html.setLevel(logging.ERROR)
    logger = logging.getLogger("django.request")
    logger.addHandler(with_html)
    try:
        response = Client(raise_request_exception=False).get("/fails", **environment())
    finally:
        logger.removeHandler(with_html)
    assert response.status_code == 500
    assert len(mail.outbox) == 2
    html = [m.alternatives[0][0] for m in mail.outbox if m.alternatives]
    assert len(html) == 1
    assert "RuntimeError" in html[0]
    for message in mail.outbox:
        assert "RuntimeError" in message.body
        assert "HEALTHCARD_KEK" in message.body
        assert_no_secret(message.subject + message.body)
    assert_no_secret(html[0])


@pytest.mark.urls(__name__)
def test_error_log_shows_no_secret(secrets_in_settings, settings):
    configured = [
        h
        for h in logging.getLogger().handlers
        if isinstance(h.formatter, reporting.SecretsFormatter)
    ]
    assert configured, "the LOGGING console handler must use SecretsFormatter"
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(configured[0].formatter)
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    try:
        Client(raise_request_exception=False).get("/fails", **environment())
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "RuntimeError: cannot unwrap with" in text
    assert_no_secret(text)


def test_every_configured_log_handler_scrubs():
    """No logger on the way of an error report writes it through another formatter."""
    seen = []
    for name in ("django.request", "django.security.DisallowedHost", "django", ""):
        for handler in logging.getLogger(name).handlers:
            if type(handler).__module__.startswith("_pytest"):
                continue  # pytest's capture
            seen.append(handler)
            if isinstance(handler, AdminEmailHandler):
                assert handler.reporter_class is reporting.SecretsReporter
            else:
                assert isinstance(handler.formatter, reporting.SecretsFormatter), handler
    assert any(isinstance(h, AdminEmailHandler) for h in seen)


def test_urls_keep_everything_but_their_password():
    assert reporting.scrub("redis://:pw-123456@h:6379/0 and http://example.cn:8000/x", []) == (
        f"redis://:{reporting.SUBSTITUTE}@h:6379/0 and http://example.cn:8000/x"
    )
    assert reporting.scrub("amqp://site1:s3cr3t-value@mq/vhost?password=abc123", []) == (
        f"amqp://site1:{reporting.SUBSTITUTE}@mq/vhost?password={reporting.SUBSTITUTE}"
    )


def test_class_paths_in_password_settings_are_not_treated_as_secrets():
    # PASSWORD_HASHERS and AUTH_PASSWORD_VALIDATORS stay readable on the page.
    assert not any("password_validation" in s for s in reporting.secret_values())
