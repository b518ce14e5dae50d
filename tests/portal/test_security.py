"""Portal security: CSRF, production cookie/HSTS/HTTPS/CSP settings, no inline scripts,
the development outbox, the large-text mode cookie."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from tests.portal.conftest import PHONE
from tests.test_settings import GOOD_KEK, GOOD_SECRET, ROOT

pytestmark = pytest.mark.django_db

TEMPLATES = Path(ROOT) / "templates"


def test_every_form_needs_the_csrf_token(db):
    client = Client(enforce_csrf_checks=True)
    for path in ["/signin/", "/signin/code/", "/elder/", "/signout/", "/apply/"]:
        assert client.post(path, {"phone": PHONE}).status_code == 403, path


def test_pages_send_a_content_security_policy_without_inline_scripts(client):
    response = client.get("/signin/")
    policy = response["Content-Security-Policy"]
    script_src = re.search(r"script-src ([^;]*)", policy).group(1)
    assert script_src == "'self'"
    assert "style-src 'self'" in policy
    assert "unsafe-eval" not in policy
    assert "frame-ancestors 'none'" in policy


def test_portal_templates_have_no_inline_scripts_styles_or_handlers():
    for template in [TEMPLATES / "base.html", *(TEMPLATES / "portal").rglob("*.html")]:
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), template
        assert not re.search(r"\son[a-z]+=", text), template
        assert not re.search(r"\sstyle=", text), template


def _production_settings(tmp_path) -> dict:
    code = (
        "import django, json; django.setup(); from django.conf import settings as s;"
        "print(json.dumps({k: getattr(s, k) for k in ['SESSION_COOKIE_SECURE',"
        "'CSRF_COOKIE_SECURE','SESSION_COOKIE_HTTPONLY','SESSION_COOKIE_SAMESITE',"
        "'SECURE_HSTS_SECONDS','SECURE_SSL_REDIRECT','SESSION_COOKIE_AGE',"
        "'SESSION_SAVE_EVERY_REQUEST']} | {'csp': 'healthcard.csp.CSPMiddleware' in s.MIDDLEWARE}))"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "healthcard.settings",
        "HEALTHCARD_VAR_DIR": str(tmp_path / "var"),
        "PYTHONPATH": str(ROOT),
        "SECRET_KEY": GOOD_SECRET,
        "HEALTHCARD_KEK": GOOD_KEK,
    }
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_production_settings_are_secure_by_default(tmp_path):
    s = _production_settings(tmp_path)
    assert s["SESSION_COOKIE_SECURE"] and s["CSRF_COOKIE_SECURE"] and s["SESSION_COOKIE_HTTPONLY"]
    assert s["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert s["SECURE_HSTS_SECONDS"] >= 31536000
    assert s["SECURE_SSL_REDIRECT"] is True
    assert s["SESSION_COOKIE_AGE"] == 30 * 60 and s["SESSION_SAVE_EVERY_REQUEST"]
    assert s["csp"]


def test_plain_http_is_redirected_to_https_in_production(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    response = client.get("/signin/")
    assert response.status_code == 301 and response["Location"].startswith("https://")


def test_dev_outbox_exists_only_with_debug(client, settings):
    assert client.get("/dev/outbox/").status_code == 404
    settings.DEBUG = True
    client.post("/signin/", {"phone": PHONE})
    page = client.get("/dev/outbox/").content.decode()
    assert "139****5678" in page and "sign-in code" in page


def test_large_text_mode_is_remembered_in_a_cookie(client):
    response = client.post("/elder/", {"next": "/signin/"})
    assert response["Location"] == "/signin/"
    assert response.cookies["elder"].value == "1"
    assert response.cookies["elder"]["max-age"] >= 365 * 24 * 3600
    assert '<body class="elder' in client.get("/signin/").content.decode()
    client.post("/elder/", {"next": "https://evil.example/"})
    assert '<body class="elder' not in client.get("/").content.decode()


def test_the_toggle_is_on_every_page(resident_client):
    for path in ["/", "/signin/", "/me/", "/apply/"]:
        assert "elder-toggle" in resident_client.get(path).content.decode(), path


def test_the_api_documentation_pages_are_exempt_from_the_policy(client):
    # drf-spectacular's Swagger UI page uses inline scripts.
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert "Content-Security-Policy" not in response
    assert "Content-Security-Policy" in client.get("/admin/login/")


def test_the_portal_writes_no_audit_rows_itself():
    """Audit rows come from the domain functions the portal calls."""
    for source in (Path(ROOT) / "portal").rglob("*.py"):
        assert "audit.record(" not in source.read_text(), source
