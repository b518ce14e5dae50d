"""docs/configuration.md lists exactly the environment variables healthcard/settings.py
reads. Read from the settings source, so a variable added anywhere in it is caught."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# env_str("NAME", ...), env_int(\n    "NAME", ...), os.environ.get("NAME"), os.environ["NAME"],
# os.getenv("NAME"): every way settings.py reads a variable by a literal name.
READ = re.compile(
    r"""(?:\benv_\w+\(|os\.environ\.get\(|os\.environ\[|os\.getenv\()\s*["']([A-Z][A-Z0-9_]*)["']"""
)
# A row of the variables table: | `NAME` | default | meaning |
DOCUMENTED = re.compile(r"^\| `([A-Z][A-Z0-9_]*)` \|", re.M)


def _read_in_settings() -> set[str]:
    return set(READ.findall((ROOT / "healthcard" / "settings.py").read_text("utf-8")))


def _documented() -> set[str]:
    return set(DOCUMENTED.findall((ROOT / "docs" / "configuration.md").read_text("utf-8")))


def test_the_settings_source_reads_variables_the_pattern_finds():
    found = _read_in_settings()
    assert {"SECRET_KEY", "HEALTHCARD_KEK", "DATABASE_URL", "DEBUG", "LOG_LEVEL"} <= found
    # Multi-line calls are found too.
    assert "HEALTHCARD_RETIRED_SIGNING_KEY_DAYS" in found


def test_every_variable_settings_reads_is_documented():
    assert sorted(_read_in_settings() - _documented()) == []


def test_every_documented_variable_is_read_by_settings():
    assert sorted(_documented() - _read_in_settings()) == []
