"""healthcard.audit: the hash-chained log, its verification and `manage.py audit verify`."""

import datetime
import hashlib
import itertools
import threading
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections
from django.test import override_settings
from hypothesis import given, settings
from hypothesis import strategies as st

from healthcard import audit
from healthcard.models import AuditChainHead, AuditRecord


@pytest.fixture
def chain(db):
    """120 records over 4 chains, as varied as real ones."""
    with override_settings(HEALTHCARD_AUDIT_PARTITIONS=4):
        for i in range(120):
            audit.record(
                f"test.{i % 5}",
                actor=f"terminal:{i % 7}",
                institution="430100000001" if i % 2 else "",
                ip=["10.0.0.1", "2001:db8::1", None][i % 3],
                n=i,
                nested={"list": [1, "二", None], "ok": True},
            )
    return AuditRecord.objects.all()


def a_middle_record(partition_min_len=3) -> AuditRecord:
    for head in AuditChainHead.objects.order_by("partition"):
        if head.seq >= partition_min_len:
            return AuditRecord.objects.get(partition=head.partition, seq=2)
    raise AssertionError("no chain long enough")


def test_intact_chain_verifies_across_partitions(chain):
    checked, problem = audit.verify()
    assert problem is None
    assert checked == 120
    assert set(chain.values_list("partition", flat=True)) == {0, 1, 2, 3}
    for head in AuditChainHead.objects.all():
        last = AuditRecord.objects.get(partition=head.partition, seq=head.seq)
        assert head.hash == last.hash
        assert AuditRecord.objects.filter(partition=head.partition).count() == head.seq


def test_records_link_to_their_predecessor(chain):
    for head in AuditChainHead.objects.all():
        records = list(AuditRecord.objects.filter(partition=head.partition).order_by("seq"))
        assert records[0].prev_hash == audit.GENESIS
        for prev, rec in itertools.pairwise(records):
            assert rec.prev_hash == prev.hash


def test_empty_log_verifies(db):
    assert audit.verify() == (0, None)


def test_record_names_objects_and_actors_without_personal_data(card, clerk):
    rec = audit.record("card.reveal", actor=clerk, obj=card, institution=card.institution)
    assert rec.actor == f"user:{clerk.pk}"
    assert (rec.object_type, rec.object_id) == ("card", str(card.pk))
    assert rec.institution == card.institution.code
    assert audit.actor_label(None) == "system"
    assert audit.actor_label("terminal:9") == "terminal:9"
    assert card.person.name not in repr(rec.__dict__)


@pytest.mark.parametrize(
    ("ip", "stored"),
    [
        ("2001:DB8:0:0::1", "2001:db8::1"),
        ("10.0.0.1", "10.0.0.1"),
        ("not-an-address", None),
        ("", None),
    ],
)
def test_ip_addresses_are_hashed_as_stored(db, ip, stored):
    rec = audit.record("test.ip", ip=ip)
    rec.refresh_from_db()
    assert rec.ip == stored
    assert audit.verify()[1] is None


@pytest.mark.parametrize(
    "change",
    [
        {"details": {"n": 999}},
        {"actor": "user:1"},
        {"action": "test.other"},
        {"object_id": "42"},
        {"institution": "430300000001"},
        {"result": "refused"},
        {"ip": "10.9.9.9"},
    ],
    ids=lambda change: next(iter(change)),
)
def test_edited_record_is_detected_and_named(chain, change):
    victim = a_middle_record()
    AuditRecord.objects.filter(pk=victim.pk).update(**change)
    _checked, problem = audit.verify()
    assert problem is not None
    assert (problem.record_id, problem.partition, problem.seq) == (victim.pk, victim.partition, 2)
    assert problem.reason == "content was altered"
    assert f"record #{victim.pk}" in str(problem)


def test_edited_time_is_detected(chain):
    victim = a_middle_record()
    AuditRecord.objects.filter(pk=victim.pk).update(
        at=victim.at - datetime.timedelta(microseconds=1)
    )
    problem = audit.verify()[1]
    assert problem.record_id == victim.pk


def test_edit_with_recomputed_hash_breaks_the_next_link(chain):
    victim = a_middle_record()
    victim.details = {"n": 999}
    victim.hash = audit._hash(victim)
    AuditRecord.objects.filter(pk=victim.pk).update(details=victim.details, hash=victim.hash)
    problem = audit.verify()[1]
    following = AuditRecord.objects.get(partition=victim.partition, seq=3)
    assert problem.record_id == following.pk
    assert problem.reason == "does not link to the previous record"


def test_deleted_middle_record_is_detected(chain):
    victim = a_middle_record()
    AuditRecord.objects.filter(pk=victim.pk).delete()
    problem = audit.verify()[1]
    following = AuditRecord.objects.get(partition=victim.partition, seq=3)
    assert (problem.record_id, problem.seq) == (following.pk, 3)
    assert problem.reason == "expected seq 2: records missing"


