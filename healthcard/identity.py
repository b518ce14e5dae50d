"""Identity rules: names, ID document types and numbers, sex, birth date, nation.

`validate_identity` is the one place that decides whether a person's identity is
acceptable; forms, the API and batch imports all call it, so every channel gives the
same specific error for the same mistake.
"""

import datetime
import re
import unicodedata
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from stdnum import numdb
from stdnum.cn import ric


class IdType:
    """WS 364 CV02.01.101 identity document types."""

    RESIDENT_ID = "01"
    HOUSEHOLD_REGISTER = "02"
    PASSPORT = "03"
    OFFICER = "04"
    DRIVING_LICENCE = "05"
    HK_MACAO_PERMIT = "06"
    TAIWAN_PERMIT = "07"
    OTHER = "99"

    CHOICES = [
        ("01", _("Resident identity card")),
        ("02", _("Household register")),
        ("03", _("Passport")),
        ("04", _("Military officer card")),
        ("05", _("Driving licence")),
        ("06", _("Mainland travel permit for Hong Kong and Macao residents")),
        ("07", _("Mainland travel permit for Taiwan residents")),
        ("99", _("Other legal identity document (e.g. birth certificate)")),
    ]


class Sex:
    """GB/T 2261.1 sex codes."""

    UNKNOWN = "0"
    MALE = "1"
    FEMALE = "2"
    CHOICES = [("1", _("Male")), ("2", _("Female")), ("0", _("Unknown"))]


# GB/T 3304 ethnic groups (56) plus the two residual codes.
NATIONS = [
    ("01", "汉族"), ("02", "蒙古族"), ("03", "回族"), ("04", "藏族"), ("05", "维吾尔族"),
    ("06", "苗族"), ("07", "彝族"), ("08", "壮族"), ("09", "布依族"), ("10", "朝鲜族"),
    ("11", "满族"), ("12", "侗族"), ("13", "瑶族"), ("14", "白族"), ("15", "土家族"),
    ("16", "哈尼族"), ("17", "哈萨克族"), ("18", "傣族"), ("19", "黎族"), ("20", "傈僳族"),
    ("21", "佤族"), ("22", "畲族"), ("23", "高山族"), ("24", "拉祜族"), ("25", "水族"),
    ("26", "东乡族"), ("27", "纳西族"), ("28", "景颇族"), ("29", "柯尔克孜族"), ("30", "土族"),
    ("31", "达斡尔族"), ("32", "仫佬族"), ("33", "羌族"), ("34", "布朗族"), ("35", "撒拉族"),
    ("36", "毛南族"), ("37", "仡佬族"), ("38", "锡伯族"), ("39", "阿昌族"), ("40", "普米族"),
    ("41", "塔吉克族"), ("42", "怒族"), ("43", "乌孜别克族"), ("44", "俄罗斯族"),
    ("45", "鄂温克族"), ("46", "德昂族"), ("47", "保安族"), ("48", "裕固族"), ("49", "京族"),
    ("50", "塔塔尔族"), ("51", "独龙族"), ("52", "鄂伦春族"), ("53", "赫哲族"), ("54", "门巴族"),
    ("55", "珞巴族"), ("56", "基诺族"), ("97", "其他未识别民族"), ("98", "外国血统中国籍人士"),
]  # fmt: skip

# The national EHC ID encrypts ascii(id_type + id_number) zero-padded to 32 bytes.
MAX_ID_BYTES = 32 - 2

NAME_MAX = 50

# Han ideographs in every CJK block (including extensions B-I in the supplementary
# planes, e.g. 𠮷, and 〇 as used in names), Latin letters, the middle dots used in
# transliterated minority and foreign names (阿依古丽·买买提), and single
# spaces/hyphens/apostrophes between parts.
_HAN = r"\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U000323af"
_HAN_CHAR = re.compile(f"[{_HAN}]")
_NAME_CHARS = re.compile(f"^[{_HAN}" r"A-Za-z\u00c0-\u024f·•・\u00b7 .'\-]+$")

