"""Terminal authentication, scopes, throttling and the error shape (issue 4)."""

import hashlib

import pytest
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from healthcard import terminals
from healthcard.models import AuditRecord, Terminal

VERIFY = "/api/v1/codes/verify"
BODY = {"code": "x", "care_step": "010101"}


def _error(response):
    body = response.json()
    assert set(body) >= {"error"}
    assert set(body["error"]) >= {"code", "message"}
    return body["error"]["code"]


def test_request_without_token_is_401_with_a_bearer_challenge(db):
    response = APIClient().post(VERIFY, BODY, format="json")
    assert response.status_code == 401
    assert _error(response) == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    [
        "Bearer hct_abc_def",
        "Bearer not-a-token",
        "Bearer",
        "Bearer a b",
        "Bearer hct__x",
        "Bearer hct_" + "a" * 40 + "_x",
    ],
)
def test_unknown_or_malformed_token_is_401(db, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.post(VERIFY, BODY, format="json")
    assert response.status_code == 401
    assert _error(response) == "invalid_token"


def test_token_with_the_right_prefix_but_wrong_secret_is_401(terminal):
    prefix = "_".join(terminal.token.split("_", 2)[:2])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {prefix}_wrongsecret")
    assert client.post(VERIFY, BODY, format="json").status_code == 401


def test_non_ascii_token_is_401(terminal):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer 令牌")
    assert client.post(VERIFY, BODY, format="json").status_code == 401


def test_disabled_terminal_is_401(terminal):
    terminals.disable(terminal.terminal)
    response = terminal.post(VERIFY, BODY)
    assert response.status_code == 401
    assert _error(response) == "invalid_token"


def test_terminal_of_an_inactive_institution_is_401(terminal, hospital):
    hospital.is_active = False
    hospital.save()
    assert terminal.post(VERIFY, BODY).status_code == 401


def test_valid_token_authenticates_and_records_last_use(terminal):
    assert terminal.terminal.last_used_at is None
    response = terminal.post(VERIFY, BODY)
    assert response.status_code == 422  # authenticated; the code itself is refused
    terminal.terminal.refresh_from_db()
    assert terminal.terminal.last_used_at is not None


def test_token_is_stored_only_as_a_hash(terminal):
    row = Terminal.objects.get(pk=terminal.terminal.pk)
    assert row.token_hash == hashlib.sha256(terminal.token.encode()).hexdigest()
    assert terminal.token not in str(Terminal.objects.filter(pk=row.pk).values().get())
    assert terminal.token.startswith(f"hct_{row.token_prefix}_")


def test_missing_scope_is_403_naming_the_scope(make_terminal, hospital):
    reporter = make_terminal(hospital, scopes=["report"])
    response = reporter.post(VERIFY, BODY)
    assert response.status_code == 403
    assert _error(response) == "missing_scope"
    assert response.json()["error"]["scope"] == "verify"


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("post", "/api/v1/codes/verify", "verify"),
        ("get", "/api/v1/revocations", "verify"),
        ("post", "/api/v1/usage-events", "report"),
        ("post", "/api/v1/cards", "register"),
        ("post", "/api/v1/cards/batch", "register"),
        ("put", "/api/v1/cards/" + "A" * 64 + "/links/citizen_card", "link"),
        ("delete", "/api/v1/cards/" + "A" * 64 + "/links/citizen_card", "link"),
    ],
)
def test_every_endpoint_requires_its_scope(make_terminal, hospital, method, path, scope):
    others = [s for s in ["verify", "reveal_identity", "register", "link", "report"] if s != scope]
    limited = make_terminal(hospital, scopes=others)
    call = getattr(limited, method)
    response = call(path, {}) if method in ("post", "put") else call(path)
    assert response.status_code == 403
    assert response.json()["error"]["scope"] == scope


def test_create_terminal_refuses_unknown_scope_kind_and_empty_name(hospital):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as exc:
        terminals.create_terminal(hospital, " ", kind="07", scopes=["verify", "admin"])
    assert set(exc.value.message_dict) == {"name", "kind", "scopes"}


def test_create_terminal_writes_an_audit_record(hospital):
    terminal, _token = terminals.create_terminal(hospital, "Kiosk 1", kind="02", scopes=["verify"])
    rec = AuditRecord.objects.get(action="terminal.create")
    assert rec.object_id == str(terminal.pk)
    assert rec.institution == hospital.code
    assert rec.details == {"kind": "02", "scopes": ["verify"]}


def test_reset_token_invalidates_the_old_one(terminal):
    new = terminals.rotate_token(terminal.terminal)
    assert terminals.authenticate(terminal.token) is None
    assert terminals.authenticate(new).pk == terminal.terminal.pk


def test_disabling_twice_writes_one_audit_record(terminal):
    terminals.disable(terminal.terminal)
    terminals.disable(terminal.terminal)
    assert AuditRecord.objects.filter(action="terminal.disable").count() == 1


@pytest.fixture
def rates(monkeypatch):
    """Set throttle rates for one test (DRF reads them once at import)."""
    from django.core.cache import cache

    cache.clear()

    def set_rates(**rates):
        monkeypatch.setattr(
            SimpleRateThrottle,
            "THROTTLE_RATES",
            {"terminal": "1000/min", "ip": "1000/min", **rates},
        )

    return set_rates


def test_terminal_over_its_rate_gets_429_with_retry_after(terminal, rates):
    rates(terminal="3/min")
    for _ in range(3):
        assert terminal.post(VERIFY, BODY).status_code == 422
    response = terminal.post(VERIFY, BODY)
    assert response.status_code == 429
    assert _error(response) == "throttled"
    assert 1 <= int(response["Retry-After"]) <= 60


def test_terminal_rate_is_per_terminal(terminal, outsider_terminal, rates):
    rates(terminal="2/min")
    for _ in range(2):
        terminal.post(VERIFY, BODY)
    assert terminal.post(VERIFY, BODY).status_code == 429
    assert outsider_terminal.post(VERIFY, BODY).status_code == 422


def test_ip_rate_limits_every_terminal_behind_one_address(terminal, outsider_terminal, rates):
    rates(ip="3/min")
    assert terminal.post(VERIFY, BODY).status_code == 422
    assert outsider_terminal.post(VERIFY, BODY).status_code == 422
    assert terminal.post(VERIFY, BODY).status_code == 422
    assert outsider_terminal.post(VERIFY, BODY).status_code == 429
    other_ip = outsider_terminal.post(VERIFY, BODY, REMOTE_ADDR="10.1.2.3")
    assert other_ip.status_code == 422


def test_public_key_endpoint_is_rate_limited_per_ip(db, rates):
    rates(ip="2/min")
    client = APIClient()
    assert client.get("/api/v1/keys").status_code == 200
    assert client.get("/api/v1/keys").status_code == 200
    response = client.get("/api/v1/keys")
    assert response.status_code == 429
    assert "Retry-After" in response


def test_unknown_api_path_is_a_json_404(db):
    response = APIClient().get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert _error(response) == "not_found"


def test_wrong_method_is_a_json_405(terminal):
    response = terminal.get(VERIFY)
    assert response.status_code == 405
    assert _error(response) == "method_not_allowed"


def test_health_needs_no_token(db):
    response = APIClient().get("/api/v1/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
