"""PUT/DELETE /api/v1/cards/{ehc_id}/links/{kind}: one code, many cards (issue 4)."""

import pytest

from healthcard import cards, codes, links
from healthcard.models import AuditRecord, CardLink, CardStatus


def url(card_or_id, kind):
    ehc_id = getattr(card_or_id, "ehc_id", card_or_id)
    return f"/api/v1/cards/{ehc_id}/links/{kind}"


def test_linking_a_local_patient_number(terminal, card, hospital):
    response = terminal.put(url(card, "local_patient"), {"number": "MZ-0001"})
    assert response.status_code == 201
    assert response.json() == {
        "kind": "local_patient",
        "number": "MZ-0001",
        "institution": hospital.code,
        "created": True,
    }
    link = CardLink.objects.get()
    assert (link.card, link.institution, link.source_institution) == (card, hospital, hospital)
    assert link.number == "MZ-0001"


def test_number_is_encrypted_at_rest_and_absent_from_the_audit(terminal, card):
    terminal.put(url(card, "social_security"), {"number": "430102199005170011"})
    link = CardLink.objects.get()
    assert b"430102199005170011" not in bytes(link.number_enc)
    assert link.number_index == links.number_index("social_security", None, "430102199005170011")
    rec = AuditRecord.objects.get(action="card.link")
    assert "430102199005170011" not in str(rec.details)
    assert rec.details == {"kind": "social_security", "replaced": False}
    assert rec.actor == f"terminal:{terminal.terminal.pk}"


def test_putting_again_replaces_the_number(terminal, card):
    terminal.put(url(card, "local_patient"), {"number": "MZ-0001"})
    response = terminal.put(url(card, "local_patient"), {"number": "MZ-0002"})
    assert response.status_code == 200
    assert response.json()["created"] is False
    assert CardLink.objects.get().number == "MZ-0002"


def test_same_number_again_changes_nothing(terminal, card):
    terminal.put(url(card, "citizen_card"), {"number": "cs 1234 5678"})
    response = terminal.put(url(card, "citizen_card"), {"number": "CS12345678"})
    assert response.status_code == 200
    assert AuditRecord.objects.filter(action="card.link").count() == 1


def test_each_institution_has_its_own_local_number_and_sees_only_it(
    terminal, outsider_terminal, card
):
    terminal.put(url(card, "local_patient"), {"number": "XY-1"})
    outsider_terminal.put(url(card, "local_patient"), {"number": "XT-9"})
    assert CardLink.objects.count() == 2
    code = codes.static_code(card)
    ours = terminal.post("/api/v1/codes/verify", {"code": code, "care_step": "010101"})
    theirs = outsider_terminal.post("/api/v1/codes/verify", {"code": code, "care_step": "010101"})
    assert ours.json()["links"] == {"local_patient": "XY-1"}
    assert theirs.json()["links"] == {"local_patient": "XT-9"}


def test_shared_kinds_are_one_per_card(terminal, card):
    terminal.put(url(card, "medical_insurance"), {"number": "MI0000001"})
    response = terminal.put(url(card, "medical_insurance"), {"number": "MI0000002"})
    assert response.status_code == 200
    link = CardLink.objects.get()
    assert link.number == "MI0000002"
    assert link.institution is None


# --- Shared numbers: changed only by who set them (issue 8, hole 4) --------------------
SHARED = ["social_security", "medical_insurance", "citizen_card"]