# Other document formats (upper-cased, without spaces).
_FORMATS = {
    # Chinese passports (E12345678, EA1234567, G12345678) and foreign passports.
    IdType.PASSPORT: (re.compile(r"^[A-Z0-9]{5,17}$"), _("5 to 17 letters or digits")),
    # e.g. 南字第1234567号, or the digits alone.
    IdType.OFFICER: (
        re.compile(r"^(?:[\u4e00-\u9fff]{1,2}字第)?\d{6,8}号?$"),
        _("such as 南字第1234567号 or 6 to 8 digits"),
    ),
    # 回乡证: H or M then 8 digits (10 on older permits).
    IdType.HK_MACAO_PERMIT: (
        re.compile(r"^[HM]\d{8}(?:\d{2})?$"),
        _("H or M followed by 8 or 10 digits"),
    ),
    # 台胞证: 8 digits (10 digits on permits issued before 2015, sometimes with a letter).
    IdType.TAIWAN_PERMIT: (
        re.compile(r"^(?:\d{8}|\d{10}[A-Z]?)$"),
        _("8 digits, or 10 digits on older permits"),
    ),
    # Medical birth certificates (O430123456) and other documents.
    IdType.OTHER: (re.compile(r"^[A-Z0-9\-]{4,30}$"), _("4 to 30 letters, digits or hyphens")),
}
# \d must not match other scripts' digits (٣, ３): one number, one blind index.
_FORMATS = {
    code: (re.compile(pattern.pattern, re.ASCII), description)
    for code, (pattern, description) in _FORMATS.items()
}

# Region codes that python-stdnum's GB/T 2260 table lacks but real numbers carry:
# the residence permits of Hong Kong, Macao and Taiwan residents (港澳台居民居住证, since
# 2018) use the GB 11643 format with 810000/820000/830000, and 620201 is 嘉峪关市's
# former 市辖区 code.
_REGIONS_NOT_IN_STDNUM = {"620201", "810000", "820000", "830000"}

# Types whose number is the GB 11643 citizen identity number.
_CITIZEN_NUMBER_TYPES = {IdType.RESIDENT_ID, IdType.HOUSEHOLD_REGISTER, IdType.DRIVING_LICENCE}


@dataclass(frozen=True)
class Identity:
    id_type: str
    id_number: str
    sex: str
    birth_date: datetime.date


def normalise_name(raw: str) -> str:
    """Trim and NFC-normalise a name; refuse control characters, symbols, digits."""
    if raw is None:
        raise ValidationError(_("Enter a name."), code="required")
    name = unicodedata.normalize("NFC", str(raw)).strip()
    name = re.sub(r" {2,}", " ", name)
    if not name:
        raise ValidationError(_("Enter a name."), code="required")
    # Python 3.11's Unicode 14 tables call the newest CJK extensions (H, I) unassigned,
    # so Han characters are exempt from the "unassigned" test.
    if any(
        unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co", "Cn"} and not _HAN_CHAR.match(ch)
        for ch in name
    ):
        raise ValidationError(
            _("The name contains control or invisible characters."), code="control"
        )
    if len(name) > NAME_MAX:
        raise ValidationError(
            _("The name is longer than %(max)d characters.") % {"max": NAME_MAX}, code="max_length"
        )
    # The separators alone ("·", "-", "...") are not a name.
    if not _NAME_CHARS.match(name) or not re.search(f"[{_HAN}A-Za-z\u00c0-\u024f]", name):
        raise ValidationError(
            _(
                "A name may contain Chinese characters, Latin letters, the middle dot (·), "
                "spaces, hyphens and apostrophes only."
            ),
            code="invalid",
        )
    return name


