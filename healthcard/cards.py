"""Cards: issuance, status, replacement (people and family live in healthcard.people).

Every function here runs in one transaction and writes its audit record inside it, so
either the whole change with its audit entry is committed or nothing is.
"""

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ehccode import national
from healthcard import access, audit, keys
from healthcard.errors import DomainError, NotAllowed
from healthcard.models import Card, CardStatus, Channel, Institution, Person, Scope, Terminal
from healthcard.people import (
    PersonData,
    clean_person_data,
    find_person,
    register_person,
    same_name,
)

__all__ = [
    "CardError",
    "PersonData",
    "issue_card",
    "register_and_issue",
    "replace_card",
    "require_active",
    "set_status",
]


class CardError(DomainError):
    """A refused card operation."""


def require_active(card: Card) -> None:
    """The one rule for operations that need a usable card (codes, prints, replacement,
    sign-in): refuse a frozen or cancelled card with its reason."""
    if card.status == CardStatus.FROZEN:
        raise CardError("card_frozen", _("The card is frozen."))
    if card.status == CardStatus.CANCELLED:
        raise CardError("card_cancelled", _("The card is cancelled."))


def issue_card(
    person: Person,
    *,
    channel: str,
    institution: Institution,
    by: Any = None,
    ip: str | None = None,
    details: dict | None = None,
) -> Card:
    """Issue the person's one card. `details` (no personal data) go into the audit row.
    Refuses (CardError 'already_issued') when the
    person has a card already, whatever its status, and (CardError 'channel') an
    application channel that is not one of the national codes."""
    if channel not in Channel.values:
        # The column has choices, but save() does not check them.
        raise CardError("channel", _("Unknown application channel."))
    now = timezone.now()
    ehc_id = national.derive_ehc_id(
        bytes.fromhex(person.master_index), person.id_type, person.id_number, keys.root_key()
    )
    card = Card(
        person=person,
        ehc_id=ehc_id,
        channel=channel,
        institution=institution,
        issued_by=by if isinstance(by, get_user_model()) else None,
        issued_at=now,
        seq_issued_at=now,
    )
    try:
        with transaction.atomic():
            card.save()
            audit.record(
                "card.issue",
                actor=by,
                obj=card,
                institution=institution,
                ip=ip,
                channel=channel,
                issue_seq=card.issue_seq,
                **(details or {}),
            )
    except IntegrityError:
        if Card.objects.filter(person=person).exists():
            raise CardError("already_issued", _("This person already has a health card.")) from None
        raise
    return card


def register_and_issue(
    data: PersonData,
    *,
    channel: str,
    institution: Institution,
    by: Any = None,
    ip: str | None = None,
    details: dict | None = None,
) -> tuple[Card, bool]:
    """Register the person if new and issue their card; for a known identity return
    the existing card. Returns (card, created). `details` go into the audit rows.

    An identity already on file is answered only when the given name is the one on
    file (people.same_name: after normalisation); otherwise CardError
    'identity_mismatch' and nothing about the card, since an ID number alone is no
    proof of being its holder. Every existing card handed back this way writes a
    `card.lookup` audit record; a refused one too, with result 'identity_mismatch'
    (and nothing else is written), so that probing shows in the audit log.

    Also when the same identity is being registered concurrently (a terminal retrying
    a request that timed out): the one that loses the race on the unique constraint
    returns the winner's card instead of refusing a duplicate.

    A terminal needs the `register` scope and acts for its own institution only
    (NotAllowed)."""
    if isinstance(by, Terminal):
        access.require_scope(by, Scope.REGISTER)
        if institution.pk != by.institution_id:
            raise NotAllowed("institution_mismatch")
    data = clean_person_data(data)
    with transaction.atomic():
        person = find_person(data.id_type, data.id_number)
        if person is None:
            try:
                person = register_person(
                    data, by=by, institution=institution, ip=ip, details=details
                )
            except ValidationError:
                # Registered by a concurrent call since find_person looked (its
                # savepoint was rolled back, so this transaction can go on).
                person = find_person(data.id_type, data.id_number)
                if person is None:
                    raise
        if same_name(person.name, data.name):
            existing = Card.objects.filter(person=person).first()
            if existing is None:
                try:
                    card = issue_card(
                        person,
                        channel=channel,
                        institution=institution,
                        by=by,
                        ip=ip,
                        details=details,
                    )
                    return card, True
                except CardError as exc:
                    if exc.code != "already_issued":
                        raise
                    existing = Card.objects.get(person=person)
            audit.record(
                "card.lookup",
                actor=by,
                obj=existing,
                institution=institution,
                ip=ip,
                channel=channel,
            )
            return existing, False
    # Outside the transaction above, which may have registered nothing: only this.
    audit.record(
        "card.lookup",
        actor=by,
        obj=person,
        institution=institution,
        ip=ip,
        result="identity_mismatch",
        channel=channel,
    )
    raise CardError(
        "identity_mismatch",
        _("The name does not match the one registered for this identity document."),
    )


