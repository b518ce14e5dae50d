"""`manage.py kek`: KEK rotation re-wraps the data keys, the previous KEK is accepted
during the rollout, `check` reports, and re-encryption under a new data key is online,
resumable and ends with the old data key destroyed."""

import base64
import os
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from healthcard import codes, datakeys, envelope, keys, pii, reencrypt
from healthcard.models import (
    AuditRecord,
    Card,
    DataKey,
    DataKeyPurpose,
    DataKeyState,
    Key,
    KeyPurpose,
    Person,
)
from tests.conftest import make_id_number

pytestmark = pytest.mark.django_db

PEOPLE = 2000


def run(*args) -> str:
    out = StringIO()
    call_command("kek", *args, stdout=out)
    return out.getvalue()


def new_kek() -> bytes:
    return os.urandom(32)


def _populate(settings, people: int) -> int:
    settings.HEALTHCARD_DATA_KEY_CACHE_SECONDS = 0
    call_command("demo", "--json", stdout=StringIO())
    Person.objects.bulk_create([_person(n) for n in range(people)], batch_size=500)
    keys.active_key(KeyPurpose.CODE_SIGNING)
    keys.active_key(KeyPurpose.DYNAMIC_PROTECTION)
    return Person.objects.count()


@pytest.fixture
def populated(settings):
    """The demo data plus thousands of people with ID, phone and address."""
    return _populate(settings, PEOPLE)


@pytest.fixture
def some_people(settings):
    """The demo data plus a few people, for the refusals."""
    return _populate(settings, 30)


def _person(n: int) -> Person:
    import datetime

    person = Person(name=f"测试{n}", id_type="01", sex="1", birth_date=datetime.date(1990, 1, 1))
    person.set_identity("01", make_id_number(seq=n % 998 + 1, region=f"43{n // 998 + 10:02d}02"))
    person.phone = f"139{n:08d}"
    person.address = f"长沙市 {n} 号"
    return person


def everything_decrypts() -> int:
    datakeys.forget()
    count = 0
    for person in Person.objects.all():
        assert len(person.id_number) == 18
        if person.name.startswith("测试"):
            assert person.phone.startswith("139") and person.address.endswith("号")
        count += 1
    for key in Key.objects.all():
        keys.unwrap(key)
    return count


def test_rotation_rewraps_only_the_data_keys_and_everything_decrypts(populated, settings):
    old = settings.HEALTHCARD_KEK
    before = {p.pk: bytes(p.id_number_enc) for p in Person.objects.all()[:50]}
    settings.HEALTHCARD_KEK, settings.HEALTHCARD_KEK_PREVIOUS = new_kek(), old
    out = run("rotate")
    assert "re-wrapped 3 data keys" in out
    # personal data was not touched, only the three data keys
    assert {p.pk: bytes(p.id_number_enc) for p in Person.objects.filter(pk__in=before)} == before
    assert all(datakeys.under_kek(k) == "current" for k in DataKey.objects.all())
    # the previous KEK is dropped once every node runs the new one
    settings.HEALTHCARD_KEK_PREVIOUS = None
    assert everything_decrypts() == populated
    card = Card.objects.filter(status="active").first()
    assert codes.verify_code(codes.static_code(card)).ok
    record = AuditRecord.objects.get(action="kek.rotate")
    assert record.details["rewrapped"] == 3
    assert record.details["previous"] == datakeys.kek_id(old)


def test_nothing_decrypts_under_the_old_kek_alone_after_rotation(some_people, settings):
    old = settings.HEALTHCARD_KEK
    settings.HEALTHCARD_KEK, settings.HEALTHCARD_KEK_PREVIOUS = new_kek(), old
    run("rotate")
    settings.HEALTHCARD_KEK, settings.HEALTHCARD_KEK_PREVIOUS = old, None
    datakeys.forget()
    for purpose in DataKeyPurpose.values:
        with pytest.raises(datakeys.DataKeyError):
            datakeys.active(purpose)
    with pytest.raises(pii.DecryptionError):
        Person.objects.first().id_number  # noqa: B018
    with pytest.raises(keys.KeyUnwrapError):
        keys.unwrap(Key.objects.first())
    with pytest.raises(CommandError, match="do not decrypt"):
        run("check")


def test_during_the_rollout_both_kek_generations_read_everything(some_people, settings):
    """Nodes already on the new KEK read keys still wrapped under the old one (before
    `rotate`), and nodes still on the old KEK read nothing new is needed: the order is
    new KEK everywhere with the old as previous, then rotate, then drop previous."""
    old = settings.HEALTHCARD_KEK
    settings.HEALTHCARD_KEK, settings.HEALTHCARD_KEK_PREVIOUS = new_kek(), old
    datakeys.forget()
    assert everything_decrypts() == some_people
    out = run("check")
    assert "under previous KEK" in out and "run `kek rotate`" in out


def test_rotate_refuses_a_key_under_an_unknown_kek_and_changes_nothing(some_people, settings):
    before = {k.kid: bytes(k.wrapped) for k in DataKey.objects.all()}
    settings.HEALTHCARD_KEK, settings.HEALTHCARD_KEK_PREVIOUS = new_kek(), new_kek()
    with pytest.raises(CommandError, match="nothing changed"):
        run("rotate")
    assert {k.kid: bytes(k.wrapped) for k in DataKey.objects.all()} == before
    assert not AuditRecord.objects.filter(action="kek.rotate").exists()


