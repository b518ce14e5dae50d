"""The published key set (GET /api/v1/keys, docs/qr-format.md section 8): what a
verifier knows about each signing key, and the checks a key and the clock impose."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from ehccode import signing
from ehccode.grammar import CST, MAX_DYNAMIC_LIFETIME, ParsedCode
from ehccode.reasons import Reason, Rejected


def verifier_for(algorithm: str, public: bytes) -> signing.Verifier | None:
    """The verify function of a public key, or None when its algorithm is not one this
    library implements or the key does not decode (SM2: not on the curve)."""
    try:
        return signing.get(algorithm).verifier(public)
    except ValueError:
        return None


@dataclass(frozen=True)
class KeyInfo:
    """What a verifier knows about one signing key. `verify` is None when the key's
    algorithm or public key is unusable here."""

    kid: str
    algorithm: str
    state: str  # pending | active | retired | revoked
    verify: signing.Verifier | None
    not_before: datetime.datetime | None = None
    not_after: datetime.datetime | None = None
    retired_at: datetime.datetime | None = None

    @classmethod
    def build(cls, kid: str, algorithm: str, public: bytes, state: str, **window) -> KeyInfo:
        return cls(kid, algorithm, state, verifier_for(algorithm, public), **window)


def _instant(value: str | None) -> datetime.datetime | None:
    if value is None:
        return None
    parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("key-set times carry a UTC offset")
    return parsed


def load_key_set(data: dict) -> dict[str, KeyInfo]:
    """Key infos by key ID from the JSON of GET /api/v1/keys (docs/qr-format.md)."""
    ring: dict[str, KeyInfo] = {}
    for item in data.get("keys", []):
        ring[item["kid"]] = KeyInfo.build(
            item["kid"],
            item["algorithm"],
            bytes.fromhex(item["public_key"]),
            item["state"],
            not_before=_instant(item.get("not_before")),
            not_after=_instant(item.get("not_after")),
            retired_at=_instant(item.get("retired_at")),
        )
    return ring


def check(code: ParsedCode, key: KeyInfo | None, at: datetime.datetime) -> None:
    """The key, signature and time checks, in the order of docs/qr-format.md section 6.
    Raises Rejected; returns None when the code passes."""
    seen = {"ehc_id": code.ehc_id, "kind": code.kind, "kid": code.kid}
    if key is None or key.state not in ("active", "retired", "revoked") or key.verify is None:
        raise Rejected(Reason.UNKNOWN_KEY, **seen)
    if key.state == "revoked":
        raise Rejected(Reason.KEY_REVOKED, **seen)
    if not key.verify(code.signed_bytes, code.signature):
        raise Rejected(Reason.BAD_SIGNATURE, **seen)
    if key.not_before is not None and at < key.not_before:
        raise Rejected(Reason.NOT_YET_VALID, **seen)
    if key.not_after is not None and at > key.not_after:
        raise Rejected(Reason.EXPIRED, **seen)
    if code.kind == "static":
        if code.issue_date > at.astimezone(CST).date():
            raise Rejected(Reason.NOT_YET_VALID, **seen)
        return
    if at >= code.expires_at:
        raise Rejected(Reason.EXPIRED, **seen)
    if code.expires_at > at + MAX_DYNAMIC_LIFETIME:
        raise Rejected(Reason.NOT_YET_VALID, **seen)
    if (
        key.state == "retired"
        and key.retired_at is not None
        and code.expires_at > key.retired_at + MAX_DYNAMIC_LIFETIME
    ):
        # Every dynamic code signed before retirement expired by retired_at + max
        # lifetime; a later expiry means the key signed after it was retired.
        raise Rejected(Reason.KEY_RETIRED, **seen)
