"""Key lifecycle (healthcard.keys): rotation, retirement, revocation, wrapping,
the public key set, and exactly one active key per purpose."""

import os
import threading

import pytest
from django.db import IntegrityError, connection, transaction
from django.test import override_settings

from healthcard import codes, keys
from healthcard.models import AuditRecord, Key, KeyPurpose, KeyState

from .conftest import service_unavailable


def _active(purpose):
    return list(Key.objects.filter(purpose=purpose, state=KeyState.ACTIVE))


def test_first_use_creates_one_active_signing_key_with_audit(db):
    kid, _sign = keys.code_signer()
    key = Key.objects.get(kid=kid)
    assert key.state == KeyState.ACTIVE and key.algorithm == "ed25519"
    assert key.activated_at is not None and key.not_before is not None
    assert AuditRecord.objects.filter(action="key.create", object_id=str(key.pk)).exists()
    assert keys.code_signer()[0] == kid


@override_settings(HEALTHCARD_SIGNING_ALGORITHM="sm2")
def test_default_algorithm_comes_from_settings(db):
    kid, _sign = keys.code_signer()
    assert Key.objects.get(kid=kid).algorithm == "sm2"


def test_rotation_retires_the_old_key_and_audits_it(db, province_admin):
    old = keys.active_key(KeyPurpose.CODE_SIGNING)
    new = keys.rotate(KeyPurpose.CODE_SIGNING, actor=province_admin)
    old.refresh_from_db()
    assert new.state == KeyState.ACTIVE and old.state == KeyState.RETIRED
    assert old.retired_at is not None
    assert old.not_after == old.retired_at + keys.retired_signing_key_grace()
    assert _active(KeyPurpose.CODE_SIGNING) == [new]
    actions = set(
        AuditRecord.objects.filter(actor=f"user:{province_admin.pk}").values_list(
            "action", flat=True
        )
    )
    assert {"key.create", "key.rotate", "key.retire"} <= actions
    rotate = AuditRecord.objects.get(action="key.rotate")
    assert rotate.details["previous"] == old.kid


@override_settings(HEALTHCARD_RETIRED_SIGNING_KEY_DAYS=30)
def test_retired_signing_key_grace_is_configurable(db):
    old = keys.active_key(KeyPurpose.CODE_SIGNING)
    keys.rotate(KeyPurpose.CODE_SIGNING)
    old.refresh_from_db()
    assert (old.not_after - old.retired_at).days == 30


def test_rotation_to_sm2(db):
    key = keys.rotate(KeyPurpose.CODE_SIGNING, algorithm="sm2")
    assert key.algorithm == "sm2" and len(bytes(key.public_key)) == 64


def test_protection_key_rotation_keeps_the_previous_key_usable(db):
    first = keys.active_key(KeyPurpose.DYNAMIC_PROTECTION)
    second = keys.rotate(KeyPurpose.DYNAMIC_PROTECTION)
    assert [k.kid for k, _secret in keys.protection_keys()] == [second.kid, first.kid]
    assert len(keys.protection_keys()[0][1]) == 16
    third = keys.rotate(KeyPurpose.DYNAMIC_PROTECTION)
    assert [k.kid for k, _secret in keys.protection_keys()] == [third.kid, second.kid]


@pytest.mark.parametrize("algorithm", ["ed25519", "aes"])
def test_protection_key_is_sm4_only(db, algorithm):
    with pytest.raises(keys.KeyManagementError):
        keys.rotate(KeyPurpose.DYNAMIC_PROTECTION, algorithm=algorithm)


def test_unknown_signing_algorithm_is_refused(db):
    with pytest.raises(ValueError):
        keys.rotate(KeyPurpose.CODE_SIGNING, algorithm="rsa")


def test_root_key_is_never_rotated_retired_or_revoked(db):
    secret = keys.root_key()
    root = Key.objects.get(purpose=KeyPurpose.EHC_ROOT)
    for action in (
        lambda: keys.rotate(KeyPurpose.EHC_ROOT),
        lambda: keys.retire(root),
        lambda: keys.revoke(root, reason="x"),
    ):
        with pytest.raises(keys.KeyManagementError) as exc:
            action()
        assert exc.value.code == "not_rotatable"
    keys.rotate(KeyPurpose.CODE_SIGNING)
    keys.rotate(KeyPurpose.DYNAMIC_PROTECTION)
    assert keys.root_key() == secret
    root.refresh_from_db()
    assert root.state == KeyState.ACTIVE


