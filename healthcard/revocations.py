"""The revocation list for offline terminals (docs/qr-format.md, section 8).

Entries are appended by healthcard.cards inside the transaction that changes a card
(freeze, unfreeze, cancel, replace), so an entry exists exactly when the change was
committed. Terminals page through them with an opaque cursor.
"""

from __future__ import annotations

import re

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from healthcard.errors import DomainError
from healthcard.models import Card, RevocationCounter, RevocationEntry, RevocationKind
from healthcard.offline import card_ref

MAX_PAGE = 5000
_CURSOR = re.compile(r"c(0|[1-9][0-9]{0,17})")  # fits a signed 64-bit integer


class BadCursor(DomainError, ValueError):
    """The `since` cursor is not one this service handed out (400 in the API)."""

    http_status = 400

    def __init__(self, cursor: object = None):
        super().__init__("bad_cursor", _("The cursor is not valid."))


def encode_cursor(seq: int) -> str:
    return f"c{seq}"


def decode_cursor(cursor: str | None) -> int:
    """The entry sequence a cursor stands for; None or "" means the beginning."""
    if cursor is None or cursor == "":
        return 0
    if not isinstance(cursor, str) or not _CURSOR.fullmatch(cursor):
        raise BadCursor(cursor)
    return int(cursor[1:])


def append(card: Card, kind: str, *, issue_seq: int | None = None) -> RevocationEntry:
    """Append one entry for `card`. Runs in (and must be called inside) the caller's
    transaction; the counter row lock makes numbering follow commit order."""
    if kind not in RevocationKind.values:
        raise ValueError(f"unknown revocation kind {kind!r}")
    if (kind == RevocationKind.SUPERSEDED) != (issue_seq is not None):
        raise ValueError("issue_seq goes with 'superseded' entries only")
    with transaction.atomic():
        RevocationCounter.objects.get_or_create(pk=1)
        counter = RevocationCounter.objects.select_for_update().get(pk=1)
        counter.last_seq += 1
        counter.save(update_fields=["last_seq"])
        return RevocationEntry.objects.create(
            seq=counter.last_seq,
            card_ref=card_ref(card.ehc_id),
            kind=kind,
            issue_seq=issue_seq,
            created_at=timezone.now(),
        )


def for_status_change(card: Card, old: str, new: str) -> RevocationEntry | None:
    """The entry a status change needs: frozen, cancelled, or unfrozen (frozen ->
    active, which lifts the freeze on offline terminals)."""
    if new in ("frozen", "cancelled"):
        return append(card, new)
    if old == "frozen" and new == "active":
        return append(card, RevocationKind.UNFROZEN)
    return None


def revocations_since(cursor: str | None, limit: int = 1000) -> dict:
    """JSON-ready page of entries after `cursor`, oldest first:
    {"format", "entries": [{"seq", "ref", "kind", "issue_seq", "at"}], "cursor", "more"}.
    Pass the returned cursor back to continue; it stays the same when nothing is new.
    Raises BadCursor for a cursor not of this service; `limit` is clamped to 1..5000."""
    after = decode_cursor(cursor)
    limit = max(1, min(int(limit), MAX_PAGE))
    rows = list(RevocationEntry.objects.filter(seq__gt=after).order_by("seq")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    entries = [
        {
            "seq": row.seq,
            "ref": row.card_ref,
            "kind": row.kind,
            "issue_seq": row.issue_seq,
            "at": row.created_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
        }
        for row in rows
    ]
    last = rows[-1].seq if rows else after
    return {
        "format": "ehc-revocations/1",
        "entries": entries,
        "cursor": encode_cursor(last),
        "more": more,
    }
