"""The revocation list: entries from card changes, cursor paging, and offline sync."""

import pytest
from django.db import transaction

import ehccode
from healthcard import cards, codes, revocations
from healthcard.models import CardStatus, RevocationEntry
from healthcard.revocations import BadCursor, revocations_since


def test_freeze_unfreeze_cancel_and_replace_append_entries(card, supervisor):
    cards.set_status(card, CardStatus.FROZEN, by=supervisor, reason="x")
    cards.set_status(card, CardStatus.ACTIVE, by=supervisor, reason="x")
    card = cards.replace_card(card, by=supervisor, reason="lost")
    cards.set_status(card, CardStatus.CANCELLED, by=supervisor, reason="x")
    entries = revocations_since(None)["entries"]
    assert [(e["kind"], e["issue_seq"]) for e in entries] == [
        ("frozen", None),
        ("unfrozen", None),
        ("superseded", 2),
        ("cancelled", None),
    ]
    assert [e["seq"] for e in entries] == [1, 2, 3, 4]
    assert {e["ref"] for e in entries} == {ehccode.card_ref(card.ehc_id)}


def test_entries_never_carry_the_ehc_id(card, supervisor):
    cards.set_status(card, CardStatus.FROZEN, by=supervisor, reason="x")
    page = revocations_since(None)
    assert card.ehc_id not in str(page)
    assert card.ehc_id.lower() not in str(page)


def test_frozen_to_cancelled_is_one_cancelled_entry(card, supervisor):
    cards.set_status(card, CardStatus.FROZEN, by=supervisor, reason="x")
    cards.set_status(card, CardStatus.CANCELLED, by=supervisor, reason="x")
    assert [e["kind"] for e in revocations_since(None)["entries"]] == ["frozen", "cancelled"]


def test_refused_status_change_appends_nothing(card, supervisor):
    cards.set_status(card, CardStatus.CANCELLED, by=supervisor, reason="x")
    with pytest.raises(cards.CardError):
        cards.set_status(card, CardStatus.ACTIVE, by=supervisor, reason="x")
    with pytest.raises(cards.CardError):
        cards.replace_card(card, by=supervisor, reason="x")
    assert RevocationEntry.objects.count() == 1


def test_entry_is_rolled_back_with_the_card_change(card, supervisor):
    with pytest.raises(RuntimeError), transaction.atomic():
        cards.set_status(card, CardStatus.FROZEN, by=supervisor, reason="x")
        raise RuntimeError
    assert RevocationEntry.objects.count() == 0
    card.refresh_from_db()
    assert card.status == CardStatus.ACTIVE


def test_cursor_pages_through_entries_and_stays_put_when_nothing_is_new(make_card, supervisor):
    for _ in range(5):
        cards.set_status(make_card(), CardStatus.FROZEN, by=supervisor, reason="x")
    first = revocations_since(None, limit=2)
    assert [e["seq"] for e in first["entries"]] == [1, 2] and first["more"] is True
    second = revocations_since(first["cursor"], limit=2)
    assert [e["seq"] for e in second["entries"]] == [3, 4] and second["more"] is True
    third = revocations_since(second["cursor"], limit=2)
    assert [e["seq"] for e in third["entries"]] == [5] and third["more"] is False
    idle = revocations_since(third["cursor"])
    assert idle["entries"] == [] and idle["cursor"] == third["cursor"] and not idle["more"]


def test_empty_list(db):
    page = revocations_since(None)
    assert page == {"format": "ehc-revocations/1", "entries": [], "cursor": "c0", "more": False}
    assert revocations_since("")["cursor"] == "c0"


@pytest.mark.parametrize("cursor", ["x", "c", "c-1", "c01", "1", "c1.5", " c1", "c" + "9" * 30, 5])
def test_bad_cursor_is_refused(db, cursor):
    with pytest.raises(BadCursor):
        revocations_since(cursor)


def test_limit_is_clamped(make_card, supervisor):
    for _ in range(3):
        cards.set_status(make_card(), CardStatus.FROZEN, by=supervisor, reason="x")
    assert len(revocations_since(None, limit=0)["entries"]) == 1
    assert len(revocations_since(None, limit=10**9)["entries"]) == 3


def test_append_refuses_inconsistent_entries(card):
    with pytest.raises(ValueError):
        revocations.append(card, "deleted")
    with pytest.raises(ValueError):
        revocations.append(card, "superseded")
    with pytest.raises(ValueError):
        revocations.append(card, "frozen", issue_seq=2)


def test_offline_terminal_rejects_old_paper_after_the_next_sync(card, clerk):
    old = codes.static_code(card)
    key_set = codes.public_key_set()
    saved = ehccode.merge_revocation_pages(None, revocations_since(None))
    assert ehccode.verify_offline(old, key_set, saved).ok
    card = cards.replace_card(card, by=clerk, reason="lost")
    # Before syncing, the terminal still accepts the old paper (documented behaviour).
    assert ehccode.verify_offline(old, key_set, saved).ok
    saved = ehccode.merge_revocation_pages(saved, revocations_since(saved["cursor"]))
    result = ehccode.verify_offline(old, key_set, saved)
    assert result.reason == "superseded" and result.card is None
    assert ehccode.verify_offline(codes.static_code(card), key_set, saved).ok


def test_offline_terminal_learns_freeze_and_unfreeze(card, supervisor):
    text = codes.static_code(card)
    key_set = codes.public_key_set()
    cards.set_status(card, CardStatus.FROZEN, by=supervisor, reason="x")
    saved = ehccode.merge_revocation_pages(None, revocations_since(None))
    assert ehccode.verify_offline(text, key_set, saved).reason == "card_frozen"
    cards.set_status(card, CardStatus.ACTIVE, by=supervisor, reason="x")
    saved = ehccode.merge_revocation_pages(saved, revocations_since(saved["cursor"]))
    assert ehccode.verify_offline(text, key_set, saved).ok


@pytest.mark.django_db(transaction=True)
def test_an_entry_committed_late_is_not_overtaken_by_a_later_one(make_card):
    """While one transaction holds an appended entry uncommitted, no later entry can
    become visible (the counter lock makes numbering follow commit order), so a
    terminal's cursor never skips an entry."""
    import threading

    from django.db import connection

    from .conftest import service_unavailable

    if connection.vendor != "postgresql":
        service_unavailable("commit-order numbering needs PostgreSQL (DATABASE_URL)")
    first, second = make_card(), make_card()
    appended, release = threading.Event(), threading.Event()
    seqs = {}

    def slow():
        try:
            with transaction.atomic():
                seqs["slow"] = revocations.append(first, "frozen").seq
                appended.set()
                release.wait(30)
        finally:
            connection.close()

    def fast():
        try:
            seqs["fast"] = revocations.append(second, "frozen").seq
        finally:
            connection.close()

    slow_thread = threading.Thread(target=slow)
    slow_thread.start()
    appended.wait(30)
    fast_thread = threading.Thread(target=fast)
    fast_thread.start()
    fast_thread.join(0.5)  # give it a chance to (wrongly) commit first
    visible = revocations_since(None)["entries"]
    release.set()
    slow_thread.join()
    fast_thread.join()
    assert visible == []
    assert seqs == {"slow": 1, "fast": 2}
    assert [e["seq"] for e in revocations_since(None)["entries"]] == [1, 2]
