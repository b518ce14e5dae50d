"""healthcard.cards: registration, issuance, status transitions, replacement, family."""

import datetime
import itertools

import pytest
from django.core.exceptions import ValidationError
from django.utils.translation import override

from healthcard import audit, cards, people
from healthcard.models import (
    AuditRecord,
    Card,
    CardStatus,
    Channel,
    Guardianship,
    Key,
    Person,
    Relation,
)
from tests.conftest import make_id_number


@pytest.fixture(autouse=True)
def english():
    with override("en"):
        yield


def person_data(number=None, **extra) -> cards.PersonData:
    return cards.PersonData(
        name=extra.pop("name", "张小三"),
        id_type="01",
        id_number=number or make_id_number(),
        **extra,
    )


def counts() -> dict[str, int]:
    return {
        "people": Person.objects.count(),
        "cards": Card.objects.count(),
        "audit": AuditRecord.objects.count(),
        "links": Guardianship.objects.count(),
    }


# --- registration and issuance -----------------------------------------------------------


def test_register_and_issue_writes_person_card_and_audit(hospital, clerk):
    number = make_id_number(birth=datetime.date(1990, 5, 17), seq=123)
    card, created = cards.register_and_issue(
        person_data(number, phone="138 0013 8000", address=" 长沙市 ", nation="01"),
        channel=Channel.COUNTER,
        institution=hospital,
        by=clerk,
        ip="10.0.0.7",
    )
    assert created
    card.refresh_from_db()
    person = card.person
    assert person.id_number == number
    assert (person.sex, person.birth_date) == ("1", datetime.date(1990, 5, 17))
    assert person.phone == "13800138000"
    assert person.address == "长沙市"
    assert len(person.master_index) == 64
    assert card.status == CardStatus.ACTIVE
    assert card.issue_seq == 1
    assert card.channel == Channel.COUNTER
    assert card.institution == hospital
    assert card.issued_by == clerk
    assert len(card.ehc_id) == 64 and card.ehc_id == card.ehc_id.upper()

    issue = AuditRecord.objects.get(action="card.issue")
    assert (issue.object_type, issue.object_id) == ("card", str(card.pk))
    assert issue.actor == f"user:{clerk.pk}"
    assert issue.institution == hospital.code
    assert issue.ip == "10.0.0.7"
    assert issue.details == {"channel": "3", "issue_seq": 1}
    register = AuditRecord.objects.get(action="person.register")
    assert register.object_id == str(person.pk)
    assert audit.verify()[1] is None


def test_ehc_id_is_the_national_derivation_of_the_identity(card):
    from healthcard import keys, national

    person = card.person
    root = keys.root_key()
    assert card.ehc_id == national.derive_ehc_id(
        bytes.fromhex(person.master_index), "01", person.id_number, root
    )
    assert national.recover_identity(card.ehc_id, bytes.fromhex(person.master_index), root) == (
        "01",
        person.id_number,
    )


def test_audit_records_hold_no_personal_data(hospital, clerk):
    number = make_id_number()
    cards.register_and_issue(
        person_data(number, name="欧阳小峰", phone="13800138000"),
        channel=Channel.COUNTER,
        institution=hospital,
        by=clerk,
    )
    for rec in AuditRecord.objects.all():
        text = repr(rec.__dict__)
        for secret in (number, number[6:14], "欧阳小峰", "13800138000"):
            assert secret not in text


def test_duplicate_registration_is_refused_and_writes_nothing(card):
    before = counts()
    number = card.person.id_number
    with pytest.raises(ValidationError) as exc_info:
        people.register_person(person_data(number.lower(), name="李四"))
    assert exc_info.value.message_dict == {
        "id_number": ["A person with this identity document is already registered."]
    }
    assert counts() == before


def test_register_and_issue_returns_the_existing_card_for_a_known_identity(card, hospital):
    before = counts()
    again, created = cards.register_and_issue(
        person_data(card.person.id_number), channel=Channel.ONLINE, institution=hospital
    )
    assert (again, created) == (card, False)
    assert counts() == {**before, "audit": before["audit"] + 1}
    lookup = AuditRecord.objects.get(action="card.lookup")
    assert (lookup.object_type, lookup.object_id) == ("card", str(card.pk))
    assert lookup.institution == hospital.code


@pytest.mark.parametrize("name", ["  张小三 ", "张小三"])
def test_a_known_identity_matches_its_name_after_normalisation(card, hospital, name):
    again, created = cards.register_and_issue(
        person_data(card.person.id_number, name=name), channel=Channel.BATCH, institution=hospital
    )
    assert (again, created) == (card, False)


