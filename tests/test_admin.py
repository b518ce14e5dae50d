"""The Django admin: second factor, masking, blind-index search, filters, institution
scoping, status actions with a reason, the read-only audit log."""

import pytest
from django.urls import reverse

from healthcard import people
from healthcard.models import AuditRecord, Card, CardStatus, Channel
from tests.conftest import id_check_char, make_id_number

CARDS = reverse("admin:healthcard_card_changelist")
PEOPLE = reverse("admin:healthcard_person_changelist")
AUDIT = reverse("admin:healthcard_auditrecord_changelist")


def card_change(card) -> str:
    return reverse("admin:healthcard_card_change", args=[card.pk])


def person_change(person) -> str:
    return reverse("admin:healthcard_person_change", args=[person.pk])


def listed(response) -> list:
    return list(response.context["cl"].result_list)


@pytest.fixture
def x_card(make_card):
    """A card whose ID number ends in X."""
    seq = 1
    while id_check_char(f"43010219900517{seq:03d}") != "X":
        seq += 1
    return make_card(name="欧阳小峰", id_number=make_id_number(seq=seq))


@pytest.fixture
def other_card(make_card, other_hospital):
    return make_card(name="李四", institution=other_hospital, channel=Channel.ONLINE)


# --- second factor -----------------------------------------------------------------------


@pytest.mark.parametrize("url", [reverse("admin:index"), CARDS, PEOPLE, AUDIT])
def test_admin_requires_a_verified_second_factor(client, supervisor, url):
    client.force_login(supervisor)
    response = client.get(url)
    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


def test_staff_with_verified_device_reaches_the_admin(client, supervisor, otp_login):
    otp_login(client, supervisor)
    assert client.get(reverse("admin:index")).status_code == 200


def test_password_alone_does_not_log_in(client, supervisor):
    from tests.conftest import PASSWORD

    client.post(reverse("admin:login"), {"username": "supervisor", "password": PASSWORD})
    assert client.get(CARDS).status_code == 302


def test_superuser_also_needs_a_second_factor(client, superuser):
    client.force_login(superuser)
    assert client.get(CARDS).status_code == 302


# --- masking -----------------------------------------------------------------------------


@pytest.mark.parametrize("user", ["clerk", "supervisor", "province_admin"])
def test_changelists_show_masked_names_and_numbers_only(
    client, otp_login, card, x_card, user, request
):
    otp_login(client, request.getfixturevalue(user))
    for url in (CARDS, PEOPLE):
        html = client.get(url).content.decode()
        assert "张*三" in html
        assert "欧**峰" in html
        for c in (card, x_card):
            assert c.person.id_number not in html
            assert c.person.name not in html
    people = client.get(PEOPLE).content.decode()
    assert "430***********" + card.person.id_number[-4:] in people
    assert "430***********" + x_card.person.id_number[-4:] in people


def test_card_change_page_shows_no_identity(client, otp_login, supervisor, card):
    otp_login(client, supervisor)
    html = client.get(card_change(card)).content.decode()
    assert "张*三" in html
    assert card.person.id_number not in html
    assert "张小三" not in html


def test_view_only_person_page_masks_identity_phone_and_name(client, otp_login, clerk, card):
    otp_login(client, clerk)
    response = client.get(person_change(card.person))
    assert response.status_code == 200
    html = response.content.decode()
    assert card.person.id_number not in html
    assert "13800138000" not in html
    assert "张小三" not in html
    assert "张*三" in html
    assert "430***********" + card.person.id_number[-4:] in html
    assert "138****8000" in html


def test_person_change_form_never_shows_the_full_id_number(client, otp_login, supervisor, card):
    otp_login(client, supervisor)
    response = client.get(person_change(card.person))
    assert response.status_code == 200
    assert card.person.id_number not in response.content.decode()


# --- search ------------------------------------------------------------------------------


def search(client, url, term):
    """The lists' search form: a POST, so that the number stays out of the URL."""
    return client.post(url, {"id_number": term, "id_search": "Search"})


