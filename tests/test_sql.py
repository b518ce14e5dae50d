"""healthcard.sql, the hot path's plain SQL, against the ORM reference it replaces.
On SQLite the functions are that ORM call; run with DATABASE_URL (PostgreSQL) to
compare the SQL itself."""

import datetime
import threading
import uuid

import pytest
from django.db import IntegrityError, connection, connections, transaction
from django.db.models import Q
from django.utils import timezone

from healthcard import audit, links, sql
from healthcard.models import (
    AuditChainHead,
    AuditRecord,
    Card,
    CardLink,
    LinkKind,
    Terminal,
    UsageEvent,
)

pytestmark = pytest.mark.postgres


def values(obj):
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


def test_terminal_by_prefix_matches_the_orm(terminal):
    t = terminal.terminal
    reference = Terminal.objects.select_related("institution").get(token_prefix=t.token_prefix)
    found = sql.terminal_by_prefix(t.token_prefix)
    assert values(found) == values(reference)
    assert values(found.institution) == values(reference.institution)
    assert found._state.adding is False
    assert sql.terminal_by_prefix("nosuchprefix") is None


def test_card_by_ehc_id_matches_the_orm_decrypted_person_included(card):
    reference = Card.objects.select_related("person").get(ehc_id=card.ehc_id)
    found = sql.card_by_ehc_id(card.ehc_id)
    assert values(found) == values(reference)
    assert values(found.person) == values(reference.person)
    assert found.person.id_number == reference.person.id_number  # the decrypted value
    assert sql.card_by_ehc_id("0" * 64) is None


def test_timestamps_are_the_orms_in_the_same_zone(card):
    """psycopg's timestamptz loader (sql._PreparingCursor) against Django's: the same
    instant, microseconds included, and the same tzinfo object."""
    Card.objects.filter(pk=card.pk).update(
        issued_at=datetime.datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=datetime.UTC)
    )
    reference = Card.objects.select_related("person").get(pk=card.pk)
    found = sql.card_by_ehc_id(card.ehc_id)
    for name in ("issued_at", "updated_at"):
        assert getattr(found, name) == getattr(reference, name)
        assert getattr(found, name).tzinfo is getattr(reference, name).tzinfo
    assert found.issued_at.microsecond == 999999
    assert found.person.created_at.tzinfo is reference.person.created_at.tzinfo


def test_visible_links_match_the_orm(card, hospital, other_hospital, clerk):
    links.link(card, LinkKind.LOCAL_PATIENT, "P-1", institution=hospital, by=clerk)
    links.link(card, LinkKind.LOCAL_PATIENT, "P-2", institution=other_hospital, by=clerk)
    links.link(card, LinkKind.MEDICAL_INSURANCE, "H43010200001", institution=hospital, by=clerk)
    reference = CardLink.objects.filter(
        Q(institution__isnull=True) | Q(kind=LinkKind.LOCAL_PATIENT, institution=hospital),
        card=card,
    )
    found = sql.visible_links(card.pk, hospital.pk)
    key = lambda link: link.pk  # noqa: E731
    assert [values(x) for x in sorted(found, key=key)] == [
        values(x) for x in sorted(reference, key=key)
    ]
    assert {link.kind for link in found} == {LinkKind.LOCAL_PATIENT, LinkKind.MEDICAL_INSURANCE}


def test_card_with_its_links_matches_the_card_and_visible_links(
    card, hospital, other_hospital, clerk
):
    found = sql.card_by_ehc_id(card.ehc_id, links_for=hospital.pk)
    assert values(found) == values(sql.card_by_ehc_id(card.ehc_id))
    assert found.prefetched_links == (hospital.pk, [])  # no link yet
    links.link(card, LinkKind.LOCAL_PATIENT, "P-1", institution=hospital, by=clerk)
    links.link(card, LinkKind.LOCAL_PATIENT, "P-2", institution=other_hospital, by=clerk)
    links.link(card, LinkKind.MEDICAL_INSURANCE, "H43010200001", institution=hospital, by=clerk)
    for institution in (hospital, other_hospital):
        found = sql.card_by_ehc_id(card.ehc_id, links_for=institution.pk)
        assert values(found) == values(Card.objects.get(pk=card.pk))
        assert values(found.person) == values(Card.objects.get(pk=card.pk).person)
        assert found.prefetched_links[0] == institution.pk
        reference = sql.visible_links(card.pk, institution.pk)
        key = lambda link: link.pk  # noqa: E731
        assert [values(x) for x in sorted(found.prefetched_links[1], key=key)] == [
            values(x) for x in sorted(reference, key=key)
        ]
        assert links.links_for(found, institution).keys() == {
            LinkKind.LOCAL_PATIENT,
            LinkKind.MEDICAL_INSURANCE,
        }
    assert sql.card_by_ehc_id("0" * 64, links_for=hospital.pk) is None


