"""terminals.change_terminal and roles.assign_role check who may and audit themselves."""

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from healthcard import terminals
from healthcard.errors import NotAllowed
from healthcard.models import AuditRecord, Role
from healthcard.roles import assign_role


def change(terminal, **values):
    current = {"name": terminal.name, "kind": terminal.kind, "scopes": terminal.scopes}
    return terminals.change_terminal(terminal, **{**current, **values})


# --- change_terminal --------------------------------------------------------------------
def test_changing_a_terminal_is_audited_with_its_new_kind_and_scopes(
    terminal, institution_admin, hospital
):
    t = terminal.terminal
    changed_terminal, changed = change(
        t, kind="03", scopes=["report", "verify"], by=institution_admin, ip="10.0.0.1"
    )
    assert changed == ["kind", "scopes"]
    assert (changed_terminal.kind, changed_terminal.scopes) == ("03", ["verify", "report"])
    rec = AuditRecord.objects.get(action="terminal.change")
    assert (rec.actor, rec.institution, rec.ip) == (
        f"user:{institution_admin.pk}",
        hospital.code,
        "10.0.0.1",
    )
    assert rec.details == {"kind": "03", "scopes": ["verify", "report"]}


def test_an_unchanged_terminal_writes_no_audit_record(terminal, institution_admin):
    assert change(terminal.terminal, by=institution_admin)[1] == []
    assert not AuditRecord.objects.filter(action="terminal.change").exists()


def test_the_database_values_are_compared_not_the_edited_instance(terminal, institution_admin):
    t = terminal.terminal
    t.name = "edited by a form"  # what the admin's form does before save_model
    _t, changed = terminals.change_terminal(
        t, name="edited by a form", kind=t.kind, scopes=t.scopes, by=institution_admin
    )
    assert changed == ["name"]


@pytest.mark.parametrize(
    ("values", "field"),
    [({"name": "  "}, "name"), ({"kind": "77"}, "kind"), ({"scopes": ["root"]}, "scopes")],
)
def test_invalid_values_are_refused_field_by_field(terminal, institution_admin, values, field):
    with pytest.raises(ValidationError) as exc:
        change(terminal.terminal, by=institution_admin, **values)
    assert field in exc.value.message_dict


def test_staff_of_another_institution_do_not_find_the_terminal(terminal, other_hospital):
    admin = get_user_model().objects.create_user("otheradmin")
    assign_role(admin, other_hospital, Role.INSTITUTION_ADMIN)
    with pytest.raises(NotAllowed) as exc:
        change(terminal.terminal, name="taken over", by=admin)
    assert exc.value.code == "not_found"
    terminal.terminal.refresh_from_db()
    assert terminal.terminal.name != "taken over"


def test_a_supervisor_without_the_terminal_permission_is_refused(terminal, supervisor):
    with pytest.raises(NotAllowed):
        change(terminal.terminal, scopes=["verify", "reveal_identity"], by=supervisor)


# --- assign_role ------------------------------------------------------------------------
def test_a_new_role_is_audited_and_an_unchanged_one_is_not(institution_admin, hospital):
    user = get_user_model().objects.create_user("newclerk")
    assign_role(user, hospital, Role.CLERK, by=institution_admin, ip="10.0.0.2")
    assign_role(user, hospital, Role.CLERK, by=institution_admin)
    assign_role(user, hospital, Role.SUPERVISOR, by=institution_admin)
    recs = AuditRecord.objects.filter(action="staff.role", object_id=str(user.pk)).order_by("id")
    assert [r.details for r in recs] == [
        {"role": Role.CLERK},
        {"role": Role.SUPERVISOR, "old_role": Role.CLERK},
    ]
    assert recs[0].actor == f"user:{institution_admin.pk}" and recs[0].ip == "10.0.0.2"


@pytest.mark.parametrize("target", ["other_institution", "province_admin"])
def test_an_institution_admin_cannot_grant_beyond_their_institution(
    institution_admin, hospital, other_hospital, target
):
    user = get_user_model().objects.create_user("x")
    institution, role = (
        (other_hospital, Role.CLERK) if target == "other_institution" else (hospital, target)
    )
    with pytest.raises(NotAllowed):
        assign_role(user, institution, role, by=institution_admin)
    assert not hasattr(get_user_model().objects.get(pk=user.pk), "staff_profile")


def test_a_clerk_cannot_assign_roles(clerk, hospital):
    user = get_user_model().objects.create_user("x")
    with pytest.raises(NotAllowed):
        assign_role(user, hospital, Role.CLERK, by=clerk)


def test_a_province_admin_staffs_any_institution(province_admin, other_hospital):
    user = get_user_model().objects.create_user("x")
    assign_role(user, other_hospital, Role.INSTITUTION_ADMIN, by=province_admin)
    assert user.staff_profile.institution == other_hospital


def test_staff_of_another_institution_cannot_create_rotate_or_disable(
    terminal, hospital, other_hospital
):
    admin = get_user_model().objects.create_user("otheradmin")
    assign_role(admin, other_hospital, Role.INSTITUTION_ADMIN)
    with pytest.raises(NotAllowed):
        terminals.create_terminal(hospital, "planted", by=admin)
    with pytest.raises(NotAllowed):
        terminals.rotate_token(terminal.terminal, by=admin)
    with pytest.raises(NotAllowed):
        terminals.disable(terminal.terminal, by=admin)
    assert terminals.authenticate(terminal.token) == terminal.terminal


def test_an_institution_admin_manages_their_own_terminals(institution_admin, hospital):
    t, token = terminals.create_terminal(hospital, "new", by=institution_admin)
    new = terminals.rotate_token(t, by=institution_admin)
    assert terminals.authenticate(token) is None and terminals.authenticate(new) == t
    assert not terminals.disable(t, by=institution_admin).is_active