def test_deleted_first_record_is_detected(chain):
    victim = AuditRecord.objects.get(partition=0, seq=1)
    victim.delete()
    problem = audit.verify()[1]
    assert (problem.partition, problem.seq) == (0, 2)


def test_deleted_last_record_is_detected_through_the_head(chain):
    head = AuditChainHead.objects.get(partition=2)
    AuditRecord.objects.filter(partition=2, seq=head.seq).delete()
    problem = audit.verify()[1]
    assert (problem.partition, problem.record_id) == (2, None)
    assert "records were removed from the end" in problem.reason
    assert str(problem).startswith("chain 2:")


def test_deleted_whole_chain_is_detected_through_the_head(chain):
    AuditRecord.objects.filter(partition=1).delete()
    problem = audit.verify()[1]
    assert (problem.partition, problem.record_id) == (1, None)


def test_deleted_head_is_detected(chain):
    AuditChainHead.objects.filter(partition=3).delete()
    problem = audit.verify()[1]
    assert (problem.partition, problem.reason) == (3, "the chain has no head")


def test_record_appended_behind_the_heads_back_is_detected(chain):
    head = AuditChainHead.objects.get(partition=0)
    last = AuditRecord.objects.get(partition=0, seq=head.seq)
    forged = AuditRecord(
        partition=0,
        seq=head.seq + 1,
        at=last.at,
        actor="system",
        action="test.forged",
        prev_hash=last.hash,
    )
    forged.hash = audit._hash(forged)
    forged.save()
    problem = audit.verify()[1]
    assert (problem.record_id, problem.seq) == (forged.pk, head.seq + 1)


def test_first_problem_is_reported_when_several(chain):
    first = AuditRecord.objects.get(partition=0, seq=2)
    AuditRecord.objects.filter(pk=first.pk).update(actor="x")
    AuditRecord.objects.filter(partition=3, seq=2).update(actor="x")
    assert audit.verify()[1].record_id == first.pk


def test_record_rolls_back_with_the_callers_transaction(db):
    from django.db import transaction

    with pytest.raises(RuntimeError), transaction.atomic():
        audit.record("test.rollback")
        raise RuntimeError("the audited change failed")
    assert not AuditRecord.objects.exists()
    assert AuditChainHead.objects.filter(seq__gt=0).count() == 0
    audit.record("test.after")
    assert audit.verify() == (1, None)


# --- manage.py audit verify --------------------------------------------------------------


def test_verify_command_reports_the_count_when_intact(chain):
    out = StringIO()
    call_command("audit", "verify", stdout=out)
    assert "Audit log intact: 120 records verified." in out.getvalue()


def test_verify_command_fails_and_names_the_first_broken_record(chain):
    victim = a_middle_record()
    AuditRecord.objects.filter(pk=victim.pk).update(details={})
    with pytest.raises(CommandError) as exc_info:
        call_command("audit", "verify")
    message = str(exc_info.value)
    assert f"record #{victim.pk} (chain {victim.partition}, seq 2)" in message
    assert "content was altered" in message
    assert exc_info.value.returncode == 1


def test_audit_command_needs_a_subcommand(db):
    with pytest.raises(CommandError):
        call_command("audit")


