"""The hash-chained audit log.

`record()` appends an entry inside the caller's transaction, so an audit row exists
exactly when the change it describes was committed. Entries are spread over
HEALTHCARD_AUDIT_PARTITIONS independent chains: a writer locks only one chain head,
so a thousand reveals a second across the province do not queue on one row.
`verify()` walks every chain and names the first record that does not check out.
docs/audit.md explains the design.
"""

import datetime
import hashlib
import ipaddress
import json
import random
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Model
from django.utils import timezone

from healthcard import sql
from healthcard.models import AuditChainHead, AuditRecord

GENESIS = "0" * 64


def actor_label(actor: Any) -> str:
    """'user:12', 'terminal:3', or 'system': never a name."""
    if actor is None:
        return "system"
    if isinstance(actor, str):
        return actor
    label = getattr(actor, "audit_label", None)
    if label:
        return label
    return f"user:{actor.pk}"


def _clean_ip(ip: str | None) -> str | None:
    """The address exactly as the database will store it, so the hash computed before
    saving still matches what verify() reads back (2001:DB8::1 comes back as
    2001:db8::1). A value that is not an address (a forged proxy header) is dropped:
    PostgreSQL's inet column would refuse it and with it the change being audited."""
    if not ip:
        return None
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        return None
    return AuditRecord._meta.get_field("ip").get_prep_value(ip)


def _fixed(rec: AuditRecord) -> dict[str, Any]:
    """What the hash covers apart from the chain position (partition, seq, prev) and
    the result."""
    return {
        "at": rec.at.astimezone(datetime.UTC).isoformat(timespec="microseconds"),
        "actor": rec.actor,
        "action": rec.action,
        "object_type": rec.object_type,
        "object_id": rec.object_id,
        "institution": rec.institution,
        "ip": rec.ip or "",
        "details": rec.details,
    }


def _canonical(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _hash(rec: AuditRecord) -> str:
    body = {
        **_fixed(rec),
        "partition": rec.partition,
        "seq": rec.seq,
        "result": rec.result,
        "prev": rec.prev_hash,
    }
    return hashlib.sha256(_canonical(body).encode("utf-8")).hexdigest()


def _canonical_parts(rec: AuditRecord) -> tuple[str, str, str, str]:
    """The canonical text _hash covers, in four parts around the chain position that
    is known only once a head is locked (sql.append_audit_at_free_head joins them in
    the database): parts[0] + partition + parts[1] + prev + parts[2] + seq + parts[3].

    Sorted keys put every key of _fixed before "partition", then "prev", "result" and
    "seq"; integers and a hexadecimal hash are written the same by PostgreSQL and by
    json.dumps (tests/test_audit.py checks the parts against _hash)."""
    fixed = _canonical(_fixed(rec))
    result = json.dumps(rec.result, ensure_ascii=False)
    return fixed[:-1] + ',"partition":', ',"prev":"', f'","result":{result},"seq":', "}"


def _lock_a_head(partitions: int) -> AuditChainHead:
    """Lock and return one chain head, preferring any that nobody else holds.

    SKIP LOCKED never waits, and it does not skip heads this transaction already
    holds, so a transaction that writes several records (register and issue, a batch)
    never waits while holding a head: two such transactions cannot deadlock, and a
    writer takes a free chain rather than queueing behind a busy one. Only when every
    head is busy (or not created yet) does it wait, holding none."""
    head = sql.lock_free_audit_head(partitions)  # every audited reveal: plain SQL
    if head is not None:
        return head
    AuditChainHead.objects.bulk_create(
        [AuditChainHead(partition=p) for p in range(partitions)], ignore_conflicts=True
    )
    partition = random.randrange(partitions)  # noqa: S311 - load spreading, not security
    return AuditChainHead.objects.select_for_update().get(partition=partition)


def record(
    action: str,
    *,
    actor: Any = None,
    obj: Any = None,
    institution: Any = None,
    ip: str | None = None,
    result: str = "ok",
    together_with: Model | None = None,
    **details: Any,
) -> AuditRecord:
    """Append one audit entry. `details` must hold no personal data in clear.

    `together_with`, a new row (an unsaved instance), is inserted with the record: both
    are written or neither (the usage event of an audited reveal)."""
    rec = AuditRecord(
        at=timezone.now(),
        actor=actor_label(actor),
        action=action,
        object_type=obj._meta.model_name if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        institution=getattr(institution, "code", institution) or "",
        ip=_clean_ip(ip),
        result=result,
        details=details,
    )
    partitions = settings.HEALTHCARD_AUDIT_PARTITIONS
    # On PostgreSQL one statement locks a free head, appends and moves it (in the
    # caller's transaction, or as its own): every audited reveal.
    if sql.append_audit_at_free_head(rec, _canonical_parts(rec), partitions, together_with):
        return rec
    # Part of the caller's transaction when there is one (no savepoint: if the record
    # cannot be written, the change it describes must not be committed either).
    with transaction.atomic(savepoint=False):
        if together_with is not None:
            sql.insert(together_with)
        head = _lock_a_head(partitions)
        rec.partition, rec.seq, rec.prev_hash = head.partition, head.seq + 1, head.hash
        rec.hash = _hash(rec)
        sql.append_audit(rec, head)  # the record and its chain's new head
    return rec


@dataclass
class ChainProblem:
    partition: int
    record_id: int | None
    seq: int | None
    reason: str

    def __str__(self) -> str:
        where = f"record #{self.record_id} (chain {self.partition}, seq {self.seq})"
        if self.record_id is None:
            where = f"chain {self.partition}"
        return f"{where}: {self.reason}"


def verify() -> tuple[int, ChainProblem | None]:
    """Check every chain; return (records checked, first problem or None).

    Safe while writers append: each chain is checked up to its head as read just
    before walking it (a writer commits its record and the head move together), and
    only records still beyond a freshly read head afterwards count as a problem."""
    checked = 0
    partitions = set(AuditChainHead.objects.values_list("partition", flat=True)) | set(
        AuditRecord.objects.values_list("partition", flat=True).distinct()
    )
    for partition in sorted(partitions):
        head = AuditChainHead.objects.filter(partition=partition).first()
        if head is None:
            return checked, ChainProblem(partition, None, None, "the chain has no head")
        prev_hash, expected_seq = GENESIS, 1
        records = AuditRecord.objects.filter(partition=partition, seq__lte=head.seq)
        for rec in records.order_by("seq").iterator(2000):
            checked += 1
            if rec.seq != expected_seq:
                return checked, ChainProblem(
                    partition, rec.pk, rec.seq, f"expected seq {expected_seq}: records missing"
                )
            if rec.prev_hash != prev_hash:
                return checked, ChainProblem(
                    partition, rec.pk, rec.seq, "does not link to the previous record"
                )
            if _hash(rec) != rec.hash:
                return checked, ChainProblem(partition, rec.pk, rec.seq, "content was altered")
            prev_hash, expected_seq = rec.hash, expected_seq + 1
        if head.seq != expected_seq - 1 or head.hash != prev_hash:
            return checked, ChainProblem(
                partition,
                None,
                None,
                "the chain head does not match its last record: records were removed from the end",
            )
        # Records first, head second: a writer commits its record and the head move
        # together, so a record read earlier can never be beyond a head read later.
        beyond = AuditRecord.objects.filter(partition=partition, seq__gt=head.seq).order_by("seq")
        beyond = beyond.first()
        head.refresh_from_db()
        if beyond is not None and beyond.seq > head.seq:
            return checked, ChainProblem(
                partition,
                beyond.pk,
                beyond.seq,
                "lies beyond the chain head: not appended by record()",
            )
    return checked, None
