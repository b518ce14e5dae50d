"""Family cards: children by the verifier, adults by their own SMS confirmation, limits."""

import datetime

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from healthcard import applications
from healthcard.models import (
    Application,
    ApplicationStatus,
    Card,
    Guardianship,
    OutboxMessage,
    Person,
)
from healthcard.selfservice import person_ref
from tests.conftest import make_id_number
from tests.portal.conftest import PHONE, last_code, sign_in
from tests.portal.test_apply import form

pytestmark = pytest.mark.django_db

PARENT_PHONE = "13700001111"


@pytest.fixture
def holder(resident_client, registered):
    """The signed-in resident with their own online card."""
    resident_client.post("/apply/", form(registered("王建国")))
    return Person.objects.get(user__isnull=False)


def child_form(registered, name="王小明", birth=datetime.date(2018, 6, 1), **extra):
    number = make_id_number(birth=birth)
    registered(name, number)
    return form(number, name=name, relation="child", **extra)


def test_a_child_under_16_is_added_with_the_verifier(resident_client, holder, registered):
    response = resident_client.post("/apply/", child_form(registered))
    app = Application.objects.get(relation="child")
    assert app.status == ApplicationStatus.ISSUED
    link = Guardianship.objects.get(guardian=holder)
    assert link.dependant.card.status == "active"
    page = resident_client.get(response["Location"], follow=True)
    assert page.status_code == 200
    card_page = resident_client.get(f"/cards/{person_ref(link.dependant)}/").content.decode()
    assert "Family member&#x27;s card: 王*明" in card_page or "Family member's card" in card_page


def test_a_child_with_a_birth_certificate_number(resident_client, holder, registered):
    registered("王小花", "O430123456", id_type="99")
    data = form(
        "O430123456",
        name="王小花",
        relation="child",
        id_type="99",
        sex="2",
        birth_date="2025-03-01",
    )
    resident_client.post("/apply/", data)
    assert Application.objects.get(relation="child").status == ApplicationStatus.ISSUED


def test_a_child_that_the_register_does_not_know_is_not_added(resident_client, holder):
    data = form(make_id_number(birth=datetime.date(2019, 1, 1)), name="王小明", relation="child")
    resident_client.post("/apply/", data)
    assert Application.objects.get(relation="child").status == ApplicationStatus.MISMATCH
    assert not Guardianship.objects.exists()


def test_family_members_need_the_own_card_first(resident_client, registered):
    response = resident_client.post("/apply/", child_form(registered))
    assert "Apply for your own card first" in response.content.decode()


def test_an_adult_is_added_only_after_confirming_by_sms_to_their_own_phone(
    resident_client, holder, registered
):
    number = make_id_number(birth=datetime.date(1950, 2, 3))
    registered("李秀英", number)
    data = form(number, name="李秀英", relation="parent", phone=PARENT_PHONE)
    response = resident_client.post("/apply/", data)
    app = Application.objects.get(relation="parent")
    assert app.status == ApplicationStatus.CONFIRMING
    assert not Guardianship.objects.exists()  # not without the confirmation
    assert not Card.objects.filter(person__name="李秀英").exists()
    sms = OutboxMessage.objects.first()
    assert sms.phone == PARENT_PHONE and "manage your electronic health card" in sms.body
    page = resident_client.get(response["Location"]).content.decode()
    assert "137****1111" in page
    code = last_code(PARENT_PHONE)
    wrong = "000000" if code != "000000" else "111111"
    page = resident_client.post(response["Location"], {"code": wrong}).content.decode()
    assert "not correct" in page
    assert not Guardianship.objects.exists()
    resident_client.post(response["Location"], {"code": code})
    app.refresh_from_db()
    assert app.status == ApplicationStatus.ISSUED
    link = Guardianship.objects.get()
    assert link.dependant.name == "李秀英" and link.dependant.phone == PARENT_PHONE
    assert link.relation == "parent"


def test_an_adult_family_member_needs_their_phone(resident_client, holder, registered):
    number = make_id_number(birth=datetime.date(1950, 2, 3))
    registered("李秀英", number)
    response = resident_client.post("/apply/", form(number, name="李秀英", relation="parent"))
    assert "own mobile number" in response.content.decode()


