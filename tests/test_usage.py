"""healthcard.usage without HTTP: idempotency, including the insert race."""

import datetime
import hashlib
import json
import uuid

import pytest
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from healthcard import codes, usage
from healthcard.models import UsageEvent


def make_scan(code, **extra):
    return usage.Scan(
        uuid=extra.pop("uuid", uuid.uuid4()),
        code=code,
        care_step="010101",
        terminal_kind="01",
        scanned_at=extra.pop("scanned_at", timezone.now()),
        **extra,
    )


def test_upload_batch_reports_per_item_in_order(terminal, card):
    code = codes.static_code(card)
    scans = [make_scan(code), make_scan("nonsense")]
    results = usage.upload_batch(terminal.terminal, list(enumerate(scans)))
    assert [(r.index, r.status, r.result) for r in results] == [
        (0, "created", "ok"),
        (1, "created", "malformed"),
    ]
    assert usage.summarise(results) == {"created": 2, "duplicate": 0, "conflict": 0, "invalid": 0}


def test_upload_batch_refuses_more_than_the_limit(terminal):
    scans = [(i, make_scan("x")) for i in range(usage.MAX_BATCH + 1)]
    with pytest.raises(ValueError):
        usage.upload_batch(terminal.terminal, scans)


def test_insert_race_turns_into_duplicate_or_conflict(terminal, card):
    """Another upload stored the same UUIDs between our lookup and our insert."""
    code = codes.static_code(card)
    same, other = make_scan(code), make_scan(code)
    usage.upload_batch(terminal.terminal, [(0, same), (1, other)])
    changed = make_scan(code, uuid=other.uuid, department="急诊", scanned_at=other.scanned_at)
    fresh = make_scan(code)
    items = []
    for index, scan in enumerate([same, changed, fresh]):
        verification = codes.verify_code(scan.code)
        event = usage._event(terminal.terminal, scan, verification, offline=True)
        item = usage.ItemResult(index=index, uuid=str(scan.uuid), status="created", event=event)
        items.append((item, event))
    usage._store(items, terminal.terminal)
    assert [item.status for item, _event in items] == ["duplicate", "conflict", "created"]
    assert UsageEvent.objects.count() == 3


def test_fingerprint_covers_every_reported_field(card):
    base = make_scan("code", department="A", fee_type="0100")
    for change in [
        {"code": "other"},
        {"care_step": "010102"},
        {"terminal_kind": "02"},
        {"department": "B"},
        {"fee_type": "0200"},
        {"scanned_at": base.scanned_at + datetime.timedelta(seconds=1)},
    ]:
        changed = usage.Scan(**{**base.__dict__, **change})
        assert changed.fingerprint() != base.fingerprint(), change
    same_instant = base.scanned_at.astimezone(datetime.timezone(datetime.timedelta(hours=8)))
    assert usage.Scan(**{**base.__dict__, "scanned_at": same_instant}).fingerprint() == (
        base.fingerprint()
    )


def test_fingerprint_still_hashes_the_terminal_type_as_channel():
    """Events stored before the rename (migration 0008) hash the key "channel": a
    re-upload of one must still match, as a duplicate and not a conflict."""
    at = datetime.datetime(2026, 3, 1, 8, 30, tzinfo=datetime.UTC)
    scan = usage.Scan(code="c", care_step="010101", terminal_kind="02", scanned_at=at)
    body = (
        '{"care_step":"010101","channel":"02","code":"c","department":"",'
        '"fee_type":"","scanned_at":"2026-03-01T08:30:00+00:00"}'
    )
    assert scan.fingerprint() == hashlib.sha256(body.encode()).hexdigest()


def test_check_scan_time():
    now = timezone.now()
    assert usage.check_scan_time(now, now) == ""
    assert usage.check_scan_time(now + datetime.timedelta(minutes=4), now) == ""
    assert usage.check_scan_time(now + datetime.timedelta(minutes=6), now) == "future"
    assert usage.check_scan_time(now - datetime.timedelta(days=89), now) == ""
    assert usage.check_scan_time(now - datetime.timedelta(days=91), now) == "too_old"


# --- verify_scan and report_scans: the domain owns the transaction (issue 8) ----------
def test_verify_scan_reveals_through_people_and_audits_the_person(terminal, card):
    from healthcard.models import AuditRecord

    result = usage.verify_scan(terminal.terminal, make_scan(codes.static_code(card)), ip="10.0.0.9")
    assert result.ok and result.card == card
    assert result.identity.id_number == card.person.id_number
    assert result.identity.phone == card.person.phone
    rec = AuditRecord.objects.get(action="identity.reveal")
    assert (rec.object_type, rec.object_id) == ("person", str(card.person.pk))
    assert rec.details == {"via": "api.verify", "usage_event": str(result.event.uuid)}
    assert rec.ip == "10.0.0.9"


def test_verify_scan_without_reveal_scope_reveals_nothing(make_terminal, hospital, card):
    from healthcard.models import AuditRecord

    masked = make_terminal(hospital, scopes=["verify"], name="masked")
    result = usage.verify_scan(masked.terminal, make_scan(codes.static_code(card)))
    assert result.ok and result.identity is None
    assert UsageEvent.objects.filter(card=card).count() == 1
    assert not AuditRecord.objects.filter(action="identity.reveal").exists()


def test_verify_scan_records_no_event_when_the_reveal_cannot_be_audited(
    terminal, card, monkeypatch
):
    from healthcard import audit

    def broken(*args, **kwargs):
        raise RuntimeError("audit store down")

    monkeypatch.setattr(audit, "record", broken)
    with pytest.raises(RuntimeError):
        usage.verify_scan(terminal.terminal, make_scan(codes.static_code(card)))
    assert not UsageEvent.objects.exists()


