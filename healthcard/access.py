"""Who may touch what: one answer for the admin, the portal, the API and commands.

An actor is a staff or resident `User`, a `Terminal`, or None (the system itself: a
management command or a task acting on the platform's own behalf).
"""

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q

from healthcard.errors import NotAllowed
from healthcard.models import Guardianship, Institution, Person, Role, Terminal


def staff_institution(user) -> Institution | bool | None:
    """The institution a staff user is limited to, None for province-wide access, or
    False for a user who may see nothing (no staff profile)."""
    if user.is_superuser:
        return None
    profile = getattr(user, "staff_profile", None)
    if profile is None:
        return False
    if profile.role == Role.PROVINCE_ADMIN:
        return None
    return profile.institution


def is_staff_user(actor: Any) -> bool:
    return isinstance(actor, get_user_model()) and (
        actor.is_superuser or hasattr(actor, "staff_profile")
    )


def person_scope(institution: Institution) -> Q:
    """People an institution's staff may see: those holding a card it issued and those
    it registered (a counter registration may not have a card yet)."""
    return Q(card__institution=institution.pk) | Q(registered_by=institution.pk)


def staff_may_see_person(user, person: Person) -> bool:
    institution = staff_institution(user)
    if institution is None:
        return True
    if institution is False:
        return False
    return Person.objects.filter(person_scope(institution), pk=person.pk).exists()


def resident_manages(user, person: Person) -> bool:
    """The resident account holds `person`'s card itself or manages it as family."""
    own = getattr(user, "person", None) if user is not None else None
    if own is None:
        return False
    if own.pk == person.pk:
        return True
    return Guardianship.objects.filter(guardian=own, dependant=person).exists()


def require_perm(actor: Any, perm: str) -> None:
    """Staff `actor` must hold Django permission `perm` (None, the system, always may)."""
    if actor is None:
        return
    if isinstance(actor, Terminal) or not actor.has_perm(perm):
        raise NotAllowed()


def require_scope(terminal: Terminal, scope: str) -> None:
    if not terminal.has_scope(scope):
        raise NotAllowed("missing_scope")


def require_person_access(actor: Any, person: Person) -> None:
    """Staff see only their institution's people; residents only the cards they hold or
    manage. Refused as 'not_found' so that existence is not revealed either."""
    if actor is None or isinstance(actor, Terminal):
        return
    if is_staff_user(actor):
        ok = staff_may_see_person(actor, person)
    else:
        ok = resident_manages(actor, person)
    if not ok:
        raise NotAllowed("not_found")
