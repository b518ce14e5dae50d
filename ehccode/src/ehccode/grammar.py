"""The H1 text of a signed code (docs/qr-format.md sections 3-5): building the signed
bytes and parsing a scanned text, with one grammar table for both directions."""

from __future__ import annotations

import base64
import datetime
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ehccode.reasons import Reason, Rejected
from ehccode.signing import SIGNATURE_SIZE

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

SIGNATURE_CHARS = 103  # 64 bytes in unpadded base32

# The grammar, section 3: the pattern of each field, and the fields of each kind in
# order (a literal where the field is fixed). parse() and the refusal diagnosis below
# both read these tables; nothing else restates a field.
FIELD = {
    "ehcid": "[0-9A-F]{64}",
    "validity": "[0-9A-F]{32}",
    "orgcode": "[0-9A-Z]{1,20}",
    "seq": "[1-9][0-9]{0,9}",
    "date": "[0-9]{8}",
    "exp": "[1-9][0-9]{0,9}",
    "kid": "[0-9A-Z]{4,16}",
    "sig": f"[A-Z2-7]{{{SIGNATURE_CHARS}}}",
}
LAYOUT = {
    "static": ("ehcid", TYPE_STATIC, VERSION, "seq", "date", "kid", "sig"),
    "dynamic": ("ehcid", TYPE_DYNAMIC, "validity", "orgcode", VERSION, "exp", "kid", "sig"),
}
# Any version tag of this family: a well-formed tag other than H1 is "unsupported".
_VERSION_TAG = re.compile(r"H[0-9A-Z]{1,3}")
_TYPE_CODE = re.compile(r"[0-9]")


def _whole_code(fields: tuple[str, ...]) -> re.Pattern:
    # One match per well-formed code: parsing speed matters on terminals.
    parts = (f"(?P<{f}>{FIELD[f]})" if f in FIELD else re.escape(f) for f in fields)
    return re.compile(":".join(parts))


_CODE = {kind: _whole_code(fields) for kind, fields in LAYOUT.items()}
_FIELD = {name: re.compile(pattern) for name, pattern in FIELD.items()}


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


# --- building --------------------------------------------------------------------------


def encode_signature(signature: bytes) -> str:
    """Base32 (RFC 4648 alphabet A-Z 2-7) without '=' padding: 64 bytes -> 103 chars."""
    if len(signature) != SIGNATURE_SIZE:
        raise ValueError("signatures are 64 bytes")
    return base64.b32encode(signature).decode("ascii").rstrip("=")


_B32_TO_B32HEX = str.maketrans(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789ABCDEFGHIJKLMNOPQRSTUV"
)


def decode_signature(text: str) -> bytes | None:
    """The 64 signature bytes, or None unless `text` is their canonical encoding (the
    3 spare bits of the last character must be zero, so no two texts share bytes)."""
    if not _FIELD["sig"].fullmatch(text):
        return None
    return _signature_bytes(text)


def _signature_bytes(text: str) -> bytes | None:
    """decode_signature for text already known to be 103 base32 characters."""
    # int() reads base 32 in the base32hex alphabet: translate, then drop the 3 spare
    # bits. Same result as base64.b32decode, at a fraction of the cost.
    value = int(text.translate(_B32_TO_B32HEX), 32)
    if value & 0b111:
        return None
    return (value >> 3).to_bytes(SIGNATURE_SIZE, "big")


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


# --- parsing ---------------------------------------------------------------------------


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
    kind = KIND_BY_TYPE.get(text[65:66])  # the type digit after the 64-character EHC ID
    match = _CODE[kind].fullmatch(text) if kind else None
    if match is None:
        raise _refusal(text)
    return _parsed(text, kind, match.groupdict())


def _parsed(text: str, kind: str, fields: dict[str, str]) -> ParsedCode:
    """A ParsedCode from a text that matched its kind's layout; the two checks a regular
    expression cannot make (a real calendar date, canonical base32) raise malformed."""
    signature = _signature_bytes(fields["sig"])
    if signature is None:
        raise _malformed(kind, fields)
    # Positional arguments: this runs for every scan, and keywords cost measurably here.
    signed = text[: -SIGNATURE_CHARS - 1].encode("ascii")
    head = (text, kind, fields["ehcid"], fields["kid"], signature, signed)
    if kind == "static":
        date = fields["date"]
        try:
            issue_date = datetime.date(int(date[:4]), int(date[4:6]), int(date[6:]))
        except ValueError:
            raise _malformed(kind, fields) from None
        return ParsedCode(*head, int(fields["seq"]), issue_date)
    expires_at = datetime.datetime.fromtimestamp(int(fields["exp"]), datetime.UTC)
    return ParsedCode(*head, None, None, expires_at, fields["validity"], fields["orgcode"])


def _malformed(kind: str, fields: dict[str, str]) -> Rejected:
    return Rejected(Reason.MALFORMED, ehc_id=fields["ehcid"], kind=kind, kid=fields["kid"])


def _refusal(text: str) -> Rejected:
    """Why a text that matches no layout is refused, and what of it could be read:
    unsupported_version for another type code or version tag of a readable code,
    malformed for everything else."""
    fields = text.split(":")
    if len(fields) < 2 or not _FIELD["ehcid"].fullmatch(fields[0]):
        return Rejected(Reason.MALFORMED)
    if not _TYPE_CODE.fullmatch(fields[1]):
        return Rejected(Reason.MALFORMED)
    if fields[1] not in KIND_BY_TYPE:
        # 9 (temporary card) and any other national type: not something we sign.
        return Rejected(Reason.UNSUPPORTED_VERSION, ehc_id=fields[0])
    kind = KIND_BY_TYPE[fields[1]]
    seen: dict[str, Any] = {"ehc_id": fields[0], "kind": kind}
    layout = LAYOUT[kind]
    tag_at = layout.index(VERSION)
    if len(fields) <= tag_at or not _VERSION_TAG.fullmatch(fields[tag_at]):
        # Includes a bare national code (EHCID:1, EHCID:0:VALIDITY:ORG): no signature.
        return Rejected(Reason.MALFORMED, **seen)
    if fields[tag_at] != VERSION:
        return Rejected(Reason.UNSUPPORTED_VERSION, **seen)
    if len(fields) == len(layout) and _FIELD["kid"].fullmatch(fields[-2]):
        seen["kid"] = fields[-2]
    return Rejected(Reason.MALFORMED, **seen)