def _require_may_act(by: Any, card: Card, perm: str) -> None:
    """Staff with `perm` who may see the holder, a resident who holds or manages the
    card, or the platform itself (None); never a terminal (NotAllowed)."""
    if isinstance(by, Terminal):
        raise NotAllowed()
    if access.is_staff_user(by):
        access.require_perm(by, perm)
    access.require_person_access(by, card.person)


def set_status(card: Card, status: str, *, by: Any, reason: str, ip: str | None = None) -> Card:
    """Move a card along Card.TRANSITIONS; refuse anything else with CardError. Staff
    need `healthcard.change_card_status` (supervisors) and the holder within their
    institution; a resident may change the cards they hold or manage (reporting a loss)."""
    _require_may_act(by, card, "healthcard.change_card_status")
    reason = (reason or "").strip()
    if not reason:
        raise CardError("reason_required", _("Give a reason for the status change."))
    with transaction.atomic():
        card = Card.objects.select_for_update().get(pk=card.pk)
        old = card.status
        if not card.can_become(status):
            raise CardError(
                "invalid_transition",
                _("A %(old)s card cannot become %(new)s.")
                % {
                    "old": card.get_status_display(),
                    # An unknown status is refused like any other transition.
                    "new": CardStatus(status).label if status in CardStatus.values else status,
                },
            )
        card.status = status
        card.status_reason = reason[:200]
        card.save(update_fields=["status", "status_reason", "updated_at"])
        audit.record(
            "card.status",
            actor=by,
            obj=card,
            institution=card.institution,
            ip=ip,
            old=old,
            new=status,
            reason=reason[:200],
        )
        # Same transaction: offline terminals learn of the change at their next sync.
        from healthcard import revocations

        revocations.for_status_change(card, old, status)
    return card


def replace_card(card: Card, *, by: Any, reason: str, ip: str | None = None) -> Card:
    """Replace a lost or damaged card: the issue sequence goes up by one so that every
    code printed before stops verifying (as 'superseded'). Refuses a card that is not
    active (require_active: CardError 'card_frozen' or 'card_cancelled'). Staff need
    `healthcard.add_card` (clerks) and the holder within their institution."""
    _require_may_act(by, card, "healthcard.add_card")
    with transaction.atomic():
        card = Card.objects.select_for_update().get(pk=card.pk)
        require_active(card)
        card.issue_seq += 1
        card.seq_issued_at = timezone.now()
        card.save(update_fields=["issue_seq", "seq_issued_at", "updated_at"])
        audit.record(
            "card.replace",
            actor=by,
            obj=card,
            institution=card.institution,
            ip=ip,
            issue_seq=card.issue_seq,
            reason=(reason or "")[:200],
        )
        # Same transaction: codes of every earlier issue sequence stop verifying offline.
        from healthcard import revocations

        revocations.append(card, "superseded", issue_seq=card.issue_seq)
    return card
