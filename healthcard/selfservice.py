"""What a resident may see and do with the cards they hold or manage.

The portal calls only these (and healthcard.applications): which people an account
manages, their cards' history of scans and identity reveals, linked numbers (masked),
reporting a card lost (it is frozen) and replacing it online (old paper stops working).
Every function checks that the account holds or manages the card.
"""

import datetime
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from healthcard import access, audit, cards, pii
from healthcard.models import (
    AuditRecord,
    Card,
    CardLink,
    CardStatus,
    Guardianship,
    Institution,
    Person,
    Terminal,
    UsageEvent,
)

#: The status reason of a card its holder reported lost; only such a card may be
#: replaced online (a card frozen by staff stays with staff).
LOST_REASON = "lost: reported by the holder online"


def managed_people(user) -> list[Person]:
    """The account's own person first, then the family members it manages."""
    own = Person.objects.filter(user=user).select_related("card").first() if user else None
    if own is None:
        return []
    family = [
        link.dependant
        for link in Guardianship.objects.filter(guardian=own)
        .select_related("dependant__card")
        .order_by("created_at", "pk")
    ]
    return [own, *family]


def person_ref(person: Person) -> str:
    """The opaque id of a person's card in portal URLs: no database id, nothing personal."""
    return pii.blind_index(str(person.pk), "portal_ref")[:20]


def find_managed(user, ref: str) -> Person | None:
    """The person behind `ref` if `user` holds or manages their card, else None (a 404:
    whatever id is typed, another person's card does not exist for this account)."""
    for person in managed_people(user):
        if person_ref(person) == ref:
            return person
    return None


def find_family_link(user, ref: str) -> Guardianship | None:
    """The family link between `user`'s own person and the person behind `ref`: a
    family member whose card the account manages, or someone who manages the account
    holder's card. None for anything else."""
    people = managed_people(user)
    if not people:
        return None
    own = people[0]
    for person in people[1:]:
        if person_ref(person) == ref:
            return Guardianship.objects.filter(guardian=own, dependant=person).first()
    for link in Guardianship.objects.filter(dependant=own).select_related("guardian"):
        if person_ref(link.guardian) == ref:
            return link
    return None


def download_slip(card: Card, *, by: Any, ip: str | None = None) -> bytes:
    """The card-size PDF slip of an active card for its holder or a manager, audited as
    `print.download`. Refuses an inactive card (printing.slips.SlipError)."""
    # printing renders what the domain hands it; imported here, not at module level,
    # because printing itself imports the healthcard models.
    from printing import renderers, slips

    access.require_person_access(by, card.person)
    slip = slips.build_slip(card)
    pdf = renderers.render_pdf_card(slip)
    audit.record("print.download", actor=by, obj=card, ip=ip, issue_seq=slip.issue_seq)
    return pdf


def report_lost(card: Card, *, by: Any, ip: str | None = None) -> Card:
    """Freeze the card at once: no code of it verifies until it is replaced."""
    access.require_person_access(by, card.person)
    return cards.set_status(card, CardStatus.FROZEN, by=by, reason=LOST_REASON, ip=ip)


def can_replace_online(card: Card) -> bool:
    return card.status == CardStatus.FROZEN and card.status_reason == LOST_REASON


def replace_lost(card: Card, *, by: Any, ip: str | None = None) -> Card:
    """Unfreeze a card its holder reported lost and raise its issue sequence in one
    transaction, so every code printed before stops verifying. Refuses other cards
    (CardError 'not_lost')."""
    access.require_person_access(by, card.person)
    with transaction.atomic():
        card = Card.objects.select_for_update().get(pk=card.pk)
        if not can_replace_online(card):
            raise cards.CardError(
                "not_lost", _("Only a card reported lost here can be replaced online.")
            )
        card = cards.set_status(card, CardStatus.ACTIVE, by=by, reason="replaced online", ip=ip)
        return cards.replace_card(card, by=by, reason="lost, replaced online", ip=ip)


def remove_manager(link: Guardianship, *, by: Any, ip: str | None = None) -> None:
    """The holder ends a family member's management of their card (or the manager
    stops managing it)."""
    from healthcard.people import remove_dependant

    remove_dependant(link, by=by, ip=ip)


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime.datetime
    kind: str  # "scan", "reveal" or "signin"
    institution: str
    what: str
    detail: str = ""


def history(card: Card, *, by: Any, limit: int = 200) -> list[HistoryEntry]:
    """Every successful scan of the card and every reveal of its holder's identity,
    newest first."""
    access.require_person_access(by, card.person)
    entries = [
        HistoryEntry(
            at=event.scanned_at,
            kind="scan",
            institution=event.institution.name,
            what=event.get_care_step_display(),
            detail=event.department,
        )
        for event in UsageEvent.objects.filter(card=card, result=UsageEvent.RESULT_OK)
        .select_related("institution")
        .order_by("-scanned_at")[:limit]
    ]
    reveals = list(
        AuditRecord.objects.filter(
            action="identity.reveal", object_type="person", object_id=str(card.person_id)
        ).order_by("-at")[:limit]
    )
    names = dict(
        Institution.objects.filter(
            code__in={r.institution for r in reveals if r.institution}
        ).values_list("code", "name")
    )
    terminal_ids = [int(r.actor.split(":")[1]) for r in reveals if r.actor.startswith("terminal:")]
    terminals = dict(Terminal.objects.filter(pk__in=terminal_ids).values_list("pk", "name"))
    own_user = card.person.user_id
    for record in reveals:
        if record.actor == f"user:{own_user}":
            continue  # the holder looking at their own card
        if record.actor.startswith("terminal:"):
            who = _("System %(name)s") % {
                "name": terminals.get(int(record.actor.split(":")[1]), "")
            }
        elif record.actor.startswith("user:"):
            who = _("Counter staff")
        else:
            who = _("The platform")
        reason = (record.details or {}).get("reason", "")
        entries.append(
            HistoryEntry(
                at=record.at,
                kind="reveal",
                institution=names.get(record.institution, record.institution or _("Platform")),
                what=who,
                detail=reason,
            )
        )
    # Sign-ins to hospital apps that gave them facts about the holder (issue 12).
    from healthcard import signin  # signin builds on this module

    for at, institution, app, facts in signin.signin_history(card.person, limit):
        entries.append(
            HistoryEntry(at=at, kind="signin", institution=institution, what=app, detail=facts)
        )
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries[:limit]


def linked_numbers(card: Card, *, by: Any) -> list[dict]:
    """Linked numbers with the number masked, and the institution for local numbers."""
    access.require_person_access(by, card.person)
    return [
        {
            "kind": link.get_kind_display(),
            "number": link.masked_number,
            "institution": link.institution.name if link.institution else "",
        }
        for link in CardLink.objects.filter(card=card).select_related("institution")
    ]
