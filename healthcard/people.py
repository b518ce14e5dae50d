"""People: registration, changes, family links, and the one way to see full identity.

Every write runs in one transaction with its audit record. `reveal_person` is the only
function that hands out a person's full name, ID number, phone or address; everything
else shows the masked forms on the model (`masked_name`, `masked_id_number` ...).
"""

import datetime
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from healthcard import access, audit
from healthcard.errors import DomainError, NotAllowed
from healthcard.identity import (
    NATIONS,
    normalise_id_number,
    normalise_name,
    validate_identity,
    validate_phone,
)
from healthcard.models import Guardianship, Institution, Person, Relation, Scope, Terminal


class PersonError(DomainError):
    """A refused change to a person or a family link."""


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


MAX_ADDRESS = 200


def _clean_address(value: str | None, errors: dict) -> str:
    address = (value or "").strip()
    if len(address) > MAX_ADDRESS:
        errors["address"] = [_("The address is longer than 200 characters.")]
    elif any(ord(ch) < 32 or 0x7F <= ord(ch) < 0xA0 for ch in address):
        errors["address"] = [_("The address contains control characters.")]
    return address


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
    address = _clean_address(data.address, errors)
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


def same_name(on_file: str, given: str) -> bool:
    """Whether `given` is the name on file, after the normalisation every name gets
    at registration (NFC, trimmed, inner spaces collapsed) and ignoring letter case
    (Latin names). A name that would not pass registration never matches."""
    try:
        given = normalise_name(given)
    except ValidationError:
        return False
    return given.casefold() == (on_file or "").casefold()


def find_person(id_type: str, id_number: str) -> Person | None:
    """Exact lookup through the blind index (the number is normalised first)."""
    index = Person.identity_index_for(id_type, normalise_id_number(id_type, id_number))
    return Person.objects.filter(identity_index=index).first()


def lookup_person(
    id_type: str, id_number: str, *, by: Any, ip: str | None = None
) -> tuple[Person | None, bool]:
    """A staff member's exact search by ID document: (person, elsewhere). The person
    only when the staff member may see them; `elsewhere` is True for someone registered
    outside their institution, who is not handed out (only the fact that they are
    registered, so that nobody registers them twice). A hit is audited
    (`person.lookup`, result `denied` when elsewhere), so testing ID numbers leaves a
    trace."""
    access.require_perm(by, "healthcard.view_person")
    person = find_person(id_type, id_number)
    if person is None:
        return None, False
    visible = access.staff_may_see_person(by, person) if access.is_staff_user(by) else True
    profile = getattr(by, "staff_profile", None)
    audit.record(
        "person.lookup",
        actor=by,
        obj=person,
        institution=profile.institution if profile is not None else None,
        ip=ip,
        result="ok" if visible else "denied",
    )
    return (person, False) if visible else (None, True)


def register_person(
    data: PersonData,
    *,
    by: Any = None,
    institution: Institution | None = None,
    ip: str | None = None,
    details: dict | None = None,
) -> Person:
    """Create a person after validation, registered by `institution` (None for online
    self-service). Staff need `healthcard.add_person` and register for their own
    institution only, unless province-wide (NotAllowed). Refuses a second registration
    of the same identity with a ValidationError on id_number. `details` (no personal
    data) go into the audit record, e.g. that the ID document was checked in person."""
    if access.is_staff_user(by):
        access.require_perm(by, "healthcard.add_person")
        scope = access.staff_institution(by)
        if scope is not None and (institution is None or scope.pk != institution.pk):
            raise NotAllowed()
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
            audit.record(
                "person.register",
                actor=by,
                obj=person,
                institution=institution,
                ip=ip,
                **(details or {}),
            )
    except IntegrityError:
        if Person.objects.filter(identity_index=person.identity_index).exists():
            raise ValidationError(
                {"id_number": [_("A person with this identity document is already registered.")]}
            ) from None
        raise
    return person


