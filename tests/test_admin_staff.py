"""Staff accounts in the admin: who may create whom, with which role and institution."""

import pytest
from django.contrib.auth import get_user_model

from healthcard.models import AuditRecord, Role

ADD = "/admin/auth/user/add/"


def add_post(username, institution, role):
    return {
        "username": username,
        "usable_password": "true",
        "password1": "a-long-Staff-passw0rd",
        "password2": "a-long-Staff-passw0rd",
        "staff_profile-TOTAL_FORMS": "1",
        "staff_profile-INITIAL_FORMS": "0",
        "staff_profile-MIN_NUM_FORMS": "1",
        "staff_profile-MAX_NUM_FORMS": "1",
        "staff_profile-0-institution": str(institution.pk),
        "staff_profile-0-role": role,
        "_save": "Save",
    }


def test_institution_admin_creates_a_clerk_of_their_institution(
    client, otp_login, institution_admin, hospital
):
    otp_login(client, institution_admin)
    response = client.post(ADD, add_post("newclerk", hospital, Role.CLERK))
    assert response.status_code == 302
    user = get_user_model().objects.get(username="newclerk")
    assert user.is_staff and not user.is_superuser
    assert list(user.groups.values_list("name", flat=True)) == [Role.CLERK]
    assert user.staff_profile.institution == hospital
    rec = AuditRecord.objects.get(action="staff.role", object_id=str(user.pk))
    assert rec.institution == hospital.code
    assert (rec.actor, rec.details) == (f"user:{institution_admin.pk}", {"role": Role.CLERK})


@pytest.mark.parametrize("target", ["other_institution", "province_admin_role"])
def test_institution_admin_cannot_grant_beyond_their_institution(
    client, otp_login, institution_admin, hospital, other_hospital, target
):
    otp_login(client, institution_admin)
    if target == "other_institution":
        data = add_post("x", other_hospital, Role.CLERK)
    else:
        data = add_post("x", hospital, Role.PROVINCE_ADMIN)
    response = client.post(ADD, data)
    assert response.status_code == 200  # the form again, with the error
    assert not get_user_model().objects.filter(username="x").exists()


def test_institution_admin_sees_own_staff_only_and_no_superuser_controls(
    client, otp_login, institution_admin, clerk, outsider, superuser
):
    otp_login(client, institution_admin)
    listing = client.get("/admin/auth/user/").content.decode()
    assert "clerk" in listing
    assert "outsider" not in listing
    assert ">root<" not in listing
    change = client.get(f"/admin/auth/user/{clerk.pk}/change/").content.decode()
    assert 'name="is_superuser"' not in change
    assert 'name="groups"' not in change
    assert 'name="user_permissions"' not in change
    assert client.get(f"/admin/auth/user/{outsider.pk}/change/").status_code == 404
    assert client.get(f"/admin/auth/user/{superuser.pk}/change/").status_code == 404


def test_clerk_cannot_manage_staff(client, otp_login, clerk):
    otp_login(client, clerk)
    assert client.get("/admin/auth/user/").status_code == 403


def test_changing_a_role_moves_the_user_to_the_new_group(
    client, otp_login, province_admin, clerk, hospital
):
    otp_login(client, province_admin)
    profile = clerk.staff_profile
    data = {
        "username": "clerk",
        "first_name": "",
        "last_name": "",
        "email": "",
        "is_active": "on",
        "staff_profile-TOTAL_FORMS": "1",
        "staff_profile-INITIAL_FORMS": "1",
        "staff_profile-MIN_NUM_FORMS": "1",
        "staff_profile-MAX_NUM_FORMS": "1",
        "staff_profile-0-id": str(profile.pk),
        "staff_profile-0-user": str(clerk.pk),
        "staff_profile-0-institution": str(hospital.pk),
        "staff_profile-0-role": Role.SUPERVISOR,
        "_save": "Save",
    }
    response = client.post(f"/admin/auth/user/{clerk.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    clerk.refresh_from_db()
    assert list(clerk.groups.values_list("name", flat=True)) == [Role.SUPERVISOR]
