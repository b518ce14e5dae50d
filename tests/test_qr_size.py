"""QR version budget (docs/qr-format.md section 9): alphanumeric mode, level M,
static codes at most version 8, dynamic codes at most version 9, worst case."""

import datetime

import pytest
import qrcode
from qrcode.util import MODE_ALPHA_NUM, QRData

import ehccode
from ehccode import signing
from healthcard import codes

ALPHANUMERIC = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")


def qr_version(text: str) -> int:
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M)
    data = QRData(text.encode("ascii"), mode=MODE_ALPHA_NUM)
    assert data.mode == MODE_ALPHA_NUM
    qr.add_data(data)
    qr.make(fit=True)
    return qr.version


@pytest.fixture(scope="module")
def sign():
    secret, _public = signing.ED25519.generate()
    return signing.ED25519.signer(secret)


def worst_static(sign) -> str:
    # Longest seq (10 digits), longest key ID (16 characters).
    prefix = ehccode.static_prefix("F" * 64, 9_999_999_999, datetime.date(2099, 12, 31), "Z" * 16)
    return ehccode.finish(prefix, sign)


def worst_dynamic(sign) -> str:
    expires = datetime.datetime(2286, 11, 20, tzinfo=datetime.UTC)  # 10-digit Unix time
    prefix = ehccode.dynamic_prefix("F" * 64, "F" * 32, "Z" * 20, expires, "Z" * 16)
    return ehccode.finish(prefix, sign)


def test_worst_case_static_code_fits_version_8_at_level_m(sign):
    text = worst_static(sign)
    assert len(text) == 210
    assert ehccode.parse(text).issue_seq == 9_999_999_999
    assert qr_version(text) <= 8


def test_worst_case_dynamic_code_fits_version_9_at_level_m(sign):
    text = worst_dynamic(sign)
    assert len(text) == 255
    assert ehccode.parse(text).kind == "dynamic"
    assert qr_version(text) <= 9


def test_all_characters_are_in_the_qr_alphanumeric_set(sign):
    for text in (worst_static(sign), worst_dynamic(sign)):
        assert set(text) <= ALPHANUMERIC


def test_platform_codes_fit_for_both_algorithms(card):
    from healthcard import keys
    from healthcard.models import KeyPurpose

    for algorithm in ("ed25519", "sm2"):
        keys.rotate(KeyPurpose.CODE_SIGNING, algorithm=algorithm)
        static, dynamic = codes.static_code(card), codes.dynamic_code(card)
        assert set(static) | set(dynamic) <= ALPHANUMERIC
        assert qr_version(static) <= 8
        assert qr_version(dynamic) <= 9
