"""The QR code format (docs/qr-format.md) and the offline verifier.

This module is the part of code verification that needs no database and no network:
parsing, the signed bytes, signature and time checks against a key set, and the
revocation list. healthcard.codes builds on it for the online verifier (which adds the
card's live status); a terminal uses `OfflineVerifier` with a saved key set
(GET /api/v1/keys) and revocation list (GET /api/v1/revocations).

Nothing here imports models or reads settings, so it runs without a configured database.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from healthcard import signing

MAX_TEXT_LENGTH = 1024
VERSION = "H1"
# The longest lifetime a dynamic code may have; a code claiming to expire later than
# this from now is refused as not yet valid (a forged or badly clocked code).
MAX_DYNAMIC_LIFETIME = datetime.timedelta(hours=1)
# Issue dates and the national VALIDITY time are China Standard Time, fixed UTC+08:00,
# so a terminal needs no time-zone database.
CST = datetime.timezone(datetime.timedelta(hours=8), "CST")

TYPE_STATIC = "1"
TYPE_DYNAMIC = "0"
KIND_BY_TYPE = {TYPE_STATIC: "static", TYPE_DYNAMIC: "dynamic"}

_EHC_ID = re.compile(r"[0-9A-F]{64}")
_TYPE = re.compile(r"[0-9]")
_VERSION_TAG = re.compile(r"H[0-9A-Z]{1,3}")
_SEQ = re.compile(r"[1-9][0-9]{0,9}")
_DATE = re.compile(r"[0-9]{8}")
_EXP = re.compile(r"[1-9][0-9]{0,9}")
_KID = re.compile(r"[0-9A-Z]{4,16}")
_VALIDITY = re.compile(r"[0-9A-F]{32}")
_ORG = re.compile(r"[0-9A-Z]{1,20}")
_SIG = re.compile(r"[A-Z2-7]{103}")

REF_PREFIX = b"EHC-CARD-REF-1:"


class Reason:
    """Why a code was refused. The values are stable API strings (docs/qr-format.md)."""

    MALFORMED = "malformed"
    UNSUPPORTED_VERSION = "unsupported_version"
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"
    KEY_REVOKED = "key_revoked"
    KEY_RETIRED = "key_retired"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    SUPERSEDED = "superseded"
    CARD_FROZEN = "card_frozen"
    CARD_CANCELLED = "card_cancelled"
    UNKNOWN_CARD = "unknown_card"

    MESSAGES = {
        MALFORMED: _("This is not a health card code, or it is damaged."),
        UNSUPPORTED_VERSION: _("This code uses a format version this system does not support."),
        UNKNOWN_KEY: _("The code was signed with a key this system does not know."),
        BAD_SIGNATURE: _("The code's signature does not match: it was altered or forged."),
        KEY_REVOKED: _("The key that signed this code has been revoked."),
        KEY_RETIRED: _("The code was signed with a key after that key was retired."),
        EXPIRED: _("The code has expired."),
        NOT_YET_VALID: _("The code is not valid yet; check the terminal's clock."),
        SUPERSEDED: _("The card was replaced: this code belongs to an earlier issue."),
        CARD_FROZEN: _("The card is frozen."),
        CARD_CANCELLED: _("The card has been cancelled."),
        UNKNOWN_CARD: _("No such card."),
    }
    ALL = tuple(MESSAGES)


class Rejected(Exception):
    """Internal: a code failed a check. Carries what was parsed so far."""

    def __init__(self, reason: str, **parsed: Any):
        super().__init__(reason)
        self.reason = reason
        self.parsed = parsed


@dataclass(frozen=True)
class Verification:
    """The outcome of verifying a code. `card` is set only when `ok` (online)."""

    ok: bool
    reason: str | None
    card: Any
    kind: str | None
    kid: str | None
    ehc_id: str | None
    message: str

    @classmethod
    def accepted(cls, code: ParsedCode, card: Any = None) -> Verification:
        return cls(True, None, card, code.kind, code.kid, code.ehc_id, gettext("Valid code."))

    @classmethod
    def refused(cls, exc: Rejected) -> Verification:
        return cls(
            False,
            exc.reason,
            None,
            exc.parsed.get("kind"),
            exc.parsed.get("kid"),
            exc.parsed.get("ehc_id"),
            str(Reason.MESSAGES[exc.reason]),
        )


@dataclass(frozen=True)
class ParsedCode:
    text: str
    kind: str  # "static" | "dynamic"
    ehc_id: str
    kid: str
    signature: bytes
    signed_bytes: bytes
    issue_seq: int | None = None  # static
    issue_date: datetime.date | None = None  # static
    expires_at: datetime.datetime | None = None  # dynamic, aware UTC
    validity: str | None = None  # dynamic, national field
    org_code: str | None = None  # dynamic, national field


# --- encoding --------------------------------------------------------------------------


def encode_signature(signature: bytes) -> str:
    """Base32 (RFC 4648 alphabet A-Z 2-7) without '=' padding: 64 bytes -> 103 chars."""
    if len(signature) != signing.SIGNATURE_SIZE:
        raise ValueError("signatures are 64 bytes")
    return base64.b32encode(signature).decode("ascii").rstrip("=")


_B32_TO_B32HEX = str.maketrans(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789ABCDEFGHIJKLMNOPQRSTUV"
)


def decode_signature(text: str) -> bytes | None:
    """The 64 signature bytes, or None unless `text` is their canonical encoding (the
    3 spare bits of the last character must be zero, so no two texts share bytes)."""
    if not _SIG.fullmatch(text):
        return None
    # int() reads base 32 in the base32hex alphabet: translate, then drop the 3 spare
    # bits. Same result as base64.b32decode, at a fraction of the cost.
    value = int(text.translate(_B32_TO_B32HEX), 32)
    if value & 0b111:
        return None
    return (value >> 3).to_bytes(signing.SIGNATURE_SIZE, "big")


def static_prefix(ehc_id: str, issue_seq: int, issue_date: datetime.date, kid: str) -> str:
    """Everything a static code signs: the text before the last ':'."""
    return f"{ehc_id}:{TYPE_STATIC}:{VERSION}:{issue_seq}:{issue_date:%Y%m%d}:{kid}"


def dynamic_prefix(
    ehc_id: str, validity: str, org_code: str, expires_at: datetime.datetime, kid: str
) -> str:
    """Everything a dynamic code signs: the text before the last ':'."""
    exp = int(expires_at.timestamp())
    return f"{ehc_id}:{TYPE_DYNAMIC}:{validity}:{org_code}:{VERSION}:{exp}:{kid}"


def finish(prefix: str, sign: Callable[[bytes], bytes]) -> str:
    """Append ':' and the signature over the ASCII bytes of `prefix`."""
    return f"{prefix}:{encode_signature(sign(prefix.encode('ascii')))}"


def card_ref(ehc_id: str) -> str:
    """The privacy-preserving card reference used in the revocation list:
    upper-case hex of the first 16 bytes of SHA-256("EHC-CARD-REF-1:" || EHC ID)."""
    return hashlib.sha256(REF_PREFIX + ehc_id.encode("ascii")).hexdigest()[:32].upper()


# --- parsing ---------------------------------------------------------------------------


_STATIC_CODE = re.compile(
    r"([0-9A-F]{64}):1:H1:([1-9][0-9]{0,9}):([0-9]{4})([0-9]{2})([0-9]{2}):([0-9A-Z]{4,16}):"
    r"([A-Z2-7]{103})"
)
_DYNAMIC_CODE = re.compile(
    r"([0-9A-F]{64}):0:[0-9A-F]{32}:[0-9A-Z]{1,20}:H1:([1-9][0-9]{0,9}):([0-9A-Z]{4,16}):"
    r"([A-Z2-7]{103})"
)


def _fast_parse(text: str) -> ParsedCode | None:
    """The common case, a well-formed H1 code, in one regex match (verification speed
    matters on terminals). None sends the text through the field-by-field parser,
    which names the precise reason."""
    match = _STATIC_CODE.fullmatch(text)
    if match is not None:
        ehc_id, seq, year, month, day, kid, sig = match.groups()
        signature = decode_signature(sig)
        try:
            issue_date = datetime.date(int(year), int(month), int(day))
        except ValueError:
            return None
        if signature is None:
            return None
        return ParsedCode(
            text,
            "static",
            ehc_id,
            kid,
            signature,
            text[:-104].encode("ascii"),
            issue_seq=int(seq),
            issue_date=issue_date,
        )
    match = _DYNAMIC_CODE.fullmatch(text)
    if match is not None:
        ehc_id, exp, kid, sig = match.groups()
        signature = decode_signature(sig)
        if signature is None:
            return None
        fields = text.split(":", 4)
        return ParsedCode(
            text,
            "dynamic",
            ehc_id,
            kid,
            signature,
            text[:-104].encode("ascii"),
            expires_at=datetime.datetime.fromtimestamp(int(exp), datetime.UTC),
            validity=fields[2],
            org_code=fields[3],
        )
    return None


def parse(text: Any) -> ParsedCode:
    """Parse a code's text per docs/qr-format.md; raise Rejected (malformed or
    unsupported_version) on anything else. Over 1 KB is refused before any parsing."""
    if isinstance(text, bytes | bytearray):
        if len(text) > MAX_TEXT_LENGTH:
            raise Rejected(Reason.MALFORMED)
        try:
            text = bytes(text).decode("ascii")
        except UnicodeDecodeError:
            raise Rejected(Reason.MALFORMED) from None
    if not isinstance(text, str) or len(text) > MAX_TEXT_LENGTH or not text.isascii():
        # Every valid code is ASCII; refusing anything else here also keeps Unicode
        # digits that regex classes accept away from the ASCII-only decoding below.
        raise Rejected(Reason.MALFORMED)
    fast = _fast_parse(text)
    if fast is not None:
        return fast
    fields = text.split(":")
    if len(fields) < 2 or not _EHC_ID.fullmatch(fields[0]) or not _TYPE.fullmatch(fields[1]):
        raise Rejected(Reason.MALFORMED)
    ehc_id, type_code = fields[0], fields[1]
    if type_code not in KIND_BY_TYPE:
        # 9 (temporary card) and any other national type: not something we sign.
        raise Rejected(Reason.UNSUPPORTED_VERSION, ehc_id=ehc_id)
    kind = KIND_BY_TYPE[type_code]
    seen: dict[str, Any] = {"ehc_id": ehc_id, "kind": kind}
    tag_at = 2 if kind == "static" else 4
    if len(fields) <= tag_at:
        raise Rejected(Reason.MALFORMED, **seen)  # a bare national code: no signature
    tag = fields[tag_at]
    if not _VERSION_TAG.fullmatch(tag):
        raise Rejected(Reason.MALFORMED, **seen)
    if tag != VERSION:
        raise Rejected(Reason.UNSUPPORTED_VERSION, **seen)
    expected = 7 if kind == "static" else 8
    if len(fields) != expected:
        raise Rejected(Reason.MALFORMED, **seen)
    kid, sig_text = fields[-2], fields[-1]
    if not _KID.fullmatch(kid):
        raise Rejected(Reason.MALFORMED, **seen)
    seen["kid"] = kid
    signature = decode_signature(sig_text)
    if signature is None:
        raise Rejected(Reason.MALFORMED, **seen)
    signed_bytes = text[: text.rfind(":")].encode("ascii")
    if kind == "static":
        seq_text, date_text = fields[3], fields[4]
        if not _SEQ.fullmatch(seq_text) or not _DATE.fullmatch(date_text):
            raise Rejected(Reason.MALFORMED, **seen)
        try:
            issue_date = datetime.date(int(date_text[:4]), int(date_text[4:6]), int(date_text[6:]))
        except ValueError:
            raise Rejected(Reason.MALFORMED, **seen) from None
        return ParsedCode(
            text=text,
            kind=kind,
            ehc_id=ehc_id,
            kid=kid,
            signature=signature,
            signed_bytes=signed_bytes,
            issue_seq=int(seq_text),
            issue_date=issue_date,
        )
    validity, org_code, exp_text = fields[2], fields[3], fields[5]
    if (
        not _VALIDITY.fullmatch(validity)
        or not _ORG.fullmatch(org_code)
        or not _EXP.fullmatch(exp_text)
    ):
        raise Rejected(Reason.MALFORMED, **seen)
    expires_at = datetime.datetime.fromtimestamp(int(exp_text), datetime.UTC)
    return ParsedCode(
        text=text,
        kind=kind,
        ehc_id=ehc_id,
        kid=kid,
        signature=signature,
        signed_bytes=signed_bytes,
        expires_at=expires_at,
        validity=validity,
        org_code=org_code,
    )


# --- keys and checks -------------------------------------------------------------------


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
        try:
            verify = signing.get(algorithm).verifier(public)
        except ValueError:
            verify = None
        return cls(kid, algorithm, state, verify, **window)


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


# --- key set and revocation list (JSON) ------------------------------------------------


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


class OfflineVerifier:
    """Verifies codes with a key set and a revocation list only: no database, no
    network. Never raises on bad input; `card` in the result is always None."""

    def __init__(self, key_set: dict, revocations: dict | None = None):
        self.keys = load_key_set(key_set)
        self.revocations = RevocationState.from_json(revocations or {})

    @classmethod
    def from_files(cls, keys_path: str | Path, revocations_path: str | Path | None):
        key_set = json.loads(Path(keys_path).read_text("utf-8"))
        revocations = None
        if revocations_path is not None:
            revocations = json.loads(Path(revocations_path).read_text("utf-8"))
        return cls(key_set, revocations)

    def verify(self, text: Any, *, at: datetime.datetime | None = None) -> Verification:
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
