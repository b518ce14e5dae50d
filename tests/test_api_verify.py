"""POST /api/v1/codes/verify (issue 4)."""

import datetime
import json

import pytest
import time_machine
from django.utils import timezone

from healthcard import cards, codes, links
from healthcard.models import AuditRecord, CardStatus, UsageEvent

VERIFY = "/api/v1/codes/verify"


def _tamper(code: str) -> str:
    return code[:-3] + ("A" if code[-3] != "A" else "B") + code[-2:]


def verify(terminal, code, **extra):
    return terminal.post(VERIFY, {"code": code, "care_step": "010101", **extra})


def test_valid_static_code_returns_card_and_full_identity(terminal, card):
    response = verify(terminal, codes.static_code(card), department="内科", fee_type="0200")
    assert response.status_code == 200
    body = response.json()
    assert body["card"] == {
        "ehc_id": card.ehc_id,
        "status": "active",
        "issue_seq": 1,
        "code_kind": "static",
    }
    person = card.person
    assert body["holder"] == {
        "revealed": True,
        "name": person.name,
        "sex": person.sex,
        "birth_date": person.birth_date.isoformat(),
        "id_type": "01",
        "id_number": person.id_number,
        "phone": "13800138000",
    }
    assert body["links"] == {}


def test_verification_records_a_usage_event(terminal, card, hospital):
    body = verify(terminal, codes.static_code(card), department="内科", fee_type="0200").json()
    event = UsageEvent.objects.get(uuid=body["usage_event"])
    assert event.card == card
    assert event.terminal == terminal.terminal
    assert event.institution == hospital
    assert (event.care_step, event.department, event.fee_type) == ("010101", "内科", "0200")
    assert event.terminal_kind == terminal.terminal.kind
    assert event.result == "ok"
    assert event.code_kind == "static"
    assert event.offline is False


def test_identity_reveal_is_audited_without_personal_data(terminal, card, hospital):
    body = verify(terminal, codes.static_code(card)).json()
    rec = AuditRecord.objects.get(action="identity.reveal")
    assert rec.actor == f"terminal:{terminal.terminal.pk}"
    assert (rec.object_type, rec.object_id) == ("person", str(card.person.pk))
    assert rec.institution == hospital.code
    assert rec.ip == "127.0.0.1"
    assert rec.details["usage_event"] == body["usage_event"]
    dumped = json.dumps(rec.details, ensure_ascii=False)
    assert card.person.name not in dumped and card.person.id_number not in dumped


def test_without_reveal_scope_identity_is_masked_and_nothing_is_revealed(
    make_terminal, hospital, card
):
    kiosk = make_terminal(hospital, scopes=["verify"], kind="02")
    body = verify(kiosk, codes.static_code(card)).json()
    holder = body["holder"]
    assert holder["revealed"] is False
    assert holder["name"] == card.person.masked_name != card.person.name
    assert holder["id_number"] == card.person.masked_id_number
    assert holder["phone"] == "138****8000"
    assert not AuditRecord.objects.filter(action="identity.reveal").exists()
    assert UsageEvent.objects.get(uuid=body["usage_event"]).terminal_kind == "02"


def test_the_api_still_calls_the_terminal_type_channel(terminal, card):
    """The model field is `terminal_kind` since migration 0008; the API's name stays."""
    body = verify(terminal, codes.static_code(card), channel="03").json()
    assert UsageEvent.objects.get(uuid=body["usage_event"]).terminal_kind == "03"
    assert "terminal_kind" not in body and "channel" not in body
    # The internal name is not an alias: it is ignored like any unknown field.
    body = verify(terminal, codes.static_code(card), terminal_kind="03").json()
    assert UsageEvent.objects.get(uuid=body["usage_event"]).terminal_kind == "01"
    error = verify(terminal, codes.static_code(card), channel="05").json()["error"]
    assert list(error["fields"]) == ["channel"]


def test_dynamic_code_verifies(terminal, card):
    body = verify(terminal, codes.dynamic_code(card)).json()
    assert body["card"]["code_kind"] == "dynamic"


def test_expired_dynamic_code_is_422_expired(terminal, card):
    code = codes.dynamic_code(card, lifetime=60)
    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=5)):
        response = verify(terminal, code)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "expired"


