"""Rules live in the domain: callers (admin, API, portal) never write audit rows."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CALLERS = ["healthcard/admin", "healthcard/api", "portal"]
# audit.record(...) and the ways round it (from healthcard.audit import record).
WRITES_AUDIT = re.compile(r"\baudit\.record\(|from healthcard\.audit import")


def offenders(folder: Path) -> list[str]:
    return [
        f"{path.relative_to(folder)}:{number}"
        for path in sorted(folder.rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if WRITES_AUDIT.search(line)
    ]


@pytest.mark.parametrize("folder", CALLERS)
def test_callers_never_write_audit_records_themselves(folder):
    assert offenders(ROOT / folder) == [], "call a domain function that audits instead"


def test_the_check_finds_both_spellings(tmp_path):
    (tmp_path / "a.py").write_text('        audit.record("x", actor=user)\n')
    (tmp_path / "b.py").write_text("from healthcard.audit import record\nrecord('x')\n")
    (tmp_path / "c.py").write_text("from healthcard.models import AuditRecord\n")
    assert offenders(tmp_path) == ["a.py:1", "b.py:1"]
