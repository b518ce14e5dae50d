"""POST /api/v1/usage-events: offline scans uploaded in batches (issue 4)."""

import datetime
import uuid

import pytest
import time_machine
from django.utils import timezone

from healthcard import codes, keys
from healthcard.models import KeyPurpose, UsageEvent

URL = "/api/v1/usage-events"


def scan(code, *, at=None, **extra):
    at = at or timezone.now()  # after the code (and its signing key) was made
    return {
        "uuid": str(uuid.uuid4()),
        "code": code,
        "scanned_at": at.isoformat(),
        "care_step": "010103",
        "department": "药房",
        "fee_type": "0100",
        **extra,
    }


def upload(terminal, events, **extra):
    return terminal.post(URL, {"events": events, **extra})


def test_batch_is_recorded_per_item(terminal, card):
    code = codes.static_code(card)
    events = [scan(code), scan("GARBAGE")]
    response = upload(terminal, events)
    assert response.status_code == 200
    body = response.json()
    assert body["summary"] == {"created": 2, "duplicate": 0, "conflict": 0, "invalid": 0}
    first, second = body["results"]
    assert first == {
        "index": 0,
        "uuid": events[0]["uuid"],
        "status": "created",
        "http_status": 201,
        "result": "ok",
    }
    assert second["result"] == "malformed"
    stored = UsageEvent.objects.get(uuid=events[0]["uuid"])
    assert stored.card == card
    assert stored.offline is True
    assert stored.scanned_at == datetime.datetime.fromisoformat(events[0]["scanned_at"])
    assert (stored.care_step, stored.department, stored.fee_type) == ("010103", "药房", "0100")
    assert UsageEvent.objects.get(uuid=events[1]["uuid"]).card is None


def test_an_uploaded_scan_keeps_its_channel_as_terminal_kind(terminal, card):
    """`channel` in the API, `terminal_kind` in the model (migration 0008)."""
    code = codes.static_code(card)
    events = [scan(code, channel="04"), scan(code), scan(code, channel="99x")]
    body = upload(terminal, events).json()
    assert [r["status"] for r in body["results"]] == ["created", "created", "invalid"]
    assert body["results"][2]["error"]["fields"].keys() == {"channel"}
    stored = {str(e.uuid): e.terminal_kind for e in UsageEvent.objects.all()}
    assert stored == {events[0]["uuid"]: "04", events[1]["uuid"]: terminal.terminal.kind}


def test_reuploading_the_same_batch_creates_nothing(terminal, card):
    events = [scan(codes.static_code(card)) for _ in range(3)]
    upload(terminal, events)
    response = upload(terminal, events)
    body = response.json()
    assert body["summary"]["duplicate"] == 3
    assert {r["status"] for r in body["results"]} == {"duplicate"}
    assert {r["http_status"] for r in body["results"]} == {200}
    assert {r["result"] for r in body["results"]} == {"ok"}
    assert UsageEvent.objects.count() == 3


def test_reused_uuid_with_other_content_is_409_for_that_item_only(terminal, card):
    code = codes.static_code(card)
    first = scan(code)
    upload(terminal, [first])
    changed = {**first, "care_step": "010105"}
    fresh = scan(code)
    body = upload(terminal, [changed, fresh]).json()
    conflict, created = body["results"]
    assert conflict["status"] == "conflict"
    assert conflict["http_status"] == 409
    assert conflict["error"]["code"] == "uuid_conflict"
    assert created["status"] == "created"
    assert UsageEvent.objects.get(uuid=first["uuid"]).care_step == "010103"


def test_same_uuid_twice_in_one_batch(terminal, card):
    one = scan(codes.static_code(card))
    body = upload(terminal, [one, one, {**one, "department": "急诊"}]).json()
    assert [r["status"] for r in body["results"]] == ["created", "duplicate", "conflict"]
    assert UsageEvent.objects.count() == 1


def test_uuids_are_unique_per_terminal_not_globally(terminal, outsider_terminal, card):
    one = scan(codes.static_code(card))
    upload(terminal, [one])
    body = upload(outsider_terminal, [one]).json()
    assert body["results"][0]["status"] == "created"
    assert UsageEvent.objects.filter(uuid=one["uuid"]).count() == 2