def a_usage_event(terminal, card, now, **extra):
    return UsageEvent(
        uuid=uuid.uuid4(),
        terminal=terminal.terminal,
        institution_id=terminal.terminal.institution_id,
        card=card,
        scanned_at=now,
        care_step="010101",
        terminal_kind="01",
        result="ok",
        code_kind="static",
        fingerprint="f" * 64,
        **extra,
    )


def test_insert_stores_what_save_stores(terminal, card):
    now = timezone.now()

    def event():
        return a_usage_event(terminal, card, now)

    saved, inserted = event(), event()
    saved.save()
    sql.insert(inserted)
    assert inserted.pk is not None and inserted._state.adding is False
    a = values(UsageEvent.objects.get(pk=saved.pk))
    b = values(UsageEvent.objects.get(pk=inserted.pk))
    for row in (a, b):
        row.pop("id"), row.pop("uuid"), row.pop("received_at")
    assert a == b
    assert inserted.received_at is not None  # auto_now_add, as save() sets it

    # The same terminal and event UUID again: Django's IntegrityError, as from save(),
    # inside atomic() the transaction marked for rollback, nothing written.
    again = event()
    again.uuid = inserted.uuid
    again.scanned_at = inserted.scanned_at
    with pytest.raises(IntegrityError), transaction.atomic():
        sql.insert(again)
    assert again.pk is None
    assert UsageEvent.objects.filter(uuid=inserted.uuid).count() == 1


def test_execute_wrappers_see_the_statements(card):
    seen = []

    def wrapper(execute, statement, params, many, context):
        seen.append(statement)
        return execute(statement, params, many, context)

    with connection.execute_wrapper(wrapper):
        assert sql.card_by_ehc_id(card.ehc_id).pk == card.pk
    assert seen and "healthcard_card" in seen[0]


def test_audit_records_written_through_sql_verify(db):
    for n in range(5):
        audit.record("test.sql", n=n, ip="2001:DB8::1")
    assert audit.verify() == (5, None)
    assert AuditRecord.objects.filter(action="test.sql").count() == 5
    assert AuditRecord.objects.first().details["n"] in range(5)


def test_lock_free_audit_head_returns_a_head_below_the_limit(db):

    AuditChainHead.objects.bulk_create([AuditChainHead(partition=p) for p in range(4)])
    with transaction.atomic():
        head = sql.lock_free_audit_head(2)
    assert head.partition in (0, 1)
    assert values(head) == values(AuditChainHead.objects.get(pk=head.pk))


def test_append_audit_stores_the_record_and_moves_the_head_as_save_does(db):

    from healthcard.audit import GENESIS

    AuditChainHead.objects.bulk_create([AuditChainHead(partition=p) for p in range(2)])
    heads = list(AuditChainHead.objects.order_by("partition"))

    def record(head):
        return AuditRecord(
            partition=head.partition,
            seq=head.seq + 1,
            at=timezone.now(),
            actor="system",
            action="test.append",
            details={"n": 1},
            prev_hash=head.hash,
            hash="a" * 64,
        )

    with transaction.atomic():
        by_sql = record(heads[0])
        sql.append_audit(by_sql, heads[0])
        by_orm = record(heads[1])
        by_orm.save()
        heads[1].seq, heads[1].hash = by_orm.seq, by_orm.hash
        heads[1].save(update_fields=["seq", "hash"])
    assert by_sql.pk is not None and by_sql._state.adding is False
    a, b = (values(AuditRecord.objects.get(pk=r.pk)) for r in (by_sql, by_orm))
    for row in (a, b):
        row.pop("id"), row.pop("partition"), row.pop("at")
    assert a == b
    stored = [values(h) for h in AuditChainHead.objects.order_by("partition")]
    assert [(h["seq"], h["hash"]) for h in stored] == [(1, "a" * 64)] * 2
    assert heads[0].seq == 1 and heads[0].hash == "a" * 64 != GENESIS


