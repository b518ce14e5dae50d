"""healthcard.settings: safe by default, loud on bad values.

Each start-up case runs `django.setup()` in a fresh interpreter with a controlled
environment, as a real process would start."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from healthcard import settings as project_settings

ROOT = Path(__file__).resolve().parent.parent
GOOD_SECRET = "s" * 50
GOOD_KEK = "dGVzdC1rZWstdGVzdC1rZWstdGVzdC1rZWstMzJieXQ="


def start(tmp_path, **env: str) -> subprocess.CompletedProcess:
    clean = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DJANGO_SETTINGS_MODULE": "healthcard.settings",
        "HEALTHCARD_VAR_DIR": str(tmp_path / "var"),
        "PYTHONPATH": str(ROOT),
        **env,
    }
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_refused(result: subprocess.CompletedProcess, message: str) -> None:
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


def test_production_settings_start_with_a_secret_key_and_kek(tmp_path):
    result = start(tmp_path, SECRET_KEY=GOOD_SECRET, HEALTHCARD_KEK=GOOD_KEK)
    assert result.returncode == 0, result.stderr


def test_debug_is_off_unless_asked(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; "
            "print(settings.DEBUG, settings.SESSION_COOKIE_SECURE, settings.ALLOWED_HOSTS)",
        ],
        cwd=ROOT,
        env={
            "PATH": os.environ.get("PATH", ""),
            "DJANGO_SETTINGS_MODULE": "healthcard.settings",
            "HEALTHCARD_VAR_DIR": str(tmp_path / "var"),
            "SECRET_KEY": GOOD_SECRET,
            "HEALTHCARD_KEK": GOOD_KEK,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip() == "False True []", result.stderr


def test_production_refuses_to_start_without_secret_key(tmp_path):
    assert_refused(start(tmp_path, HEALTHCARD_KEK=GOOD_KEK), "SECRET_KEY is missing or too short")


@pytest.mark.parametrize("secret", ["short", "django-insecure-" + "x" * 40])
def test_production_refuses_a_weak_secret_key(tmp_path, secret):
    assert_refused(
        start(tmp_path, SECRET_KEY=secret, HEALTHCARD_KEK=GOOD_KEK),
        "SECRET_KEY is missing or too short",
    )


def test_production_refuses_to_start_without_kek(tmp_path):
    assert_refused(start(tmp_path, SECRET_KEY=GOOD_SECRET), "HEALTHCARD_KEK is missing")


@pytest.mark.parametrize(
    ("kek", "message"),
    [
        ("not base64!", "HEALTHCARD_KEK must be base64 (32 bytes)"),
        ("c2hvcnQta2V5LTE2Ynl0ZQ==", "HEALTHCARD_KEK must decode to exactly 32 bytes, got 16"),
    ],
)
def test_production_refuses_a_bad_kek(tmp_path, kek, message):
    assert_refused(start(tmp_path, SECRET_KEY=GOOD_SECRET, HEALTHCARD_KEK=kek), message)


def test_debug_still_needs_secrets(tmp_path):
    assert_refused(start(tmp_path, DEBUG="1"), "SECRET_KEY and HEALTHCARD_KEK must be set")


def test_a_bad_boolean_stops_start_up(tmp_path):
    assert_refused(
        start(tmp_path, DEBUG="maybe", SECRET_KEY=GOOD_SECRET, HEALTHCARD_KEK=GOOD_KEK),
        "DEBUG must be a boolean (1/0, true/false), got 'maybe'",
    )


def test_a_bad_integer_stops_start_up(tmp_path):
    assert_refused(
        start(
            tmp_path,
            SECRET_KEY=GOOD_SECRET,
            HEALTHCARD_KEK=GOOD_KEK,
            HEALTHCARD_AUDIT_PARTITIONS="sixteen",
        ),
        "HEALTHCARD_AUDIT_PARTITIONS must be an integer, got 'sixteen'",
    )


def test_database_url_switches_to_postgresql(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; "
            "print(settings.DATABASES['default']['ENGINE'])",
        ],
        cwd=ROOT,
        env={
            "PATH": os.environ.get("PATH", ""),
            "DJANGO_SETTINGS_MODULE": "healthcard.settings",
            "HEALTHCARD_VAR_DIR": str(tmp_path / "var"),
            "SECRET_KEY": GOOD_SECRET,
            "HEALTHCARD_KEK": GOOD_KEK,
            "DATABASE_URL": "postgres://u@db.example:5432/x",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip() == "django.db.backends.postgresql", result.stderr


# --- typed helpers, in process -----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value"),
    [("1", True), ("true", True), ("Yes", True), (" on ", True), ("0", False), ("off", False)],
)
def test_env_bool_reads_common_spellings(monkeypatch, raw, value):
    monkeypatch.setenv("HC_TEST_BOOL", raw)
    assert project_settings.env_bool("HC_TEST_BOOL") is value


def test_env_bool_default_when_unset_or_empty(monkeypatch):
    monkeypatch.delenv("HC_TEST_BOOL", raising=False)
    assert project_settings.env_bool("HC_TEST_BOOL", True) is True
    monkeypatch.setenv("HC_TEST_BOOL", "")
    assert project_settings.env_bool("HC_TEST_BOOL", False) is False


@pytest.mark.parametrize("raw", ["2", "maybe", "tru", "y"])
def test_env_bool_rejects_anything_else(monkeypatch, raw):
    monkeypatch.setenv("HC_TEST_BOOL", raw)
    with pytest.raises(ImproperlyConfigured, match="HC_TEST_BOOL must be a boolean"):
        project_settings.env_bool("HC_TEST_BOOL")


def test_env_int(monkeypatch):
    monkeypatch.setenv("HC_TEST_INT", "42")
    assert project_settings.env_int("HC_TEST_INT", 1) == 42
    monkeypatch.setenv("HC_TEST_INT", "")
    assert project_settings.env_int("HC_TEST_INT", 7) == 7


@pytest.mark.parametrize("raw", ["4.5", "ten", "0x10"])
def test_env_int_rejects_non_integers(monkeypatch, raw):
    monkeypatch.setenv("HC_TEST_INT", raw)
    with pytest.raises(ImproperlyConfigured, match="HC_TEST_INT must be an integer"):
        project_settings.env_int("HC_TEST_INT", 1)


def test_env_list_splits_and_trims(monkeypatch):
    monkeypatch.setenv("HC_TEST_LIST", " a.example , b.example,, ")
    assert project_settings.env_list("HC_TEST_LIST", []) == ["a.example", "b.example"]
    monkeypatch.delenv("HC_TEST_LIST")
    assert project_settings.env_list("HC_TEST_LIST", ["x"]) == ["x"]


def test_env_key_decodes_32_bytes(monkeypatch):
    monkeypatch.setenv("HC_TEST_KEY", GOOD_KEK)
    assert len(project_settings.env_key("HC_TEST_KEY")) == 32
    monkeypatch.setenv("HC_TEST_KEY", " ")
    assert project_settings.env_key("HC_TEST_KEY") is None
