"""python -m ehccode verify: one line per code, exit 0 only when every code is valid."""

import datetime
import io
import json
import subprocess
import sys

import pytest

import ehccode
from ehccode import cli, signing

EHC = "AB12" * 16
AT = "2026-11-25T08:00:00Z"


@pytest.fixture
def files(tmp_path):
    secret, public = signing.ED25519.generate()
    sign = signing.ED25519.signer(secret)
    key = {"kid": "E0000001", "algorithm": "ed25519", "public_key": public.hex()}
    key |= {"state": "active", "not_before": "2025-01-01T00:00:00Z"}
    (tmp_path / "keys.json").write_text(json.dumps({"format": "ehc-keys/1", "keys": [key]}))
    entry = {"seq": 1, "ref": ehccode.card_ref(EHC), "kind": "superseded", "issue_seq": 2}
    (tmp_path / "rev.json").write_text(json.dumps({"entries": [entry], "cursor": "c1"}))

    def static(seq):
        prefix = ehccode.static_prefix(EHC, seq, datetime.date(2026, 1, 1), "E0000001")
        return ehccode.finish(prefix, sign)

    return {"dir": tmp_path, "static": static}


def run(files, *codes, extra=()):
    out = io.StringIO()
    keys, rev = str(files["dir"] / "keys.json"), str(files["dir"] / "rev.json")
    argv = ["verify", "--keys", keys, "--revocations", rev, "--at", AT, *extra, *codes]
    return cli.main(argv, stdout=out), out.getvalue().splitlines()


def test_all_valid_codes_exit_0_with_one_line_each(files):
    status, lines = run(files, files["static"](2), files["static"](3))
    assert status == 0
    assert lines == [f"valid: static code, key E0000001, EHC ID {EHC}"] * 2


def test_any_refused_code_exits_1_and_each_line_starts_with_its_reason(files):
    status, lines = run(files, files["static"](2), files["static"](1), "EHCID:1")
    assert status == 1
    assert [line.split(":")[0] for line in lines] == ["valid", "superseded", "malformed"]


def test_json_lines(files):
    status, lines = run(files, files["static"](1), extra=["--json"])
    assert status == 1
    assert json.loads(lines[0])["reason"] == "superseded"


@pytest.mark.parametrize("at", ["yesterday", "2026-11-25T08:00:00"])
def test_bad_at_exits_2(files, at):
    assert cli.main(["verify", "--keys", str(files["dir"] / "keys.json"), "--at", at, "X"]) == 2


def test_missing_or_broken_key_set_exits_2(files):
    assert cli.main(["verify", "--keys", str(files["dir"] / "absent.json"), "X"]) == 2
    (files["dir"] / "broken.json").write_text("{not json")
    assert cli.main(["verify", "--keys", str(files["dir"] / "broken.json"), "X"]) == 2


def test_runs_as_python_m_ehccode_reading_codes_from_stdin(files):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ehccode",
            "verify",
            "--keys",
            "keys.json",
            "--revocations",
            "rev.json",
            "--at",
            AT,
            "-",
        ],
        input=f"{files['static'](2)}\r\n{files['static'](1)}\n",
        capture_output=True,
        text=True,
        cwd=files["dir"],
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert [line.split(":")[0] for line in done.stdout.splitlines()] == ["valid", "superseded"]
