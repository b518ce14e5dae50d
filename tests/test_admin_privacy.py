"""The admin shows masked identity by default, reveals only through reveal_person, and
its lists accept only the filters they offer (issue 8, holes 7 and 8)."""

import pytest
from django.urls import reverse

from healthcard.models import AuditRecord
from printing.models import Printer, PrinterKind, PrintJob

PEOPLE = reverse("admin:healthcard_person_changelist")
CARDS = reverse("admin:healthcard_card_changelist")


@pytest.fixture
def other_card(make_card, other_hospital):
    return make_card(name="李四", institution=other_hospital)


def person_page(person):
    return reverse("admin:healthcard_person_change", args=[person.pk])


def reveal_page(person):
    return reverse("admin:healthcard_person_reveal", args=[person.pk])


# --- Hole 8: masked by default, revealed on purpose -------------------------------------
@pytest.mark.parametrize("user", ["clerk", "supervisor", "institution_admin", "superuser"])
def test_a_persons_page_shows_masked_values_to_everyone(client, otp_login, card, user, request):
    card.person.address = "长沙市岳麓区麓山南路 1 号"
    card.person.save()
    otp_login(client, request.getfixturevalue(user))
    response = client.get(person_page(card.person))
    assert response.status_code == 200
    html = response.content.decode()
    for secret in ("张小三", card.person.id_number, "13800138000", "麓山南路"):
        assert secret not in html
    assert "张*三" in html and "138****8000" in html
    assert not AuditRecord.objects.filter(action="identity.reveal").exists()


def test_the_show_full_identity_link_is_offered_to_those_who_may(
    client, otp_login, supervisor, clerk, card
):
    otp_login(client, supervisor)
    assert reveal_page(card.person) in client.get(person_page(card.person)).content.decode()
    otp_login(client, clerk)
    assert reveal_page(card.person) not in client.get(person_page(card.person)).content.decode()


def test_showing_the_full_identity_asks_for_a_reason_first(client, otp_login, supervisor, card):
    otp_login(client, supervisor)
    html = client.get(reveal_page(card.person)).content.decode()
    assert 'name="reason"' in html
    assert "张小三" not in html and card.person.id_number not in html
    assert not AuditRecord.objects.filter(action="identity.reveal").exists()


