"""Applying online: real-name outcomes, attaching a counter card, bad input."""

import datetime
import socket

import pytest
import time_machine
from django.utils import timezone

from healthcard import applications
from healthcard.models import (
    Application,
    ApplicationStatus,
    AuditRecord,
    Card,
    Channel,
    OutboxMessage,
    Person,
)
from healthcard.selfservice import person_ref
from portal.tasks import recheck_application
from tests.conftest import make_id_number
from tests.portal.conftest import PHONE, sign_in

pytestmark = pytest.mark.django_db


def form(number, name="王建国", **extra):
    data = {
        "relation": "self",
        "name": name,
        "id_type": "01",
        "id_number": number,
        "nation": "01",
        "address": "",
        "form_token": extra.pop("form_token", f"tok-{number}-{name}"),
    }
    data.update(extra)
    return data


def apply(client, data):
    response = client.post("/apply/", data)
    return response


def test_verified_application_issues_an_online_card_at_once(resident_client, registered):
    number = registered("王建国")
    response = apply(resident_client, form(number))
    assert response.status_code == 302
    app = Application.objects.get()
    assert app.status == ApplicationStatus.ISSUED
    card = Card.objects.get(person=app.person)
    assert card.channel == Channel.ONLINE
    assert card.person.user.username.startswith("sms:")
    assert card.person.phone == PHONE
    assert card.person.sex == "1" or card.person.sex == "2"  # derived from the number
    assert response["Location"] == f"/cards/{person_ref(card.person)}/"  # shown at once
    page = resident_client.get(response["Location"]).content.decode()
    assert "The card is ready." in page and "Your own card" in page
    assert number not in page


def test_sex_and_birth_date_of_a_resident_identity_card_come_from_the_number(
    resident_client, registered
):
    number = make_id_number(birth=datetime.date(1970, 1, 2), seq=124)
    registered("王建国", number)
    apply(resident_client, form(number, sex="1", birth_date="1999-09-09"))
    person = Person.objects.get()
    assert person.birth_date == datetime.date(1970, 1, 2)
    assert person.sex == "2"


def test_mismatch_is_refused_counted_and_five_lock_applying_for_a_day(resident_client, registered):
    number = registered("王建国")
    start = timezone.now()
    for n in range(5):
        with time_machine.travel(start + datetime.timedelta(minutes=n)):
            response = apply(resident_client, form(number, name="王建军", form_token=f"t{n}"))
            assert response.status_code == 302
    assert Application.objects.filter(status=ApplicationStatus.MISMATCH).count() == 5
    page = resident_client.get(response["Location"]).content.decode()
    assert "do not match the population register" in page
    with time_machine.travel(start + datetime.timedelta(minutes=20)):
        response = apply(resident_client, form(number, form_token="t6"))
    assert "too many times" in response.content.decode()
    assert not Card.objects.exists()
    with time_machine.travel(start + datetime.timedelta(days=1, minutes=5)):
        sign_in(resident_client)  # the session expired meanwhile
        response = apply(resident_client, form(number, form_token="t7"))
    assert response.status_code == 302
    assert Card.objects.count() == 1


def test_an_identity_missing_from_the_register_is_a_mismatch(resident_client):
    apply(resident_client, form(make_id_number()))
    assert Application.objects.get().status == ApplicationStatus.MISMATCH


def test_unavailable_verifier_keeps_the_application_pending_and_rechecks_with_backoff(
    resident_client, registered, monkeypatch, _no_broker, django_capture_on_commit_callbacks
):
    number = registered("王建国")
    monkeypatch.setattr("healthcard.realname.LocalRegister.verify", _unavailable)
    with django_capture_on_commit_callbacks(execute=True):
        response = apply(resident_client, form(number))
    app = Application.objects.get()
    assert app.status == ApplicationStatus.PENDING
    assert "cannot be reached" in resident_client.get(response["Location"]).content.decode()
    assert len(_no_broker) == 1  # the first re-check is queued
    first_due = app.next_check_at
    # Still unavailable: the next check waits twice as long.
    with time_machine.travel(first_due + datetime.timedelta(seconds=1)):
        assert applications.recheck(app.pk).status == ApplicationStatus.PENDING
        app.refresh_from_db()
        assert app.next_check_at - timezone.now() >= datetime.timedelta(seconds=119)
    monkeypatch.undo()
    with time_machine.travel(app.next_check_at + datetime.timedelta(seconds=1)):
        result = recheck_application.apply(args=(app.pk,)).get()
    assert result == ApplicationStatus.ISSUED
    assert Card.objects.get().channel == Channel.ONLINE
    sms = OutboxMessage.objects.first()
    assert sms.phone == PHONE and "approved" in sms.body


def test_a_recheck_that_is_not_due_or_claimed_does_nothing(
    resident_client, registered, monkeypatch
):
    number = registered("王建国")
    monkeypatch.setattr("healthcard.realname.LocalRegister.verify", _unavailable)
    apply(resident_client, form(number))
    app = Application.objects.get()
    assert applications.recheck(app.pk) is None  # not due yet
    with time_machine.travel(app.next_check_at + datetime.timedelta(seconds=1)):
        Application.objects.filter(pk=app.pk).update(
            next_check_at=timezone.now() + datetime.timedelta(minutes=5)
        )  # another worker claimed it
        assert applications.recheck(app.pk) is None


def _unavailable(self, name, id_type, id_number):
    from healthcard.realname import Outcome

    return Outcome.UNAVAILABLE