@pytest.mark.parametrize("url", [CARDS, PEOPLE])
def test_search_by_exact_id_number_uses_the_blind_index(
    client, otp_login, supervisor, card, x_card, url
):
    otp_login(client, supervisor)
    number = x_card.person.id_number
    for term in (number, number.lower(), f" {number} "):
        response = search(client, url, term)
        found = listed(response)
        assert len(found) == 1
        assert x_card in found or x_card.person in found
        assert number not in response.content.decode()  # not echoed into the page
    assert listed(search(client, url, number[:-1])) == []
    assert listed(search(client, url, make_id_number(seq=999))) == []


def test_card_search_by_full_ehc_id(client, otp_login, supervisor, card, x_card):
    otp_login(client, supervisor)
    assert listed(search(client, CARDS, card.ehc_id.lower())) == [card]


def test_search_does_not_cross_institutions(client, otp_login, outsider, card):
    otp_login(client, outsider)
    assert listed(search(client, CARDS, card.person.id_number)) == []
    assert listed(search(client, PEOPLE, card.person.id_number)) == []


@pytest.mark.parametrize("url", [CARDS, PEOPLE])
def test_the_search_form_posts_and_a_query_string_search_finds_nothing_by_number(
    client, otp_login, supervisor, card, x_card, url
):
    otp_login(client, supervisor)
    page = client.get(url).content.decode()
    assert 'id="changelist-search" method="post"' in page
    assert 'name="q"' not in page
    # ?q= is not a search any more: the full list, not the person with that number.
    assert len(listed(client.get(url, {"q": x_card.person.id_number}))) == 2


# --- filters -----------------------------------------------------------------------------


def test_card_filters_by_institution_status_channel_and_region(
    client, otp_login, province_admin, supervisor, card, other_card, hospital, other_hospital
):
    from healthcard import cards

    cards.set_status(card, CardStatus.FROZEN, by=supervisor, reason="reported lost")
    otp_login(client, province_admin)
    assert set(listed(client.get(CARDS))) == {card, other_card}
    assert listed(client.get(CARDS, {"institution__id__exact": hospital.pk})) == [card]
    assert listed(client.get(CARDS, {"institution__id__exact": other_hospital.pk})) == [other_card]
    assert listed(client.get(CARDS, {"status__exact": "frozen"})) == [card]
    assert listed(client.get(CARDS, {"status__exact": "active"})) == [other_card]
    assert listed(client.get(CARDS, {"channel__exact": Channel.COUNTER})) == [card]
    assert listed(client.get(CARDS, {"channel__exact": Channel.ONLINE})) == [other_card]
    assert listed(client.get(CARDS, {"institution__city_code": "430300"})) == [other_card]
    assert listed(client.get(CARDS, {"institution__city_code": "430100"})) == [card]


def test_person_filters_by_card_status_and_institution(
    client, otp_login, province_admin, card, other_card, other_hospital
):
    otp_login(client, province_admin)
    assert listed(client.get(PEOPLE, {"card__institution__id__exact": other_hospital.pk})) == [
        other_card.person
    ]
    assert len(listed(client.get(PEOPLE, {"card__status__exact": "active"}))) == 2


# --- institution scoping -----------------------------------------------------------------


def test_outsider_does_not_see_the_hospitals_card_or_person(
    client, otp_login, outsider, card, other_card
):
    otp_login(client, outsider)
    assert listed(client.get(CARDS)) == [other_card]
    assert listed(client.get(PEOPLE)) == [other_card.person]
    assert client.get(card_change(card)).status_code == 404
    assert client.get(person_change(card.person)).status_code == 404
    history = reverse("admin:healthcard_card_history", args=[card.pk])
    assert client.get(history).status_code == 404
    assert client.get(card_change(other_card)).status_code == 200


def test_outsider_cannot_freeze_the_hospitals_card(client, otp_login, outsider, card):
    otp_login(client, outsider)
    client.post(
        CARDS,
        {"action": "make_frozen", "_selected_action": [card.pk], "apply": "1", "reason": "x"},
    )
    card.refresh_from_db()
    assert card.status == CardStatus.ACTIVE
    assert not AuditRecord.objects.filter(action="card.status").exists()


