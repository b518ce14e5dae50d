"""The signed delivery: what the platform sends a hospital's print site, and the report
the site sends back. Plain data and pure functions (no models, no database, no
settings), shared by both stages.

A delivery is a JSON object: the job and attempt, the institution, the printer's
connection settings, the rendered bytes (base64), when it was made and until when it
may be printed, and a signature by the platform's print-delivery key (key ID `kid`)
over the canonical JSON of everything else. A site verifies it with the published
print-delivery key set (`manage.py keys export-public --purpose print-delivery`).
"""

import base64
import datetime
import json
from dataclasses import dataclass

from ehccode import signing

FORMAT = "ehc-print-delivery/1"
REPORT_FORMAT = "ehc-print-report/1"
KEY_SET_FORMAT = "ehc-print-keys/1"

PRINTED = "printed"
FAILED = "failed"
INTERRUPTED = "interrupted"
OUTCOMES = (PRINTED, FAILED, INTERRUPTED)

# The printer fields a site needs to reach the device (never PDF printers).
PRINTER_FIELDS = (
    "id",
    "institution",
    "kind",
    "host",
    "port",
    "usb_vendor_id",
    "usb_product_id",
    "device",
    "baudrate",
    "status_check",
)


class DeliveryRefused(Exception):
    """A delivery the site must not print; `reason` is a stable code."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Target:
    """A printer as the site sees it: what printing.devices.send needs."""

    id: int
    institution: str
    kind: str
    host: str = ""
    port: int = 9100
    usb_vendor_id: int | None = None
    usb_product_id: int | None = None
    device: str = ""
    baudrate: int = 9600
    status_check: bool = True


def canonical(message: dict) -> bytes:
    body = {k: v for k, v in message.items() if k not in ("kid", "signature")}
    body["kid"] = message.get("kid", "")
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def make(
    *,
    job: int,
    attempt: int,
    institution: str,
    printer: dict,
    data: bytes,
    issued_at: int,
    expires_at: int,
    kid: str,
    sign,
) -> dict:
    """A signed delivery; `sign(message bytes) -> signature bytes`."""
    message = {
        "format": FORMAT,
        "job": job,
        "attempt": attempt,
        "institution": institution,
        "printer": {name: printer.get(name) for name in PRINTER_FIELDS},
        "data": base64.b64encode(data).decode("ascii"),
        "issued_at": issued_at,
        "expires_at": expires_at,
        "kid": kid,
    }
    message["signature"] = sign(canonical(message)).hex()
    return message


def delivery_id(message: dict) -> str:
    """Job and attempt: a redelivery, or the platform publishing again after a crash,
    carries the same ID."""
    return f"{int(message['job'])}.{int(message['attempt'])}"


def verify(message: dict, key_set: dict, *, institution: str, now: float) -> tuple[Target, bytes]:
    """The printer and bytes of a delivery this site may print. Refuses (DeliveryRefused)
    an unknown format, an unknown or revoked key, a bad signature, a delivery for
    another institution or another institution's printer, a PDF printer, and an
    expired delivery."""
    if not isinstance(message, dict) or message.get("format") != FORMAT:
        raise DeliveryRefused("format", "not a print delivery")
    keys = {k.get("kid"): k for k in key_set.get("keys", [])}
    key = keys.get(message.get("kid"))
    if key is None or key.get("state") in ("revoked", "pending") or _past(key, now):
        raise DeliveryRefused("unknown_key", f"delivery key {message.get('kid')!r} is not trusted")
    try:
        verifier = signing.get(key["algorithm"]).verifier(bytes.fromhex(key["public_key"]))
        signature = bytes.fromhex(message.get("signature") or "")
    except (ValueError, TypeError, signing.UnsupportedAlgorithm):
        raise DeliveryRefused("bad_signature", "the delivery signature is malformed") from None
    if not verifier(canonical(message), signature):
        raise DeliveryRefused("bad_signature", "the delivery signature does not verify")
    printer = message.get("printer") or {}
    if message.get("institution") != institution or printer.get("institution") != institution:
        raise DeliveryRefused(
            "other_institution", "the delivery is for another institution's printer"
        )
    if printer.get("kind") == "pdf" or not str(printer.get("kind", "")).startswith("escpos"):
        raise DeliveryRefused("not_a_site_printer", "PDF printers are served by the platform")
    if now > float(message.get("expires_at", 0)):
        raise DeliveryRefused("expired", "the delivery expired before it could be printed")
    target = Target(**{name: printer[name] for name in PRINTER_FIELDS if name in printer})
    return target, base64.b64decode(message["data"])


def _past(key: dict, now: float) -> bool:
    """A retired key's validity ended (its not_after, ISO 8601 UTC)."""
    not_after = key.get("not_after")
    if not not_after:
        return False
    try:
        end = datetime.datetime.fromisoformat(not_after.replace("Z", "+00:00"))
    except ValueError:
        return True
    return now > end.timestamp()


def report(message: dict, institution: str, outcome: str, reason: str = "", error: str = ""):
    """What a site sends back about one delivery."""
    return {
        "format": REPORT_FORMAT,
        "job": int(message.get("job") or 0),
        "attempt": int(message.get("attempt") or 0),
        "institution": institution,
        "outcome": outcome,
        "reason": reason,
        "error": error[:500],
    }
