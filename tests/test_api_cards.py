"""POST /api/v1/cards and /api/v1/cards/batch: registration by institutions (issue 4)."""

import datetime

import pytest

from healthcard import cards, codes
from healthcard.models import AuditRecord, Card, CardStatus, Person
from tests.conftest import make_id_number

URL = "/api/v1/cards"
BATCH = "/api/v1/cards/batch"


def person(**extra):
    return {"name": "王小明", "id_type": "01", "id_number": make_id_number(), **extra}


def test_registering_a_new_person_issues_a_card_through_channel_2(terminal, hospital):
    data = person(phone="13900139000")
    response = terminal.post(URL, data)
    assert response.status_code == 201
    body = response.json()
    assert body["created"] is True
    card = Card.objects.get(ehc_id=body["card"]["ehc_id"])
    assert card.channel == "2"
    assert card.institution == hospital
    assert card.person.phone == "13900139000"
    assert body["card"]["status"] == "active"
    assert body["card"]["holder"]["name"] == "王*明"
    assert body["card"]["holder"]["id_number"] != data["id_number"]


def test_response_qr_code_is_the_cards_static_code(terminal):
    body = terminal.post(URL, person()).json()
    verification = codes.verify_code(body["card"]["qr_code"])
    assert verification.ok
    assert verification.kind == "static"
    assert verification.card.ehc_id == body["card"]["ehc_id"]


def test_issue_is_audited_with_the_terminal_as_actor(terminal):
    body = terminal.post(URL, person()).json()
    card = Card.objects.get(ehc_id=body["card"]["ehc_id"])
    rec = AuditRecord.objects.get(action="card.issue", object_id=str(card.pk))
    assert rec.actor == f"terminal:{terminal.terminal.pk}"
    assert rec.ip == "127.0.0.1"


def test_existing_person_returns_the_existing_card_with_200(terminal, card):
    data = {"name": card.person.name, "id_type": "01", "id_number": card.person.id_number}
    response = terminal.post(URL, data)
    assert response.status_code == 200
    body = response.json()
    assert body["created"] is False
    assert body["card"]["ehc_id"] == card.ehc_id
    assert Card.objects.count() == 1
    assert Person.objects.count() == 1


def test_existing_frozen_card_is_returned_without_a_code(terminal, card):
    cards.set_status(card, CardStatus.FROZEN, by=None, reason="lost")
    data = {"name": card.person.name, "id_type": "01", "id_number": card.person.id_number}
    body = terminal.post(URL, data).json()
    assert body["card"]["status"] == "frozen"
    assert body["card"]["qr_code"] is None


def test_lower_case_x_and_spaces_find_the_same_person(terminal):
    number = make_id_number(seq=5)
    while not number.endswith("X"):
        number = make_id_number()
    first = terminal.post(URL, person(id_number=number)).json()
    again = terminal.post(URL, person(id_number=" " + number.lower())).json()
    assert again["card"]["ehc_id"] == first["card"]["ehc_id"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"id_number": "430102199005170000"}, "id_number"),  # wrong check character
        ({"id_number": "12345"}, "id_number"),
        ({"name": "Robert'); DROP TABLE--"}, "name"),
        ({"name": ""}, "name"),
        ({"id_type": "42"}, "id_type"),
        ({"phone": "12345"}, "phone"),
        ({"nation": "77"}, "nation"),
        ({"id_type": "03", "id_number": "E12345678"}, "sex"),  # passports need sex and birth
        ({"birth_date": "1990-02-30"}, "birth_date"),
        ({"sex": "1", "id_number": make_id_number(seq=2)}, "sex"),  # contradicts the number
    ],
)
def test_identity_errors_are_400_with_the_field(terminal, change, field):
    response = terminal.post(URL, person(**change))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["fields"]
    assert not Card.objects.exists()


def test_passport_with_sex_and_birth_date_is_accepted(terminal):
    data = person(id_type="03", id_number="E12345678", sex="1", birth_date="1980-01-02")
    response = terminal.post(URL, data)
    assert response.status_code == 201


@pytest.mark.parametrize("missing", ["name", "id_type", "id_number"])
def test_missing_field_is_400(terminal, missing):
    data = {k: v for k, v in person().items() if k != missing}
    response = terminal.post(URL, data)
    assert response.status_code == 400
    assert missing in response.json()["error"]["fields"]


def test_registering_for_another_institution_is_403(terminal, other_hospital):
    response = terminal.post(URL, person(institution=other_hospital.code))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "institution_mismatch"
    assert not Card.objects.exists()


def test_registration_needs_the_register_scope(make_terminal, hospital):
    verifier = make_terminal(hospital, scopes=["verify", "reveal_identity"])
    assert verifier.post(URL, person()).status_code == 403


