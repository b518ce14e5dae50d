"""POST /api/v1/visit-totals: an institution's outpatient visits per day (issue 13)."""

import datetime

import pytest

from healthcard.models import AuditRecord, VisitTotal
from healthcard.statistics import CHINA

URL = "/api/v1/visit-totals"
NOW = datetime.datetime(2026, 6, 10, 0, 30, tzinfo=CHINA)  # 9 June 16:30 UTC


@pytest.fixture(autouse=True)
def _clock(time_machine):
    time_machine.move_to(NOW, tick=False)


def test_first_report_is_created_and_audited(terminal, hospital):
    response = terminal.post(URL, {"date": "2026-06-09", "visits": 1200})
    assert response.status_code == 201
    assert response.json() == {
        "institution": hospital.code,
        "date": "2026-06-09",
        "visits": 1200,
        "status": "created",
        "previous": None,
    }
    total = VisitTotal.objects.get(institution=hospital, day="2026-06-09")
    assert (total.visits, total.source, total.reported_by) == (
        1200,
        "api",
        f"terminal:{terminal.terminal.pk}",
    )
    rec = AuditRecord.objects.get(action="visits.report")
    assert rec.actor == f"terminal:{terminal.terminal.pk}"
    assert rec.details == {"day": "2026-06-09", "old": None, "new": 1200, "source": "api"}


def test_repeat_is_idempotent_and_a_changed_number_stands(terminal, hospital):
    terminal.post(URL, {"date": "2026-06-09", "visits": 1200})
    again = terminal.post(URL, {"date": "2026-06-09", "visits": 1200})
    assert (again.status_code, again.json()["status"]) == (200, "unchanged")
    assert AuditRecord.objects.filter(action="visits.report").count() == 1
    changed = terminal.post(URL, {"date": "2026-06-09", "visits": 1150})
    assert changed.status_code == 200
    assert changed.json()["status"] == "updated"
    assert changed.json()["previous"] == 1200
    assert VisitTotal.objects.get(institution=hospital).visits == 1150
    last = AuditRecord.objects.filter(action="visits.report").order_by("-id").first()
    assert (last.details["old"], last.details["new"]) == (1200, 1150)


def test_today_in_china_is_accepted_but_tomorrow_is_not(terminal):
    # 00:30 on 10 June in China is still 9 June in UTC.
    assert terminal.post(URL, {"date": "2026-06-10", "visits": 3}).status_code == 201
    response = terminal.post(URL, {"date": "2026-06-11", "visits": 3})
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"date": ["The day is in the future."]}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"date": "2026-02-30", "visits": 1}, "date"),
        ({"date": "09/06/2026", "visits": 1}, "date"),
        ({"visits": 1}, "date"),
        ({"date": "2018-12-31", "visits": 1}, "date"),
        ({"date": "2026-06-09", "visits": -1}, "visits"),
        ({"date": "2026-06-09", "visits": 10**12}, "visits"),
        ({"date": "2026-06-09", "visits": 1.5}, "visits"),
        ({"date": "2026-06-09", "visits": "lots"}, "visits"),
        ({"date": "2026-06-09"}, "visits"),
    ],
)
def test_bad_input_is_refused(terminal, body, field):
    response = terminal.post(URL, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["fields"]
    assert not VisitTotal.objects.exists()


def test_needs_the_report_scope(hospital, make_terminal):
    verifier = make_terminal(hospital, scopes=["verify"])
    response = verifier.post(URL, {"date": "2026-06-09", "visits": 5})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "missing_scope"
    assert not VisitTotal.objects.exists()


def test_cannot_report_for_another_institution(terminal, other_hospital):
    response = terminal.post(
        URL, {"date": "2026-06-09", "visits": 5, "institution": other_hospital.code}
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "institution_mismatch"
    assert not VisitTotal.objects.exists()


def test_needs_a_token(db):
    from rest_framework.test import APIClient

    response = APIClient().post(URL, {"date": "2026-06-09", "visits": 5}, format="json")
    assert response.status_code == 401


def test_not_json_is_refused(terminal):
    response = terminal.client.post(URL, "date=2026-06-09", content_type="text/plain")
    assert response.status_code == 415
