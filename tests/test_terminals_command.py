"""manage.py terminals create | list | disable (issue 4)."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from healthcard import terminals
from healthcard.models import AuditRecord, Terminal


def run(*args):
    out = StringIO()
    call_command("terminals", *args, stdout=out)
    return out.getvalue()


def test_create_prints_a_working_token_once(hospital):
    out = run(
        "create", "--institution", hospital.code, "--scopes", "verify,register", "--name", "Kiosk"
    )
    token = out.strip().splitlines()[-1]
    terminal = Terminal.objects.get()
    assert terminals.authenticate(token) == terminal
    assert terminal.scopes == ["verify", "register"]
    assert terminal.kind == "01"
    assert terminal.institution == hospital
    assert AuditRecord.objects.get(action="terminal.create").actor == "system:cli"


def test_create_with_kind(hospital):
    run("create", "--institution", hospital.code, "--name", "App", "--kind", "04")
    assert Terminal.objects.get().kind == "04"


def test_create_refuses_unknown_institution(db):
    with pytest.raises(CommandError, match="No institution"):
        run("create", "--institution", "NOPE", "--name", "x")


def test_create_refuses_unknown_scope(hospital):
    with pytest.raises(CommandError, match="scopes"):
        run("create", "--institution", hospital.code, "--name", "x", "--scopes", "verify,root")
    assert not Terminal.objects.exists()


def test_create_refuses_unknown_kind(hospital):
    with pytest.raises(CommandError):
        run("create", "--institution", hospital.code, "--name", "x", "--kind", "05")


def test_list_shows_terminals_without_tokens(terminal, outsider_terminal, hospital):
    out = run("list")
    assert "HIS" in out and "Other HIS" in out
    assert terminal.token not in out
    only = run("list", "--institution", hospital.code)
    assert "Other HIS" not in only


def test_disable_stops_the_token(terminal):
    out = run("disable", str(terminal.terminal.pk))
    assert "Disabled" in out
    assert terminals.authenticate(terminal.token) is None
    assert "already disabled" in run("disable", str(terminal.terminal.pk))


def test_disable_unknown_id(db):
    with pytest.raises(CommandError, match="No terminal"):
        run("disable", "999")