# --- An ID number alone is no proof (issue 8, hole 2) --------------------------------
def test_existing_id_number_with_another_name_is_409_without_card_data(terminal, card):
    data = {"name": "李四", "id_type": "01", "id_number": card.person.id_number}
    response = terminal.post(URL, data)
    assert response.status_code == 409
    body = response.json()
    assert body["error"]["code"] == "identity_mismatch"
    assert set(body) == {"error"}
    text = response.content.decode()
    assert card.ehc_id not in text and "EHCID" not in text and card.person.name not in text
    refused = AuditRecord.objects.get(action="card.lookup")
    assert (refused.result, refused.actor) == (
        "identity_mismatch",
        f"terminal:{terminal.terminal.pk}",
    )


def test_returning_an_existing_card_is_audited_as_a_lookup(terminal, card, hospital):
    data = {"name": f" {card.person.name} ", "id_type": "01", "id_number": card.person.id_number}
    assert terminal.post(URL, data).status_code == 200
    rec = AuditRecord.objects.get(action="card.lookup")
    assert (rec.object_type, rec.object_id, rec.result) == ("card", str(card.pk), "ok")
    assert rec.actor == f"terminal:{terminal.terminal.pk}"
    assert rec.institution == hospital.code
    assert card.person.id_number not in str(rec.details)


def test_batch_refuses_an_existing_id_number_with_another_name_per_item(terminal, card):
    rows = [
        {"name": "李四", "id_type": "01", "id_number": card.person.id_number, "ref": "a"},
        {"name": card.person.name, "id_type": "01", "id_number": card.person.id_number},
        person(ref="c"),
    ]
    body = terminal.post(BATCH, {"people": rows}).json()
    assert body["summary"] == {"created": 1, "existing": 1, "invalid": 0, "refused": 1}
    refused, existing, _created = body["results"]
    assert (refused["status"], refused["http_status"]) == ("refused", 409)
    assert refused["error"]["code"] == "identity_mismatch"
    assert "card" not in refused
    assert existing["card"]["ehc_id"] == card.ehc_id
    lookups = AuditRecord.objects.filter(action="card.lookup").order_by("id")
    assert [r.result for r in lookups] == ["identity_mismatch", "ok"]


# --- Batch ----------------------------------------------------------------------------
def test_batch_registers_good_rows_and_reports_bad_ones(terminal, card, hospital):
    good = person(ref="row-1")
    existing = {
        "name": card.person.name,
        "id_type": "01",
        "id_number": card.person.id_number,
        "ref": "row-3",
    }
    rows = [good, person(id_number="430102199005170000", ref="row-2"), existing, "junk", {}]
    response = terminal.post(BATCH, {"people": rows})
    assert response.status_code == 200
    body = response.json()
    assert body["summary"] == {"created": 1, "existing": 1, "invalid": 3, "refused": 0}
    results = body["results"]
    assert [r["status"] for r in results] == [
        "created",
        "invalid",
        "existing",
        "invalid",
        "invalid",
    ]
    assert [r["http_status"] for r in results] == [201, 400, 200, 400, 400]
    assert [r["ref"] for r in results] == ["row-1", "row-2", "row-3", None, None]
    assert "id_number" in results[1]["error"]["fields"]
    created = Card.objects.get(ehc_id=results[0]["card"]["ehc_id"])
    assert created.channel == "4"
    assert created.institution == hospital
    assert codes.verify_code(results[0]["card"]["qr_code"]).ok
    assert results[2]["card"]["ehc_id"] == card.ehc_id


def test_same_person_twice_in_a_batch_gets_one_card(terminal):
    one = person()
    body = terminal.post(BATCH, {"people": [one, dict(one)]}).json()
    assert [r["status"] for r in body["results"]] == ["created", "existing"]
    assert Card.objects.count() == 1


def test_batch_over_1000_is_413(terminal):
    response = terminal.post(BATCH, {"people": [{}] * 1001})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "batch_too_large"


@pytest.mark.parametrize("body", [{}, {"people": None}, {"people": "x"}])
def test_batch_people_must_be_a_list(terminal, body):
    response = terminal.post(BATCH, body)
    assert response.status_code == 400
    assert "people" in response.json()["error"]["fields"]


def test_batch_for_another_institution_is_403(terminal, other_hospital):
    response = terminal.post(BATCH, {"people": [person()], "institution": other_hospital.code})
    assert response.status_code == 403
    assert not Card.objects.exists()


def test_batch_birth_date_must_be_a_date(terminal):
    row = person(id_type="03", id_number="E12345678", sex="1", birth_date="yesterday")
    body = terminal.post(BATCH, {"people": [row]}).json()
    assert "birth_date" in body["results"][0]["error"]["fields"]


def test_batch_refuses_future_birth_dates(terminal):
    tomorrow = datetime.date.today() + datetime.timedelta(days=2)
    row = person(id_type="03", id_number="E12345678", sex="1", birth_date=tomorrow.isoformat())
    body = terminal.post(BATCH, {"people": [row]}).json()
    assert body["results"][0]["status"] == "invalid"
