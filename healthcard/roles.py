"""Staff roles as Django groups.

Each Role has a group of the same name whose permissions come from ROLE_PERMISSIONS.
The groups are brought in line after every migrate (permissions only exist then), and
a staff user's group follows their StaffProfile role (`assign_role`).
"""

from typing import Any

from django.contrib.auth.models import Group, Permission
from django.db import transaction

from healthcard import access, audit
from healthcard.errors import NotAllowed
from healthcard.models import Role, StaffProfile

_CLERK = [
    "healthcard.view_person",
    "healthcard.add_person",
    # phone and address only (healthcard.people.change_person)
    "healthcard.change_contact",
    "healthcard.view_card",
    "healthcard.add_card",
    "healthcard.view_guardianship",
    "healthcard.add_guardianship",
    "printing.view_printer",
    "printing.view_printjob",
    "printing.add_printjob",
]
_SUPERVISOR = [
    *_CLERK,
    "healthcard.change_person",
    "healthcard.change_card",
    "healthcard.change_card_status",
    "healthcard.reveal_identity",
    "printing.change_printjob",
]
_INSTITUTION_ADMIN = [
    *_SUPERVISOR,
    # Staff accounts of their own institution (StaffUserAdmin limits what they grant).
    "auth.view_user",
    "auth.add_user",
    "auth.change_user",
    "healthcard.view_staffprofile",
    "healthcard.add_staffprofile",
    "healthcard.change_staffprofile",
    "healthcard.view_institution",
    "healthcard.view_auditrecord",
    "healthcard.view_terminal",
    "healthcard.view_usageevent",
    "healthcard.view_cardlink",
    "healthcard.add_terminal",
    "healthcard.change_terminal",
    "printing.add_printer",
    "printing.change_printer",
    # Unified sign-in: the institution's hospital apps and its services directory.
    "oidc.view_signinclient",
    "oidc.add_signinclient",
    "oidc.change_signinclient",
    "oidc.view_service",
    "oidc.add_service",
    "oidc.change_service",
]
_PROVINCE_ADMIN = [
    *_INSTITUTION_ADMIN,
    "healthcard.add_institution",
    "healthcard.change_institution",
    "healthcard.view_key",
    "healthcard.manage_keys",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    Role.CLERK: _CLERK,
    Role.SUPERVISOR: _SUPERVISOR,
    Role.INSTITUTION_ADMIN: _INSTITUTION_ADMIN,
    Role.PROVINCE_ADMIN: _PROVINCE_ADMIN,
}


def sync_role_groups(**kwargs) -> None:
    """Create each role's group and give it exactly its permissions (those that exist)."""
    for role, names in ROLE_PERMISSIONS.items():
        group, _created = Group.objects.get_or_create(name=role)
        perms = []
        for name in names:
            app_label, codename = name.split(".")
            perm = Permission.objects.filter(
                content_type__app_label=app_label, codename=codename
            ).first()
            if perm is not None:
                perms.append(perm)
        group.permissions.set(perms)


def assign_role(
    user, institution, role: str, *, by: Any = None, ip: str | None = None
) -> StaffProfile:
    """Make `user` a staff member of `institution` with `role` (and only that group),
    and write a `staff.role` audit record when the institution or role is new.

    Who may grant what: province-wide staff (and the platform itself, `by` None) any
    institution and role; other staff need `healthcard.change_staffprofile` and may
    staff only their own institution, never with the province administrator role
    (NotAllowed). Refuses an unknown role (ValueError)."""
    if role not in ROLE_PERMISSIONS:
        raise ValueError(f"unknown role {role!r}")
    if access.is_staff_user(by):
        access.require_perm(by, "healthcard.change_staffprofile")
        scope = access.staff_institution(by)
        if scope is not None and (
            scope is False or scope.pk != institution.pk or role == Role.PROVINCE_ADMIN
        ):
            raise NotAllowed()
    with transaction.atomic():
        old = StaffProfile.objects.filter(user=user).first()
        profile, _created = StaffProfile.objects.update_or_create(
            user=user, defaults={"institution": institution, "role": role}
        )
        user.groups.remove(*Group.objects.filter(name__in=ROLE_PERMISSIONS))
        group, _created = Group.objects.get_or_create(name=role)
        user.groups.add(group)
        if not user.is_staff:
            user.is_staff = True
            user.save(update_fields=["is_staff"])
        if old is None or (old.institution_id, old.role) != (institution.pk, role):
            audit.record(
                "staff.role",
                actor=by,
                obj=user,
                institution=institution,
                ip=ip,
                role=role,
                **({"old_role": old.role} if old is not None else {}),
            )
    return profile
