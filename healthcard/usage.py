"""Card use (用卡数据): every scan a terminal makes, verified and recorded.

`verify_scan` serves an online scan: it verifies, records, and reveals the holder to
a terminal that may see identity (through healthcard.people, audited), in one
transaction. `report_scans` takes scans a terminal made while offline and verifies
each one as of the time it was scanned (a code that was valid then still counts, a key
revoked since verifies nothing). Each event has a UUID unique per terminal, so
uploading the same batch twice records nothing twice; the same UUID with other content
is a conflict, reported for that item only.
"""

import datetime
import hashlib
import json
import uuid as uuid_module
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from healthcard import links, people, sql
from healthcard.codes import Verification, verify_code
from healthcard.errors import DomainError
from healthcard.models import Card, LinkKind, Scope, Terminal, UsageEvent

MAX_BATCH = 500
# A terminal's clock may run a little fast; scans further in the future are refused.
CLOCK_SKEW = datetime.timedelta(minutes=5)
# Offline scans older than this are refused: a terminal offline for longer has a
# revocation list too old for its own checks to mean anything.
MAX_OFFLINE_AGE = datetime.timedelta(days=90)
# The canonical JSON of a scan's fingerprint: what json.dumps(sort_keys=True,
# ensure_ascii=False, separators=(",", ":")) writes, with one encoder made once
# (json.dumps makes a new one for every call that passes options).
_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Scan:
    """What a terminal reports about one scan (already validated by the caller)."""

    code: str
    care_step: str
    terminal_kind: str  # the API's `channel`
    department: str = ""
    fee_type: str = ""
    scanned_at: datetime.datetime | None = None
    uuid: uuid_module.UUID | None = None

    def fingerprint(self) -> str:
        body = {
            "code": self.code,
            "care_step": self.care_step,
            # Stored fingerprints hash the key "channel" (the name before 0008): the
            # same key keeps a re-upload of an older scan a duplicate, not a conflict.
            "channel": self.terminal_kind,
            "department": self.department,
            "fee_type": self.fee_type,
            "scanned_at": self.scanned_at.astimezone(datetime.UTC).isoformat()
            if self.scanned_at
            else "",
        }
        return hashlib.sha256(_CANONICAL.encode(body).encode("utf-8")).hexdigest()


def _event(
    terminal: Terminal, scan: Scan, verification: Verification, *, offline: bool
) -> UsageEvent:
    return UsageEvent(
        uuid=scan.uuid or uuid_module.uuid4(),
        terminal=terminal,
        institution_id=terminal.institution_id,
        card=verification.card if verification.ok else None,
        scanned_at=scan.scanned_at or timezone.now(),
        care_step=scan.care_step,
        department=scan.department,
        terminal_kind=scan.terminal_kind,
        fee_type=scan.fee_type,
        result=UsageEvent.RESULT_OK if verification.ok else (verification.reason or "invalid"),
        code_kind=(verification.kind or "")[:10],
        offline=offline,
        fingerprint=scan.fingerprint(),
    )


def _verify_online(terminal: Terminal, scan: Scan) -> tuple[Verification, UsageEvent]:
    """Verify an online scan now; its usage event, not saved yet."""
    verification = verify_code(scan.code, links_for=terminal.institution_id)
    event = _event(terminal, scan, verification, offline=False)
    event.scanned_at = timezone.now()
    return verification, event


def verify_and_record(terminal: Terminal, scan: Scan) -> tuple[Verification, UsageEvent]:
    """Verify an online scan now and record it, successful or not. A failed attempt
    is recorded without a card. Never raises on a bad code. Reveals nothing: the
    terminal API calls verify_scan."""
    verification, event = _verify_online(terminal, scan)
    sql.insert(event)  # one per online verification: plain SQL
    return verification, event


@dataclass(frozen=True)
class ScanResult:
    """What an online scan gives the terminal. `identity` is the holder in full, set
    only when the code verified and the terminal may reveal identity (the reveal is
    audited); `links` are the numbers linked to the card as this terminal may see them."""

    verification: Verification
    event: UsageEvent
    identity: people.Identity | None = None
    links: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.verification.ok

    @property
    def card(self) -> Card | None:
        return self.verification.card