def test_verify_scan_of_a_refused_code_records_the_attempt_and_reveals_nothing(terminal, db):
    result = usage.verify_scan(terminal.terminal, make_scan("EHC:junk"))
    assert not result.ok and result.identity is None and result.links == {}
    assert UsageEvent.objects.get().result == result.verification.reason


def test_report_scans_returns_each_items_result_and_the_summary(terminal, card):
    code = codes.static_code(card)
    now = timezone.now()
    items = [
        make_scan(code),
        usage.Invalid({"code": ["This field is required."]}, uuid="u-1"),
        make_scan(code, scanned_at=now + datetime.timedelta(hours=1)),
        make_scan(code, scanned_at=now - usage.MAX_OFFLINE_AGE - datetime.timedelta(days=1)),
    ]
    batch = usage.report_scans(terminal.terminal, items)
    assert [(r.index, r.status) for r in batch.results] == [
        (0, "created"),
        (1, "invalid"),
        (2, "invalid"),
        (3, "invalid"),
    ]
    assert batch.results[1].uuid == "u-1"
    assert "scanned_at" in batch.results[2].errors and "scanned_at" in batch.results[3].errors
    assert batch.summary == {"created": 1, "duplicate": 0, "conflict": 0, "invalid": 3}


def test_report_scans_refuses_more_than_the_limit_as_a_domain_error(terminal):
    from healthcard.errors import DomainError

    with pytest.raises(DomainError) as exc:
        usage.report_scans(terminal.terminal, [make_scan("x")] * (usage.MAX_BATCH + 1))
    assert (exc.value.code, exc.value.http_status) == ("batch_too_large", 413)


def _chain_heads():
    from healthcard.models import AuditChainHead

    return sorted(AuditChainHead.objects.values_list("partition", "seq", "hash"))


def test_a_revealing_verification_is_one_statement_after_the_card(
    terminal, card, django_assert_num_queries
):
    """On PostgreSQL the usage event, the audit record and its chain head are one
    statement (no BEGIN, no COMMIT); the reveal audits the event it was part of."""
    from django.db import connection

    from healthcard import audit
    from healthcard.models import AuditRecord

    code = codes.static_code(card)
    usage.verify_scan(terminal.terminal, make_scan(code))  # warm: heads, key state
    postgres = connection.vendor == "postgresql"
    with django_assert_num_queries(2 if postgres else 6, exact=postgres) as captured:
        result = usage.verify_scan(terminal.terminal, make_scan(code), ip="10.0.0.9")
    if postgres:
        assert "healthcard_card" in captured.captured_queries[0]["sql"]
        combined = captured.captured_queries[1]["sql"]
        assert "healthcard_usageevent" in combined and "healthcard_auditrecord" in combined
    assert result.event.pk is not None and result.identity.name == card.person.name
    rec = AuditRecord.objects.get(details__usage_event=str(result.event.uuid))
    assert rec.action == "identity.reveal" and rec.ip == "10.0.0.9"
    assert rec.actor == terminal.terminal.audit_label
    assert UsageEvent.objects.get(pk=result.event.pk).card_id == card.pk
    assert audit.verify() == (AuditRecord.objects.count(), None)


@pytest.mark.postgres
def test_a_revealing_verification_whose_event_is_refused_writes_neither(terminal, card):
    """An event the database refuses (a department longer than its column: the API
    refuses it first) leaves no audit record and no moved chain head."""
    from django.db import DataError, connection, transaction

    from healthcard.models import AuditRecord

    if connection.vendor != "postgresql":
        pytest.skip("SQLite does not enforce column lengths")
    code = codes.static_code(card)
    usage.verify_scan(terminal.terminal, make_scan(code))
    records, heads = AuditRecord.objects.count(), _chain_heads()
    with pytest.raises(DataError), transaction.atomic():  # the test's own transaction
        usage.verify_scan(terminal.terminal, make_scan(code, department="科" * 51))
    assert AuditRecord.objects.count() == records and _chain_heads() == heads
    assert UsageEvent.objects.count() == 1


def test_an_identity_that_cannot_be_decrypted_is_not_recorded_as_revealed(
    terminal, card, monkeypatch
):
    from healthcard import people, pii
    from healthcard.models import AuditRecord, Person

    person = Person.objects.get(pk=card.person_id)  # nothing decrypted yet

    def broken(*args, **kwargs):
        raise pii.DecryptionError("the data key is gone")

    monkeypatch.setattr(pii, "decrypt", broken)
    with pytest.raises(pii.DecryptionError):
        people.reveal_person(person, by=terminal.terminal, via="api.verify")
    assert not AuditRecord.objects.filter(action="identity.reveal").exists()


TEXT = st.text(st.characters(exclude_categories=["Cs"]))  # lone surrogates: refused earlier


@given(
    code=TEXT,
    department=TEXT,
    fee_type=st.text(st.characters(exclude_categories=["Cs"]), max_size=4),
    at=st.none() | st.datetimes(timezones=st.just(datetime.UTC)),
)
def test_fingerprint_is_sha256_of_the_sorted_compact_json(code, department, fee_type, at):
    """The canonical text is json.dumps' (sorted keys, no spaces, Unicode as is),
    whatever the fields hold: stored fingerprints must keep matching."""
    scan = usage.Scan(code, "010101", "01", department, fee_type, at)
    body = {
        "code": code,
        "care_step": "010101",
        "channel": "01",
        "department": department,
        "fee_type": fee_type,
        "scanned_at": at.isoformat() if at else "",
    }
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert scan.fingerprint() == hashlib.sha256(text.encode("utf-8")).hexdigest()