def test_previous_kek_equal_to_the_kek_is_refused_at_startup():
    import subprocess
    import sys

    kek = base64.b64encode(new_kek()).decode()
    result = subprocess.run(
        [sys.executable, "-c", "import healthcard.settings"],
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "healthcard.settings",
            "SECRET_KEY": "x" * 40,
            "HEALTHCARD_KEK": kek,
            "HEALTHCARD_KEK_PREVIOUS": kek,
        },
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "HEALTHCARD_KEK_PREVIOUS must differ" in result.stderr


def test_check_reports_every_kind_of_ciphertext(some_people):
    out = run("check", "--sample", "20")
    assert "everything checked decrypts" in out
    for column in reencrypt.COLUMNS:
        assert column.label in out
    assert "healthcard.person.id_number_enc" in out and "20 checked, 0 failed" in out
    assert AuditRecord.objects.filter(action="kek.check", result="ok").exists()


def test_check_names_a_tampered_row(some_people):
    person = Person.objects.order_by("pk").first()
    blob = bytearray(person.id_number_enc)
    blob[-1] ^= 1
    Person.objects.filter(pk=person.pk).update(id_number_enc=bytes(blob))
    with pytest.raises(CommandError):
        run("check", "--sample", "5")


def _kids(purpose=DataKeyPurpose.PII) -> set[str]:
    return {
        envelope.key_id(bytes(blob))
        for blob in Person.objects.values_list("id_number_enc", flat=True)
    }


class Interrupt(Exception):
    pass


def test_interrupted_reencryption_resumes_and_destroys_the_old_data_key(populated):
    (old_kid,) = _kids()
    run("new-data-key")
    new_kid = DataKey.objects.get(purpose=DataKeyPurpose.PII, state="active").kid
    batches = []

    def stop_after_two(progress):
        batches.append(progress)
        if len(batches) == 2:
            raise Interrupt  # as if the operator pressed Ctrl-C

    with pytest.raises(Interrupt):
        reencrypt.reencrypt(batch=300, progress=stop_after_two)
    assert _kids() == {old_kid, new_kid}  # half way: both keys in use, all decrypts
    assert everything_decrypts() == populated
    out = run("reencrypt", "--batch", "300")
    assert _kids() == {new_kid}
    assert "[" + "#" * 30 + "]" in out and "moved" in out
    assert DataKey.objects.get(kid=old_kid).state == DataKeyState.DESTROYED
    assert bytes(DataKey.objects.get(kid=old_kid).wrapped) == b""
    assert everything_decrypts() == populated
    # the key store moved too
    store_kid = DataKey.objects.get(purpose=DataKeyPurpose.KEY_STORE, state="active").kid
    assert {envelope.key_id(bytes(k.secret_enc)) for k in Key.objects.all()} == {store_kid}
    actions = set(AuditRecord.objects.values_list("action", flat=True))
    assert {
        "datakey.retire",
        "datakey.create",
        "kek.reencrypt_start",
        "kek.reencrypt_column",
    } <= actions
    assert {"kek.reencrypt_finish", "datakey.destroy"} <= actions
    # running again finds nothing to do
    assert "moved 0 ciphertexts" in run("reencrypt")


def test_old_data_key_is_kept_while_processes_may_still_use_it(some_people, settings):
    settings.HEALTHCARD_DATA_KEY_CACHE_SECONDS = 600
    (old_kid,) = _kids()
    run("new-data-key", "--purpose", "pii")
    out = run("reencrypt")
    assert "0 retired data keys destroyed" in out
    assert DataKey.objects.get(kid=old_kid).state == DataKeyState.RETIRED


def test_the_index_key_is_not_replaced():
    with pytest.raises(ValueError):
        datakeys.replace(DataKeyPurpose.PII_INDEX)


def test_a_row_changed_during_reencryption_keeps_the_change(some_people, monkeypatch):
    run("new-data-key", "--purpose", "pii")
    person = Person.objects.order_by("pk").first()
    real_open = reencrypt._open

    def clerk_changes_the_phone_meanwhile(column, blob, extra):
        plain = real_open(column, blob, extra)
        if column.field == "phone_enc" and bytes(blob) == bytes(person.phone_enc):
            changed = Person.objects.get(pk=person.pk)
            changed.phone = "13700000000"
            changed.save(update_fields=["phone_enc", "phone_index"])
        return plain

    monkeypatch.setattr(reencrypt, "_open", clerk_changes_the_phone_meanwhile)
    result = reencrypt.reencrypt()
    person.refresh_from_db()
    assert person.phone == "13700000000"
    assert result["left"] == 1  # that row was not overwritten
    monkeypatch.setattr(reencrypt, "_open", real_open)
    assert reencrypt.reencrypt()["left"] == 0


def test_unset_kek_previous_is_fine_when_everything_is_current(some_people):
    assert "re-wrapped 0 data keys" in run("rotate")


@override_settings(HEALTHCARD_KEK_PREVIOUS=None)
def test_data_keys_are_random_not_derived_from_the_kek(db, settings):
    pii.encrypt("x", "phone")
    first = datakeys.active(DataKeyPurpose.PII)[1]
    DataKey.objects.all().delete()
    datakeys.forget()
    pii.encrypt("x", "phone")
    assert datakeys.active(DataKeyPurpose.PII)[1] != first
