"""People and cards: registration, issuance, status, replacement, family.

Every function here runs in one transaction and writes its audit record inside it, so
either the whole change with its audit entry is committed or nothing is.
"""

import datetime
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from healthcard import audit, keys, national
from healthcard.identity import (
    NATIONS,
    normalise_id_number,
    normalise_name,
    validate_identity,
    validate_phone,
)
from healthcard.models import (
    Card,
    CardStatus,
    Channel,
    Guardianship,
    Institution,
    Person,
    Relation,
)


class CardError(Exception):
    """A refused card operation; `code` is stable, the message is for people."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class PersonData:
    name: str
    id_type: str
    id_number: str
    sex: str | None = None
    birth_date: datetime.date | None = None
    nation: str = ""
    phone: str = ""
    address: str = ""


def clean_person_data(data: PersonData) -> PersonData:
    """Validate every field; raise one ValidationError with all field errors."""
    errors: dict[str, list] = {}
    name = phone = None
    try:
        name = normalise_name(data.name)
    except ValidationError as exc:
        errors["name"] = exc.messages
    identity = None
    try:
        identity = validate_identity(data.id_type, data.id_number, data.sex, data.birth_date)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if data.phone:
        try:
            phone = validate_phone(data.phone)
        except ValidationError as exc:
            errors["phone"] = exc.messages
    if data.nation and data.nation not in dict(NATIONS):
        errors["nation"] = [_("Unknown nation code.")]
    address = (data.address or "").strip()
    if len(address) > 200:
        errors["address"] = [_("The address is longer than 200 characters.")]
    if errors:
        raise ValidationError(errors)
    return PersonData(
        name=name,
        id_type=identity.id_type,
        id_number=identity.id_number,
        sex=identity.sex,
        birth_date=identity.birth_date,
        nation=data.nation or "",
        phone=phone or "",
        address=address,
    )


def find_person(id_type: str, id_number: str) -> Person | None:
    """Exact lookup through the blind index (the number is normalised first)."""
    index = Person.identity_index_for(id_type, normalise_id_number(id_type, id_number))
    return Person.objects.filter(identity_index=index).first()


def register_person(
    data: PersonData,
    *,
    actor: Any = None,
    institution: Institution | None = None,
    ip: str | None = None,
) -> Person:
    """Create a person after validation, registered by `institution` (None for online
    self-service). Refuses a second registration of the same identity with a
    ValidationError on id_number."""
    data = clean_person_data(data)
    person = Person(
        name=data.name,
        sex=data.sex,
        birth_date=data.birth_date,
        nation=data.nation,
        registered_by=institution,
    )
    person.set_identity(data.id_type, data.id_number)
    person.phone = data.phone
    person.address = data.address
    try:
        with transaction.atomic():
            person.save()
            audit.record("person.register", actor=actor, obj=person, institution=institution, ip=ip)
    except IntegrityError:
        if Person.objects.filter(identity_index=person.identity_index).exists():
            raise ValidationError(
                {"id_number": [_("A person with this identity document is already registered.")]}
            ) from None
        raise
    return person


def issue_card(
    person: Person,
    *,
    channel: str,
    institution: Institution,
    by: Any = None,
    ip: str | None = None,
) -> Card:
    """Issue the person's one card. Refuses (CardError 'already_issued') when the
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
) -> tuple[Card, bool]:
    """Register the person if new and issue their card; for a known identity return
    the existing card. Returns (card, created).

    Also when the same identity is being registered concurrently (a terminal retrying
    a request that timed out): the one that loses the race on the unique constraint
    returns the winner's card instead of refusing a duplicate."""
    data = clean_person_data(data)
    with transaction.atomic():
        person = find_person(data.id_type, data.id_number)
        if person is None:
            try:
                person = register_person(data, actor=by, institution=institution, ip=ip)
            except ValidationError:
                # Registered by a concurrent call since find_person looked (its
                # savepoint was rolled back, so this transaction can go on).
                person = find_person(data.id_type, data.id_number)
                if person is None:
                    raise
        existing = Card.objects.filter(person=person).first()
        if existing is not None:
            return existing, False
        try:
            card = issue_card(person, channel=channel, institution=institution, by=by, ip=ip)
        except CardError as exc:
            if exc.code != "already_issued":
                raise
            return Card.objects.get(person=person), False
        return card, True


def set_status(card: Card, status: str, *, by: Any, reason: str, ip: str | None = None) -> Card:
    """Move a card along Card.TRANSITIONS; refuse anything else with CardError."""
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
    code printed before stops verifying (as 'superseded'). Only active cards."""
    with transaction.atomic():
        card = Card.objects.select_for_update().get(pk=card.pk)
        if card.status != CardStatus.ACTIVE:
            raise CardError(
                "not_active", _("Only an active card can be replaced; unfreeze it first.")
            )
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


def add_dependant(
    guardian: Person, dependant: Person, relation: str, *, by: Any = None
) -> Guardianship:
    """Let `guardian` manage `dependant`'s card. Refuses self-links and unknown relations."""
    if guardian.pk == dependant.pk:
        raise CardError("self", _("A person cannot be their own family member."))
    if relation not in Relation.values:
        raise CardError("relation", _("Unknown family relation."))
    with transaction.atomic():
        link, created = Guardianship.objects.get_or_create(
            guardian=guardian, dependant=dependant, defaults={"relation": relation}
        )
        if created:
            audit.record("family.add", actor=by, obj=link, relation=relation)
    return link
