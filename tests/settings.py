"""Test settings: the production settings with throwaway secrets.

Secrets come from the environment as in production; the suite supplies fixed test
values when the caller did not, so `pytest` works on a fresh checkout.
"""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "test-secret-key-that-is-long-enough-for-django-checks")
os.environ.setdefault("HEALTHCARD_KEK", "dGVzdC1rZWstdGVzdC1rZWstdGVzdC1rZWstMzJieXQ=")
os.environ.setdefault("HEALTHCARD_SMS_BACKEND", "outbox")

from healthcard.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Tests assert on the English source messages; Simplified Chinese, the production
# default, is checked explicitly (tests/test_i18n.py, and the browser tests, which send
# Accept-Language: zh-CN like a resident's phone).
LANGUAGE_CODE = "en"

# The printing tests drive a virtual network printer on 127.0.0.1 and write "device
# files" under the temporary directory; production allows neither (docs/printing.md,
# "Where a printer may point"). The tests that check the refusals set the production
# lists themselves.
HEALTHCARD_PRINTER_NETWORKS = [*HEALTHCARD_PRINTER_NETWORKS, "127.0.0.1/32"]  # noqa: F405
HEALTHCARD_PRINTER_DEVICES = [*HEALTHCARD_PRINTER_DEVICES, f"{tempfile.gettempdir()}/**"]  # noqa: F405