#: What change_person may change: the identity (type, number) defines the EHC ID and is
#: never edited in place; name, sex and birth date follow it.
CHANGEABLE = ("phone", "address", "nation")
#: What a counter clerk may change with `healthcard.change_contact` alone.
CONTACT = ("phone", "address")
CONTACT_PERMISSION = "healthcard.change_contact"


def clean_changes(changes: dict[str, Any]) -> dict[str, str]:
    """Validate what change_person would change (a form checks with this first): the
    clean values by field. Refuses other fields (PersonError 'not_changeable') and
    invalid values (one ValidationError with every field's messages)."""
    unknown = sorted(set(changes) - set(CHANGEABLE))
    if unknown:
        raise PersonError(
            "not_changeable",
            _("These details cannot be changed here: %(fields)s.") % {"fields": ", ".join(unknown)},
        )
    errors: dict[str, list] = {}
    values: dict[str, str] = {}
    if "phone" in changes:
        raw = (changes["phone"] or "").strip()
        try:
            values["phone"] = validate_phone(raw) if raw else ""
        except ValidationError as exc:
            errors["phone"] = exc.messages
    if "address" in changes:
        values["address"] = _clean_address(changes["address"], errors)
    if "nation" in changes:
        nation = changes["nation"] or ""
        if nation and nation not in dict(NATIONS):
            errors["nation"] = [_("Unknown nation code.")]
        values["nation"] = nation
    if errors:
        raise ValidationError(errors)
    return values


def change_person(
    person: Person, *, by: Any, ip: str | None = None, **changes: Any
) -> tuple[Person, list[str]]:
    """Change a person's phone, address or nation (an empty phone or address removes
    it). Staff need `healthcard.change_person` (or `healthcard.change_contact` for
    phone and address only) and the person within their institution; a resident may
    change the people whose cards they manage; terminals may not. Returns (person,
    names of the fields that changed) and audits `person.change` when anything did.
    Refuses what clean_changes refuses, and callers who may not (NotAllowed 'forbidden'
    or 'not_found')."""
    contact_only = bool(changes) and set(changes) <= set(CONTACT)
    perm = "healthcard.change_person"
    if contact_only and access.is_staff_user(by) and by.has_perm(CONTACT_PERMISSION):
        perm = CONTACT_PERMISSION
    _require_may_manage(by, person, perm)
    values = clean_changes(changes)
    with transaction.atomic():
        person = Person.objects.select_for_update().get(pk=person.pk)
        changed = [field for field, value in values.items() if getattr(person, field) != value]
        if not changed:
            return person, []
        for field in changed:
            setattr(person, field, values[field])
        person.save()
        audit.record(
            "person.change",
            actor=by,
            obj=person,
            institution=_institution_of(person),
            ip=ip,
            fields=changed,
        )
    return person, changed


def _require_may_manage(by: Any, person: Person, perm: str) -> None:
    """Staff with `perm` who may see the person, or a resident who holds or manages
    the card, or the platform itself (None). Terminals manage no one."""
    if isinstance(by, Terminal):
        raise NotAllowed()
    if access.is_staff_user(by):
        access.require_perm(by, perm)
    access.require_person_access(by, person)


def _institution_of(person: Person) -> Institution | None:
    card = getattr(person, "card", None)
    return card.institution if card is not None else person.registered_by


