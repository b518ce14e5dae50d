"""While the database is unreachable the API answers a JSON 503 `unavailable` with
Retry-After (healthcard.api.unavailable), never an HTML 500; docs/reliability.md has the
drill with a real PostgreSQL restart."""

import pytest
from django.db import InterfaceError, OperationalError

from healthcard import codes, terminals, usage

VERIFY = "/api/v1/codes/verify"


def down(exc_type):
    def fail(*args, **kwargs):
        raise exc_type("server closed the connection unexpectedly")

    return fail


@pytest.mark.parametrize("exc_type", [OperationalError, InterfaceError])
def test_a_lost_database_during_verification_is_a_json_503(terminal, card, monkeypatch, exc_type):
    code = codes.static_code(card)
    monkeypatch.setattr(usage, "_verify_online", down(exc_type))
    response = terminal.post(VERIFY, {"code": code, "care_step": "010101"})
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response["Retry-After"] == "5"
    assert response.json()["error"]["code"] == "unavailable"


def test_a_lost_database_during_authentication_is_a_json_503(terminal, monkeypatch):
    monkeypatch.setattr(terminals, "authenticate", down(OperationalError))
    response = terminal.post(VERIFY, {"code": "x", "care_step": "010101"})
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "unavailable"


def test_other_errors_are_not_disguised_as_unavailable(terminal, card, monkeypatch):
    monkeypatch.setattr(usage, "_verify_online", down(ZeroDivisionError))
    with pytest.raises(ZeroDivisionError):
        terminal.post(VERIFY, {"code": codes.static_code(card), "care_step": "010101"})


def test_an_outage_sends_no_error_mail_per_request(settings):
    """Django logs every 5xx as an error, which mail_admins would send: not the 503s."""
    import logging

    keep = settings.LOGGING["filters"]["not_503"]["callback"]
    record = logging.LogRecord("django.request", logging.ERROR, __file__, 1, "x", (), None)
    record.status_code = 503
    assert keep(record) is False
    record.status_code = 500
    assert keep(record) is True
    assert "not_503" in settings.LOGGING["handlers"]["mail_admins"]["filters"]