def test_a_pending_application_that_turns_out_a_mismatch_is_told_by_sms(
    resident_client, registered, monkeypatch
):
    number = registered("王建国")
    monkeypatch.setattr("healthcard.realname.LocalRegister.verify", _unavailable)
    apply(resident_client, form(number, name="王建军"))
    monkeypatch.undo()
    app = Application.objects.get()
    with time_machine.travel(app.next_check_at + datetime.timedelta(seconds=1)):
        applications.recheck(app.pk)
    app.refresh_from_db()
    assert app.status == ApplicationStatus.MISMATCH
    assert "could not be approved" in OutboxMessage.objects.first().body


def test_double_submitted_form_makes_one_application(resident_client, registered):
    number = registered("王建国")
    data = form(number)
    first = apply(resident_client, data)
    second = apply(resident_client, data)
    assert first["Location"] == second["Location"]
    assert Application.objects.count() == 1
    assert Card.objects.count() == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"id_number": "430102199005171230"}, "check character"),
        ({"name": "王\u0007建国"}, "control"),
        (
            {"id_type": "03", "id_number": "E12345678", "sex": "1", "birth_date": "2999-01-01"},
            "future",
        ),
        ({"id_number": ""}, "required"),
        ({"relation": "cousin"}, "valid choice"),
    ],
)
def test_bad_input_is_refused_with_a_specific_message(resident_client, change, message):
    data = form(make_id_number(), **change)
    response = apply(resident_client, data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Application.objects.exists()


def test_a_second_own_card_is_refused(resident_client, registered):
    apply(resident_client, form(registered("王建国")))
    response = apply(resident_client, form(registered("王建军"), name="王建军"))
    assert "already has its own card" in response.content.decode()


# --- Attaching a card issued at a counter ------------------------------------------------
def test_a_counter_card_is_attached_when_name_id_and_phone_match(resident_client, make_card):
    number = make_id_number()
    card = make_card(name="王建国", id_number=number, phone=PHONE)
    apply(resident_client, form(number))
    card.person.refresh_from_db()
    assert card.person.user is not None
    assert Application.objects.get().status == ApplicationStatus.ISSUED
    assert AuditRecord.objects.filter(action="card.attach").count() == 1
    assert Card.objects.count() == 1


@pytest.mark.parametrize(
    "on_file",
    [
        {"name": "王建军", "phone": PHONE},
        {"name": "王建国", "phone": "13700000000"},
        {"name": "王建国"},
    ],
)
def test_a_counter_card_with_other_details_says_visit_a_counter(
    resident_client, make_card, on_file
):
    number = make_id_number()
    card = make_card(id_number=number, **on_file)
    response = apply(resident_client, form(number))
    page = resident_client.get(response["Location"]).content.decode()
    assert "Please bring the identity document to any hospital counter" in page
    card.person.refresh_from_db()
    assert card.person.user is None


def test_a_card_someone_else_holds_gets_the_same_counter_message(
    resident_client, make_card, resident
):
    # `resident` holds the shared fixture card (phone 13800138000).
    card = resident.person.card
    response = apply(resident_client, form(card.person.id_number, name=card.person.name))
    page = resident_client.get(response["Location"]).content.decode()
    assert "Please bring the identity document to any hospital counter" in page
    assert "already" not in page


# --- The HTTP verifier --------------------------------------------------------------------
@pytest.fixture
def service(settings, fake_service):
    settings.HEALTHCARD_REALNAME_VERIFIER = "http"
    settings.HEALTHCARD_REALNAME_URL = fake_service.url + "verify"
    settings.HEALTHCARD_REALNAME_TOKEN = "secret-token"
    return fake_service


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [
        (b'{"result": "match"}', "verified"),
        (b'{"result": "mismatch"}', "mismatch"),
        (b'{"oops": 1}', "unavailable"),
        (b"not json", "unavailable"),
    ],
)
def test_http_verifier_outcomes(service, answer, outcome):
    from healthcard import realname

    service.default = (200, answer)
    assert realname.verify_identity("王建国", "01", "430102199005171234").value == outcome
    body, auth = service.seen[0]
    assert body == {"name": "王建国", "id_type": "01", "id_number": "430102199005171234"}
    assert auth == "Bearer secret-token"


def test_http_verifier_timing_out_is_unavailable(service, settings):
    from healthcard import realname

    settings.HEALTHCARD_REALNAME_TIMEOUT = 1
    service.default, service.delay = (200, b'{"result": "match"}'), 1.5
    assert realname.verify_identity("王建国", "01", "430102199005171234").value == "unavailable"


def test_http_verifier_that_cannot_be_reached_is_unavailable(settings):
    from healthcard import realname

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings.HEALTHCARD_REALNAME_VERIFIER = "http"
    settings.HEALTHCARD_REALNAME_URL = f"http://127.0.0.1:{port}/verify"
    assert realname.verify_identity("王建国", "01", "430102199005171234").value == "unavailable"


def test_verifier_timeout_in_the_form_keeps_the_application_pending(
    resident_client, service, settings
):
    settings.HEALTHCARD_REALNAME_TIMEOUT = 1
    service.delay = 1.5
    apply(resident_client, form(make_id_number()))
    assert Application.objects.get().status == ApplicationStatus.PENDING


def test_visit_a_counter_answers_count_towards_the_lockout(resident_client, make_card):
    start = timezone.now()
    for n in range(5):
        number = make_id_number()
        make_card(name="赵六", id_number=number)  # registered, other name and no phone
        with time_machine.travel(start + datetime.timedelta(minutes=n)):
            apply(resident_client, form(number, form_token=f"k{n}"))
    assert Application.objects.filter(status=ApplicationStatus.COUNTER).count() == 5
    with time_machine.travel(start + datetime.timedelta(minutes=10)):
        response = apply(resident_client, form(make_id_number(), form_token="k6"))
    assert "too many times" in response.content.decode()
