"""The admin statistics page, its CSV exports and the visit-totals upload (issue 13):
each role sees its own scope and nothing of another institution."""

import datetime

import pytest
from django.contrib.auth import get_user_model

from healthcard.models import AuditRecord, Role, VisitTotal
from healthcard.roles import assign_role
from tests.statistics_world import *  # noqa: F403 - the fixtures
from tests.statistics_world import NOW

PAGE = "/admin/statistics/"
RANGE = {"start": "2026-06-01", "end": "2026-06-10"}
UPLOAD = "/admin/statistics/visits/"

# Every test runs against the known cards, scans and visit totals of test_statistics.
pytestmark = pytest.mark.usefixtures("world")


@pytest.fixture
def signed_in(client, otp_login):
    def sign_in(user):
        otp_login(client, user)
        return client

    return sign_in


def admin_of(institution, role=Role.INSTITUTION_ADMIN, name=None):
    user = get_user_model().objects.create_user(name or f"admin-{institution.code}")
    assign_role(user, institution, role)
    return user


def test_province_admin_sees_the_province_with_charts_and_tables(province_admin, signed_in):
    page = signed_in(province_admin).get(PAGE, RANGE)
    assert page.status_code == 200
    html = page.content.decode()
    for name in ("湘雅医院", "长沙市第三医院", "湘潭市中心医院", "岳麓社区卫生服务中心"):
        assert name in html
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart"') == 4
    assert html.count('role="img"') == 4
    assert "<script" not in html.split('id="content"')[1]  # readable without JavaScript
    assert str(page.context["report"].tables["visit_share_by_city"].rows[0][3]) == "42.9%"
    assert "export=below_target" in html


def test_city_authority_sees_its_city_only(city_authority, signed_in):
    page = signed_in(admin_of(city_authority)).get(PAGE, RANGE)
    assert page.status_code == 200
    html = page.content.decode()
    assert "湘雅医院" in html
    assert "湘潭市中心医院" not in html
    assert page.context["scope"].kind == "city"


def test_institution_admin_sees_only_their_institution(institution_admin, signed_in):
    client = signed_in(institution_admin)
    page = client.get(PAGE, RANGE)
    html = page.content.decode()
    assert "湘雅医院" in html
    assert "长沙市第三医院" not in html
    assert "湘潭市中心医院" not in html
    # Asking for another institution is an invalid choice, not a way in.
    page = client.get(PAGE, {**RANGE, "institution": "430300000001"})
    assert "湘潭市中心医院" not in page.content.decode()
    assert page.context["form"].errors["institution"]
    csv = client.get(PAGE, {**RANGE, "city": "430300", "export": "use_by_institution"})
    assert "湘潭" not in csv.content.decode("utf-8-sig")


def test_admin_of_another_institution_sees_nothing_of_this_one(other_hospital, signed_in):
    client = signed_in(admin_of(other_hospital))
    html = client.get(PAGE, RANGE).content.decode()
    assert "湘潭市中心医院" in html
    assert "湘雅医院" not in html
    assert (
        "430100000001" not in client.get(PAGE, {**RANGE, "export": "card_status"}).content.decode()
    )


@pytest.mark.parametrize("who", ["clerk", "supervisor", "outsider"])
def test_other_staff_are_refused(request, signed_in, who):
    client = signed_in(request.getfixturevalue(who))
    assert client.get(PAGE, RANGE).status_code == 403
    assert client.get(PAGE, {**RANGE, "export": "card_status"}).status_code == 403
    assert client.get(UPLOAD).status_code == 403
    assert "statistics-link" not in client.get("/admin/").content.decode()


def test_anonymous_is_sent_to_the_login(client):
    response = client.get(PAGE)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_index_links_to_the_page_for_those_who_may_see_it(province_admin, signed_in):
    assert "statistics-link" in signed_in(province_admin).get("/admin/").content.decode()


def test_every_table_exports_as_csv(province_admin, signed_in):
    client = signed_in(province_admin)
    tables = client.get(PAGE, RANGE).context["report"].tables
    for key, table in tables.items():
        response = client.get(PAGE, {**RANGE, "export": key})
        assert response.status_code == 200
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert f"statistics-{key}-2026-06-01-2026-06-10.csv" in response["Content-Disposition"]
        body = response.content.decode("utf-8")
        assert body.startswith("\ufeff")
        assert len(body.strip().splitlines()) == len(table.rows) + 1
    share = client.get(PAGE, {**RANGE, "export": "visit_share_by_institution"})
    assert "湘雅医院,430100000001,长沙市,Tertiary hospital,5,3,60.0%,80%,below target,2/10,0" in (
        share.content.decode("utf-8-sig")
    )
    assert client.get(PAGE, {**RANGE, "export": "nonsense"}).status_code == 404


def test_bad_dates_show_an_error_and_the_default_range(province_admin, signed_in):
    client = signed_in(province_admin)
    page = client.get(PAGE, {"start": "2026-06-10", "end": "2026-06-01"})
    assert page.status_code == 200
    assert "The end date is before the start date." in page.content.decode()
    page = client.get(PAGE, {"start": "yesterday"})
    assert page.context["form"].errors["start"]