def test_latin_names_match_whatever_their_case(hospital, make_card):
    born = {"sex": "2", "birth_date": datetime.date(1980, 1, 2)}
    card = make_card(name="Anna Müller", id_type="03", id_number="E12345678", **born)
    again, _created = cards.register_and_issue(
        cards.PersonData(name="anna  MÜLLER", id_type="03", id_number="e12345678", **born),
        channel=Channel.INSTITUTION,
        institution=hospital,
    )
    assert again == card


@pytest.mark.parametrize("name", ["李四", "张小", "张小三三"])
def test_an_id_number_with_another_name_is_refused_and_returns_nothing(card, hospital, name):
    before = counts()
    with pytest.raises(cards.CardError) as exc_info:
        cards.register_and_issue(
            person_data(card.person.id_number, name=name),
            channel=Channel.INSTITUTION,
            institution=hospital,
        )
    assert exc_info.value.code == "identity_mismatch"
    assert card.ehc_id not in str(exc_info.value) and not exc_info.value.details
    # Nothing written but the refused lookup itself, so that probing shows.
    assert counts() == {**before, "audit": before["audit"] + 1}
    rec = AuditRecord.objects.get(action="card.lookup")
    assert (rec.result, rec.object_type, rec.object_id) == (
        "identity_mismatch",
        "person",
        str(card.person.pk),
    )
    assert name not in str(rec.details)


def test_a_registered_person_without_a_card_gets_none_under_another_name(hospital):
    number = make_id_number()
    people.register_person(person_data(number))
    with pytest.raises(cards.CardError) as exc_info:
        cards.register_and_issue(
            person_data(number, name="王五"), channel=Channel.BATCH, institution=hospital
        )
    assert exc_info.value.code == "identity_mismatch"
    assert not Card.objects.exists()


def test_register_and_issue_issues_a_card_to_a_registered_person_without_one(hospital):
    number = make_id_number()
    person = people.register_person(person_data(number))
    card, created = cards.register_and_issue(
        person_data(number), channel=Channel.BATCH, institution=hospital
    )
    assert created and card.person == person
    assert Person.objects.count() == 1


def test_invalid_person_data_is_refused_field_by_field_and_writes_nothing(hospital):
    before = counts()
    with pytest.raises(ValidationError) as exc_info:
        cards.register_and_issue(
            cards.PersonData(
                name="张\x00三",
                id_type="01",
                id_number="430102199002300012",
                phone="12345",
                nation="77",
                address="长" * 201,
            ),
            channel=Channel.COUNTER,
            institution=hospital,
        )
    assert exc_info.value.message_dict == {
        "name": ["The name contains control or invisible characters."],
        "id_number": ["The birth date 19900230 in the identity number does not exist."],
        "phone": ["Enter an 11-digit mainland mobile number."],
        "nation": ["Unknown nation code."],
        "address": ["The address is longer than 200 characters."],
    }
    assert counts() == before


def test_mismatched_sex_for_a_resident_id_is_refused(hospital):
    number = make_id_number(seq=3)  # male
    with pytest.raises(ValidationError) as exc_info:
        people.register_person(person_data(number, sex="2"))
    assert exc_info.value.message_dict == {"sex": ["The sex does not match the identity number."]}
    assert Person.objects.count() == 0


def test_issuing_a_second_card_is_refused(card, hospital):
    before = counts()
    with pytest.raises(cards.CardError) as exc_info:
        cards.issue_card(card.person, channel=Channel.COUNTER, institution=hospital)
    assert exc_info.value.code == "already_issued"
    assert exc_info.value.message == "This person already has a health card."
    assert counts() == before


def test_issuing_a_second_card_is_refused_even_when_cancelled(card, hospital, supervisor):
    cards.set_status(card, CardStatus.CANCELLED, by=supervisor, reason="deceased")
    with pytest.raises(cards.CardError) as exc_info:
        cards.issue_card(card.person, channel=Channel.COUNTER, institution=hospital)
    assert exc_info.value.code == "already_issued"


def test_a_failing_audit_record_leaves_nothing_behind(hospital, monkeypatch):
    people.register_person(person_data())  # the root key and first chains exist already
    before = counts()
    keys_before = Key.objects.count()
    real_record = audit.record

    def failing_record(action, **kwargs):
        if action == "card.issue":
            raise RuntimeError("audit store unavailable")
        return real_record(action, **kwargs)

    monkeypatch.setattr(audit, "record", failing_record)
    number = make_id_number()
    with pytest.raises(RuntimeError, match="audit store unavailable"):
        cards.register_and_issue(person_data(number), channel=Channel.COUNTER, institution=hospital)
    assert counts() == before
    assert Key.objects.count() == keys_before
    assert people.find_person("01", number) is None
    assert audit.verify()[1] is None


