"""Key admin: province admins view keys and rotate, retire, revoke; nobody else sees
them; secret material never appears."""

import pytest
from django.urls import reverse

from healthcard import keys
from healthcard.models import AuditRecord, Key, KeyPurpose, KeyState

CHANGELIST = "admin:healthcard_key_changelist"


@pytest.fixture
def admin_client(client, province_admin, otp_login):
    otp_login(client, province_admin)
    return client


@pytest.fixture
def signing_key(db):
    return keys.active_key(KeyPurpose.CODE_SIGNING)


def test_province_admin_sees_keys_and_public_key_but_never_the_secret(admin_client, signing_key):
    response = admin_client.get(reverse(CHANGELIST))
    assert response.status_code == 200
    assert signing_key.kid in response.content.decode()
    page = admin_client.get(reverse("admin:healthcard_key_change", args=[signing_key.pk]))
    body = page.content.decode()
    assert page.status_code == 200
    assert bytes(signing_key.public_key).hex() in body
    assert bytes(signing_key.secret_enc).hex() not in body
    assert "secret_enc" not in body


@pytest.mark.parametrize("who", ["clerk", "supervisor", "institution_admin", "outsider"])
def test_other_staff_cannot_see_keys(client, otp_login, signing_key, request, who):
    otp_login(client, request.getfixturevalue(who))
    assert client.get(reverse(CHANGELIST)).status_code == 403
    page = client.get(reverse("admin:healthcard_key_change", args=[signing_key.pk]))
    assert page.status_code in (302, 403, 404)


def test_keys_cannot_be_added_or_deleted(admin_client, signing_key):
    assert admin_client.get(reverse("admin:healthcard_key_add")).status_code == 403
    delete = reverse("admin:healthcard_key_delete", args=[signing_key.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert Key.objects.filter(pk=signing_key.pk).exists()


def test_rotate_action(admin_client, province_admin, signing_key):
    response = admin_client.post(
        reverse(CHANGELIST), {"action": "rotate", "_selected_action": [signing_key.pk]}
    )
    assert response.status_code == 302
    signing_key.refresh_from_db()
    assert signing_key.state == KeyState.RETIRED
    active = Key.objects.get(purpose=KeyPurpose.CODE_SIGNING, state=KeyState.ACTIVE)
    assert AuditRecord.objects.filter(
        action="key.rotate", actor=f"user:{province_admin.pk}", details__kid=active.kid
    ).exists()


def test_retire_action(admin_client, signing_key):
    admin_client.post(
        reverse(CHANGELIST), {"action": "retire", "_selected_action": [signing_key.pk]}
    )
    signing_key.refresh_from_db()
    assert signing_key.state == KeyState.RETIRED


def test_revoke_action_asks_for_a_reason_first(admin_client, signing_key):
    data = {"action": "revoke", "_selected_action": [signing_key.pk]}
    confirm = admin_client.post(reverse(CHANGELIST), data)
    assert confirm.status_code == 200
    assert signing_key.kid in confirm.content.decode()
    signing_key.refresh_from_db()
    assert signing_key.state == KeyState.ACTIVE
    admin_client.post(reverse(CHANGELIST), {**data, "apply": "1", "reason": "compromised"})
    signing_key.refresh_from_db()
    assert signing_key.state == KeyState.REVOKED


def test_root_key_actions_are_refused_with_a_message(admin_client):
    keys.root_key()
    root = Key.objects.get(purpose=KeyPurpose.EHC_ROOT)
    response = admin_client.post(
        reverse(CHANGELIST), {"action": "rotate", "_selected_action": [root.pk]}, follow=True
    )
    assert "never rotated" in response.content.decode() or "从不" in response.content.decode()
    root.refresh_from_db()
    assert root.state == KeyState.ACTIVE