def add_dependant(
    guardian: Person, dependant: Person, relation: str, *, by: Any = None, ip: str | None = None
) -> Guardianship:
    """Let `guardian` manage `dependant`'s card (`family.add`); for an existing link
    with another relation, change the relation (`family.change`). Staff need
    `healthcard.add_guardianship` and both people within their institution; a
    resident may add only to their own person; terminals may not (NotAllowed).
    Refuses self-links and unknown relations (PersonError). Limits on how many family
    members or managers are the caller's policy (the portal's) and are checked there
    before this is called."""
    if guardian.pk == dependant.pk:
        raise PersonError("self", _("A person cannot be their own family member."))
    if relation not in Relation.values:
        raise PersonError("relation", _("Unknown family relation."))
    if isinstance(by, Terminal):
        raise NotAllowed()
    if access.is_staff_user(by):
        access.require_perm(by, "healthcard.add_guardianship")
        access.require_person_access(by, guardian)
        access.require_person_access(by, dependant)
    elif by is not None:
        own = getattr(by, "person", None)
        if own is None or own.pk != guardian.pk:
            raise NotAllowed("not_found")
    with transaction.atomic():
        link, created = Guardianship.objects.select_for_update().get_or_create(
            guardian=guardian, dependant=dependant, defaults={"relation": relation}
        )
        if created:
            audit.record("family.add", actor=by, obj=link, ip=ip, relation=relation)
        elif link.relation != relation:
            old, link.relation = link.relation, relation
            link.save(update_fields=["relation"])
            audit.record("family.change", actor=by, obj=link, ip=ip, relation=relation, old=old)
    return link


def remove_dependant(link: Guardianship, *, by: Any = None, ip: str | None = None) -> None:
    """End a family link (`family.remove`). The guardian, the dependant (an adult may
    leave a link at any time), staff with `healthcard.add_guardianship` who may see the
    dependant, or the platform itself may; terminals and anyone else may not
    (NotAllowed)."""
    if isinstance(by, Terminal):
        raise NotAllowed()
    if access.is_staff_user(by):
        access.require_perm(by, "healthcard.add_guardianship")
        access.require_person_access(by, link.dependant)
    elif by is not None:
        own = getattr(by, "person", None)
        if own is None or own.pk not in (link.guardian_id, link.dependant_id):
            raise NotAllowed("not_found")
    with transaction.atomic():
        audit.record("family.remove", actor=by, obj=link, ip=ip, relation=link.relation)
        link.delete()


@dataclass(frozen=True)
class Identity:
    """A person's identity in full: what reveal_person hands out, and nothing else does."""

    name: str
    id_type: str
    id_number: str
    sex: str
    birth_date: datetime.date
    nation: str
    phone: str
    address: str


REVEAL_PERMISSION = "healthcard.reveal_identity"


def reveal_person(
    person: Person,
    *,
    by: Any,
    via: str,
    reason: str = "",
    ip: str | None = None,
    together_with: Any = None,
    **context: Any,
) -> Identity:
    """Return `person`'s full identity and write the `identity.reveal` audit record in
    the same transaction.

    - a terminal needs the `reveal_identity` scope;
    - staff need the `healthcard.reveal_identity` permission, the person within their
      institution, and a reason;
    - a resident sees the people whose cards they hold or manage;
    - None is the platform itself (a task), audited like anyone.
    Refuses with NotAllowed ('missing_scope', 'forbidden', 'not_found') or PersonError
    ('reason_required'). `context` adds safe details to the audit record (a usage event id);
    `together_with`, a new row, is written with the record or not at all (audit.record).
    """
    reason = (reason or "").strip()
    if isinstance(by, Terminal):
        access.require_scope(by, Scope.REVEAL_IDENTITY)
        institution = by.institution
    elif access.is_staff_user(by):
        access.require_perm(by, REVEAL_PERMISSION)
        access.require_person_access(by, person)
        if not reason:
            raise PersonError("reason_required", _("Give a reason for showing the full identity."))
        profile = getattr(by, "staff_profile", None)
        institution = profile.institution if profile is not None else None
    elif by is not None:
        access.require_person_access(by, person)
        institution = None
    else:
        institution = None
    # Decrypted first: a value that cannot be decrypted reveals nothing and leaves no
    # record saying it did.
    identity = Identity(
        name=person.name,
        id_type=person.id_type,
        id_number=person.id_number,
        sex=person.sex,
        birth_date=person.birth_date,
        nation=person.nation,
        phone=person.phone,
        address=person.address,
    )
    audit.record(
        "identity.reveal",
        actor=by,
        obj=person,
        institution=institution,
        ip=ip,
        together_with=together_with,
        via=via,
        **({"reason": reason[:200]} if reason else {}),
        **context,
    )
    return identity