def test_a_failing_audit_record_on_registration_leaves_no_person(db, monkeypatch):
    def failing_record(action, **kwargs):
        raise RuntimeError("audit store unavailable")

    monkeypatch.setattr(audit, "record", failing_record)
    with pytest.raises(RuntimeError, match="audit store unavailable"):
        people.register_person(person_data())
    assert Person.objects.count() == 0


# --- status transitions ------------------------------------------------------------------

MATRIX = list(itertools.product(CardStatus.values, CardStatus.values))


@pytest.mark.parametrize(("old", "new"), MATRIX)
def test_status_transition_matrix(card, supervisor, old, new):
    Card.objects.filter(pk=card.pk).update(status=old)
    card.refresh_from_db()
    allowed = new in Card.TRANSITIONS[CardStatus(old)]
    audit_before = AuditRecord.objects.count()
    if allowed:
        updated = cards.set_status(card, new, by=supervisor, reason="  lost phone  ", ip="10.1.1.1")
        assert updated.status == new
        card.refresh_from_db()
        assert (card.status, card.status_reason) == (new, "lost phone")
        rec = AuditRecord.objects.get(action="card.status")
        assert rec.details == {"old": old, "new": new, "reason": "lost phone"}
        assert rec.actor == f"user:{supervisor.pk}"
        assert rec.object_id == str(card.pk)
        assert rec.ip == "10.1.1.1"
    else:
        with pytest.raises(cards.CardError) as exc_info:
            cards.set_status(card, new, by=supervisor, reason="lost phone")
        assert exc_info.value.code == "invalid_transition"
        card.refresh_from_db()
        assert card.status == old
        assert AuditRecord.objects.count() == audit_before


def test_the_transition_map_is_what_the_design_says():
    assert {
        CardStatus.ACTIVE: {CardStatus.FROZEN, CardStatus.CANCELLED},
        CardStatus.FROZEN: {CardStatus.ACTIVE, CardStatus.CANCELLED},
        CardStatus.CANCELLED: set(),
    } == Card.TRANSITIONS


def test_refused_transition_names_both_states(card, supervisor):
    cards.set_status(card, CardStatus.CANCELLED, by=supervisor, reason="deceased")
    with pytest.raises(cards.CardError) as exc_info:
        cards.set_status(card, CardStatus.ACTIVE, by=supervisor, reason="mistake")
    assert exc_info.value.message == "A Cancelled card cannot become Active."


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_status_change_requires_a_reason(card, supervisor, reason):
    with pytest.raises(cards.CardError) as exc_info:
        cards.set_status(card, CardStatus.FROZEN, by=supervisor, reason=reason)
    assert exc_info.value.code == "reason_required"
    card.refresh_from_db()
    assert card.status == CardStatus.ACTIVE
    assert not AuditRecord.objects.filter(action="card.status").exists()


def test_status_change_works_from_a_stale_card_object(card, supervisor):
    stale = Card.objects.get(pk=card.pk)
    cards.set_status(card, CardStatus.FROZEN, by=supervisor, reason="reported lost")
    with pytest.raises(cards.CardError):
        cards.set_status(stale, CardStatus.FROZEN, by=supervisor, reason="again")


# --- replacement -------------------------------------------------------------------------


def test_replace_card_increments_the_issue_sequence(card, clerk):
    old_issued = card.seq_issued_at
    ehc_id = card.ehc_id
    replaced = cards.replace_card(card, by=clerk, reason="lost")
    assert replaced.issue_seq == 2
    assert cards.replace_card(replaced, by=clerk, reason="lost again").issue_seq == 3
    card.refresh_from_db()
    assert card.issue_seq == 3
    assert card.seq_issued_at >= old_issued
    assert card.ehc_id == ehc_id  # the EHC ID is the person's; only the sequence moves
    recs = AuditRecord.objects.filter(action="card.replace").order_by("id")
    assert [r.details["issue_seq"] for r in recs] == [2, 3]


@pytest.mark.parametrize("status", [CardStatus.FROZEN, CardStatus.CANCELLED])
def test_replace_card_refuses_cards_that_are_not_active(card, clerk, status):
    Card.objects.filter(pk=card.pk).update(status=status)
    with pytest.raises(cards.CardError) as exc_info:
        cards.replace_card(card, by=clerk, reason="lost")
    assert exc_info.value.code == f"card_{status}"
    card.refresh_from_db()
    assert card.issue_seq == 1
    assert not AuditRecord.objects.filter(action="card.replace").exists()


