"""Signed QR codes: make a card's static or dynamic code, and verify a scanned code
online (signature, key state, expiry, and the card's live status and issue sequence).

The text format, the signed bytes and the order of checks are normative in
docs/qr-format.md; the parts that need no database live in the ehccode library, which
terminals use for offline verification, so online and offline verification cannot drift.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext
from ehccode.keyset import verifier_for

from ehccode import (
    CST,
    MAX_DYNAMIC_LIFETIME,
    KeyInfo,
    ParsedCode,
    Reason,
    Rejected,
    Verification,
    card_ref,
    check,
    dynamic_prefix,
    finish,
    national,
    parse,
    static_prefix,
)
from healthcard import keys, keystate, sql
from healthcard.cards import CardError, require_active
from healthcard.models import Card, CardStatus

__all__ = [
    "CodeError",
    "Reason",
    "Verification",
    "card_ref",
    "dynamic_code",
    "public_key_set",
    "static_code",
    "static_codes",
    "verify_code",
]


class CodeError(CardError):
    """A code cannot be made for this card; `reason` (= `code`) is a Reason value."""

    def __init__(self, reason: str):
        super().__init__(reason, gettext(Reason.MESSAGES[reason]))

    @property
    def reason(self) -> str:
        return self.code


def _require_active(card: Card) -> None:
    """cards.require_active (the one rule), refused as the CodeError of that reason."""
    try:
        require_active(card)
    except CardError as exc:
        raise CodeError(exc.code) from None


def _issue_date(card: Card) -> datetime.date:
    return card.seq_issued_at.astimezone(CST).date()


def static_code(card: Card) -> str:
    """The signed static code of the card's current issue sequence, signed with the
    active code-signing key. Raises CodeError(card_frozen | card_cancelled) unless the
    card is active."""
    _require_active(card)
    kid, sign = keys.code_signer()
    return finish(static_prefix(card.ehc_id, card.issue_seq, _issue_date(card), kid), sign)


def static_codes(cards) -> list[str]:
    """Static codes for many cards with one key lookup (bulk issuance and printing).
    Raises CodeError for the first card that is not active."""
    kid, sign = keys.code_signer()
    out = []
    for card in cards:
        _require_active(card)
        out.append(finish(static_prefix(card.ehc_id, card.issue_seq, _issue_date(card), kid), sign))
    return out


def dynamic_code(
    card: Card, *, lifetime: int | None = None, now: datetime.datetime | None = None
) -> str:
    """A dynamic code valid for `lifetime` seconds (default
    HEALTHCARD_DYNAMIC_CODE_SECONDS) from `now`: the national VALIDITY under the
    active protection key, the organisation code, and our signed expiry.
    Refuses inactive cards (CodeError) and lifetimes outside 1 s .. 1 h (ValueError)."""
    _require_active(card)
    if lifetime is None:
        lifetime = settings.HEALTHCARD_DYNAMIC_CODE_SECONDS
    if not 0 < lifetime <= MAX_DYNAMIC_LIFETIME.total_seconds():
        raise ValueError("a dynamic code lives between 1 second and 1 hour")
    now = now or timezone.now()
    # Whole seconds: the national field and our expiry field both carry seconds.
    expires_at = (now + datetime.timedelta(seconds=lifetime)).replace(microsecond=0)
    validity = national.encode_validity(
        expires_at.astimezone(CST).replace(tzinfo=None), keys.protection_secret()
    )
    kid, sign = keys.code_signer()
    prefix = dynamic_prefix(card.ehc_id, validity, settings.HEALTHCARD_ORG_CODE, expires_at, kid)
    return finish(prefix, sign)


# Decoding a public key is most of the cost of a verifier, and the bytes of a key never
# change: cached on them. State and window are never cached (a revocation is immediate).
_verifier = functools.lru_cache(maxsize=256)(verifier_for)


def _key_info(kid: str) -> KeyInfo | None:
    # Key state from the process's snapshot (healthcard.keystate): no query per
    # verification, and a revocation applies everywhere within keystate.MAX_AGE_SECONDS.
    key = keystate.signing_key(kid)
    if key is None:
        return None
    return KeyInfo(
        kid=key.kid,
        algorithm=key.algorithm,
        state=key.state,
        verify=_verifier(key.algorithm, bytes(key.public_key)),
        not_before=key.not_before,
        not_after=key.not_after,
        retired_at=key.retired_at,
    )


def _check_validity(code: ParsedCode) -> None:
    """Online only: the national VALIDITY must decrypt, under the current or the
    previous protection key, to the same expiry the signature covers."""
    want = code.expires_at.astimezone(CST).replace(tzinfo=None)
    for key in keystate.protection_keys():
        if national.decode_validity(code.validity, keys.protection_secret_for(key)) == want:
            return
    raise Rejected(Reason.UNKNOWN_KEY, ehc_id=code.ehc_id, kind=code.kind, kid=code.kid)


def verify_code(
    text: str, *, at: datetime.datetime | None = None, links_for: int | None = None
) -> Verification:
    """Verify a scanned code online. Never raises on bad input and never returns a card
    unless the code is valid: the result carries a Reason value otherwise. With
    `links_for` (an institution ID) the card comes with the numbers linked to it that
    this institution may see, fetched with it (healthcard.sql). Checks, in
    order: parse (malformed, unsupported_version), key (unknown_key, key_revoked),
    signature (bad_signature), times (expired, not_yet_valid, key_retired), national
    VALIDITY (dynamic), card (unknown_card, card_cancelled, card_frozen, superseded)."""
    at = at or timezone.now()
    try:
        code = parse(text)
        check(code, _key_info(code.kid), at)
        seen = {"ehc_id": code.ehc_id, "kind": code.kind, "kid": code.kid}
        if code.kind == "dynamic":
            _check_validity(code)
        card = sql.card_by_ehc_id(code.ehc_id, links_for=links_for)  # plain SQL
        if card is None:
            raise Rejected(Reason.UNKNOWN_CARD, **seen)
        if card.status == CardStatus.CANCELLED:
            raise Rejected(Reason.CARD_CANCELLED, **seen)
        if card.status == CardStatus.FROZEN:
            raise Rejected(Reason.CARD_FROZEN, **seen)
        if code.kind == "static" and code.issue_seq != card.issue_seq:
            # A higher sequence than the card's was never issued: treat it as unknown.
            reason = Reason.SUPERSEDED if code.issue_seq < card.issue_seq else Reason.UNKNOWN_CARD
            raise Rejected(reason, **seen)
    except Rejected as exc:
        return _translated(Verification.refused(exc))
    return _translated(Verification.accepted(code, card))


def _translated(result: Verification) -> Verification:
    # ehccode's messages are English msgids of the platform's catalogue.
    return dataclasses.replace(result, message=gettext(result.message))


def public_key_set() -> dict:
    """JSON-ready key set for GET /api/v1/keys: every published code-signing key with
    its ID, algorithm, public key (hex), state and validity window, plus an `etag`."""
    return keys.public_key_set()
