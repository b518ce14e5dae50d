"""The staff counter console: every permission rule, flow step and bad input (issue 11)."""

import csv
import io

import pytest
from django.urls import reverse

from healthcard import cards, codes
from healthcard.models import AuditRecord, Card, CardStatus, Channel, Person
from printing import jobs, runner
from printing.models import JobStatus, Printer, PrinterKind, PrintJob
from tests.conftest import make_id_number

HOME = reverse("portal:staff:home")
SEARCH = reverse("portal:staff:search")
REGISTER = reverse("portal:staff:register")


def url(name, *args):
    return reverse(f"portal:staff:{name}", args=args)


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def as_clerk(client, clerk, otp_login):
    otp_login(client, clerk)
    return client


@pytest.fixture
def as_supervisor(client, supervisor, otp_login):
    otp_login(client, supervisor)
    return client


@pytest.fixture
def as_outsider(client, outsider, otp_login):
    otp_login(client, outsider)
    return client


@pytest.fixture
def printer(hospital):
    return Printer.objects.create(institution=hospital, name="Counter PDF", kind=PrinterKind.PDF)


@pytest.fixture
def other_printer(other_hospital):
    return Printer.objects.create(institution=other_hospital, name="Theirs", kind=PrinterKind.PDF)


@pytest.fixture
def other_card(make_card, other_hospital):
    return make_card(name="李四", institution=other_hospital)


@pytest.fixture
def job(card, printer, clerk):
    job, _ = jobs.submit_print_job(card, printer, requested_by=clerk, idempotency_key="job-1")
    return job


@pytest.fixture
def other_job(other_card, other_printer, outsider):
    job, _ = jobs.submit_print_job(
        other_card, other_printer, requested_by=outsider, idempotency_key="job-2"
    )
    return job


def registration(**extra):
    data = {
        "id_type": "01",
        "id_number": make_id_number(),
        "name": "王小明",
        "phone": "13900139000",
        "checked_in_person": "on",
    }
    data.update(extra)
    return data


def print_form(printer, key="print-1", copies=1):
    return {"printer": printer.pk, "copies": copies, "key": key}


# --- access ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,args",
    [("home", ()), ("register", ()), ("today", ()), ("activity", ()), ("person", (1,))],
)
def test_every_page_needs_a_signed_in_staff_member(client, db, name, args):
    response = client.get(url(name, *args))
    assert response.status_code == 302
    assert response.url.startswith(url("login"))


def test_resident_cannot_use_the_console(client, resident, otp_login):
    otp_login(client, resident)
    assert client.get(HOME).status_code == 302


def test_clerk_reaches_the_search_page_with_the_scan_field_focused(as_clerk):
    response = as_clerk.get(HOME)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="code"' in html and "autofocus" in html


def test_clerk_cannot_open_the_institution_view(as_clerk):
    assert as_clerk.get(url("activity")).status_code == 403


# --- search ------------------------------------------------------------------------------


def test_search_by_id_number_finds_the_person_without_the_number_in_a_url(as_clerk, card):
    number = card.person.id_number
    response = as_clerk.post(SEARCH, {"mode": "id", "id_type": "01", "id_number": number})
    assert response.status_code == 302
    assert response.url == url("person", card.person.pk)
    assert number not in response.url
    assert AuditRecord.objects.filter(action="person.lookup", result="ok").count() == 1


def test_search_by_id_number_accepts_lower_case_and_spaces(as_clerk, card):
    number = card.person.id_number.lower()
    spaced = f"{number[:6]} {number[6:]}"
    response = as_clerk.post(SEARCH, {"mode": "id", "id_type": "01", "id_number": spaced})
    assert response.status_code == 302


def test_not_found_by_id_number_offers_registration_prefilled(as_clerk, db):
    number = make_id_number()
    response = as_clerk.post(SEARCH, {"mode": "id", "id_type": "01", "id_number": number})
    assert response.status_code == 200
    assert response.templates[0].name == "portal/staff/register.html"
    assert f'value="{number}"' in response.content.decode()