# --- family ------------------------------------------------------------------------------


@pytest.mark.parametrize("relation", Relation.values)
def test_add_dependant_records_the_relation(make_card, relation):
    guardian = make_card(name="张大山").person
    dependant = make_card(name="张小山").person
    link = people.add_dependant(guardian, dependant, relation)
    assert (link.guardian, link.dependant, link.relation) == (guardian, dependant, relation)
    assert list(guardian.dependants.all()) == [link]
    rec = AuditRecord.objects.get(action="family.add")
    assert rec.details == {"relation": relation}
    assert rec.object_id == str(link.pk)


def test_add_dependant_twice_keeps_one_link(make_card):
    guardian, dependant = make_card().person, make_card().person
    first = people.add_dependant(guardian, dependant, Relation.CHILD)
    assert people.add_dependant(guardian, dependant, Relation.CHILD) == first
    assert Guardianship.objects.count() == 1
    assert AuditRecord.objects.filter(action="family.add").count() == 1


def test_add_dependant_refuses_self(card):
    before = counts()
    with pytest.raises(people.PersonError) as exc_info:
        people.add_dependant(card.person, card.person, Relation.CHILD)
    assert exc_info.value.code == "self"
    assert counts() == before


@pytest.mark.parametrize("relation", ["", "cousin", "CHILD"])
def test_add_dependant_refuses_unknown_relations(make_card, relation):
    guardian, dependant = make_card().person, make_card().person
    before = counts()
    with pytest.raises(people.PersonError) as exc_info:
        people.add_dependant(guardian, dependant, relation)
    assert exc_info.value.code == "relation"
    assert counts() == before


def test_unknown_status_is_refused_with_card_error(card, supervisor):
    with pytest.raises(cards.CardError) as exc_info:
        cards.set_status(card, "lost", by=supervisor, reason="lost")
    assert exc_info.value.code == "invalid_transition"


@pytest.mark.parametrize("channel", ["", "9", "counter"])
def test_issuing_through_an_unknown_channel_is_refused(hospital, channel):
    person = people.register_person(person_data())
    before = counts()
    with pytest.raises(cards.CardError) as exc_info:
        cards.issue_card(person, channel=channel, institution=hospital)
    assert exc_info.value.code == "channel"
    assert exc_info.value.message == "Unknown application channel."
    assert counts() == before


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_registrations_of_one_identity_return_one_card(hospital):
    """A terminal retrying a timed-out registration while the first is still running
    gets the same card, not a 'duplicate registration' error."""
    import threading

    from django.db import connection, connections

    if connection.vendor != "postgresql":
        pytest.skip("concurrent transactions need PostgreSQL (DATABASE_URL)")
    from healthcard import keys

    keys.root_key()  # made once per platform, before any traffic
    number = make_id_number(seq=777)
    threads_n = 4
    barrier = threading.Barrier(threads_n, timeout=30)
    results: list = []
    errors: list[BaseException] = []

    def register() -> None:
        try:
            barrier.wait()
            results.append(
                cards.register_and_issue(
                    person_data(number), channel=Channel.INSTITUTION, institution=hospital
                )
            )
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=register) for _ in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len({card.pk for card, _created in results}) == 1
    assert sorted(created for _card, created in results) == [False] * (threads_n - 1) + [True]
    assert Person.objects.count() == 1
    assert audit.verify()[1] is None


def test_a_terminal_registers_only_with_the_register_scope_and_for_its_institution(
    make_terminal, hospital, other_hospital
):
    from healthcard.errors import NotAllowed

    verifier = make_terminal(hospital, scopes=["verify"], name="verifier").terminal
    registrar = make_terminal(hospital, scopes=["register"], name="registrar").terminal
    with pytest.raises(NotAllowed) as exc:
        cards.register_and_issue(person_data(), channel="2", institution=hospital, by=verifier)
    assert exc.value.code == "missing_scope"
    with pytest.raises(NotAllowed) as exc:
        cards.register_and_issue(
            person_data(), channel="2", institution=other_hospital, by=registrar
        )
    assert exc.value.code == "institution_mismatch"
    assert not Person.objects.exists()
    card, created = cards.register_and_issue(
        person_data(), channel="2", institution=hospital, by=registrar
    )
    assert created and card.institution == hospital