def verify_scan(terminal: Terminal, scan: Scan, *, ip: str | None = None) -> ScanResult:
    """Verify an online scan, record it (a refused code too, without a card) and, for
    a terminal with the `reveal_identity` scope and a valid code, reveal the holder
    through people.reveal_person: the usage event and the `identity.reveal` audit
    record commit together or not at all. Never raises on a bad code."""
    if not terminal.has_scope(Scope.REVEAL_IDENTITY):
        # A single INSERT: a transaction would only add BEGIN and COMMIT round trips.
        verification, event = verify_and_record(terminal, scan)
        if not verification.ok:
            return ScanResult(verification, event)
        return ScanResult(verification, event, links=_links_seen(verification.card, terminal))
    verification, event = _verify_online(terminal, scan)
    if not verification.ok:
        sql.insert(event)
        return ScanResult(verification, event)
    # The usage event goes in with the audit record: on PostgreSQL one statement,
    # elsewhere one transaction.
    identity = people.reveal_person(
        verification.card.person,
        by=terminal,
        via="api.verify",
        ip=ip,
        together_with=event,
        usage_event=str(event.uuid),
    )
    return ScanResult(
        verification, event, identity, _links_seen(verification.card, terminal, revealed=True)
    )


def _links_seen(card: Card, terminal: Terminal, *, revealed: bool = False) -> dict[str, str]:
    """The terminal's institution's own local patient number in full (it is the
    hospital's own key); the shared numbers masked unless identity was revealed (a
    social-security number is an ID number)."""
    shown = {}
    for kind, link in links.links_for(card, terminal.institution).items():
        full = revealed or kind == LinkKind.LOCAL_PATIENT
        shown[kind] = link.number if full else link.masked_number
    return shown


@dataclass
class ItemResult:
    """The outcome of one uploaded scan. `status` is 'created', 'duplicate',
    'conflict' or 'invalid'; `result` is 'ok' or the reason the code was refused."""

    index: int
    uuid: str | None
    status: str
    result: str | None = None
    event: UsageEvent | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)


def check_scan_time(scanned_at: datetime.datetime, now: datetime.datetime | None = None) -> str:
    """'' when an offline scan time is acceptable, else 'future' or 'too_old'."""
    now = now or timezone.now()
    if scanned_at > now + CLOCK_SKEW:
        return "future"
    if scanned_at < now - MAX_OFFLINE_AGE:
        return "too_old"
    return ""


class BatchTooLarge(DomainError, ValueError):
    http_status = 413

    def __init__(self, limit: int):
        super().__init__(
            "batch_too_large", _("At most %(n)d items per batch.") % {"n": limit}, limit=limit
        )


@dataclass(frozen=True)
class Invalid:
    """An uploaded item that did not pass the caller's input check (shape, types)."""

    errors: dict[str, list[str]]
    uuid: str | None = None


@dataclass(frozen=True)
class BatchResult:
    results: list[ItemResult]  # one per item, in upload order
    summary: dict[str, int]


def _scan_time_message(problem: str) -> str:
    return {
        "future": _("The scan time is in the future."),
        "too_old": _("The scan is too old to be accepted."),
    }[problem]


def report_scans(terminal: Terminal, items: list[Scan | Invalid]) -> BatchResult:
    """Record a batch of offline scans: one ItemResult per item, in order, and the
    summary (how many created, duplicate, conflict, invalid). An `Invalid` item and a
    scan time too far in the future (CLOCK_SKEW) or past (MAX_OFFLINE_AGE) are
    'invalid' with field errors; the rest go through upload_batch. Refuses more than
    MAX_BATCH items (BatchTooLarge, 413 in the API)."""
    if len(items) > MAX_BATCH:
        raise BatchTooLarge(MAX_BATCH)
    results: list[ItemResult] = []
    scans: list[tuple[int, Scan]] = []
    now = timezone.now()
    for index, item in enumerate(items):
        if isinstance(item, Invalid):
            results.append(ItemResult(index, item.uuid, "invalid", errors=item.errors))
            continue
        problem = check_scan_time(item.scanned_at, now)
        if problem:
            errors = {"scanned_at": [_scan_time_message(problem)]}
            results.append(ItemResult(index, str(item.uuid), "invalid", errors=errors))
            continue
        scans.append((index, item))
    results.extend(upload_batch(terminal, scans))
    results.sort(key=lambda r: r.index)
    return BatchResult(results, summarise(results))