def test_person_of_another_institution_is_not_shown_nor_registered_again(as_clerk, other_card):
    number = other_card.person.id_number
    response = as_clerk.post(SEARCH, {"mode": "id", "id_type": "01", "id_number": number})
    assert response.status_code == 200
    html = response.content.decode()
    assert "another institution" in html
    assert other_card.person.masked_name not in html
    assert AuditRecord.objects.filter(action="person.lookup", result="denied").count() == 1


def test_search_by_ehc_id(as_clerk, card, other_card):
    found = as_clerk.post(SEARCH, {"mode": "ehc", "ehc_id": card.ehc_id.lower()})
    assert found.status_code == 302 and found.url == url("person", card.person.pk)
    foreign = as_clerk.post(SEARCH, {"mode": "ehc", "ehc_id": other_card.ehc_id})
    assert foreign.status_code == 200
    assert "No card with this EHC ID" in foreign.content.decode()


def test_bad_ehc_id_is_a_form_error(as_clerk, db):
    response = as_clerk.post(SEARCH, {"mode": "ehc", "ehc_id": "XYZ"})
    assert response.status_code == 200
    assert "64 hexadecimal" in response.content.decode()


def test_scanned_code_opens_the_card(as_clerk, card):
    response = as_clerk.post(SEARCH, {"mode": "scan", "code": codes.static_code(card)})
    assert response.status_code == 302
    assert response.url == url("person", card.person.pk)


@pytest.mark.parametrize(
    "scan,message",
    [
        ("hello world", "not a health card code"),
        ("\x00<script>;DROP TABLE", "not a health card code"),
        ("EHC" * 600, "not a health card code"),
    ],
)
def test_garbage_scan_shows_the_reason(as_clerk, db, scan, message):
    response = as_clerk.post(SEARCH, {"mode": "scan", "code": scan})
    assert response.status_code == 200
    assert message in response.content.decode()


