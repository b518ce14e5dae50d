"""healthcard.people: who may register, change, link and reveal whom (issue 8)."""

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from healthcard import people
from healthcard.errors import NotAllowed
from healthcard.models import AuditRecord, Guardianship, Relation
from tests.conftest import make_id_number


def data(**extra):
    return people.PersonData(
        name=extra.pop("name", "赵六"), id_type="01", id_number=make_id_number(), **extra
    )


@pytest.fixture
def stranger(make_card):
    """A resident account holding another person's card."""
    user = get_user_model().objects.create_user("stranger")
    other = make_card(name="李四")
    other.person.user = user
    other.person.save(update_fields=["user"])
    return user


@pytest.fixture
def family(card, make_card):
    child = make_card(name="张小小").person
    return people.add_dependant(card.person, child, Relation.CHILD)


# --- register_person --------------------------------------------------------------------
def test_staff_register_for_their_own_institution(clerk, hospital):
    person = people.register_person(data(), by=clerk, institution=hospital)
    assert person.registered_by == hospital
    assert AuditRecord.objects.filter(action="person.register", actor=f"user:{clerk.pk}").exists()


@pytest.mark.parametrize("where", ["other_hospital", None])
def test_staff_cannot_register_for_another_institution(clerk, other_hospital, where):
    institution = other_hospital if where else None
    with pytest.raises(NotAllowed):
        people.register_person(data(), by=clerk, institution=institution)


# --- change_person ----------------------------------------------------------------------
def test_a_supervisor_changes_the_phone_and_it_is_audited_by_field_name(supervisor, card):
    person, changed = people.change_person(
        card.person, by=supervisor, phone="13900139000", ip="10.1.1.1"
    )
    assert changed == ["phone"] and person.phone == "13900139000"
    rec = AuditRecord.objects.get(action="person.change")
    assert rec.details == {"fields": ["phone"]}
    assert "13900139000" not in str(rec.details)


def test_an_unchanged_value_changes_nothing(supervisor, card):
    assert people.change_person(card.person, by=supervisor, phone=card.person.phone)[1] == []
    assert not AuditRecord.objects.filter(action="person.change").exists()


def test_a_clerk_without_change_permission_is_refused(clerk, card):
    with pytest.raises(NotAllowed) as exc:
        people.change_person(card.person, by=clerk, phone="13900139000")
    assert exc.value.code == "forbidden"


def test_staff_of_another_institution_do_not_find_the_person(outsider, card):
    with pytest.raises(NotAllowed) as exc:
        people.change_person(card.person, by=outsider, address="长沙市")
    assert (exc.value.code, exc.value.http_status) == ("not_found", 404)


def test_a_terminal_changes_no_one(terminal, card):
    with pytest.raises(NotAllowed):
        people.change_person(card.person, by=terminal.terminal, phone="13900139000")


def test_a_resident_changes_their_own_details_but_not_anothers(resident, stranger, card):
    people.change_person(card.person, by=resident, address="长沙市岳麓区")
    with pytest.raises(NotAllowed):
        people.change_person(card.person, by=stranger, address="别处")
    card.person.refresh_from_db()
    assert card.person.address == "长沙市岳麓区"


def test_the_identity_and_name_are_not_changeable(supervisor, card):
    with pytest.raises(people.PersonError) as exc:
        people.change_person(card.person, by=supervisor, name="李四")
    assert exc.value.code == "not_changeable"


def test_an_invalid_phone_is_refused_on_its_field(supervisor, card):
    with pytest.raises(ValidationError) as exc:
        people.change_person(card.person, by=supervisor, phone="12345")
    assert "phone" in exc.value.message_dict


# --- family links -----------------------------------------------------------------------
def test_changing_the_relation_of_a_link_is_audited(family):
    people.add_dependant(family.guardian, family.dependant, Relation.OTHER)
    family.refresh_from_db()
    assert family.relation == Relation.OTHER
    rec = AuditRecord.objects.get(action="family.change")
    assert rec.details == {"relation": "other", "old": "child"}


