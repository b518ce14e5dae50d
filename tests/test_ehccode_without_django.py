"""The ehccode library in an interpreter that cannot import Django: it verifies every
test vector of docs/qr-format.md, refuses the refusal vectors, passes its own tests,
and builds as a package of its own that does not depend on Django."""

import json
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "ehccode"

# Installed first on the path as `sitecustomize`: any import of these names fails.
BLOCKER = """
import sys

BLOCKED = ("django", "rest_framework", "celery", "healthcard", "printing", "portal")


class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked: ehccode must work without it")
        return None


sys.meta_path.insert(0, Blocker())
"""


@pytest.fixture
def no_django_env(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(textwrap.dedent(BLOCKER))
    # This tree's source, not whichever checkout the virtualenv's install points to.
    return {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": f"{site}:{PACKAGE / 'src'}",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        "HOME": str(tmp_path),
    }


def _run(args, env, cwd, input=None):
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        input=input,
        timeout=240,
    )


def test_the_blocker_really_blocks_django(no_django_env, tmp_path):
    done = _run(["-c", "import django"], no_django_env, tmp_path)
    assert done.returncode != 0 and "blocked" in done.stderr


def test_every_document_vector_verifies_and_every_refusal_is_refused(no_django_env, tmp_path):
    script, doc = ROOT / "tests" / "ehccode_vectors.py", ROOT / "docs" / "qr-format.md"
    done = _run([str(script), str(doc)], no_django_env, tmp_path)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    vectors = [r for r in results if "vector" in r]
    refusals = [r for r in results if "refusal" in r]
    assert len(vectors) >= 3 and len(refusals) >= 5
    for r in vectors:
        assert r["ok"] and r["want"]["expect"] == "valid", r
        assert r["kind"] == r["want"]["inputs"]["kind"]
    for r in refusals:
        assert not r["ok"] and r["reason"] == r["want"]["expect"], r


def test_the_package_tests_pass_without_django(no_django_env):
    done = _run(["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], no_django_env, PACKAGE)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "failed" not in done.stdout


def test_the_command_line_verifier_runs_without_django(no_django_env, tmp_path):
    vector = json.loads(
        (ROOT / "docs" / "qr-format.md")
        .read_text("utf-8")
        .split("```json vector\n", 1)[1]
        .split("\n```", 1)[0]
    )
    key = {"kid": vector["kid"], "algorithm": vector["algorithm"], "state": "active"}
    key |= {"public_key": vector["public_key"], "not_before": "2025-01-01T00:00:00Z"}
    (tmp_path / "keys.json").write_text(json.dumps({"keys": [key]}))
    args = ["-m", "ehccode", "verify", "--keys", "keys.json", "--at", vector["verify_at"]]
    done = _run([*args, vector["text"]], no_django_env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("valid: ")
    done = _run([*args, vector["text"], vector["text"][:-1] + "Q"], no_django_env, tmp_path)
    assert done.returncode == 1
    assert done.stdout.splitlines()[1].split(":")[0] in ("bad_signature", "malformed")


@pytest.mark.slow
def test_the_package_builds_on_its_own_with_only_crypto_dependencies(tmp_path):
    # The way a vendor installs it (pip fetches the build backend, setuptools), from a
    # copy: setuptools writes build/ into the folder it builds.
    source = tmp_path / "ehccode"
    shutil.copytree(PACKAGE, source, ignore=shutil.ignore_patterns("build", "__pycache__", ".*"))
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), "."],
        capture_output=True,
        text=True,
        cwd=source,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = tmp_path.glob("ehccode-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
        requires = [
            line.split(":", 1)[1].strip()
            for line in archive.read(metadata).decode().splitlines()
            if line.startswith("Requires-Dist:")
        ]
    assert {"ehccode/verifier.py", "ehccode/__main__.py", "ehccode/signing.py"} <= set(names)
    assert not any(name.startswith("tests/") for name in names)
    assert sorted(r.split(">")[0] for r in requires) == [
        "cryptography",
        "gmalglib",
        "gmssl",
        "pycryptodome",
    ]
