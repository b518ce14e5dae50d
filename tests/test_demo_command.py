import json
from io import StringIO

import pytest
from django.core.management import call_command

from healthcard import audit
from healthcard.models import Card, Institution, Person, StaffProfile


def run_demo() -> dict:
    out = StringIO()
    call_command("demo", "--json", stdout=out)
    return json.loads(out.getvalue())


@pytest.mark.django_db
def test_demo_creates_the_cast_and_prints_it_as_json():
    data = run_demo()
    codes = {i["code"] for i in data["institutions"]}
    assert len(codes) == 4
    levels = {i["level"] for i in data["institutions"]}
    assert {"authority", "village"} <= levels
    roles = {u["role"] for u in data["users"]}
    assert {"clerk", "supervisor", "province_admin", "superuser"} <= roles
    assert all(len(u["totp_secret"]) >= 16 for u in data["users"])
    assert len(data["terminals"]) == 2 and all(t["token"] for t in data["terminals"])
    kinds = sorted(p["kind"] for p in data["printers"])
    assert kinds == ["escpos-network", "escpos-network", "pdf", "pdf"]
    assert Card.objects.count() == len(data["residents"]) >= 3
    assert audit.verify()[1] is None


@pytest.mark.django_db
def test_demo_is_idempotent():
    first = run_demo()
    counts = (
        Institution.objects.count(),
        StaffProfile.objects.count(),
        Person.objects.count(),
        Card.objects.count(),
    )
    second = run_demo()
    assert counts == (
        Institution.objects.count(),
        StaffProfile.objects.count(),
        Person.objects.count(),
        Card.objects.count(),
    )
    assert [u["totp_secret"] for u in first["users"]] == [u["totp_secret"] for u in second["users"]]
    assert [p["id"] for p in first["printers"]] == [p["id"] for p in second["printers"]]
    assert [t["id"] for t in first["terminals"]] == [t["id"] for t in second["terminals"]]


@pytest.mark.django_db
def test_demo_terminal_tokens_work_and_old_ones_stop(client):
    first = run_demo()
    second = run_demo()
    old, new = first["terminals"][0]["token"], second["terminals"][0]["token"]
    url = "/api/v1/revocations"
    assert client.get(url, headers={"Authorization": f"Bearer {new}"}).status_code == 200
    assert client.get(url, headers={"Authorization": f"Bearer {old}"}).status_code == 401


@pytest.mark.django_db
def test_demo_prints_logins_for_people():
    out = StringIO()
    call_command("demo", stdout=out)
    text = out.getvalue()
    assert "clerk1" in text and "TOTP" in text and "Bearer" in text
