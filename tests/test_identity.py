"""healthcard.identity: names, every ID document type, sex and birth date, phones."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import override
from faker import Faker

from healthcard.identity import (
    NAME_MAX,
    Identity,
    IdType,
    Sex,
    normalise_id_number,
    normalise_name,
    validate_identity,
    validate_phone,
)
from tests.conftest import id_check_char, make_id_number

BIRTH = datetime.date(1985, 3, 9)


@pytest.fixture(autouse=True)
def english():
    """Assert against the English msgids."""
    with override("en"):
        yield


def errors_of(*args, **kwargs) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as exc_info:
        validate_identity(*args, **kwargs)
    return exc_info.value.message_dict


def wrong_check(number: str) -> str:
    """The same number with any other check character."""
    right = number[17]
    return number[:17] + ("0" if right != "0" else "1")


# --- 居民身份证 (01) ---------------------------------------------------------------------


def test_resident_id_derives_sex_and_birth_date():
    male = make_id_number(birth=datetime.date(1990, 5, 17), seq=123)
    female = make_id_number(birth=datetime.date(2001, 12, 31), seq=124)
    assert validate_identity("01", male) == Identity(
        "01", male, Sex.MALE, datetime.date(1990, 5, 17)
    )
    assert validate_identity("01", female) == Identity(
        "01", female, Sex.FEMALE, datetime.date(2001, 12, 31)
    )


def test_generated_resident_ids_are_all_accepted_and_each_with_a_wrong_check_character_refused():
    fake = Faker("zh_CN")
    fake.seed_instance(20191122)
    numbers = {fake.ssn() for _ in range(3000)}
    assert len(numbers) > 2900
    for number in numbers:
        identity = validate_identity("01", number)
        assert identity.id_number == number
        assert identity.sex == (Sex.MALE if int(number[16]) % 2 else Sex.FEMALE)
        assert identity.birth_date.strftime("%Y%m%d") == number[6:14]
        with pytest.raises(ValidationError) as exc_info:
            validate_identity("01", wrong_check(number))
        assert exc_info.value.message_dict == {
            "id_number": [
                "The check character of the identity number is wrong; please check the number."
            ]
        }


def test_lower_case_x_is_accepted_and_normalised_to_upper_case():
    first17 = "43010219900517" + "001"
    seq = 1
    while id_check_char(first17) != "X":
        seq += 2
        first17 = f"43010219900517{seq:03d}"
    number = first17 + "X"
    assert validate_identity("01", number.lower()).id_number == number
    assert validate_identity("01", f" {first17[:6]} {first17[6:]}x ").id_number == number


def test_full_width_digits_are_normalised_to_ascii():
    number = make_id_number()
    full_width = "".join(chr(ord(ch) + 0xFEE0) for ch in number)
    assert validate_identity("01", full_width).id_number == number


def test_digits_of_other_scripts_are_refused():
    number = make_id_number()
    arabic = number[:16] + "٣" + number[17]
    assert errors_of("01", arabic) == {
        "id_number": ["A resident identity number is 17 digits followed by a digit or X."]
    }


def test_wrong_check_character_is_refused():
    number = make_id_number()
    assert errors_of("01", wrong_check(number)) == {
        "id_number": [
            "The check character of the identity number is wrong; please check the number."
        ]
    }


@pytest.mark.parametrize("date", ["19900230", "19901301", "19900431", "20230229", "19900000"])
def test_impossible_birth_date_is_refused(date):
    first17 = f"430102{date}123"
    number = first17 + id_check_char(first17)
    assert errors_of("01", number) == {
        "id_number": [f"The birth date {date} in the identity number does not exist."]
    }


def test_leap_day_birth_date_is_accepted():
    number = make_id_number(birth=datetime.date(2000, 2, 29))
    assert validate_identity("01", number).birth_date == datetime.date(2000, 2, 29)


def test_future_birth_date_in_the_number_is_refused():
    tomorrow = timezone.localdate() + datetime.timedelta(days=1)
    number = make_id_number(birth=tomorrow)
    assert errors_of("01", number) == {
        "id_number": [
            f"The birth date {tomorrow.isoformat()} in the identity number is not possible."
        ]
    }


def test_birth_date_before_1880_is_refused():
    number = make_id_number(birth=datetime.date(1879, 12, 31))
    assert errors_of("01", number) == {
        "id_number": ["The birth date 1879-12-31 in the identity number is not possible."]
    }


@pytest.mark.parametrize("region", ["999999", "000000", "439999", "431399"])
def test_unknown_region_is_refused(region):
    number = make_id_number(region=region)
    assert errors_of("01", number) == {
        "id_number": [f"The region code {region} in the identity number is unknown."]
    }


def test_region_code_that_no_longer_exists_is_accepted():
    # 430104 was 长沙市郊区 until 1996; its people keep their numbers.
    assert validate_identity("01", make_id_number(region="430104")).id_number[:6] == "430104"


@pytest.mark.parametrize("length", [15, 17, 19])
def test_wrong_length_is_refused(length):
    number = (make_id_number() * 2)[:length]
    assert errors_of("01", number) == {
        "id_number": [f"A resident identity number has 18 characters; this one has {length}."]
    }


def test_letters_inside_a_resident_id_are_refused():
    number = make_id_number()
    assert errors_of("01", number[:5] + "A" + number[6:]) == {
        "id_number": ["A resident identity number is 17 digits followed by a digit or X."]
    }


def test_empty_number_is_refused():
    assert errors_of("01", "  ") == {"id_number": ["Enter the identity document number."]}


def test_unknown_id_type_is_refused():
    assert errors_of("08", make_id_number()) == {"id_type": ["Unknown identity document type."]}


def test_resident_id_with_matching_sex_and_birth_date_is_accepted():
    number = make_id_number(birth=BIRTH, seq=2)
    assert validate_identity("01", number, Sex.FEMALE, BIRTH).sex == Sex.FEMALE


def test_resident_id_with_mismatched_sex_is_refused():
    number = make_id_number(birth=BIRTH, seq=3)  # male
    assert errors_of("01", number, Sex.FEMALE, BIRTH) == {
        "sex": ["The sex does not match the identity number."]
    }


def test_resident_id_with_mismatched_birth_date_is_refused():
    number = make_id_number(birth=BIRTH, seq=3)
    assert errors_of("01", number, Sex.MALE, BIRTH + datetime.timedelta(days=1)) == {
        "birth_date": ["The birth date does not match the identity number."]
    }


def test_resident_id_with_both_mismatched_reports_both_fields():
    number = make_id_number(birth=BIRTH, seq=3)
    errors = errors_of("01", number, Sex.FEMALE, datetime.date(1985, 3, 10))
    assert set(errors) == {"sex", "birth_date"}


def test_unknown_sex_code_is_refused():
    assert errors_of("01", make_id_number(), "7") == {"sex": ["Unknown sex code."]}


def test_future_birth_date_given_is_refused():
    tomorrow = timezone.localdate() + datetime.timedelta(days=1)
    assert errors_of("03", "E12345678", Sex.MALE, tomorrow) == {
        "birth_date": ["The birth date is in the future."]
    }


# --- the other document types ----------------------------------------------------------

VALID = {
    IdType.HOUSEHOLD_REGISTER: [make_id_number(birth=BIRTH, seq=12)],
    IdType.PASSPORT: ["E12345678", "EA1234567", "G12345678", "x1234567", "AB12345"],
    IdType.OFFICER: ["南字第1234567号", "123456", "12345678", "海字第654321号"],
    IdType.DRIVING_LICENCE: [make_id_number(birth=BIRTH, seq=14)],
    IdType.HK_MACAO_PERMIT: ["H12345678", "M1234567890", "h12345678"],
    IdType.TAIWAN_PERMIT: ["12345678", "1234567890", "1234567890B"],
    IdType.OTHER: ["O430123456", "P1234", "birth-2024-0001"],
}

INVALID = {
    IdType.HOUSEHOLD_REGISTER: [
        (
            make_id_number(seq=11)[:17] + "Y",
            "A resident identity number is 17 digits followed by a digit or X.",
        ),
        (wrong_check(make_id_number(seq=11)), "The check character of the identity number is"),
    ],
    IdType.PASSPORT: [
        ("E123", "expected 5 to 17 letters or digits"),
        ("E1234567890ABCDEFG", "expected 5 to 17 letters or digits"),
        ("E1234_5678", "expected 5 to 17 letters or digits"),
    ],
    IdType.OFFICER: [
        ("12345", "expected such as 南字第1234567号 or 6 to 8 digits"),
        ("南字1234567", "expected such as 南字第1234567号 or 6 to 8 digits"),
        ("ABC123456", "expected such as 南字第1234567号 or 6 to 8 digits"),
    ],
    IdType.DRIVING_LICENCE: [
        ("E12345678", "A resident identity number has 18 characters; this one has 9."),
    ],
    IdType.HK_MACAO_PERMIT: [
        ("A12345678", "expected H or M followed by 8 or 10 digits"),
        ("H1234567", "expected H or M followed by 8 or 10 digits"),
        ("H123456789", "expected H or M followed by 8 or 10 digits"),
    ],
    IdType.TAIWAN_PERMIT: [
        ("1234567", "expected 8 digits, or 10 digits on older permits"),
        ("123456789", "expected 8 digits, or 10 digits on older permits"),
        ("T12345678", "expected 8 digits, or 10 digits on older permits"),
    ],
    IdType.OTHER: [
        ("O43", "expected 4 to 30 letters, digits or hyphens"),
        ("O430/123456", "expected 4 to 30 letters, digits or hyphens"),
    ],
}


@pytest.mark.parametrize(
    ("id_type", "number"), [(t, n) for t, numbers in VALID.items() for n in numbers]
)
def test_valid_number_of_each_other_type_is_accepted(id_type, number):
    identity = validate_identity(id_type, number, Sex.FEMALE, BIRTH)
    assert identity == Identity(id_type, number.upper(), Sex.FEMALE, BIRTH)


@pytest.mark.parametrize(
    ("id_type", "number", "message"),
    [(t, n, m) for t, cases in INVALID.items() for n, m in cases],
)
def test_invalid_number_of_each_other_type_is_refused_with_its_format(id_type, number, message):
    errors = errors_of(id_type, number, Sex.FEMALE, BIRTH)
    assert list(errors) == ["id_number"]
    assert message in errors["id_number"][0]


@pytest.mark.parametrize("id_type", sorted(VALID))
def test_other_types_require_sex_and_birth_date(id_type):
    number = VALID[id_type][0]
    assert errors_of(id_type, number) == {
        "sex": ["Sex is required for this document type."],
        "birth_date": ["Birth date is required for this document type."],
    }
    assert errors_of(id_type, number, Sex.FEMALE) == {
        "birth_date": ["Birth date is required for this document type."]
    }
    assert errors_of(id_type, number, None, BIRTH) == {
        "sex": ["Sex is required for this document type."]
    }


@pytest.mark.parametrize("id_type", [IdType.HOUSEHOLD_REGISTER, IdType.DRIVING_LICENCE])
def test_citizen_number_on_other_documents_must_agree_with_sex_and_birth_date(id_type):
    number = make_id_number(birth=BIRTH, seq=5)  # male
    assert errors_of(id_type, number, Sex.FEMALE, BIRTH) == {
        "sex": ["The sex does not match the identity number."]
    }


def test_number_longer_than_the_ehc_block_is_refused():
    assert errors_of(IdType.OTHER, "A" * 31, Sex.MALE, BIRTH) == {
        "id_number": ["The identity document number is too long."]
    }
    assert validate_identity(IdType.OTHER, "A" * 30, Sex.MALE, BIRTH).id_number == "A" * 30


def test_normalise_id_number_strips_spaces_and_upper_cases():
    assert normalise_id_number("03", " e 1234\t5678 ") == "E12345678"
    assert normalise_id_number("03", None) == ""


# --- names -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "张三",
        "𠮷野家",  # CJK extension B
        "王\U0002a6a5",  # extension C
        "\U00031350明",  # extension H
        "李〇",
        "阿依古丽·买买提",
        "爱新觉罗・溥仪",
        "John Smith",
        "Zoë O'Brien-Müller",
        "张" * NAME_MAX,
    ],
)
def test_valid_names_are_accepted(name):
    assert normalise_name(name) == name


def test_names_are_trimmed_and_inner_spaces_collapsed():
    assert normalise_name("  John   Smith \n") == "John Smith"
    assert normalise_name("\u3000张三 ") != ""  # an ideographic space is not trimmed away


def test_name_is_nfc_normalised():
    assert normalise_name("Zoe\u0308") == "Zoë"


def assert_name_refused(raw, message):
    with pytest.raises(ValidationError) as exc_info:
        normalise_name(raw)
    assert exc_info.value.messages == [message]


@pytest.mark.parametrize("raw", ["", "   ", None])
def test_empty_name_is_refused(raw):
    assert_name_refused(raw, "Enter a name.")


@pytest.mark.parametrize("raw", ["张\x00三", "张\t三", "张\n三", "张\x1b三", "张\x7f三"])
def test_names_with_control_characters_are_refused(raw):
    assert_name_refused(raw, "The name contains control or invisible characters.")


@pytest.mark.parametrize(
    "raw", ["张\u200b三", "张\u200d三", "张\ufeff三", "张\u202e三", "\u2060张三"]
)
def test_names_with_zero_width_or_direction_characters_are_refused(raw):
    assert_name_refused(raw, "The name contains control or invisible characters.")


def test_name_over_50_characters_is_refused():
    assert_name_refused("张" * (NAME_MAX + 1), "The name is longer than 50 characters.")
    assert_name_refused("A" * 60, "The name is longer than 50 characters.")


@pytest.mark.parametrize(
    "raw", ["张三1", "张三!", "<script>", "张三😀", "Иван", "·", "...", "- '", "・"]
)
def test_names_with_digits_symbols_or_other_scripts_are_refused(raw):
    assert_name_refused(
        raw,
        "A name may contain Chinese characters, Latin letters, the middle dot (·), "
        "spaces, hyphens and apostrophes only.",
    )


# --- phones ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "phone"),
    [
        ("13800138000", "13800138000"),
        ("+86 138-0013-8000", "13800138000"),
        ("+8619912345678", "19912345678"),
        ("１３８００１３８０００", "13800138000"),
    ],
)
def test_valid_mobile_numbers_are_normalised(raw, phone):
    assert validate_phone(raw) == phone


@pytest.mark.parametrize(
    "raw", ["", "1380013800", "138001380001", "12800138000", "0731-8888888", "138٠٠١٣٨٠٠٠"]
)
def test_invalid_mobile_numbers_are_refused(raw):
    with pytest.raises(ValidationError) as exc_info:
        validate_phone(raw)
    assert exc_info.value.messages == ["Enter an 11-digit mainland mobile number."]


@pytest.mark.parametrize("region", ["810000", "820000", "830000", "620201"])
def test_region_codes_missing_from_stdnum_but_on_real_numbers_are_accepted(region):
    assert validate_identity("01", make_id_number(region=region)).id_number[:6] == region