def test_the_confirmation_code_expires(resident_client, holder, registered):
    number = make_id_number(birth=datetime.date(1950, 2, 3))
    registered("李秀英", number)
    data = form(number, name="李秀英", relation="parent", phone=PARENT_PHONE)
    response = resident_client.post("/apply/", data)
    code = last_code(PARENT_PHONE)
    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=11)):
        app = Application.objects.get(relation="parent")
        with pytest.raises(applications.ApplicationError) as refused:
            applications.confirm_family(app, code)
    assert refused.value.code == "confirm_expired"
    assert response.status_code == 302


def test_the_adult_can_remove_the_link_later(resident_client, holder, registered):
    number = make_id_number(birth=datetime.date(1950, 2, 3))
    registered("李秀英", number)
    response = resident_client.post(
        "/apply/", form(number, name="李秀英", relation="parent", phone=PARENT_PHONE)
    )
    resident_client.post(response["Location"], {"code": last_code(PARENT_PHONE)})
    assert Guardianship.objects.count() == 1
    # The parent signs in with their own phone and takes their card into their account.
    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=2)):
        parent = Client()
        sign_in(parent, PARENT_PHONE)
        parent.post("/apply/", form(number, name="李秀英", form_token="parent-own"))
        own = Person.objects.get(name="李秀英")
        assert own.user is not None
        dashboard = parent.get("/me/").content.decode()
        assert "Who else manages my card" in dashboard
        confirm = parent.get(f"/family/{person_ref(holder)}/remove/").content.decode()
        assert "will no longer see or manage your card" in confirm
        assert Guardianship.objects.count() == 1  # asking changes nothing
        parent.post(f"/family/{person_ref(holder)}/remove/")
    assert not Guardianship.objects.exists()


def test_a_sixth_family_member_is_refused(resident_client, holder, registered):
    for n in range(5):
        resident_client.post(
            "/apply/",
            child_form(registered, birth=datetime.date(2015 + n, 1, 1), form_token=f"c{n}"),
        )
    assert Guardianship.objects.filter(guardian=holder).count() == 5
    response = resident_client.post("/apply/", child_form(registered, form_token="c6"))
    assert "at most 5 family members" in response.content.decode()
    assert Guardianship.objects.filter(guardian=holder).count() == 5


def test_a_third_manager_is_refused(holder, registered, make_card, hospital):
    child = make_card(
        name="王小明", id_number=make_id_number(birth=datetime.date(2018, 1, 1)), phone=PHONE
    ).person
    for _n in range(2):
        other = make_card(name="赵六", id_number=make_id_number()).person
        applications.link_family(other, child, "child", by=None)
    with pytest.raises(applications.ApplicationError) as refused:
        applications.link_family(holder, child, "child", by=None)
    assert refused.value.code == "managers_full"


def test_a_counter_card_of_a_child_is_linked_when_the_guardian_phone_is_on_file(
    resident_client, holder, make_card
):
    number = make_id_number(birth=datetime.date(2018, 1, 1))
    make_card(name="王小明", id_number=number, phone=PHONE)
    resident_client.post("/apply/", form(number, name="王小明", relation="child"))
    assert Guardianship.objects.filter(guardian=holder, dependant__name="王小明").exists()


def test_stop_managing_a_family_members_card(resident_client, holder, registered):
    resident_client.post("/apply/", child_form(registered))
    child = Guardianship.objects.get().dependant
    resident_client.post(f"/family/{person_ref(child)}/remove/")
    assert not Guardianship.objects.exists()
    assert resident_client.post(f"/family/{person_ref(child)}/remove/").status_code == 404


def test_a_third_manager_is_refused_in_the_form(resident_client, holder, make_card):
    number = make_id_number(birth=datetime.date(2018, 1, 1))
    child = make_card(name="王小明", id_number=number, phone=PHONE).person
    for _n in range(2):
        other = make_card(name="赵六", id_number=make_id_number()).person
        applications.link_family(other, child, "child", by=None)
    response = resident_client.post("/apply/", form(number, name="王小明", relation="child"))
    assert "already managed by 2 accounts" in response.content.decode()
    assert Application.objects.get(relation="child").status == ApplicationStatus.REJECTED
    assert not Guardianship.objects.filter(guardian=holder).exists()