def test_refused_code_is_422_and_recorded_without_card(terminal, card):
    response = verify(terminal, _tamper(codes.static_code(card)))
    assert response.status_code == 422
    body = response.json()
    assert body["error"]["code"] == "bad_signature"
    assert body["error"]["message"]
    assert "holder" not in body and "card" not in body
    event = UsageEvent.objects.get(uuid=body["usage_event"])
    assert event.card is None
    assert event.result == "bad_signature"
    assert not AuditRecord.objects.filter(action="identity.reveal").exists()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda c: cards.set_status(c, CardStatus.FROZEN, by=None, reason="lost"), "card_frozen"),
        (
            lambda c: cards.set_status(c, CardStatus.CANCELLED, by=None, reason="died"),
            "card_cancelled",
        ),
        (lambda c: cards.replace_card(c, by=None, reason="lost"), "superseded"),
    ],
)
def test_card_state_reasons(terminal, card, change, reason):
    code = codes.static_code(card)
    change(card)
    response = verify(terminal, code)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == reason


def test_non_ascii_in_a_well_formed_code_is_422_malformed(terminal, card):
    parts = codes.static_code(card).split(":")
    parts[3] = "ÿ"
    response = verify(terminal, ":".join(parts))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "malformed"


def test_garbage_is_422_malformed(terminal, db):
    response = verify(terminal, "HELLO")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "malformed"


def test_links_show_own_local_number_and_masked_shared_numbers(
    make_terminal, hospital, other_hospital, card
):
    links.link(card, "local_patient", "MZ-0001", institution=hospital)
    links.link(card, "local_patient", "OTHER-77", institution=other_hospital)
    links.link(card, "social_security", "430102199005170011", institution=other_hospital)
    code = codes.static_code(card)

    full = make_terminal(hospital)
    body = verify(full, code).json()
    assert body["links"] == {
        "local_patient": "MZ-0001",
        "social_security": "430102199005170011",
    }

    kiosk = make_terminal(hospital, scopes=["verify"], name="kiosk")
    body = verify(kiosk, code).json()
    assert body["links"]["local_patient"] == "MZ-0001"
    assert body["links"]["social_security"] != "430102199005170011"
    assert body["links"]["social_security"].endswith("0011")

    other = make_terminal(other_hospital, name="other")
    assert verify(other, code).json()["links"]["local_patient"] == "OTHER-77"


# --- Bad input ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"care_step": "010101"}, "code"),
        ({"code": "", "care_step": "010101"}, "code"),
        ({"code": "x"}, "care_step"),
        ({"code": "x", "care_step": "999999"}, "care_step"),
        ({"code": "x", "care_step": "010101", "channel": "05"}, "channel"),
        ({"code": "x", "care_step": "010101", "fee_type": "9999"}, "fee_type"),
        ({"code": "x" * 513, "care_step": "010101"}, "code"),
        ({"code": "a\x00b", "care_step": "010101"}, "code"),
        ({"code": 12, "care_step": "010101", "department": "x" * 51}, "department"),
        ({"code": ["x"], "care_step": "010101"}, "code"),
    ],
)
def test_invalid_fields_are_400_naming_the_field(terminal, body, field):
    response = terminal.post(VERIFY, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["fields"]
    assert not UsageEvent.objects.exists()


@pytest.mark.parametrize("payload", ["[]", '"code"', "42", "null", "[{}]"])
def test_json_that_is_not_an_object_is_400(terminal, payload):
    response = terminal.client.post(VERIFY, payload, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "not_an_object"


@pytest.mark.parametrize("payload", ["{", "{'code': 1}", "\xff", '{"a": NaN}'])
def test_malformed_json_is_400(terminal, payload):
    response = terminal.client.post(VERIFY, payload, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
def test_wrong_content_type_is_415(terminal, content_type):
    response = terminal.client.post(VERIFY, "code=x", content_type=content_type)
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_body_over_one_megabyte_is_413(terminal):
    payload = json.dumps({"code": "x", "care_step": "010101", "pad": "x" * (1024 * 1024)})
    response = terminal.client.post(VERIFY, payload, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"


def test_body_over_one_megabyte_without_content_length_is_413(terminal):
    from healthcard.api.errors import BodyTooLarge
    from healthcard.api.parsers import ObjectJSONParser

    class Stream:
        def __init__(self):
            self.data = b'{"pad": "' + b"x" * (1024 * 1024 + 10) + b'"}'

        def read(self, size=-1):
            chunk, self.data = self.data[:size], self.data[size:]
            return chunk

    with pytest.raises(BodyTooLarge):
        ObjectJSONParser().parse(Stream(), "application/json", {})


def test_acting_for_another_institution_is_403(terminal, other_hospital, card):
    response = verify(terminal, codes.static_code(card), institution=other_hospital.code)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "institution_mismatch"
    assert not UsageEvent.objects.exists()


def test_naming_its_own_institution_is_accepted(terminal, hospital, card):
    response = verify(terminal, codes.static_code(card), institution=hospital.code)
    assert response.status_code == 200
