"""One code, many cards (多卡合一): numbers linked to a health card.

A card carries at most one social-security card number, one medical-insurance code,
one citizen-card number, and one local patient number per institution. A hospital's
local patient number is visible only to that hospital; `links_for` is the one place
that decides what an institution sees. Numbers are encrypted at rest with a blind
index beside them, and audit records name the kind, never the number.
"""

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from healthcard import audit, pii, sql
from healthcard.errors import DomainError
from healthcard.models import Card, CardLink, CardStatus, Institution, LinkKind

# Local patient numbers are whatever the hospital's HIS uses (digits, letters, a few
# separators); the other kinds are digits and capital letters after normalisation.
_FORMATS = {
    LinkKind.LOCAL_PATIENT: re.compile(r"^[0-9A-Za-z][0-9A-Za-z\-_./]{0,39}$"),
    LinkKind.SOCIAL_SECURITY: re.compile(r"^[0-9A-Z]{6,30}$"),
    LinkKind.MEDICAL_INSURANCE: re.compile(r"^[0-9A-Z]{6,40}$"),
    LinkKind.CITIZEN_CARD: re.compile(r"^[0-9A-Z]{6,30}$"),
}


class LinkError(DomainError):
    """A refused link operation; `code` is stable, the message is for people."""


def normalise_number(kind: str, raw: Any) -> str:
    """Validate a number for `kind`; raise ValidationError on `number`."""
    if kind not in _FORMATS:
        raise ValidationError({"kind": [_("Unknown kind of linked number.")]})
    number = re.sub(r"\s+", "", str(raw or ""))
    if kind != LinkKind.LOCAL_PATIENT:
        number = number.upper()
    if not number:
        raise ValidationError({"number": [_("Enter the number.")]})
    if not _FORMATS[kind].match(number):
        raise ValidationError({"number": [_("This is not a valid number of this kind.")]})
    return number


def number_index(kind: str, institution: Institution | None, number: str) -> str:
    owner = institution.code if institution is not None else ""
    return pii.blind_index(f"{kind}:{owner}:{number}", "card_link")


def _owner(kind: str, institution: Institution) -> Institution | None:
    return institution if kind == LinkKind.LOCAL_PATIENT else None


def link(
    card: Card,
    kind: str,
    number: Any,
    *,
    institution: Institution,
    by: Any = None,
    ip: str | None = None,
) -> tuple[CardLink, bool]:
    """Link `number` to `card` as `kind` on behalf of `institution`, replacing the
    previous number of that kind (for local patient numbers: that institution's).
    Returns (link, created). Refuses an invalid number (ValidationError) and a
    cancelled card (LinkError 'card_cancelled')."""
    number = normalise_number(kind, number)
    if card.status == CardStatus.CANCELLED:
        raise LinkError("card_cancelled", _("The card is cancelled."))
    owner = _owner(kind, institution)
    values = {
        "number_enc": pii.encrypt(number, "card_link"),
        "number_index": number_index(kind, owner, number),
        "source_institution": institution,
    }
    for _attempt in range(2):
        try:
            with transaction.atomic():
                existing = (
                    CardLink.objects.select_for_update()
                    .filter(card=card, kind=kind, institution=owner)
                    .first()
                )
                if existing is not None:
                    if existing.number_index == values["number_index"]:
                        return existing, False  # same number again: nothing to change
                    for field, value in values.items():
                        setattr(existing, field, value)
                    existing.save()
                    obj, created = existing, False
                else:
                    obj = CardLink.objects.create(card=card, kind=kind, institution=owner, **values)
                    created = True
                audit.record(
                    "card.link",
                    actor=by,
                    obj=card,
                    institution=institution,
                    ip=ip,
                    kind=kind,
                    replaced=not created,
                )
                return obj, created
        except IntegrityError:
            continue  # a concurrent first link won the insert: update it instead
    raise LinkError("conflict", _("The number was changed at the same time; try again."))


def unlink(
    card: Card, kind: str, *, institution: Institution, by: Any = None, ip: str | None = None
) -> bool:
    """Remove the `kind` number from `card` (for local patient numbers: only
    `institution`'s own). Returns False when there was none."""
    if kind not in LinkKind.values:
        raise ValidationError({"kind": [_("Unknown kind of linked number.")]})
    with transaction.atomic():
        deleted, _counts = CardLink.objects.filter(
            card=card, kind=kind, institution=_owner(kind, institution)
        ).delete()
        if deleted:
            audit.record(
                "card.unlink", actor=by, obj=card, institution=institution, ip=ip, kind=kind
            )
    return bool(deleted)


def links_for(card: Card, institution: Institution) -> dict[str, CardLink]:
    """The links `institution` may see, by kind: the shared kinds and its own local
    patient number, never another institution's."""
    visible = sql.visible_links(card.pk, institution.pk)  # every verification: plain SQL
    return {link.kind: link for link in visible}