def upload(client, text, encoding="utf-8"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = text.encode(encoding) if isinstance(text, str) else text
    return client.post(UPLOAD, {"file": SimpleUploadedFile("visits.csv", data, "text/csv")})


def test_csv_upload_reports_each_row(province_admin, signed_in, hospital, other_hospital):
    client = signed_in(province_admin)
    text = (
        "institution,date,visits\n"
        "430100000001,2026-06-03,50\n"  # new
        "430100000001,2026-06-02,4\n"  # unchanged
        "430300000001,2026-06-09,3\n"  # changed from 1: the later figure stands
        "430300000001,2026-06-09,9\n"  # same institution and day twice
        "999999999999,2026-06-01,5\n"
        "430100000001,2026-06-11,5\n"  # future
        "430100000001,06/01/2026,5\n"
        "430100000001,2026-06-04,-3\n"
        "430100000001,2026-06-05,99999999\n"
        "430100000001,2026-06-06\n"
    )
    response = upload(client, text)
    assert response.status_code == 200
    result = response.context["result"]
    assert [(r.line, r.status) for r in result.rows] == [
        (2, "created"),
        (3, "unchanged"),
        (4, "updated"),
        (5, "error"),
        (6, "error"),
        (7, "error"),
        (8, "error"),
        (9, "error"),
        (10, "error"),
        (11, "error"),
    ]
    errors = [r.error for r in result.rows[3:]]
    assert errors[0] == "Same institution and day as line 4."
    assert errors[1] == "Unknown institution code."
    assert errors[2] == "The day is in the future."
    assert errors[3] == "Give the day as YYYY-MM-DD."
    assert errors[4].startswith("The visits must be between 0 and")
    assert errors[5].startswith("The visits must be between 0 and")
    assert errors[6] == "Give the visits as a whole number."
    assert VisitTotal.objects.get(institution=other_hospital, day="2026-06-09").visits == 3
    assert VisitTotal.objects.get(institution=hospital, day="2026-06-03").visits == 50
    rec = AuditRecord.objects.filter(action="visits.report").order_by("-id").first()
    assert rec.actor == f"user:{province_admin.pk}"
    assert rec.details["source"] == "csv"
    assert "1 new, 1 changed, 1 unchanged, 7 with errors." in response.content.decode()


def test_csv_upload_stays_in_the_users_scope(institution_admin, signed_in, other_hospital):
    client = signed_in(institution_admin)
    response = upload(client, "institution,date,visits\n430300000001,2026-06-09,7\n")
    assert response.context["result"].rows[0].error == (
        "You may not report visits for this institution."
    )
    assert VisitTotal.objects.get(institution=other_hospital).visits == 1


def test_csv_upload_accepts_gb18030_and_refuses_other_encodings(province_admin, signed_in):
    client = signed_in(province_admin)
    text = "institution,date,visits,名称\n430100000001,2026-06-07,8,湘雅医院\n"
    response = upload(client, text, "gb18030")
    assert response.context["result"].created == 1
    response = upload(client, text, "utf-16")
    assert response.context["result"].error == "The file is not UTF-8 or GB18030 text."
    response = upload(client, b"\xff\xfe\xfa\x00garbage")
    assert response.context["result"].error == "The file is not UTF-8 or GB18030 text."
    response = upload(client, "code;day;n\n1;2;3\n")
    assert response.context["result"].error.startswith("The first line must be")


def test_page_is_chinese_by_default(province_admin, signed_in, settings):
    settings.LANGUAGE_CODE = "zh-hans"
    html = signed_in(province_admin).get(PAGE, RANGE, HTTP_ACCEPT_LANGUAGE="zh-CN").content
    html = html.decode()
    assert "电子健康卡" in html
    assert "挂号" in html  # care step labels in the chart and table
    assert datetime.date(2026, 6, 1).isoformat() in html
    assert NOW.year == 2026


def test_the_page_offers_every_table_and_shows_detail_tables_as_csv_only(province_admin, signed_in):
    from healthcard.admin.statistics import SECTIONS
    from healthcard.statistics import TABLE_KEYS

    assert sorted(key for _h, _c, keys in SECTIONS for key in keys) == sorted(TABLE_KEYS)
    page = signed_in(province_admin).get(PAGE, RANGE)
    html = page.content.decode()
    assert set(page.context["report"].tables) == set(TABLE_KEYS)
    for key in TABLE_KEYS:
        assert f"export={key}" in html
    assert 'id="t-use_by_institution_day"' not in html
    assert 'id="t-use_by_day"' in html


def test_names_in_tables_and_charts_are_escaped(province_admin, signed_in, hospital):
    hospital.name = "<i>湘雅</i>"
    hospital.save()
    html = signed_in(province_admin).get(PAGE, RANGE).content.decode()
    assert "<i>湘雅</i>" not in html
    assert "&lt;i&gt;湘雅&lt;/i&gt;" in html


def test_institution_admin_uploads_their_own_visit_totals(institution_admin, signed_in, hospital):
    client = signed_in(institution_admin)
    assert client.get(UPLOAD).status_code == 200
    response = upload(client, "institution,date,visits\r\n430100000001,2026-06-08,12\r\n")
    assert response.context["result"].created == 1
    assert VisitTotal.objects.get(institution=hospital, day="2026-06-08").visits == 12


def test_csv_upload_refuses_a_file_over_two_megabytes(province_admin, signed_in):
    from healthcard.statistics import MAX_CSV_BYTES

    big = b"institution,date,visits\n" + b"430100000001,2026-06-08,1\n" * (MAX_CSV_BYTES // 26 + 1)
    response = upload(signed_in(province_admin), big)
    assert response.context["result"].error == "The file is larger than 2 MB."
    assert not VisitTotal.objects.filter(
        institution__code="430100000001", day="2026-06-08"
    ).exists()