def test_retire_leaves_no_active_key_until_the_next_use(db):
    key = keys.active_key(KeyPurpose.CODE_SIGNING)
    keys.retire(key)
    assert _active(KeyPurpose.CODE_SIGNING) == []
    with pytest.raises(keys.KeyManagementError) as exc:
        keys.retire(key)
    assert exc.value.code == "not_active"
    assert AuditRecord.objects.filter(action="key.retire").count() == 1
    assert keys.code_signer()[0] != key.kid


def test_revoke_any_state_once(db):
    key = keys.active_key(KeyPurpose.CODE_SIGNING)
    keys.rotate(KeyPurpose.CODE_SIGNING)
    key = keys.revoke(Key.objects.get(pk=key.pk), reason="compromised")
    assert key.state == KeyState.REVOKED and key.revoked_at is not None
    record = AuditRecord.objects.get(action="key.revoke")
    assert record.details == {
        "kid": key.kid,
        "old": "retired",
        "reason": "compromised",
    }
    with pytest.raises(keys.KeyManagementError):
        keys.revoke(key)


def test_database_allows_only_one_active_key_per_purpose(db):
    keys.active_key(KeyPurpose.CODE_SIGNING)
    algorithm, secret, public = keys.generate(KeyPurpose.CODE_SIGNING)
    with pytest.raises(IntegrityError), transaction.atomic():
        keys.create_key(KeyPurpose.CODE_SIGNING, algorithm, secret, public)


def test_secret_material_is_wrapped_and_bound_to_the_key(db):
    key = keys.active_key(KeyPurpose.DYNAMIC_PROTECTION)
    secret = keys.unwrap(key)
    assert secret not in bytes(key.secret_enc)
    other = keys.rotate(KeyPurpose.DYNAMIC_PROTECTION)
    # A wrapped secret copied onto another key record does not unwrap.
    other.secret_enc = key.secret_enc
    with pytest.raises(keys.KeyUnwrapError):
        keys.unwrap(other)
    with override_settings(HEALTHCARD_KEK=os.urandom(32)), pytest.raises(keys.KeyUnwrapError):
        keys.unwrap(key)


def test_public_key_set_has_no_secrets_and_no_pending_keys(db):
    keys.rotate(KeyPurpose.CODE_SIGNING)
    keys.rotate(KeyPurpose.CODE_SIGNING, algorithm="sm2")
    keys.rotate(KeyPurpose.DYNAMIC_PROTECTION)
    algorithm, secret, public = keys.generate(KeyPurpose.CODE_SIGNING)
    pending = keys.create_key(KeyPurpose.CODE_SIGNING, algorithm, secret, public, activate=False)
    data = codes.public_key_set()
    kids = [k["kid"] for k in data["keys"]]
    assert pending.kid not in kids and len(kids) == 2
    assert all(k["algorithm"] in ("ed25519", "sm2") for k in data["keys"])
    text = str(data)
    for key in Key.objects.all():
        assert bytes(key.secret_enc).hex() not in text


def test_public_key_set_etag_changes_with_key_state(db):
    keys.active_key(KeyPurpose.CODE_SIGNING)
    before = codes.public_key_set()["etag"]
    assert codes.public_key_set()["etag"] == before
    keys.rotate(KeyPurpose.CODE_SIGNING)
    assert codes.public_key_set()["etag"] != before


def test_two_rotations_rotate_twice_and_leave_one_active(db):
    first = keys.active_key(KeyPurpose.CODE_SIGNING)
    a = keys.rotate(KeyPurpose.CODE_SIGNING)
    b = keys.rotate(KeyPurpose.CODE_SIGNING)
    assert _active(KeyPurpose.CODE_SIGNING) == [b]
    assert {k.kid for k in Key.objects.filter(state=KeyState.RETIRED)} == {first.kid, a.kid}


@pytest.mark.django_db(transaction=True)
def test_concurrent_rotations_leave_exactly_one_active_key():
    if connection.vendor != "postgresql":
        service_unavailable("concurrent rotation needs PostgreSQL (DATABASE_URL)")
    keys.active_key(KeyPurpose.CODE_SIGNING)
    barrier = threading.Barrier(4)
    errors = []

    def worker():
        try:
            barrier.wait()
            keys.rotate(KeyPurpose.CODE_SIGNING)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(_active(KeyPurpose.CODE_SIGNING)) == 1
    assert Key.objects.filter(purpose=KeyPurpose.CODE_SIGNING).count() == 5
    assert Key.objects.filter(purpose=KeyPurpose.CODE_SIGNING, state=KeyState.RETIRED).count() == 4
