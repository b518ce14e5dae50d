"""healthcard.prepared: queries and INSERTs compiled once must behave like the ORM's."""

import uuid

import pytest
from django.db.models import signals
from django.utils import timezone

from healthcard.models import Card, CardStatus, Terminal, UsageEvent
from healthcard.prepared import PreparedInsert, PreparedQuery

CARD_BY_EHC_ID = PreparedQuery(
    lambda ehc_id: Card.objects.select_related("person").filter(ehc_id=ehc_id).order_by()[:1],
    "\x00ehc_id",
)


def test_prepared_query_returns_what_the_queryset_returns(card):
    found = CARD_BY_EHC_ID.first(card.ehc_id)
    expected = Card.objects.select_related("person").get(ehc_id=card.ehc_id)
    assert found == expected
    assert found.status == expected.status
    assert found.seq_issued_at == expected.seq_issued_at  # converters applied (aware)
    assert found.person.id_number == expected.person.id_number  # select_related populated
    assert found._state.db == "default"
    assert found._state.adding is False


def test_prepared_query_reads_the_database_on_every_call(card):
    assert CARD_BY_EHC_ID.first(card.ehc_id).status == CardStatus.ACTIVE
    Card.objects.filter(pk=card.pk).update(status=CardStatus.FROZEN)
    assert CARD_BY_EHC_ID.first(card.ehc_id).status == CardStatus.FROZEN
    assert CARD_BY_EHC_ID.first("0" * 64) is None


def test_a_placeholder_missing_from_the_sql_is_refused(db):
    query = PreparedQuery(lambda ehc_id: Card.objects.filter(ehc_id="fixed"), "\x00ehc_id")
    with pytest.raises(ValueError, match="placeholder"):
        query.first("x")


def _event(terminal: Terminal) -> UsageEvent:
    return UsageEvent(
        uuid=uuid.uuid4(),
        terminal=terminal,
        institution_id=terminal.institution_id,
        scanned_at=timezone.now(),
        care_step="010101",
        channel="01",
        result="ok",
        fingerprint="f" * 64,
    )


def test_prepared_insert_saves_like_save(terminal):
    insert = PreparedInsert(UsageEvent)
    first, second = _event(terminal.terminal), _event(terminal.terminal)
    insert.save(first)
    insert.save(second)
    assert first.pk is not None and second.pk == first.pk + 1
    assert first._state.adding is False
    stored = UsageEvent.objects.get(pk=second.pk)
    assert stored.uuid == second.uuid
    assert stored.received_at == second.received_at  # auto_now_add filled in
    assert stored.terminal_id == terminal.terminal.pk


def test_prepared_insert_leaves_rows_with_signal_listeners_to_save(terminal):
    seen = []

    def listener(sender, instance, created, **kwargs):
        seen.append(created)

    signals.post_save.connect(listener, sender=UsageEvent)
    try:
        PreparedInsert(UsageEvent).save(_event(terminal.terminal))
    finally:
        signals.post_save.disconnect(listener, sender=UsageEvent)
    assert seen == [True]
