"""healthcard.usage without HTTP: idempotency, including the insert race."""

import datetime
import uuid

import pytest
from django.utils import timezone

from healthcard import codes, usage
from healthcard.models import UsageEvent


def make_scan(code, **extra):
    return usage.Scan(
        uuid=extra.pop("uuid", uuid.uuid4()),
        code=code,
        care_step="010101",
        channel="01",
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
        {"channel": "02"},
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


def test_check_scan_time():
    now = timezone.now()
    assert usage.check_scan_time(now, now) == ""
    assert usage.check_scan_time(now + datetime.timedelta(minutes=4), now) == ""
    assert usage.check_scan_time(now + datetime.timedelta(minutes=6), now) == "future"
    assert usage.check_scan_time(now - datetime.timedelta(days=89), now) == ""
    assert usage.check_scan_time(now - datetime.timedelta(days=91), now) == "too_old"