def test_with_a_reason_the_full_identity_is_shown_once_and_audited(
    client, otp_login, supervisor, card
):
    otp_login(client, supervisor)
    response = client.post(reveal_page(card.person), {"reason": "核对患者身份"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "张小三" in html and card.person.id_number in html and "13800138000" in html
    assert "no-store" in response["Cache-Control"]
    rec = AuditRecord.objects.get(action="identity.reveal")
    assert rec.actor == f"user:{supervisor.pk}"
    assert (rec.object_type, rec.object_id) == ("person", str(card.person.pk))
    assert rec.details == {"via": "admin", "reason": "核对患者身份"}
    # The person's page itself stays masked afterwards.
    assert "张小三" not in client.get(person_page(card.person)).content.decode()


def test_an_empty_reason_shows_the_form_again_and_reveals_nothing(
    client, otp_login, supervisor, card
):
    otp_login(client, supervisor)
    html = client.post(reveal_page(card.person), {"reason": "  "}).content.decode()
    assert "张小三" not in html and 'name="reason"' in html
    assert not AuditRecord.objects.filter(action="identity.reveal").exists()


def test_a_clerk_without_the_reveal_permission_is_refused(client, otp_login, clerk, card):
    otp_login(client, clerk)
    response = client.post(reveal_page(card.person), {"reason": "curious"}, follow=True)
    html = response.content.decode()
    assert "张小三" not in html and card.person.id_number not in html
    assert [str(m) for m in response.context["messages"]]
    assert not AuditRecord.objects.filter(action="identity.reveal").exists()


def test_another_institution_does_not_find_the_person_to_reveal(client, otp_login, outsider, card):
    otp_login(client, outsider)
    assert client.post(reveal_page(card.person), {"reason": "curious"}).status_code == 404
    assert not AuditRecord.objects.filter(action="identity.reveal").exists()


def test_changing_the_phone_keeps_it_hidden_and_goes_through_change_person(
    client, otp_login, supervisor, card
):
    otp_login(client, supervisor)
    base = {
        "nation": "",
        "dependants-TOTAL_FORMS": "0",
        "dependants-INITIAL_FORMS": "0",
        "dependants-MIN_NUM_FORMS": "0",
        "dependants-MAX_NUM_FORMS": "1000",
        "_save": "Save",
    }
    response = client.post(person_page(card.person), {**base, "phone": "13900139000"})
    assert response.status_code == 302
    card.person.refresh_from_db()
    assert card.person.phone == "13900139000"
    rec = AuditRecord.objects.get(action="person.change")
    assert (rec.actor, rec.details) == (f"user:{supervisor.pk}", {"fields": ["phone"]})
    # An empty field keeps the number; the checkbox removes it.
    client.post(person_page(card.person), {**base, "phone": ""})
    card.person.refresh_from_db()
    assert card.person.phone == "13900139000"
    client.post(person_page(card.person), {**base, "remove_phone": "on"})
    card.person.refresh_from_db()
    assert card.person.phone == ""


def test_an_invalid_new_phone_is_a_field_error(client, otp_login, supervisor, card):
    otp_login(client, supervisor)
    response = client.post(
        person_page(card.person),
        {
            "phone": "123",
            "dependants-TOTAL_FORMS": "0",
            "dependants-INITIAL_FORMS": "0",
            "_save": "Save",
        },
    )
    assert response.status_code == 200
    assert "phone" in response.context["adminform"].form.errors
    assert not AuditRecord.objects.filter(action="person.change").exists()


# --- Hole 7: only the filters the list offers ------------------------------------------
@pytest.mark.parametrize(
    ("url", "query"),
    [
        (PEOPLE, {"name": "张小三"}),
        (PEOPLE, {"name__startswith": "张"}),
        (PEOPLE, {"name__contains": "小"}),
        (PEOPLE, {"birth_date": "1990-05-17"}),
        (PEOPLE, {"phone_index": "x"}),
        (PEOPLE, {"card__person__name": "张小三"}),
        (CARDS, {"person__name__startswith": "张"}),
        (CARDS, {"person__birth_date__year": "1990"}),
        (CARDS, {"status_reason__icontains": "lost"}),
        (reverse("admin:healthcard_auditrecord_changelist"), {"details__icontains": "x"}),
    ],
)
@pytest.mark.parametrize("user", ["institution_admin", "superuser"])
def test_lookups_the_list_does_not_offer_are_refused(
    client, otp_login, card, url, query, user, request
):
    otp_login(client, request.getfixturevalue(user))
    assert client.get(url, query).status_code == 400


@pytest.mark.parametrize(
    ("url", "query"),
    [
        (PEOPLE, {"id_type__exact": "01"}),
        (PEOPLE, {"card__status__exact": "active", "sex__exact": "1"}),
        (CARDS, {"status__exact": "active", "channel__exact": "3"}),
        (CARDS, {"o": "1", "p": "0"}),
    ],
)
def test_the_offered_filters_still_work(client, otp_login, superuser, card, url, query):
    otp_login(client, superuser)
    assert client.get(url, query).status_code == 200


def test_the_audit_logs_date_hierarchy_still_works(client, otp_login, superuser, card):
    otp_login(client, superuser)
    url = reverse("admin:healthcard_auditrecord_changelist")
    assert client.get(url, {"at__year": "2026", "at__month": "1"}).status_code == 200


def _choices(response, field_path: str) -> list[str]:
    """The filter's choices; [] when the list shows no such filter (Django hides a
    foreign-key filter with a single choice)."""
    for spec in response.context["cl"].filter_specs:
        if getattr(spec, "field_path", None) == field_path:
            return [label for _pk, label in spec.lookup_choices]
    return []


@pytest.mark.parametrize(
    ("url", "field_path"),
    [
        (CARDS, "institution"),
        (PEOPLE, "card__institution"),
        (reverse("admin:healthcard_terminal_changelist"), "institution"),
        (reverse("admin:healthcard_usageevent_changelist"), "institution"),
        (reverse("admin:printing_printer_changelist"), "institution"),
        ("/admin/auth/user/", "staff_profile__institution"),
    ],
)
def test_institution_filters_list_only_the_users_own_institution(
    client,
    otp_login,
    institution_admin,
    card,
    other_card,
    hospital,
    other_hospital,
    url,
    field_path,
):
    otp_login(client, institution_admin)
    response = client.get(url)
    assert response.status_code == 200
    assert _choices(response, field_path) in ([], [str(hospital)])
    assert other_hospital.name not in response.content.decode()


def test_the_region_filter_lists_only_the_users_own_region(
    client, otp_login, supervisor, card, other_card, hospital, other_hospital
):
    otp_login(client, supervisor)
    response = client.get(CARDS)
    regions = []
    for spec in response.context["cl"].filter_specs:
        if getattr(spec, "field_path", None) == "institution__city_code":
            regions = list(spec.lookup_choices)
    assert other_hospital.city_code not in regions
    assert other_hospital.city_code not in response.content.decode()


def test_province_admins_filter_lists_every_institution(
    client, otp_login, province_admin, card, other_card, hospital, other_hospital
):
    otp_login(client, province_admin)
    choices = _choices(client.get(CARDS), "institution")
    assert {str(hospital), str(other_hospital)} <= set(choices)


def test_the_print_job_printer_filter_lists_only_own_printers(
    client, otp_login, supervisor, card, other_card, hospital, other_hospital
):
    ours = Printer.objects.create(institution=hospital, name="Ours", kind=PrinterKind.PDF)
    theirs = Printer.objects.create(institution=other_hospital, name="Theirs", kind=PrinterKind.PDF)
    PrintJob.objects.create(card=card, printer=ours, idempotency_key="a")
    PrintJob.objects.create(card=other_card, printer=theirs, idempotency_key="b")
    otp_login(client, supervisor)
    response = client.get(reverse("admin:printing_printjob_changelist"))
    assert _choices(response, "printer") in ([], [str(ours)])
    assert "Theirs" not in response.content.decode()


# --- The admin's one mapping of domain refusals -----------------------------------------
def test_a_domain_refusal_while_saving_is_a_message_and_nothing_is_saved(
    client, otp_login, supervisor, card
):
    """A person cannot be their own family member (PersonError from add_dependant)."""
    otp_login(client, supervisor)
    data = {
        "nation": "01",
        "dependants-TOTAL_FORMS": "1",
        "dependants-INITIAL_FORMS": "0",
        "dependants-0-dependant": str(card.person.pk),
        "dependants-0-relation": "child",
        "dependants-0-guardian": str(card.person.pk),
        "_save": "Save",
    }
    response = client.post(person_page(card.person), data, follow=True)
    assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    assert any("家庭成员" in m or "family member" in m for m in messages), messages
    card.person.refresh_from_db()
    assert card.person.nation == ""  # the whole save was rolled back
    assert not AuditRecord.objects.filter(action__in=["person.change", "family.add"]).exists()
