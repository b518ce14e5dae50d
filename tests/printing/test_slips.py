"""build_slip: the slip shows the card as it is now, and nothing it must not show."""

import pytest

from healthcard import cards, codes
from healthcard.models import CardStatus
from printing.slips import SlipError, build_slip, sample_slip


def test_slip_carries_a_static_code_that_verifies(card):
    slip = build_slip(card)
    result = codes.verify_code(slip.code)
    assert result.ok, result.reason
    assert result.card == card
    assert result.kind == "static"


def test_slip_shows_masked_name_grouped_ehc_id_and_issue(card):
    slip = build_slip(card)
    assert slip.title == "电子健康卡"
    assert slip.masked_name == card.person.masked_name == "张*三"
    assert "".join(slip.ehc_id_groups) == card.ehc_id
    assert all(len(group) == 4 for group in slip.ehc_id_groups)
    assert slip.institution_name == card.institution.name
    assert slip.issue_seq == 1
    assert slip.instruction


def test_slip_never_shows_the_id_number_or_full_name(card):
    slip = build_slip(card)
    everything = " ".join([*slip.texts, slip.code])
    assert card.person.id_number not in everything
    assert card.person.id_number[-6:] not in everything.replace(card.ehc_id, "")
    assert card.person.name not in everything


@pytest.mark.parametrize("status", [CardStatus.FROZEN, CardStatus.CANCELLED])
def test_inactive_card_has_no_slip(card, clerk, status):
    cards.set_status(card, status, by=None, reason="test")
    with pytest.raises(SlipError) as exc:
        build_slip(card)
    assert exc.value.reason == f"card_{status}"
    assert str(exc.value)


def test_replaced_card_gets_a_code_of_the_new_issue(card, clerk):
    old = build_slip(card)
    cards.replace_card(card, by=clerk, reason="lost")
    new = build_slip(card)  # the stale object is re-read
    assert new.issue_seq == 2
    assert codes.verify_code(new.code).ok
    assert not codes.verify_code(old.code).ok


def test_sample_slip_is_marked_as_test_and_does_not_verify(db):
    slip = sample_slip("测试医院")
    assert slip.is_test
    assert not codes.verify_code(slip.code).ok