def test_append_audit_to_a_missing_head_writes_nothing(db):

    head = AuditChainHead(pk=32_000, partition=0)  # no such head (a smallint key)
    rec = AuditRecord(
        partition=0, seq=1, at=timezone.now(), action="test.gone", prev_hash="0" * 64, hash="b" * 64
    )
    with pytest.raises(AuditChainHead.DoesNotExist), transaction.atomic():
        sql.append_audit(rec, head)
    assert not AuditRecord.objects.filter(action="test.gone").exists()


def _prepared_count() -> int:

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements")
        return cursor.fetchone()[0]


def test_prepared_statements_survive_a_rollback(card):

    with transaction.atomic():
        assert sql.card_by_ehc_id(card.ehc_id).pk == card.pk  # first use: prepared
        transaction.set_rollback(True)
    assert sql.card_by_ehc_id(card.ehc_id).pk == card.pk  # still prepared
    if connection.vendor == "postgresql":
        assert _prepared_count() >= 1


@pytest.mark.django_db(transaction=True)
def test_a_new_connection_prepares_its_statements_again(card):

    assert sql.card_by_ehc_id(card.ehc_id).pk == card.pk
    connection.close()  # as after CONN_MAX_AGE, or a lost server
    assert sql.card_by_ehc_id(card.ehc_id).pk == card.pk
    if connection.vendor == "postgresql":
        assert _prepared_count() >= 1


def test_one_cursor_serves_the_connections_statements_even_after_a_failed_one(terminal, card):
    if connection.vendor != "postgresql":
        pytest.skip("the plain-SQL path runs on PostgreSQL")
    sql.card_by_ehc_id(card.ehc_id)
    cursor = sql._cursor(connections["default"])
    event = a_usage_event(terminal, card, timezone.now())
    sql.insert(event)
    duplicate = a_usage_event(terminal, card, event.scanned_at)
    duplicate.uuid = event.uuid
    with pytest.raises(IntegrityError), transaction.atomic():
        sql.insert(duplicate)
    assert sql.card_by_ehc_id(card.ehc_id).pk == card.pk  # the same cursor, usable
    assert sql._cursor(connections["default"]) is cursor


@pytest.mark.django_db(transaction=True)
def test_a_new_connection_and_another_thread_get_cursors_of_their_own(card):
    if connection.vendor != "postgresql":
        pytest.skip("the plain-SQL path runs on PostgreSQL")
    sql.card_by_ehc_id(card.ehc_id)
    first = sql._cursor(connections["default"])
    connection.close()  # as after CONN_MAX_AGE, or a lost server
    assert sql.card_by_ehc_id(card.ehc_id).pk == card.pk
    second = sql._cursor(connections["default"])
    assert second is not first and second.connection is connections["default"].connection

    found = {}

    def elsewhere():
        try:
            found["pk"] = sql.card_by_ehc_id(card.ehc_id).pk
            found["cursor"] = sql._cursor(connections["default"])
        finally:
            connections["default"].close()

    thread = threading.Thread(target=elsewhere)
    thread.start()
    thread.join()
    assert found["pk"] == card.pk
    assert found["cursor"] is not second and found["cursor"].connection is not second.connection


@pytest.mark.django_db(transaction=True)
def test_without_prepared_statements_the_same_rows_come_back(card, settings):

    connection.close()  # a connection with nothing prepared yet
    settings.HEALTHCARD_DB_PREPARED_STATEMENTS = False
    plain = sql.card_by_ehc_id(card.ehc_id, links_for=card.institution_id)
    if connection.vendor == "postgresql":
        assert _prepared_count() == 0  # nothing prepared with the setting off
    settings.HEALTHCARD_DB_PREPARED_STATEMENTS = True
    prepared = sql.card_by_ehc_id(card.ehc_id, links_for=card.institution_id)
    assert values(plain) == values(prepared)
    assert plain.prefetched_links[0] == prepared.prefetched_links[0]
    if connection.vendor == "postgresql":
        assert _prepared_count() == 1


