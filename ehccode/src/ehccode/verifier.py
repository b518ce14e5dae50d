"""Offline verification: a saved key set and revocation list, no database, no network.
The platform's online verifier (healthcard.codes) runs the same parse and checks and
adds the card's live status."""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ehccode.grammar import ParsedCode, parse
from ehccode.keyset import check, load_key_set
from ehccode.reasons import Reason, Rejected
from ehccode.revocations import RevocationState, card_ref


@dataclass(frozen=True)
class Verification:
    """The outcome of verifying a code. `card` is set only when `ok`, and only by an
    online verifier. `message` is English (Reason.MESSAGES)."""

    ok: bool
    reason: str | None
    card: Any
    kind: str | None
    kid: str | None
    ehc_id: str | None
    message: str

    @classmethod
    def accepted(cls, code: ParsedCode, card: Any = None) -> Verification:
        return cls(True, None, card, code.kind, code.kid, code.ehc_id, Reason.VALID_MESSAGE)

    @classmethod
    def refused(cls, exc: Rejected) -> Verification:
        return cls(
            False,
            exc.reason,
            None,
            exc.parsed.get("kind"),
            exc.parsed.get("kid"),
            exc.parsed.get("ehc_id"),
            Reason.MESSAGES[exc.reason],
        )


class OfflineVerifier:
    """Verifies codes with a key set and a revocation list only: no database, no
    network. Never raises on bad input; `card` in the result is always None."""

    def __init__(self, key_set: dict, revocations: dict | None = None):
        self.keys = load_key_set(key_set)
        self.revocations = RevocationState.from_json(revocations or {})

    @classmethod
    def from_files(
        cls, keys_path: str | Path, revocations_path: str | Path | None = None
    ) -> OfflineVerifier:
        key_set = json.loads(Path(keys_path).read_text("utf-8"))
        revocations = None
        if revocations_path is not None:
            revocations = json.loads(Path(revocations_path).read_text("utf-8"))
        return cls(key_set, revocations)

    def verify(self, text: Any, *, at: datetime.datetime | None = None) -> Verification:
        """Parse, key, signature and time checks, then the revocation list. `at` is an
        aware time (default: now); the verdict is only as good as the clock."""
        at = at or datetime.datetime.now(datetime.UTC)
        try:
            code = parse(text)
            check(code, self.keys.get(code.kid), at)
            seen = {"ehc_id": code.ehc_id, "kind": code.kind, "kid": code.kid}
            ref = card_ref(code.ehc_id)
            status = self.revocations.status.get(ref)
            if status == "cancelled":
                raise Rejected(Reason.CARD_CANCELLED, **seen)
            if status == "frozen":
                raise Rejected(Reason.CARD_FROZEN, **seen)
            if code.kind == "static" and code.issue_seq < self.revocations.min_issue_seq.get(
                ref, 0
            ):
                raise Rejected(Reason.SUPERSEDED, **seen)
        except Rejected as exc:
            return Verification.refused(exc)
        return Verification.accepted(code)


def verify_offline(
    text: Any, key_set: dict, revocations: dict | None = None, *, at=None
) -> Verification:
    """One-shot offline verification (builds the verifier each call; for many codes
    keep an OfflineVerifier)."""
    return OfflineVerifier(key_set, revocations).verify(text, at=at)
