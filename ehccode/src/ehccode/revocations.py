"""The revocation list a terminal syncs (docs/qr-format.md section 8): the card
reference it is keyed by, folding its entries, and merging pages into the saved file."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

REF_PREFIX = b"EHC-CARD-REF-1:"


def card_ref(ehc_id: str) -> str:
    """The privacy-preserving card reference used in the revocation list:
    upper-case hex of the first 16 bytes of SHA-256("EHC-CARD-REF-1:" || EHC ID)."""
    return hashlib.sha256(REF_PREFIX + ehc_id.encode("ascii")).hexdigest()[:32].upper()


@dataclass
class RevocationState:
    """The revocation list folded per card reference: current status restriction and
    the lowest issue sequence still valid."""

    status: dict[str, str]
    min_issue_seq: dict[str, int]
    cursor: str | None = None

    @classmethod
    def empty(cls) -> RevocationState:
        return cls({}, {}, None)

    def apply(self, entries: Iterable[dict]) -> None:
        """Apply entries in list order (the order of their cursor)."""
        for entry in entries:
            ref, kind = entry["ref"], entry["kind"]
            if kind == "superseded":
                seq = int(entry["issue_seq"])
                self.min_issue_seq[ref] = max(seq, self.min_issue_seq.get(ref, 0))
            elif kind in ("frozen", "cancelled"):
                if self.status.get(ref) != "cancelled":
                    self.status[ref] = kind
            elif kind == "unfrozen" and self.status.get(ref) == "frozen":
                del self.status[ref]

    @classmethod
    def from_json(cls, data: dict) -> RevocationState:
        state = cls.empty()
        state.apply(data.get("entries", []))
        state.cursor = data.get("cursor")
        return state


def merge_revocation_pages(saved: dict | None, page: dict) -> dict:
    """A terminal's saved list with one more page from GET /api/v1/revocations."""
    entries = list((saved or {}).get("entries", [])) + list(page.get("entries", []))
    return {"entries": entries, "cursor": page.get("cursor") or (saved or {}).get("cursor")}