def test_invalid_item_does_not_block_the_others(terminal, card):
    good = scan(codes.static_code(card))
    bad = scan("x", care_step="123456")
    no_uuid = {k: v for k, v in scan("x").items() if k != "uuid"}
    body = upload(terminal, [bad, good, no_uuid, "not an object", {**good, "uuid": "nope"}]).json()
    statuses = [r["status"] for r in body["results"]]
    assert statuses == ["invalid", "created", "invalid", "invalid", "invalid"]
    assert body["results"][0]["error"]["fields"].keys() == {"care_step"}
    assert body["results"][0]["http_status"] == 400
    assert body["results"][2]["uuid"] is None
    assert UsageEvent.objects.count() == 1


def test_offline_scan_is_verified_as_of_its_scan_time(terminal, card):
    scanned = timezone.now()
    code = codes.dynamic_code(card, lifetime=60, now=scanned)
    with time_machine.travel(scanned + datetime.timedelta(hours=3)):
        body = upload(terminal, [scan(code, at=scanned + datetime.timedelta(seconds=30))]).json()
    assert body["results"][0]["result"] == "ok"


def test_offline_scan_after_expiry_is_recorded_as_expired(terminal, card):
    scanned = timezone.now()
    code = codes.dynamic_code(card, lifetime=60, now=scanned)
    late = scan(code, at=scanned + datetime.timedelta(minutes=10))
    with time_machine.travel(scanned + datetime.timedelta(hours=1)):
        body = upload(terminal, [late]).json()
    assert body["results"][0]["result"] == "expired"
    assert UsageEvent.objects.get(uuid=late["uuid"]).card is None


def test_code_signed_by_a_since_revoked_key_does_not_verify(terminal, card):
    code = codes.static_code(card)
    keys.revoke(keys.active_key(KeyPurpose.CODE_SIGNING), reason="compromised")
    body = upload(terminal, [scan(code)]).json()
    assert body["results"][0]["result"] == "key_revoked"


@pytest.mark.parametrize(
    "delta", [datetime.timedelta(hours=1), -datetime.timedelta(days=91)], ids=["future", "old"]
)
def test_scan_time_in_the_future_or_too_old_is_invalid(terminal, card, delta):
    body = upload(terminal, [scan(codes.static_code(card), at=timezone.now() + delta)]).json()
    item = body["results"][0]
    assert item["status"] == "invalid"
    assert "scanned_at" in item["error"]["fields"]
    assert not UsageEvent.objects.exists()


@pytest.mark.parametrize(
    "at",
    [
        "0001-01-01T00:00:00",
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-14:00",
        "2026-13-01T00:00:00Z",
        "yesterday",
    ],
)
def test_impossible_scan_times_are_invalid_not_errors(terminal, at):
    body = upload(terminal, [scan("x", at=None) | {"scanned_at": at}]).json()
    assert body["results"][0]["status"] == "invalid"
    assert "scanned_at" in body["results"][0]["error"]["fields"]


def test_batch_over_500_is_413(terminal, db):
    events = [scan("x") for _ in range(501)]
    response = upload(terminal, events)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "batch_too_large"
    assert not UsageEvent.objects.exists()


def test_batch_of_500_is_accepted(terminal, card):
    code = codes.static_code(card)
    response = upload(terminal, [scan(code) for _ in range(500)])
    assert response.json()["summary"]["created"] == 500


@pytest.mark.parametrize("body", [{}, {"events": "x"}, {"events": {"a": 1}}])
def test_events_must_be_a_list(terminal, body):
    response = terminal.post(URL, body)
    assert response.status_code == 400
    assert "events" in response.json()["error"]["fields"]


def test_empty_batch_is_fine(terminal):
    response = upload(terminal, [])
    assert response.status_code == 200
    assert response.json()["results"] == []


def test_batch_for_another_institution_is_403(terminal, other_hospital, card):
    response = upload(terminal, [scan(codes.static_code(card))], institution=other_hospital.code)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "institution_mismatch"
    assert not UsageEvent.objects.exists()


def test_upload_needs_the_report_scope(make_terminal, hospital):
    verifier = make_terminal(hospital, scopes=["verify"])
    assert upload(verifier, []).status_code == 403