def upload_batch(terminal: Terminal, scans: list[tuple[int, Scan]]) -> list[ItemResult]:
    """Record offline scans (index, Scan) with a UUID each, verifying every code as of
    its scan time. Returns one ItemResult per scan, in order:

    - a new UUID is verified and stored ('created', with result 'ok' or the reason);
    - a UUID this terminal already uploaded with the same content is 'duplicate' and
      reports the stored result; with other content it is a 'conflict';
    - the same UUID twice in one batch: the first wins, later copies are compared
      with it like a re-upload.
    Refuses more than MAX_BATCH scans (BatchTooLarge, a ValueError).
    """
    if len(scans) > MAX_BATCH:
        raise BatchTooLarge(MAX_BATCH)
    with transaction.atomic():
        _lock_terminal_uploads(terminal)
        return _upload_batch(terminal, scans)


# pg_advisory_xact_lock(namespace, terminal id): see _lock_terminal_uploads.
_UPLOAD_LOCK_NAMESPACE = 15_002


def _lock_terminal_uploads(terminal: Terminal) -> None:
    """On PostgreSQL the unique constraint holds the scan time (the partition key), so
    only the lookup in _upload_batch sees the same UUID under another scan time: one
    upload per terminal at a time keeps that lookup and the INSERT together. A
    terminal uploads its batches one after another, so nobody waits in practice."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)", [_UPLOAD_LOCK_NAMESPACE, terminal.pk]
            )


def _upload_batch(terminal: Terminal, scans: list[tuple[int, Scan]]) -> list[ItemResult]:
    uuids = [scan.uuid for _i, scan in scans]
    # Only the months an earlier upload of these UUIDs can be in (on PostgreSQL, the
    # partitions of the last half year instead of all 36): an upload is accepted only
    # for scans at most MAX_OFFLINE_AGE old, so a retry or conflicting copy sent within
    # MAX_OFFLINE_AGE of the first upload always finds it (docs/data-model.md).
    since = timezone.now() - 2 * MAX_OFFLINE_AGE - CLOCK_SKEW
    stored = UsageEvent.objects.filter(terminal=terminal, uuid__in=uuids, scanned_at__gte=since)
    known = {e.uuid: e for e in stored}
    results: list[ItemResult] = []
    new_events: list[tuple[ItemResult, UsageEvent]] = []
    for index, scan in scans:
        fingerprint = scan.fingerprint()
        previous = known.get(scan.uuid)
        if previous is not None:
            results.append(_repeat(index, str(scan.uuid), previous, fingerprint))
            continue
        verification = verify_code(scan.code, at=scan.scanned_at)
        event = _event(terminal, scan, verification, offline=True)
        item = ItemResult(index=index, uuid=str(scan.uuid), status="created", result=event.result)
        item.event = event
        known[scan.uuid] = event
        results.append(item)
        new_events.append((item, event))
    _store(new_events, terminal)
    return results


def _repeat(index: int, uuid: str, previous: UsageEvent, fingerprint: str) -> ItemResult:
    if previous.fingerprint == fingerprint:
        return ItemResult(
            index=index, uuid=uuid, status="duplicate", result=previous.result, event=previous
        )
    return ItemResult(index=index, uuid=uuid, status="conflict", event=previous)


def _store(new_events: list[tuple[ItemResult, UsageEvent]], terminal: Terminal) -> None:
    if not new_events:
        return
    try:
        with transaction.atomic():
            UsageEvent.objects.bulk_create([event for _item, event in new_events])
        return
    except IntegrityError:
        pass  # another upload of some of these UUIDs won the race: go one by one
    for item, event in new_events:
        try:
            with transaction.atomic():
                event.pk = None
                event.save()
        except IntegrityError:
            previous = UsageEvent.objects.filter(terminal=terminal, uuid=event.uuid)[:1].get()
            repeat = _repeat(item.index, str(event.uuid), previous, event.fingerprint)
            item.status, item.result, item.event = repeat.status, repeat.result, previous


def summarise(results: list[ItemResult]) -> dict[str, Any]:
    counts: dict[str, int] = {"created": 0, "duplicate": 0, "conflict": 0, "invalid": 0}
    for item in results:
        counts[item.status] = counts.get(item.status, 0) + 1
    return counts