# --- concurrency (PostgreSQL) ------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_leave_every_chain_valid():
    if connection.vendor != "postgresql":
        pytest.skip("row locks and concurrent writers need PostgreSQL (DATABASE_URL)")
    threads_n, per_thread = 8, 40
    errors: list[BaseException] = []
    problems: list = []
    stop = threading.Event()

    def writer(i: int) -> None:
        try:
            for j in range(per_thread):
                audit.record("test.concurrent", actor=f"terminal:{i}", n=j)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    def verifier() -> None:
        # verify() while writers append must not report false problems
        try:
            while not stop.is_set():
                problem = audit.verify()[1]
                if problem is not None:
                    problems.append(problem)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(threads_n)]
    checker = threading.Thread(target=verifier)
    # Settings are process-wide: override once, around every thread.
    with override_settings(HEALTHCARD_AUDIT_PARTITIONS=3):
        checker.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stop.set()
        checker.join()
    assert errors == []
    assert problems == []
    checked, problem = audit.verify()
    assert problem is None
    assert checked == threads_n * per_thread
    assert AuditRecord.objects.values("partition").distinct().count() == 3


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_transactions_writing_several_records_do_not_deadlock():
    """Two transactions that each append twice must never wait for each other's head
    (T1 holds chain 0 and wants 1 while T2 holds 1 and wants 0)."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks and concurrent writers need PostgreSQL (DATABASE_URL)")
    from django.db import transaction

    rounds = 20
    barrier = threading.Barrier(2, timeout=10)
    errors: list[BaseException] = []

    def writer(i: int) -> None:
        try:
            for n in range(rounds):
                with transaction.atomic():
                    audit.record("test.first", actor=f"terminal:{i}", n=n)
                    barrier.wait()  # both now hold a chain head
                    audit.record("test.second", actor=f"terminal:{i}", n=n)
                barrier.wait()
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(2)]
    with override_settings(HEALTHCARD_AUDIT_PARTITIONS=2):
        audit.record("test.start")  # creates the chain heads, as on any running system
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    assert audit.verify() == (4 * rounds + 1, None)


# --- the hash computed by the database (PostgreSQL's one-statement append) -----------

text = st.text(st.characters(codec="utf-8"), max_size=30)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)


@given(
    fields=st.fixed_dictionaries(
        {"actor": text, "action": text, "object_type": text, "object_id": text},
    ),
    result=text,
    details=st.dictionaries(text, json_values, max_size=4),
    partition=st.integers(0, 32767),
    seq=st.integers(1, 2**63 - 1),
    prev=st.text("0123456789abcdef", min_size=64, max_size=64),
    ip=st.sampled_from(["", "10.0.0.1", "2001:db8::1"]),
)
@settings(max_examples=400, deadline=None)
def test_the_canonical_parts_joined_around_the_position_are_what_is_hashed(
    fields, result, details, partition, seq, prev, ip
):
    rec = AuditRecord(
        at=datetime.datetime(2026, 12, 3, 8, 0, 1, 5, tzinfo=datetime.UTC),
        institution="430100000001",
        ip=ip or None,
        result=result,
        details=details,
        partition=partition,
        seq=seq,
        prev_hash=prev,
        **fields,
    )
    parts = audit._canonical_parts(rec)
    joined = f"{parts[0]}{partition}{parts[1]}{prev}{parts[2]}{seq}{parts[3]}"
    assert hashlib.sha256(joined.encode("utf-8")).hexdigest() == audit._hash(rec)


AWKWARD = {
    "quote": 'say "hi" \\ back\\slash',
    "lines": "a\nb\tc\r\u2028\u2029",
    "cjk": "张三 𠮷 𡒄 ㊣",
    "emoji": "👩‍⚕️",
    "control": "\x01\x1f\x7f",
    "html": "</script><b>&amp;",
    "nested": {"z": [1, 2.5, None, True], "a": {"": "empty key"}},
}


def test_records_with_awkward_text_verify_whichever_side_hashed_them(db):
    """On PostgreSQL the database hashes the record (sql.append_audit_at_free_head):
    escapes, astral characters and nesting must come out as _hash makes them."""
    with override_settings(HEALTHCARD_AUDIT_PARTITIONS=2):
        for n in range(6):
            audit.record(
                "test.awkward",
                actor='user:"1"',
                ip="2001:DB8::1",
                result="r\u00e9fus\u00e9",
                n=n,
                **AWKWARD,
            )
    assert audit.verify() == (6, None)
    for rec in AuditRecord.objects.all():
        assert rec.hash == audit._hash(rec)
        assert rec.details["cjk"] == AWKWARD["cjk"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_with_every_head_busy_the_one_statement_writes_nothing_and_record_waits():
    """A statement that finds no free head writes nothing; record() then waits for a
    head on the transactional path and appends once it is free."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL (DATABASE_URL)")
    import psycopg
    from django.db import transaction

    from healthcard import sql

    with override_settings(HEALTHCARD_AUDIT_PARTITIONS=1):
        audit.record("test.first")  # makes the head
        params = connection.get_connection_params()
        params.pop("cursor_factory", None), params.pop("context", None)
        with psycopg.connect(**params) as other:
            other.execute("SELECT 1 FROM healthcard_auditchainhead FOR UPDATE")  # holds it
            rec = AuditRecord(at=datetime.datetime.now(datetime.UTC), action="test.busy")
            with transaction.atomic():
                assert not sql.append_audit_at_free_head(rec, audit._canonical_parts(rec), 1, None)
            assert rec.pk is None and AuditRecord.objects.count() == 1
            done = threading.Event()

            def write():
                try:
                    audit.record("test.waited")
                    done.set()
                finally:
                    connections.close_all()

            writer = threading.Thread(target=write)
            writer.start()
            assert not done.wait(0.5)  # queued behind the busy head
            other.rollback()  # the head is free
            writer.join(10)
        assert done.is_set()
    assert audit.verify() == (2, None)
    assert list(AuditRecord.objects.order_by("seq").values_list("action", flat=True)) == [
        "test.first",
        "test.waited",
    ]