def test_clerk_sees_only_their_institution(client, otp_login, clerk, card, other_card):
    otp_login(client, clerk)
    assert listed(client.get(CARDS)) == [card]
    assert client.get(card_change(other_card)).status_code == 404


def test_province_admin_sees_every_institution(client, otp_login, province_admin, card, other_card):
    otp_login(client, province_admin)
    assert set(listed(client.get(CARDS))) == {card, other_card}
    assert set(listed(client.get(PEOPLE))) == {card.person, other_card.person}
    assert client.get(card_change(card)).status_code == 200
    assert client.get(card_change(other_card)).status_code == 200


def test_staff_without_a_profile_see_nothing(client, otp_login, card, django_user_model):
    user = django_user_model.objects.create_user("stray", is_staff=True)
    from django.contrib.auth.models import Permission

    user.user_permissions.add(Permission.objects.get(codename="view_card"))
    otp_login(client, user)
    assert listed(client.get(CARDS)) == []


# --- status actions ----------------------------------------------------------------------


def action_choices(response) -> set[str]:
    form = response.context["action_form"]
    if form is None:  # no action at all
        return set()
    return {name for name, _label in form.fields["action"].choices}


def test_clerk_lacks_the_status_actions(client, otp_login, clerk, card):
    otp_login(client, clerk)
    choices = action_choices(client.get(CARDS))
    assert not choices & {"make_frozen", "make_active", "make_cancelled"}
    client.post(
        CARDS,
        {"action": "make_frozen", "_selected_action": [card.pk], "apply": "1", "reason": "x"},
    )
    card.refresh_from_db()
    assert card.status == CardStatus.ACTIVE


def test_supervisor_has_the_status_actions(client, otp_login, supervisor, card):
    otp_login(client, supervisor)
    assert {"make_frozen", "make_active", "make_cancelled"} <= action_choices(client.get(CARDS))


def test_status_action_first_asks_for_a_reason(client, otp_login, supervisor, card):
    otp_login(client, supervisor)
    response = client.post(CARDS, {"action": "make_frozen", "_selected_action": [card.pk]})
    assert response.status_code == 200
    assert response.templates[0].name == "admin/healthcard/card/status_action.html"
    assert not response.context["form"].is_bound
    html = response.content.decode()
    assert "张*三" in html and card.person.id_number not in html
    card.refresh_from_db()
    assert card.status == CardStatus.ACTIVE


