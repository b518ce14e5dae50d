"""`manage.py verify_code`: offline verification from saved files, no database.
No test here uses the `db` fixture, so any database access would fail."""

import datetime
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

import ehccode
from ehccode import signing

ROOT = Path(__file__).resolve().parent.parent
EHC = "AB12" * 16


@pytest.fixture
def files(tmp_path):
    secret, public = signing.ED25519.generate()
    sign = signing.ED25519.signer(secret)
    key = {
        "kid": "E0000001",
        "algorithm": "ed25519",
        "public_key": public.hex(),
        "state": "active",
        "not_before": "2025-01-01T00:00:00Z",
        "not_after": None,
        "retired_at": None,
        "revoked_at": None,
    }
    keys_path = tmp_path / "keys.json"
    keys_path.write_text(json.dumps({"format": "ehc-keys/1", "keys": [key]}))
    rev_path = tmp_path / "rev.json"
    rev_path.write_text(json.dumps({"entries": [], "cursor": "c0"}))
    text = ehccode.finish(
        ehccode.static_prefix(EHC, 2, datetime.date(2026, 1, 1), "E0000001"), sign
    )
    return {"keys": keys_path, "rev": rev_path, "text": text, "sign": sign}


def run(*args):
    out = io.StringIO()
    call_command("verify_code", *args, stdout=out)
    return out.getvalue()


def test_valid_code_prints_its_kind_key_and_ehc_id(files):
    output = run("--keys", str(files["keys"]), "--revocations", str(files["rev"]), files["text"])
    assert "valid: static code" in output and "E0000001" in output and EHC in output


def test_refused_code_exits_with_status_1_and_the_reason(files):
    altered = files["text"][:-10] + ("A" if files["text"][-10] != "A" else "B") + files["text"][-9:]
    with pytest.raises(CommandError) as exc:
        run("--keys", str(files["keys"]), altered)
    assert exc.value.returncode == 1
    assert str(exc.value) == "bad_signature"


def test_revocation_list_is_applied(files):
    entry = {"seq": 1, "ref": ehccode.card_ref(EHC), "kind": "superseded", "issue_seq": 3}
    files["rev"].write_text(json.dumps({"entries": [entry], "cursor": "c1"}))
    out = io.StringIO()
    with pytest.raises(CommandError) as exc:
        call_command(
            "verify_code",
            "--keys",
            str(files["keys"]),
            "--revocations",
            str(files["rev"]),
            "--json",
            files["text"],
            stdout=out,
        )
    assert exc.value.returncode == 1
    assert json.loads(out.getvalue())["reason"] == "superseded"


def test_json_output(files):
    result = json.loads(run("--keys", str(files["keys"]), "--json", files["text"]))
    assert result["ok"] is True and result["kind"] == "static" and result["ehc_id"] == EHC


def test_at_option_checks_expiry(files):
    expires = datetime.datetime(2026, 11, 25, 8, 0, tzinfo=datetime.UTC)
    text = ehccode.finish(
        ehccode.dynamic_prefix(EHC, "0" * 32, "4300A0001", expires, "E0000001"), files["sign"]
    )
    assert "valid: dynamic code" in run(
        "--keys", str(files["keys"]), "--at", "2026-11-25T07:59:00Z", text
    )
    with pytest.raises(CommandError) as exc:
        run("--keys", str(files["keys"]), "--at", "2026-11-25T16:00:00+08:00", text)
    assert str(exc.value) == "expired"


@pytest.mark.parametrize("at", ["yesterday", "2026-11-25T08:00:00"])
def test_bad_at_is_a_usage_error(files, at):
    with pytest.raises(CommandError) as exc:
        run("--keys", str(files["keys"]), "--at", at, files["text"])
    assert exc.value.returncode == 2


def test_missing_or_broken_key_file_is_a_usage_error(files, tmp_path):
    with pytest.raises(CommandError) as exc:
        run("--keys", str(tmp_path / "absent.json"), files["text"])
    assert exc.value.returncode == 2
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(CommandError) as exc:
        run("--keys", str(broken), files["text"])
    assert exc.value.returncode == 2


def test_garbage_text_is_refused_not_crashed(files):
    for garbage in ("", "\x00\x01", "A" * 5000, "EHCID:1"):
        with pytest.raises(CommandError) as exc:
            run("--keys", str(files["keys"]), garbage)
        assert str(exc.value) == "malformed"


def test_runs_as_a_process_reading_stdin_without_a_database(files, tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "DEBUG": "1",
        "SECRET_KEY": "x",
        "HEALTHCARD_KEK": "dGVzdC1rZWstdGVzdC1rZWstdGVzdC1rZWstMzJieXQ=",
        # A database that does not exist: any query would fail.
        "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none",
        "HEALTHCARD_VAR_DIR": str(tmp_path / "var"),
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "verify_code", "--keys", str(files["keys"]), "-"],
        input=files["text"] + "\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "valid: static code" in done.stdout