def test_a_resident_adds_family_only_to_their_own_person(resident, stranger, card, make_card):
    newborn = make_card(name="张宝宝").person
    people.add_dependant(card.person, newborn, Relation.CHILD, by=resident)
    with pytest.raises(NotAllowed):
        people.add_dependant(card.person, make_card(name="王二").person, "child", by=stranger)


def test_the_guardian_and_the_dependant_may_end_a_link(family, resident):
    people.remove_dependant(family, by=resident)
    assert not Guardianship.objects.exists()
    assert AuditRecord.objects.filter(action="family.remove").count() == 1


def test_another_resident_cannot_end_a_link(family, stranger):
    with pytest.raises(NotAllowed) as exc:
        people.remove_dependant(family, by=stranger)
    assert exc.value.code == "not_found"
    assert Guardianship.objects.exists()


def test_staff_of_another_institution_cannot_end_a_link(family, outsider):
    with pytest.raises(NotAllowed):
        people.remove_dependant(family, by=outsider)
    assert Guardianship.objects.exists()


def test_a_terminal_cannot_end_a_link(family, terminal):
    with pytest.raises(NotAllowed):
        people.remove_dependant(family, by=terminal.terminal)
    assert not AuditRecord.objects.filter(action="family.remove").exists()


def test_staff_without_the_family_permission_cannot_end_a_link(family, hospital):
    from django.contrib.auth.models import Permission

    from healthcard.models import Role
    from healthcard.roles import assign_role

    user = get_user_model().objects.create_user("viewer")
    assign_role(user, hospital, Role.CLERK)
    user.groups.clear()
    user.user_permissions.add(Permission.objects.get(codename="view_person"))
    with pytest.raises(NotAllowed):
        people.remove_dependant(family, by=get_user_model().objects.get(pk=user.pk))


# --- reveal_person ----------------------------------------------------------------------
def test_a_supervisor_with_a_reason_sees_the_full_identity_once_audited(supervisor, card):
    identity = people.reveal_person(
        card.person, by=supervisor, via="admin", reason="  patient at the counter "
    )
    assert (identity.name, identity.id_number) == (card.person.name, card.person.id_number)
    assert identity.phone == "13800138000"
    rec = AuditRecord.objects.get(action="identity.reveal")
    assert rec.actor == f"user:{supervisor.pk}"
    assert (rec.object_type, rec.object_id) == ("person", str(card.person.pk))
    assert rec.details == {"via": "admin", "reason": "patient at the counter"}


def test_staff_must_give_a_reason(supervisor, card):
    with pytest.raises(people.PersonError) as exc:
        people.reveal_person(card.person, by=supervisor, via="admin", reason="  ")
    assert exc.value.code == "reason_required"
    assert not AuditRecord.objects.filter(action="identity.reveal").exists()


def test_a_clerk_without_the_reveal_permission_is_refused(clerk, card):
    with pytest.raises(NotAllowed) as exc:
        people.reveal_person(card.person, by=clerk, via="admin", reason="curious")
    assert exc.value.code == "forbidden"
    assert not AuditRecord.objects.filter(action="identity.reveal").exists()


def test_a_supervisor_of_another_institution_does_not_find_the_person(outsider, card):
    with pytest.raises(NotAllowed) as exc:
        people.reveal_person(card.person, by=outsider, via="admin", reason="curious")
    assert exc.value.code == "not_found"


def test_a_terminal_needs_the_reveal_identity_scope(make_terminal, hospital, card):
    masked = make_terminal(hospital, scopes=["verify"], name="masked")
    with pytest.raises(NotAllowed) as exc:
        people.reveal_person(card.person, by=masked.terminal, via="api.verify")
    assert exc.value.code == "missing_scope"


def test_a_resident_sees_their_own_identity_and_no_one_elses(resident, stranger, card):
    assert people.reveal_person(card.person, by=resident, via="portal").name == card.person.name
    with pytest.raises(NotAllowed):
        people.reveal_person(card.person, by=stranger, via="portal")
    assert AuditRecord.objects.filter(action="identity.reveal").count() == 1