def test_while_django_logs_queries_they_are_logged_with_the_same_rows(
    card, django_assert_num_queries
):

    fast = sql.card_by_ehc_id(card.ehc_id, links_for=card.institution_id)
    one_statement = connection.vendor == "postgresql"  # the ORM's: card, then links
    with django_assert_num_queries(1 if one_statement else 2) as captured:
        logged = sql.card_by_ehc_id(card.ehc_id, links_for=card.institution_id)
    assert card.ehc_id in captured.captured_queries[0]["sql"]
    assert values(logged) == values(fast)
    assert values(logged.person) == values(fast.person)
    assert logged.prefetched_links == fast.prefetched_links


def test_append_audit_at_free_head_stores_what_the_transactional_path_stores(terminal, card):
    """The one statement against audit.record's other path (the ORM reference): the
    same record, chained and hashed the same, and the same event as save()."""
    now = timezone.now()

    def event():
        return a_usage_event(terminal, card, now, department='心内科 "二"')

    def record():
        return AuditRecord(
            at=now, actor="terminal:1", action="test.one", ip="10.0.0.1", details={"n": "二"}
        )

    heads = [AuditChainHead(partition=p) for p in range(2)]
    AuditChainHead.objects.bulk_create(heads, ignore_conflicts=True)  # the card made some
    before = {h.partition: h for h in AuditChainHead.objects.filter(partition__lt=2)}
    written = sql.append_audit_at_free_head(
        fast := record(), audit._canonical_parts(fast), 2, also := event()
    )
    if connection.vendor != "postgresql":
        assert written is False and fast.pk is None and also.pk is None  # the ORM path
        return
    assert written and fast.pk is not None and also.pk is not None
    assert fast._state.adding is False and also._state.adding is False
    old = before[fast.partition]
    assert (fast.seq, fast.prev_hash) == (old.seq + 1, old.hash)
    head = AuditChainHead.objects.get(partition=fast.partition)
    assert (head.seq, head.hash) == (fast.seq, fast.hash)
    assert fast.hash == audit._hash(AuditRecord.objects.get(pk=fast.pk))

    reference, saved = record(), event()
    saved.save()
    with transaction.atomic():
        head = AuditChainHead.objects.select_for_update().get(partition=1 - fast.partition)
        reference.partition, reference.seq = head.partition, head.seq + 1
        reference.prev_hash = head.hash
        reference.hash = audit._hash(reference)
        sql.append_audit(reference, head)
    a, b = (values(AuditRecord.objects.get(pk=r.pk)) for r in (fast, reference))
    for row in (a, b):
        for chained in ("id", "partition", "seq", "prev_hash", "hash"):
            row.pop(chained)
    assert a == b
    a, b = (values(UsageEvent.objects.get(pk=e.pk)) for e in (also, saved))
    for row in (a, b):
        row.pop("id"), row.pop("uuid"), row.pop("received_at")
    assert a == b
    assert audit.verify() == (AuditRecord.objects.count(), None)


def test_append_audit_at_free_head_writes_nothing_without_a_head(db):
    rec = AuditRecord(at=timezone.now(), action="test.none")
    assert not sql.append_audit_at_free_head(rec, audit._canonical_parts(rec), 4, None)
    assert rec.pk is None and rec.hash == ""
    assert not AuditRecord.objects.exists()


def test_append_audit_at_free_head_refuses_a_value_too_long_as_insert_does(db):
    """Typed for INSERT … SELECT without cutting a long value short: refused, as by
    save(), with nothing written."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite does not enforce column lengths")
    from django.db import DataError

    AuditChainHead.objects.create(partition=0)
    rec = AuditRecord(at=timezone.now(), action="x" * 41)
    with pytest.raises(DataError), transaction.atomic():
        sql.append_audit_at_free_head(rec, audit._canonical_parts(rec), 1, None)
    assert not AuditRecord.objects.exists()
    assert AuditChainHead.objects.get(partition=0).seq == 0
