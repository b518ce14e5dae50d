"""`manage.py keys rotate|list|retire|revoke|export-public`."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from healthcard import keys
from healthcard.models import AuditRecord, Key, KeyPurpose, KeyState


def run(*args):
    out = io.StringIO()
    call_command("keys", *args, stdout=out)
    return out.getvalue()


def test_rotate_makes_a_new_active_key_and_audits_the_cli_actor(db):
    old = keys.active_key(KeyPurpose.CODE_SIGNING)
    output = run("rotate", "code-signing")
    new = Key.objects.get(purpose=KeyPurpose.CODE_SIGNING, state=KeyState.ACTIVE)
    assert new.kid in output and new.kid != old.kid
    assert Key.objects.get(pk=old.pk).state == KeyState.RETIRED
    assert AuditRecord.objects.filter(action="key.rotate", actor="cli:keys").exists()


def test_rotate_with_sm2(db):
    run("rotate", "code-signing", "--algorithm", "sm2")
    assert Key.objects.get(purpose=KeyPurpose.CODE_SIGNING, state="active").algorithm == "sm2"


def test_rotate_protection_key(db):
    run("rotate", "dynamic-protection")
    assert Key.objects.filter(purpose=KeyPurpose.DYNAMIC_PROTECTION, state="active").count() == 1


def test_rotate_root_key_is_refused(db):
    keys.root_key()
    with pytest.raises(CommandError, match="never rotated"):
        run("rotate", "ehc-root")
    assert Key.objects.filter(purpose=KeyPurpose.EHC_ROOT).count() == 1


def test_list_shows_keys_but_no_secret_material(db):
    keys.root_key()
    key = keys.active_key(KeyPurpose.CODE_SIGNING)
    output = run("list")
    assert key.kid in output and "ehc-root" in output
    rows = json.loads(run("list", "--json", "--purpose", "code-signing"))
    assert [r["kid"] for r in rows] == [key.kid]
    assert "secret" not in json.dumps(rows)
    for k in Key.objects.all():
        assert bytes(k.secret_enc).hex() not in output


def test_retire_and_revoke_by_key_id(db):
    key = keys.active_key(KeyPurpose.CODE_SIGNING)
    assert "retired" in run("retire", key.kid.lower())
    assert Key.objects.get(pk=key.pk).state == KeyState.RETIRED
    with pytest.raises(CommandError, match="Only an active key"):
        run("retire", key.kid)
    run("revoke", key.kid, "--reason", "compromised")
    assert Key.objects.get(pk=key.pk).state == KeyState.REVOKED
    with pytest.raises(CommandError, match="already revoked"):
        run("revoke", key.kid, "--reason", "again")


def test_unknown_key_id_is_an_error(db):
    with pytest.raises(CommandError, match="no key"):
        run("retire", "NOPE1234")


def test_revoke_requires_a_reason(db):
    key = keys.active_key(KeyPurpose.CODE_SIGNING)
    with pytest.raises(CommandError):
        run("revoke", key.kid)


def test_export_public_to_stdout_and_file(db, tmp_path):
    key = keys.active_key(KeyPurpose.CODE_SIGNING)
    data = json.loads(run("export-public"))
    assert [k["kid"] for k in data["keys"]] == [key.kid]
    target = tmp_path / "keys.json"
    run("export-public", "--output", str(target))
    assert json.loads(target.read_text())["keys"][0]["public_key"] == bytes(key.public_key).hex()


def test_exported_key_set_verifies_codes_offline(card, tmp_path):
    from healthcard import codes

    text = codes.static_code(card)
    target = tmp_path / "keys.json"
    run("export-public", "--output", str(target))
    out = io.StringIO()
    call_command("verify_code", "--keys", str(target), text, stdout=out)
    assert "valid: static code" in out.getvalue()