def _citizen_number(number: str) -> tuple[str, str, datetime.date]:
    """Validate a GB 11643 number; return it with the sex and birth date it encodes."""
    if len(number) != 18:
        raise ValidationError(
            _("A resident identity number has 18 characters; this one has %(n)d.")
            % {"n": len(number)},
            code="length",
        )
    # str.isdigit() would also pass other scripts' digits; only ASCII is a valid number.
    if not re.fullmatch(r"[0-9]{17}[0-9X]", number):
        raise ValidationError(
            _("A resident identity number is 17 digits followed by a digit or X."), code="format"
        )
    try:
        birth = datetime.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise ValidationError(
            _("The birth date %(date)s in the identity number does not exist.")
            % {"date": number[6:14]},
            code="birth_date",
        ) from None
    if birth > timezone.localdate() or birth.year < 1880:
        raise ValidationError(
            _("The birth date %(date)s in the identity number is not possible.")
            % {"date": birth.isoformat()},
            code="birth_date",
        )
    # Any code that GB/T 2260 has ever assigned: people keep the number they were
    # given, and a county created after someone's birth still appears in their number.
    region = number[:6]
    if region not in _REGIONS_NOT_IN_STDNUM and not numdb.get("cn/loc").info(region)[-1][1]:
        raise ValidationError(
            _("The region code %(code)s in the identity number is unknown.") % {"code": number[:6]},
            code="region",
        )
    if ric.calc_check_digit(number) != number[17]:
        raise ValidationError(
            _("The check character of the identity number is wrong; please check the number."),
            code="checksum",
        )
    sex = Sex.MALE if int(number[16]) % 2 else Sex.FEMALE
    return number, sex, birth


def normalise_id_number(id_type: str, raw: str) -> str:
    """Upper-case and strip spaces; the form of a number before validation.

    NFKC turns full-width digits and letters (common from Chinese input methods) into
    ASCII, so one number has one form and one blind index."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(raw or ""))).upper()


def validate_identity(
    id_type: str,
    id_number: str,
    sex: str | None = None,
    birth_date: datetime.date | None = None,
) -> Identity:
    """Validate and normalise an identity; raise ValidationError keyed by field.

    For a resident identity card (01) the sex and birth date come from the number; when
    they are given too they must agree with it. Household registers (02) and driving
    licences (05) carry the same citizen number and are checked the same way, but
    their holders' sex and birth date must be given. All other types need sex and
    birth date, and have their number checked against the document's format.
    """
    errors: dict[str, list] = {}
    valid_types = {code for code, _label in IdType.CHOICES}
    if id_type not in valid_types:
        raise ValidationError({"id_type": [_("Unknown identity document type.")]})
    number = normalise_id_number(id_type, id_number)
    if not number:
        raise ValidationError({"id_number": [_("Enter the identity document number.")]})
    if len(number.encode("utf-8")) > MAX_ID_BYTES:
        raise ValidationError({"id_number": [_("The identity document number is too long.")]})
    if sex not in (None, "") and sex not in {code for code, _label in Sex.CHOICES}:
        errors["sex"] = [_("Unknown sex code.")]
    if birth_date is not None and birth_date > timezone.localdate():
        errors["birth_date"] = [_("The birth date is in the future.")]

    derived_sex = derived_birth = None
    try:
        if id_type in _CITIZEN_NUMBER_TYPES:
            number, derived_sex, derived_birth = _citizen_number(number)
        else:
            pattern, description = _FORMATS[id_type]
            if not pattern.match(number):
                raise ValidationError(
                    _("This is not a valid number for this document type (expected %(format)s).")
                    % {"format": description},
                    code="format",
                )
    except ValidationError as exc:
        errors["id_number"] = exc.messages

    if derived_sex is not None and "sex" not in errors and sex and sex != derived_sex:
        errors["sex"] = [_("The sex does not match the identity number.")]
    if derived_birth is not None and birth_date and birth_date != derived_birth:
        errors.setdefault("birth_date", []).append(
            _("The birth date does not match the identity number.")
        )
    if id_type != IdType.RESIDENT_ID:
        if not sex:
            errors.setdefault("sex", []).append(_("Sex is required for this document type."))
        if not birth_date:
            errors.setdefault("birth_date", []).append(
                _("Birth date is required for this document type.")
            )
    if errors:
        raise ValidationError(errors)
    return Identity(
        id_type=id_type,
        id_number=number,
        sex=sex or derived_sex,
        birth_date=birth_date or derived_birth,
    )


def validate_phone(raw: str) -> str:
    """Mainland mobile numbers (11 digits starting with 1), with an optional +86."""
    phone = re.sub(r"[\s\-]", "", unicodedata.normalize("NFKC", str(raw or "")))
    if phone.startswith("+86"):
        phone = phone[3:]
    if not re.fullmatch(r"1[3-9][0-9]{9}", phone):  # \d would pass other scripts' digits
        raise ValidationError(_("Enter an 11-digit mainland mobile number."), code="phone")
    return phone
