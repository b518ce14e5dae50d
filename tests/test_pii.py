"""healthcard.pii: encryption at rest, blind indexes, masking; Person's encrypted fields."""

import base64

import pytest
from django.test import override_settings

from healthcard import datakeys, people, pii
from healthcard.models import DataKey, DataKeyPurpose, Person
from tests.conftest import id_check_char, make_id_number

OTHER_KEK = base64.b64decode("b3RoZXIta2VrLW90aGVyLWtlay1vdGhlci1rZWstMzI=")

# the data keys live in the database, wrapped under the KEK
pytestmark = pytest.mark.django_db


def test_encryption_round_trip():
    for text in ["430102199005171234", "13800138000", "湖南省长沙市开福区 𠮷 街 1 号", ""]:
        assert pii.decrypt(pii.encrypt(text, "id_number"), "id_number") == text


def test_ciphertext_differs_each_time_and_hides_the_plaintext():
    first = pii.encrypt("430102199005171234", "id_number")
    second = pii.encrypt("430102199005171234", "id_number")
    assert first != second
    assert b"430102" not in first
    assert first[:1] == pii.VERSION
    assert len(first) == 1 + 8 + 12 + len("430102199005171234") + 16


@pytest.mark.parametrize("position", [0, 1, 9, 20, 21, 30, -1])
def test_tampered_ciphertext_is_refused(position):
    blob = bytearray(pii.encrypt("430102199005171234", "id_number"))
    blob[position] ^= 0x01
    with pytest.raises(pii.DecryptionError):
        pii.decrypt(bytes(blob), "id_number")


def test_truncated_ciphertext_is_refused():
    blob = pii.encrypt("430102199005171234", "id_number")
    for end in (0, 10, 28, len(blob) - 1):
        with pytest.raises(pii.DecryptionError):
            pii.decrypt(blob[:end], "id_number")


def test_ciphertext_moved_to_another_field_is_refused():
    blob = pii.encrypt("13800138000", "phone")
    with pytest.raises(pii.DecryptionError):
        pii.decrypt(blob, "id_number")


def test_under_another_kek_the_data_key_does_not_unwrap():
    blob = pii.encrypt("430102199005171234", "id_number")
    with override_settings(HEALTHCARD_KEK=OTHER_KEK):
        with pytest.raises(pii.DecryptionError):
            pii.decrypt(blob, "id_number")
        with pytest.raises(datakeys.DataKeyError):
            pii.encrypt("430102199005171234", "id_number")


def test_ciphertext_relabelled_with_another_data_key_is_refused():
    blob = pii.encrypt("430102199005171234", "id_number")
    datakeys.replace(DataKeyPurpose.PII)
    newer = pii.encrypt("430102199005171234", "id_number")
    assert newer[1:9] != blob[1:9]
    with pytest.raises(pii.DecryptionError):
        pii.decrypt(newer[:1] + blob[1:9] + newer[9:], "id_number")
    assert pii.decrypt(blob, "id_number") == pii.decrypt(newer, "id_number")


def test_decrypt_accepts_memoryview_from_the_database():
    blob = pii.encrypt("13800138000", "phone")
    assert pii.decrypt(memoryview(blob), "phone") == "13800138000"


def test_blind_index_is_deterministic_and_keyed():
    index = pii.blind_index("01:430102199005171234", "identity")
    assert index == pii.blind_index("01:430102199005171234", "identity")
    assert len(index) == 64
    assert index != pii.blind_index("01:430102199005171235", "identity")
    datakeys.forget()
    DataKey.objects.all().delete()  # another installation: another index key
    assert pii.blind_index("01:430102199005171234", "identity") != index


def test_blind_index_is_separated_by_field():
    assert pii.blind_index("13800138000", "phone") != pii.blind_index("13800138000", "identity")
    # The separator keeps (field, value) pairs apart even when they concatenate alike.
    assert pii.blind_index("b", "a") != pii.blind_index("b", "a\x00")


def test_identity_index_separates_document_types():
    number = make_id_number()
    assert Person.identity_index_for("01", number) != Person.identity_index_for("02", number)


# --- Person storage ----------------------------------------------------------------------


def test_person_stores_identity_phone_and_address_encrypted(card):
    person = Person.objects.get(pk=card.person.pk)
    number = person.id_number
    assert len(number) == 18
    assert person.phone == "13800138000"
    raw = Person.objects.filter(pk=person.pk).values("id_number_enc", "phone_enc").get()
    assert number.encode() not in bytes(raw["id_number_enc"])
    assert b"13800138000" not in bytes(raw["phone_enc"])
    assert person.identity_index == Person.identity_index_for("01", number)
    assert person.phone_index == Person.phone_index_for("13800138000")


def test_find_person_uses_the_blind_index_with_lower_case_x(make_card):
    seq = 1
    while id_check_char(f"43010219900517{seq:03d}") != "X":
        seq += 1
    number = make_id_number(seq=seq)
    card = make_card(id_number=number.lower())
    assert card.person.id_number == number
    assert people.find_person("01", number.lower()) == card.person
    assert people.find_person("01", f" {number} ") == card.person
    assert people.find_person("02", number) is None
    assert people.find_person("01", make_id_number(seq=seq + 2)) is None


def test_person_without_phone_or_address_stores_nothing(make_card):
    person = make_card().person
    assert person.phone_enc is None and person.phone_index == "" and person.phone == ""
    assert person.address == ""
    assert person.masked_phone == ""


# --- masking -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("张小三", "张*三"),
        ("张三", "张*"),
        ("欧阳小峰", "欧**峰"),
        ("张", "张"),
        ("阿依古丽·买买提", "阿******提"),
        ("𠮷野家", "𠮷*家"),
    ],
)
def test_names_are_masked(name, masked):
    assert pii.mask_name(name) == masked


def test_numbers_are_masked_keeping_length_and_ends():
    assert pii.mask_number("430102199005171234") == "430***********1234"
    assert pii.mask_number("13800138000") == "138****8000"
    assert pii.mask_number("E1234567") == "E12*4567"
    assert pii.mask_number("1234567") == "*******"


def test_person_masked_properties(make_card):
    number = make_id_number(seq=123)
    person = make_card(name="张小三", id_number=number, phone="13800138000").person
    assert person.masked_name == "张*三"
    assert str(person) == "张*三"
    assert person.masked_id_number == "430***********" + number[-4:]
    assert person.masked_phone == "138****8000"