@pytest.mark.parametrize("kind", SHARED)
def test_another_institution_cannot_replace_a_shared_number(
    terminal, outsider_terminal, card, kind
):
    terminal.put(url(card, kind), {"number": "SS0000001"})
    response = outsider_terminal.put(url(card, kind), {"number": "SS0000002"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "link_not_yours"
    assert CardLink.objects.get().number == "SS0000001"
    assert AuditRecord.objects.filter(action="card.link").count() == 1


@pytest.mark.parametrize("kind", SHARED)
def test_another_institution_cannot_remove_a_shared_number(terminal, outsider_terminal, card, kind):
    terminal.put(url(card, kind), {"number": "SS0000001"})
    response = outsider_terminal.delete(url(card, kind))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "link_not_yours"
    assert CardLink.objects.count() == 1
    assert not AuditRecord.objects.filter(action="card.unlink").exists()


def test_the_same_number_again_from_another_institution_changes_nothing(
    terminal, outsider_terminal, card
):
    terminal.put(url(card, "social_security"), {"number": "SS0000001"})
    response = outsider_terminal.put(url(card, "social_security"), {"number": "SS0000001"})
    assert response.status_code == 200 and response.json()["created"] is False
    assert AuditRecord.objects.filter(action="card.link").count() == 1


def test_a_shared_number_another_institution_set_first_is_audited_under_both(
    outsider_terminal, card, hospital, other_hospital
):
    """The card is `hospital`'s; the outsider sets the first number: both see it."""
    outsider_terminal.put(url(card, "citizen_card"), {"number": "CC0000001"})
    recs = AuditRecord.objects.filter(action="card.link").order_by("id")
    assert [r.institution for r in recs] == [other_hospital.code, hospital.code]
    assert recs[1].details == {
        "kind": "citizen_card",
        "replaced": False,
        "acting_institution": other_hospital.code,
    }


def test_a_change_by_the_holder_is_audited_under_the_setter_and_the_card_institution(
    outsider_terminal, card, resident, hospital, other_hospital
):
    outsider_terminal.put(url(card, "social_security"), {"number": "SS0000001"})
    AuditRecord.objects.all().delete()
    links.link(card, "social_security", "SS0000002", institution=None, by=resident)
    assert CardLink.objects.get().number == "SS0000002"
    recs = AuditRecord.objects.filter(action="card.link")
    assert {r.institution for r in recs} == {hospital.code, other_hospital.code}
    assert {r.actor for r in recs} == {f"user:{resident.pk}"}
    links.unlink(card, "social_security", institution=None, by=resident)
    assert not CardLink.objects.exists()


def test_a_province_administrator_may_change_any_shared_number(
    outsider_terminal, card, province_admin, hospital
):
    outsider_terminal.put(url(card, "medical_insurance"), {"number": "MI0000001"})
    links.link(card, "medical_insurance", "MI0000002", institution=hospital, by=province_admin)
    assert CardLink.objects.get().number == "MI0000002"


def test_staff_of_another_institution_may_not_change_a_shared_number(
    terminal, card, outsider, other_hospital
):
    from healthcard.errors import NotAllowed

    terminal.put(url(card, "medical_insurance"), {"number": "MI0000001"})
    with pytest.raises(NotAllowed):
        links.link(card, "medical_insurance", "MI0000002", institution=other_hospital, by=outsider)


def test_another_resident_may_not_change_a_shared_number(terminal, card, make_card):
    from django.contrib.auth import get_user_model

    from healthcard.errors import NotAllowed

    stranger = get_user_model().objects.create_user("stranger")
    other = make_card(name="李四")
    other.person.user = stranger
    other.person.save(update_fields=["user"])
    terminal.put(url(card, "medical_insurance"), {"number": "MI0000001"})
    with pytest.raises(NotAllowed):
        links.unlink(card, "medical_insurance", institution=None, by=stranger)
    assert CardLink.objects.count() == 1


def test_delete_unlinks(terminal, card):
    terminal.put(url(card, "local_patient"), {"number": "MZ-0001"})
    response = terminal.delete(url(card, "local_patient"))
    assert response.status_code == 204
    assert not CardLink.objects.exists()
    assert AuditRecord.objects.filter(action="card.unlink").count() == 1
    again = terminal.delete(url(card, "local_patient"))
    assert again.status_code == 404
    assert again.json()["error"]["code"] == "link_not_found"


def test_another_institution_cannot_unlink_a_local_number(terminal, outsider_terminal, card):
    terminal.put(url(card, "local_patient"), {"number": "MZ-0001"})
    assert outsider_terminal.delete(url(card, "local_patient")).status_code == 404
    assert CardLink.objects.count() == 1


def test_unknown_card_is_404(terminal, db):
    for ehc_id in ["0" * 64, "nothing", "Z" * 64]:
        response = terminal.put(url(ehc_id, "local_patient"), {"number": "1"})
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "card_not_found"
    assert terminal.delete(url("0" * 64, "citizen_card")).status_code == 404


def test_lower_case_ehc_id_finds_the_card(terminal, card):
    response = terminal.put(url(card.ehc_id.lower(), "local_patient"), {"number": "1"})
    assert response.status_code == 201


def test_unknown_kind_is_404(terminal, card):
    response = terminal.put(url(card, "passport"), {"number": "1"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_link_kind"
    assert terminal.delete(url(card, "passport")).status_code == 404


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        ("local_patient", {}),
        ("local_patient", {"number": ""}),
        ("local_patient", {"number": "含中文"}),
        ("local_patient", {"number": "x" * 41}),
        ("social_security", {"number": "12-34"}),
        ("medical_insurance", {"number": "123"}),
        ("citizen_card", {"number": None}),
        ("citizen_card", {"number": "x" * 65}),
    ],
)
def test_invalid_number_is_400(terminal, card, kind, body):
    response = terminal.put(url(card, kind), body)
    assert response.status_code == 400
    assert "number" in response.json()["error"]["fields"]
    assert not CardLink.objects.exists()


def test_linking_to_a_cancelled_card_is_409(terminal, card):
    cards.set_status(card, CardStatus.CANCELLED, by=None, reason="deceased")
    response = terminal.put(url(card, "local_patient"), {"number": "MZ-1"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "card_cancelled"


def test_linking_for_another_institution_is_403(terminal, card, other_hospital):
    response = terminal.put(
        url(card, "local_patient"), {"number": "MZ-1", "institution": other_hospital.code}
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "institution_mismatch"
    assert not CardLink.objects.exists()


def test_links_need_the_link_scope(make_terminal, hospital, card):
    verifier = make_terminal(hospital, scopes=["verify"])
    assert verifier.put(url(card, "local_patient"), {"number": "1"}).status_code == 403


def test_links_for_never_shows_another_institutions_local_number(card, hospital, other_hospital):
    links.link(card, "local_patient", "A1", institution=hospital)
    links.link(card, "local_patient", "B1", institution=other_hospital)
    links.link(card, "citizen_card", "CC123456", institution=other_hospital)
    seen = {k: v.number for k, v in links.links_for(card, hospital).items()}
    assert seen == {"local_patient": "A1", "citizen_card": "CC123456"}
