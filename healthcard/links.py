"""One code, many cards (多卡合一): numbers linked to a health card.

A card carries at most one social-security card number, one medical-insurance code,
one citizen-card number, and one local patient number per institution. A hospital's
local patient number is visible only to that hospital; `links_for` is the one place
that decides what an institution sees, and `may_change_shared` the one that decides
who may replace or remove a shared number. Numbers are encrypted at rest with a blind
index beside them, and audit records name the kind, never the number.
"""

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from healthcard import access, audit, pii, sql
from healthcard.errors import DomainError, NotAllowed
from healthcard.models import Card, CardLink, CardStatus, Institution, LinkKind, Terminal

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


def _owner(kind: str, institution: Institution | None) -> Institution | None:
    return institution if kind == LinkKind.LOCAL_PATIENT else None


def may_change_shared(link: CardLink, *, by: Any) -> bool:
    """The rule for replacing or removing a shared number (social security, medical
    insurance, citizen card), which every institution sees and relies on: only the
    institution that set it, the holder (a resident account that holds or manages the
    card), province-wide staff, or the platform itself (None) may. Anyone may set the
    first one."""
    if by is None:
        return True
    if isinstance(by, Terminal):
        return by.institution_id == link.source_institution_id
    if access.is_staff_user(by):
        scope = access.staff_institution(by)
        return scope is None or (scope is not False and scope.pk == link.source_institution_id)
    return access.resident_manages(by, link.card.person)


def _require_may_change(link: CardLink, *, by: Any) -> None:
    if link.kind == LinkKind.LOCAL_PATIENT:
        return  # found under the acting institution's own key: it is theirs
    if not may_change_shared(link, by=by):
        raise NotAllowed(
            "link_not_yours",
            _(
                "This number was linked by another institution; only that institution, "
                "the card holder or a province administrator can change or remove it."
            ),
        )


def _audit(
    action: str,
    card: Card,
    *,
    kind: str,
    acting: Institution,
    set_by: Institution | None,
    by: Any,
    ip: str | None,
    **details: Any,
) -> None:
    """One record under the acting institution; for a shared number also one under the
    institution that had set it and one under the card's issuing institution (the
    holder's), so that each sees a change made by someone else in its own audit trail."""
    audit.record(action, actor=by, obj=card, institution=acting, ip=ip, kind=kind, **details)
    if kind == LinkKind.LOCAL_PATIENT:
        return
    others = []
    for institution in (set_by, card.institution):
        if institution is not None and institution.pk != acting.pk and institution not in others:
            others.append(institution)
    for institution in others:
        audit.record(
            action,
            actor=by,
            obj=card,
            institution=institution,
            ip=ip,
            kind=kind,
            acting_institution=acting.code,
            **details,
        )


def link(
    card: Card,
    kind: str,
    number: Any,
    *,
    institution: Institution | None,
    by: Any = None,
    ip: str | None = None,
) -> tuple[CardLink, bool]:
    """Link `number` to `card` as `kind` on behalf of `institution`, replacing the
    previous number of that kind (for local patient numbers: that institution's).
    Returns (link, created). `institution` may be None only for a shared number set by
    the holder (recorded as set by the card's issuing institution).

    Refuses an invalid number (ValidationError), a cancelled card (LinkError
    'card_cancelled'), and replacing a shared number the caller may not change
    (NotAllowed 'link_not_yours', see may_change_shared). The change is audited under
    every institution concerned (_audit)."""
    number = normalise_number(kind, number)
    if card.status == CardStatus.CANCELLED:
        raise LinkError("card_cancelled", _("The card is cancelled."))
    if institution is None and kind == LinkKind.LOCAL_PATIENT:
        raise ValidationError({"kind": [_("A local patient number belongs to an institution.")]})
    acting = institution or card.institution
    owner = _owner(kind, institution)
    values = {
        "number_enc": pii.encrypt(number, "card_link"),
        "number_index": number_index(kind, owner, number),
        "source_institution": acting,
    }
    for _attempt in range(2):
        try:
            with transaction.atomic():
                existing = (
                    CardLink.objects.select_for_update()
                    .select_related("source_institution")
                    .filter(card=card, kind=kind, institution=owner)
                    .first()
                )
                set_by = None
                if existing is not None:
                    if existing.number_index == values["number_index"]:
                        return existing, False  # same number again: nothing to change
                    existing.card = card
                    _require_may_change(existing, by=by)
                    set_by = existing.source_institution
                    for field, value in values.items():
                        setattr(existing, field, value)
                    existing.save()
                    obj, created = existing, False
                else:
                    obj = CardLink.objects.create(card=card, kind=kind, institution=owner, **values)
                    created = True
                _audit(
                    "card.link",
                    card,
                    kind=kind,
                    acting=acting,
                    set_by=set_by,
                    by=by,
                    ip=ip,
                    replaced=not created,
                )
                return obj, created
        except IntegrityError:
            continue  # a concurrent first link won the insert: update it instead
    raise LinkError("conflict", _("The number was changed at the same time; try again."))


def unlink(
    card: Card,
    kind: str,
    *,
    institution: Institution | None,
    by: Any = None,
    ip: str | None = None,
) -> bool:
    """Remove the `kind` number from `card` (for local patient numbers: only
    `institution`'s own). Returns False when there was none. Refuses removing a shared
    number the caller may not change (NotAllowed 'link_not_yours'); audited like link."""
    if kind not in LinkKind.values:
        raise ValidationError({"kind": [_("Unknown kind of linked number.")]})
    if institution is None and kind == LinkKind.LOCAL_PATIENT:
        return False
    with transaction.atomic():
        existing = (
            CardLink.objects.select_for_update()
            .select_related("source_institution")
            .filter(card=card, kind=kind, institution=_owner(kind, institution))
            .first()
        )
        if existing is None:
            return False
        existing.card = card
        _require_may_change(existing, by=by)
        existing.delete()
        _audit(
            "card.unlink",
            card,
            kind=kind,
            acting=institution or card.institution,
            set_by=existing.source_institution,
            by=by,
            ip=ip,
        )
    return True


def links_for(card: Card, institution: Institution) -> dict[str, CardLink]:
    """The links `institution` may see, by kind: the shared kinds and its own local
    patient number, never another institution's."""
    prefetched = getattr(card, "prefetched_links", None)  # sql.card_by_ehc_id(links_for=)
    if prefetched is not None and prefetched[0] == institution.pk:
        visible = prefetched[1]
    else:
        visible = sql.visible_links(card.pk, institution.pk)
    return {link.kind: link for link in visible}