@pytest.mark.parametrize("reason", ["", "   "])
def test_status_action_without_a_reason_shows_the_form_again(
    client, otp_login, supervisor, card, reason
):
    otp_login(client, supervisor)
    response = client.post(
        CARDS,
        {"action": "make_frozen", "_selected_action": [card.pk], "apply": "1", "reason": reason},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["reason"]
    card.refresh_from_db()
    assert card.status == CardStatus.ACTIVE
    assert not AuditRecord.objects.filter(action="card.status").exists()


@pytest.mark.parametrize(
    ("start", "action", "end"),
    [
        (CardStatus.ACTIVE, "make_frozen", CardStatus.FROZEN),
        (CardStatus.FROZEN, "make_active", CardStatus.ACTIVE),
        (CardStatus.ACTIVE, "make_cancelled", CardStatus.CANCELLED),
        (CardStatus.FROZEN, "make_cancelled", CardStatus.CANCELLED),
    ],
)
def test_status_action_with_a_reason_changes_status_and_audits(
    client, otp_login, supervisor, card, start, action, end
):
    Card.objects.filter(pk=card.pk).update(status=start)
    otp_login(client, supervisor)
    response = client.post(
        CARDS,
        {"action": action, "_selected_action": [card.pk], "apply": "1", "reason": "reported lost"},
    )
    assert response.status_code == 302
    card.refresh_from_db()
    assert (card.status, card.status_reason) == (end, "reported lost")
    rec = AuditRecord.objects.get(action="card.status")
    assert rec.actor == f"user:{supervisor.pk}"
    assert rec.object_id == str(card.pk)
    assert rec.details == {"old": start, "new": end, "reason": "reported lost"}


def test_refused_transition_in_an_action_is_reported_and_others_proceed(
    client, otp_login, supervisor, card, make_card
):
    second = make_card(name="王五")
    Card.objects.filter(pk=card.pk).update(status=CardStatus.CANCELLED)
    otp_login(client, supervisor)
    response = client.post(
        CARDS,
        {
            "action": "make_frozen",
            "_selected_action": [card.pk, second.pk],
            "apply": "1",
            "reason": "audit",
        },
        follow=True,
    )
    messages = [str(m) for m in response.context["messages"]]
    assert len(messages) == 2
    second.refresh_from_db()
    card.refresh_from_db()
    assert (card.status, second.status) == (CardStatus.CANCELLED, CardStatus.FROZEN)


def test_cards_cannot_be_added_or_deleted_in_the_admin(client, otp_login, province_admin, card):
    otp_login(client, province_admin)
    assert client.get(reverse("admin:healthcard_card_add")).status_code == 403
    delete = reverse("admin:healthcard_card_delete", args=[card.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert Card.objects.filter(pk=card.pk).exists()


# --- audit log ---------------------------------------------------------------------------


def test_audit_log_is_read_only(client, otp_login, institution_admin, card):
    otp_login(client, institution_admin)
    rec = AuditRecord.objects.get(action="card.issue")
    response = client.get(AUDIT)
    assert response.status_code == 200
    assert rec in listed(response)
    assert client.get(reverse("admin:healthcard_auditrecord_add")).status_code == 403
    change = reverse("admin:healthcard_auditrecord_change", args=[rec.pk])
    page = client.get(change)
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert client.post(change, {"action": "tampered"}).status_code == 403
    delete = reverse("admin:healthcard_auditrecord_delete", args=[rec.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    rec.refresh_from_db()
    assert rec.action == "card.issue"
    assert "delete_selected" not in action_choices(response)
    from healthcard import audit

    assert audit.verify()[1] is None


def test_audit_log_is_scoped_to_the_institution(
    client, otp_login, institution_admin, card, other_card
):
    otp_login(client, institution_admin)
    records = listed(client.get(AUDIT))
    assert records
    assert {r.institution for r in records} == {card.institution.code}


def test_clerk_cannot_read_the_audit_log(client, otp_login, clerk, card):
    otp_login(client, clerk)
    assert client.get(AUDIT).status_code == 403


# --- family links in the person admin ----------------------------------------------------


def person_post(person, links: list[dict], initial: int = 0) -> dict:
    data = {
        "name": person.name,
        "sex": person.sex,
        "birth_date": person.birth_date.isoformat(),
        "nation": "",
        "phone": person.phone,
        "address": "",
        "dependants-TOTAL_FORMS": str(len(links)),
        "dependants-INITIAL_FORMS": str(initial),
        "dependants-MIN_NUM_FORMS": "0",
        "dependants-MAX_NUM_FORMS": "1000",
        "_save": "Save",
    }
    for i, link in enumerate(links):
        for key, value in link.items():
            data[f"dependants-{i}-{key}"] = value
        data[f"dependants-{i}-guardian"] = str(person.pk)
    return data


def test_family_link_added_in_the_admin_is_audited(client, otp_login, supervisor, card, make_card):
    child = make_card(name="张小宝").person
    otp_login(client, supervisor)
    response = client.post(
        person_change(card.person),
        person_post(card.person, [{"dependant": str(child.pk), "relation": "child"}]),
    )
    assert response.status_code == 302, response.context and response.context["errors"]
    link = card.person.dependants.get()
    assert (link.dependant, link.relation) == (child, "child")
    rec = AuditRecord.objects.get(action="family.add")
    assert rec.object_id == str(link.pk)
    assert rec.actor == f"user:{supervisor.pk}"


def test_family_link_removed_in_the_admin_is_audited(client, otp_login, superuser, card, make_card):

    child = make_card(name="张小宝").person
    link = people.add_dependant(card.person, child, "child")
    otp_login(client, superuser)  # roles cannot delete links; a superuser can
    data = person_post(
        card.person,
        [{"id": str(link.pk), "dependant": str(child.pk), "relation": "child", "DELETE": "on"}],
        initial=1,
    )
    assert client.post(person_change(card.person), data).status_code == 302
    assert not card.person.dependants.exists()
    rec = AuditRecord.objects.get(action="family.remove")
    assert rec.object_id == str(link.pk)


def test_family_link_cannot_reach_another_institutions_resident(
    client, otp_login, supervisor, card, other_card
):
    otp_login(client, supervisor)
    response = client.post(
        person_change(card.person),
        person_post(card.person, [{"dependant": str(other_card.person.pk), "relation": "child"}]),
    )
    assert response.status_code == 200
    assert not card.person.dependants.exists()
    assert not AuditRecord.objects.filter(action="family.add").exists()


# --- registering a person in the admin ---------------------------------------------------

PERSON_ADD = reverse("admin:healthcard_person_add")


def add_post(**fields) -> dict:
    data = {
        "name": "赵六",
        "id_type": "01",
        "id_number": make_id_number(seq=321),
        "sex": "",
        "birth_date": "",
        "nation": "01",
        "phone": "",
        "address": "",
        "dependants-TOTAL_FORMS": "0",
        "dependants-INITIAL_FORMS": "0",
        "dependants-MIN_NUM_FORMS": "0",
        "dependants-MAX_NUM_FORMS": "1000",
        "_save": "Save",
    }
    data.update(fields)
    return data


def test_person_registered_in_the_admin_is_validated_encrypted_and_audited(
    client, otp_login, superuser
):
    from healthcard.models import Person

    otp_login(client, superuser)
    number = make_id_number(seq=321)
    response = client.post(PERSON_ADD, add_post(id_number=number.lower()))
    assert response.status_code == 302
    person = Person.objects.get()
    assert person.id_number == number.upper()
    assert (person.sex, person.birth_date.isoformat()) == ("1", "1990-05-17")
    rec = AuditRecord.objects.get(action="person.register")
    assert rec.object_id == str(person.pk)
    assert person.name not in repr(rec.details)


def test_person_registered_without_a_card_stays_visible_to_its_institution_only(
    client, otp_login, supervisor, outsider
):
    from healthcard.models import Person

    otp_login(client, supervisor)
    response = client.post(PERSON_ADD, add_post(id_number=make_id_number(seq=555)))
    assert response.status_code == 302
    person = Person.objects.get()
    assert person.registered_by == supervisor.staff_profile.institution
    assert client.get(f"{PERSON_ADD[: -len('add/')]}{person.pk}/change/").status_code == 200
    rec = AuditRecord.objects.get(action="person.register")
    assert rec.institution == supervisor.staff_profile.institution.code

    client.logout()
    otp_login(client, outsider)
    assert client.get(f"{PERSON_ADD[: -len('add/')]}{person.pk}/change/").status_code == 404


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"name": "赵\x07六"}, "name", "The name contains control or invisible characters."),
        ({"name": "赵\x00六"}, "name", "Null characters are not allowed."),
        ({"name": "赵" * 51}, "name", "Ensure this value has at most 50 characters (it has 51)."),
        (
            {"id_number": "430102199002300012"},
            "id_number",
            "The birth date 19900230 in the identity number does not exist.",
        ),
        ({"sex": "2"}, "sex", "The sex does not match the identity number."),
        (
            {"id_type": "03", "id_number": "E12345678"},
            "sex",
            "Sex is required for this document type.",
        ),
    ],
)
def test_bad_input_in_the_admin_gives_a_field_error_and_writes_nothing(
    client, otp_login, superuser, fields, field, message
):
    from healthcard.models import Person

    otp_login(client, superuser)
    response = client.post(PERSON_ADD, add_post(**fields), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors[field] == [message]
    assert not Person.objects.exists()
    assert not AuditRecord.objects.filter(action="person.register").exists()


def test_duplicate_registration_in_the_admin_is_refused(client, otp_login, superuser, card):
    from healthcard.models import Person

    otp_login(client, superuser)
    number = card.person.id_number
    response = client.post(
        PERSON_ADD, add_post(id_number=number.lower()), HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["id_number"] == [
        "A person with this identity document is already registered."
    ]
    assert Person.objects.count() == 1