def test_scan_of_invalid_utf8_bytes_shows_the_reason(as_clerk, db):
    token = as_clerk.get(HOME).context["csrf_token"]
    body = f"csrfmiddlewaretoken={token}&mode=scan&code=%FF%FE%ED%A0%80EHC".encode()
    response = as_clerk.post(SEARCH, body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert "Code refused" in response.content.decode()


def test_altered_scan_shows_the_reason(as_clerk, card):
    text = codes.static_code(card)
    # a character inside the signature (the last one may carry padding bits)
    altered = text[:-10] + ("A" if text[-10] != "A" else "B") + text[-9:]
    response = as_clerk.post(SEARCH, {"mode": "scan", "code": altered})
    assert response.status_code == 200
    assert response.context["scan_reason"] == "bad_signature"
    assert "altered or forged" in response.content.decode()
    assert response.context["scan_card"] is None  # a forged code opens nothing


def test_scan_of_a_frozen_card_shows_the_reason_and_links_the_card(as_clerk, card, supervisor):
    text = codes.static_code(card)
    cards.set_status(card, "frozen", by=supervisor, reason="x")
    response = as_clerk.post(SEARCH, {"mode": "scan", "code": text})
    assert "The card is frozen." in response.content.decode()
    assert response.context["scan_card"] == card


def test_superseded_scan_shows_the_reason_and_links_the_card(as_clerk, card, clerk):
    old = codes.static_code(card)
    cards.replace_card(card, by=clerk, reason="lost")
    response = as_clerk.post(SEARCH, {"mode": "scan", "code": old})
    html = response.content.decode()
    assert "The card was replaced" in html
    assert url("person", card.person.pk) in html


def test_valid_scan_of_another_institutions_card_is_not_opened(as_clerk, other_card):
    response = as_clerk.post(SEARCH, {"mode": "scan", "code": codes.static_code(other_card)})
    assert response.status_code == 200
    assert "another institution" in response.content.decode()


# --- registration ------------------------------------------------------------------------


def test_registration_issues_a_counter_card_and_offers_printing(as_clerk, clerk, hospital, printer):
    data = registration()
    response = as_clerk.post(REGISTER, data)
    assert response.status_code == 302
    person = Person.objects.get()
    card = person.card
    assert response.url == url("person", person.pk) + "?issued=1"
    assert (card.channel, card.institution, card.issued_by) == (Channel.COUNTER, hospital, clerk)
    assert person.sex == "1" or person.sex == "2"  # derived from the number
    assert person.registered_by == hospital
    issue = AuditRecord.objects.get(action="card.issue")
    assert issue.details["id_document_checked"] is True
    register = AuditRecord.objects.get(action="person.register")
    assert register.details["id_document_checked"] is True
    page = as_clerk.get(response.url)
    assert "autofocus" in page.content.decode()  # the print button
    assert page.context["print_form"] is not None


def test_registration_needs_the_in_person_check(as_clerk, db):
    data = registration()
    del data["checked_in_person"]
    response = as_clerk.post(REGISTER, data)
    assert response.status_code == 200
    assert "Check the ID document in person" in response.content.decode()
    assert not Person.objects.exists()


def test_registration_applies_the_identity_rules(as_clerk, db):
    number = make_id_number()
    wrong = number[:-1] + ("0" if number[-1] != "0" else "1")
    response = as_clerk.post(REGISTER, registration(id_number=wrong))
    assert response.status_code == 200
    assert response.context["form"].errors["id_number"]
    assert not Person.objects.exists()


def test_other_documents_need_sex_and_birth_date(as_clerk, db):
    response = as_clerk.post(REGISTER, registration(id_type="03", id_number="E12345678"))
    errors = response.context["form"].errors
    assert "sex" in errors and "birth_date" in errors
    ok = as_clerk.post(
        REGISTER,
        registration(id_type="03", id_number="E12345678", sex="2", birth_date="1980-02-03"),
    )
    assert ok.status_code == 302


def test_double_submitted_registration_makes_one_card(as_clerk, db):
    data = registration()
    first = as_clerk.post(REGISTER, data)
    second = as_clerk.post(REGISTER, data)
    assert Card.objects.count() == 1
    assert second.status_code == 302 and second.url.startswith(first.url.split("?")[0])


def test_registering_someone_with_a_card_shows_that_card(as_clerk, card):
    data = registration(id_number=card.person.id_number, name="张小三")
    response = as_clerk.post(REGISTER, data, follow=True)
    assert Card.objects.count() == 1
    assert "already has a card" in response.content.decode()
    assert response.context["card"] == card


def test_registering_someone_of_another_institution_is_refused(as_clerk, other_card):
    data = registration(id_number=other_card.person.id_number)
    response = as_clerk.post(REGISTER, data)
    assert response.status_code == 200
    assert "another institution" in response.content.decode()
    assert Card.objects.count() == 1


# --- the person's page -------------------------------------------------------------------


def test_person_page_shows_masked_identity_only(as_clerk, card, job):
    person = card.person
    response = as_clerk.get(url("person", person.pk))
    html = response.content.decode()
    assert response.status_code == 200
    assert person.masked_name in html
    assert person.name not in html
    assert person.id_number not in html
    assert "13800138000" not in html
    assert f"job-{job.pk}" in html


@pytest.mark.parametrize("name", ["person"])
def test_other_institutions_person_is_404(as_outsider, card, name):
    assert as_outsider.get(url(name, card.person.pk)).status_code == 404


@pytest.mark.parametrize(
    "name,data",
    [
        ("print", {"printer": 1, "copies": 1, "key": "x"}),
        ("replace", {"reason": "lost"}),
        ("status", {"status": "frozen", "reason": "x"}),
        ("contact", {"phone": "13700137000"}),
        ("reveal", {"reason": "check"}),
    ],
)
def test_other_institutions_card_actions_are_404(as_outsider, card, name, data):
    assert as_outsider.post(url(name, card.person.pk), data).status_code == 404
    card.refresh_from_db()
    assert (card.status, card.issue_seq) == (CardStatus.ACTIVE, 1)
    assert not PrintJob.objects.exists()


def test_province_admin_sees_every_institution(client, province_admin, otp_login, other_card):
    otp_login(client, province_admin)
    assert client.get(url("person", other_card.person.pk)).status_code == 200


# --- printing ----------------------------------------------------------------------------


def test_print_queues_one_job_and_remembers_the_printer(as_clerk, clerk, card, printer):
    response = as_clerk.post(url("print", card.person.pk), print_form(printer))
    job = PrintJob.objects.get()
    assert response.status_code == 302 and response.url.endswith(f"#job-{job.pk}")
    assert (job.card, job.printer, job.requested_by) == (card, printer, clerk)
    clerk.staff_profile.refresh_from_db()
    assert clerk.staff_profile.counter_printer == printer
    page = as_clerk.get(url("person", card.person.pk))
    assert page.context["print_form"].initial["printer"] == printer.pk


def test_double_submitted_print_makes_one_job(as_clerk, card, printer):
    as_clerk.post(url("print", card.person.pk), print_form(printer, key="same"))
    as_clerk.post(url("print", card.person.pk), print_form(printer, key="same"))
    assert PrintJob.objects.count() == 1


def test_printer_of_another_institution_is_refused(as_clerk, card, other_printer):
    response = as_clerk.post(url("print", card.person.pk), print_form(other_printer))
    assert response.status_code == 400
    assert response.context["print_form"].errors["printer"]
    assert not PrintJob.objects.exists()


@pytest.mark.parametrize(
    "status,reason", [("frozen", "The card is frozen."), ("cancelled", "The card is cancelled.")]
)
def test_printing_an_inactive_card_is_refused_with_the_reason(
    as_clerk, card, printer, supervisor, status, reason
):
    cards.set_status(card, status, by=supervisor, reason="test")
    response = as_clerk.post(url("print", card.person.pk), print_form(printer), follow=True)
    assert reason in response.content.decode()
    assert not PrintJob.objects.exists()


def test_bad_copies_are_refused(as_clerk, card, printer):
    response = as_clerk.post(url("print", card.person.pk), print_form(printer, copies=99))
    assert response.status_code == 400
    assert not PrintJob.objects.exists()


def test_job_row_is_the_polled_status(as_clerk, job):
    response = as_clerk.get(url("job", job.pk))
    assert response.status_code == 200
    html = response.content.decode()
    assert f'id="job-{job.pk}"' in html and "data-poll" in html
    runner.process(job.pk)
    html = as_clerk.get(url("job", job.pk)).content.decode()
    assert "data-poll" not in html  # printed: nothing more to wait for
    assert url("job_pdf", job.pk) in html


def test_failed_job_can_be_retried_and_cancelled(as_clerk, job):
    jobs.claim(job)
    jobs.mark_failed(job, "paper out")
    html = as_clerk.get(url("job", job.pk)).content.decode()
    assert "paper out" in html and url("job_action", job.pk, "retry") in html
    as_clerk.post(url("job_action", job.pk, "retry"))
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED
    as_clerk.post(url("job_action", job.pk, "cancel"))
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED


def test_flagged_job_is_confirmed_or_printed_again(as_clerk, job, card, printer, clerk):
    jobs.claim(job)
    jobs.flag_interrupted(job, "worker died")
    html = as_clerk.get(url("job", job.pk)).content.decode()
    assert url("job_action", job.pk, "confirm") in html
    as_clerk.post(url("job_action", job.pk, "again"))
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED
    second, _ = jobs.submit_print_job(card, printer, requested_by=clerk, idempotency_key="k2")
    jobs.claim(second)
    jobs.flag_interrupted(second, "worker died")
    as_clerk.post(url("job_action", second.pk, "confirm"))
    second.refresh_from_db()
    assert second.status == JobStatus.PRINTED


def test_print_again_for_a_frozen_card_is_refused(as_clerk, job, card, supervisor):
    jobs.claim(job)
    jobs.flag_interrupted(job, "worker died")
    cards.set_status(card, "frozen", by=supervisor, reason="x")
    response = as_clerk.post(url("job_action", job.pk, "again"), follow=True)
    assert "The card is frozen." in response.content.decode()
    job.refresh_from_db()
    assert job.needs_confirmation


def test_wrong_job_action_is_refused(as_clerk, job):
    assert as_clerk.post(url("job_action", job.pk, "explode")).status_code == 404
    response = as_clerk.post(url("job_action", job.pk, "confirm"), follow=True)
    assert "waiting for confirmation" in response.content.decode()


@pytest.mark.parametrize("name", ["job", "job_pdf"])
def test_other_institutions_job_is_404(as_clerk, other_job, name):
    runner.process(other_job.pk)
    assert as_clerk.get(url(name, other_job.pk)).status_code == 404


def test_other_institutions_job_action_is_404(as_clerk, other_job):
    assert as_clerk.post(url("job_action", other_job.pk, "cancel")).status_code == 404
    other_job.refresh_from_db()
    assert other_job.status == JobStatus.QUEUED


def test_pdf_slip_is_downloaded_through_the_console_and_audited(as_clerk, job):
    assert as_clerk.get(url("job_pdf", job.pk)).status_code == 404  # not printed yet
    runner.process(job.pk)
    response = as_clerk.get(url("job_pdf", job.pk))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert b"".join(response.streaming_content).startswith(b"%PDF")
    assert AuditRecord.objects.filter(action="print.download", object_id=str(job.pk)).exists()


# --- loss, status, contact, reveal --------------------------------------------------------


def test_report_loss_and_replace(as_clerk, card, printer):
    response = as_clerk.post(url("replace", card.person.pk), {"reason": "lost"})
    assert response.status_code == 302
    card.refresh_from_db()
    assert card.issue_seq == 2
    assert AuditRecord.objects.filter(action="card.replace").exists()


def test_replace_needs_a_reason(as_clerk, card):
    assert as_clerk.post(url("replace", card.person.pk), {"reason": ""}).status_code == 400
    card.refresh_from_db()
    assert card.issue_seq == 1


def test_clerk_cannot_freeze(as_clerk, card):
    response = as_clerk.post(url("status", card.person.pk), {"status": "frozen", "reason": "x"})
    assert response.status_code == 403
    card.refresh_from_db()
    assert card.status == CardStatus.ACTIVE


def test_supervisor_freezes_and_unfreezes(as_supervisor, card):
    as_supervisor.post(url("status", card.person.pk), {"status": "frozen", "reason": "suspicious"})
    card.refresh_from_db()
    assert card.status == CardStatus.FROZEN
    page = as_supervisor.get(url("person", card.person.pk)).content.decode()
    assert "This card cannot be printed" in page
    as_supervisor.post(url("status", card.person.pk), {"status": "active", "reason": "checked"})
    card.refresh_from_db()
    assert card.status == CardStatus.ACTIVE


def test_status_change_without_reason_is_refused(as_supervisor, card):
    response = as_supervisor.post(url("status", card.person.pk), {"status": "frozen"})
    assert response.status_code == 400


def test_clerk_updates_phone_and_address(as_clerk, card):
    response = as_clerk.post(
        url("contact", card.person.pk), {"phone": "13700137000", "address": "长沙市"}
    )
    assert response.status_code == 302
    person = Person.objects.get(pk=card.person.pk)
    assert (person.phone, person.address) == ("13700137000", "长沙市")
    assert AuditRecord.objects.filter(action="person.change").exists()


def test_bad_phone_is_refused(as_clerk, card):
    response = as_clerk.post(url("contact", card.person.pk), {"phone": "12345"})
    assert response.status_code == 400
    assert Person.objects.get(pk=card.person.pk).phone == "13800138000"


def test_clerk_cannot_reveal(as_clerk, card):
    assert as_clerk.post(url("reveal", card.person.pk), {"reason": "x"}).status_code == 403


def test_supervisor_reveals_with_a_reason_and_it_is_audited(as_supervisor, card):
    response = as_supervisor.post(url("reveal", card.person.pk), {"reason": "patient asked"})
    html = response.content.decode()
    assert card.person.name in html and card.person.id_number in html
    assert response["Cache-Control"] == "no-store"
    entry = AuditRecord.objects.get(action="identity.reveal")
    assert entry.details["via"] == "console"
    assert entry.details["reason"] == "patient asked"


def test_reveal_needs_a_reason(as_supervisor, card):
    response = as_supervisor.post(url("reveal", card.person.pk), {"reason": ""})
    assert response.status_code == 400
    assert card.person.name not in response.content.decode()
    assert not AuditRecord.objects.filter(action="identity.reveal").exists()


# --- day and institution views ------------------------------------------------------------


def test_day_view_shows_my_cards_and_prints(as_clerk, printer):
    as_clerk.post(REGISTER, registration())
    person = Person.objects.get()
    as_clerk.post(url("print", person.pk), print_form(printer))
    response = as_clerk.get(url("today"))
    assert response.status_code == 200
    assert list(response.context["issued"]) == [person.card]
    assert response.context["jobs"].count() == 1


def test_institution_view_filters_and_exports_csv(
    as_supervisor, supervisor, clerk, card, other_card, job
):
    card.issued_by = clerk
    card.save(update_fields=["issued_by"])
    response = as_supervisor.get(url("activity"), {"clerk": clerk.pk})
    assert response.status_code == 200
    assert list(response.context["issued"]) == [card]
    assert list(response.context["jobs"]) == [job]
    mine = as_supervisor.get(url("activity"), {"clerk": supervisor.pk})
    assert list(mine.context["issued"]) == []
    printed = as_supervisor.get(url("activity"), {"status": "printed"})
    assert list(printed.context["jobs"]) == []
    export = as_supervisor.get(url("activity"), {"export": "csv"})
    assert export["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    text = export.content.decode("utf-8-sig")
    assert card.person.masked_name in text
    assert card.person.name not in text
    assert other_card.ehc_id not in text  # another institution's card
    assert len(rows) == 3  # header, the card, the job


def test_institution_view_lists_only_own_staff_as_filter(as_supervisor, outsider, clerk):
    response = as_supervisor.get(url("activity"))
    choices = list(response.context["form"].fields["clerk"].queryset)
    assert clerk in choices and outsider not in choices


def test_institution_view_shows_the_institutions_audit_trail(
    as_supervisor, clerk, card, other_card, outsider
):
    cards.replace_card(card, by=clerk, reason="lost")
    cards.replace_card(other_card, by=outsider, reason="lost")
    response = as_supervisor.get(url("activity"))
    trail = response.context["trail"]
    assert [r.action for r in trail if r.action == "card.replace"] == ["card.replace"]
    assert {r.institution for r in trail} == {card.institution.code}
    assert "clerk" in {r.actor_name for r in trail}
    assert card.person.name not in response.content.decode()


def test_navigation_follows_the_role(client, otp_login, clerk, institution_admin):
    otp_login(client, clerk)
    html = client.get(HOME).content.decode()
    assert reverse("portal:staff:activity") not in html
    assert reverse("admin:printing_printer_changelist") not in html
    client.logout()
    otp_login(client, institution_admin)
    html = client.get(HOME).content.decode()
    assert reverse("portal:staff:activity") in html
    assert reverse("admin:printing_printer_changelist") in html
    assert reverse("admin:auth_user_changelist") in html


def test_registering_someone_registered_here_without_a_card_issues_it(as_clerk, hospital):
    from healthcard import people

    number = make_id_number()
    person = people.register_person(
        people.PersonData(name="赵六", id_type="01", id_number=number), institution=hospital
    )
    response = as_clerk.post(REGISTER, registration(id_number=number, name="赵六"))
    assert response.status_code == 302
    assert Card.objects.get().person == person


def test_registration_form_focuses_where_the_clerk_types(as_clerk, db):
    number = make_id_number()
    found_nobody = as_clerk.post(SEARCH, {"mode": "id", "id_type": "01", "id_number": number})
    assert "autofocus" in str(found_nobody.context["form"]["name"])
    blank = as_clerk.get(REGISTER)
    assert "autofocus" in str(blank.context["form"]["id_type"])
    wrong = as_clerk.post(REGISTER, registration(phone="123"))
    assert "autofocus" in str(wrong.context["form"]["phone"])


def test_job_rows_in_the_day_view_name_the_person_and_keep_doing_so_when_polled(
    as_clerk, job, card
):
    day = as_clerk.get(url("today")).content.decode()
    assert card.person.masked_name in day
    polled = as_clerk.get(url("job", job.pk), {"from": "today"}).content.decode()
    assert card.person.masked_name in polled and 'value="today"' in polled
    assert card.person.masked_name not in as_clerk.get(url("job", job.pk)).content.decode()
