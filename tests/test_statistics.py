"""healthcard.statistics without HTTP: a known set of cards, scans and visit totals,
and every figure computed from them, including the edges of issue 13."""

import datetime

import pytest
from django.contrib.auth import get_user_model

from healthcard import statistics
from healthcard.errors import NotAllowed
from healthcard.models import (
    AuditRecord,
    Channel,
    DailyInstitutionUse,
    DailyUsage,
    Level,
    Role,
    UsageEvent,
    VisitTotal,
)
from healthcard.roles import assign_role
from healthcard.statistics import Filters, Share, StatisticsError
from tests.statistics_world import *  # noqa: F403 - the fixtures
from tests.statistics_world import END, NOW, START, scan


def province_report(**filters):
    return statistics.report(statistics.StatisticsScope("province"), Filters(START, END, **filters))


def rows(report, key):
    return [[str(v) for v in row] for row in report.tables[key].rows]


def test_cards_issued_per_day_by_channel_with_the_cst_day_boundary(world):
    table = rows(province_report(), "issuance_by_day")
    # Day, online, institution, counter, batch, total, replaced
    assert table[0] == ["2026-06-01", "0", "0", "1", "0", "1", "0"]
    assert table[1] == ["2026-06-02", "1", "0", "0", "1", "2", "0"]
    assert table[2] == ["2026-06-03", "0", "1", "0", "0", "1", "0"]
    assert table[4] == ["2026-06-05", "0", "0", "0", "0", "0", "1"]
    assert len(table) == 10
    assert province_report().issuance_series["At a counter"][:2] == [1, 0]


def test_cards_issued_by_city_and_institution(world):
    report = province_report()
    assert rows(report, "issuance_by_city") == [
        ["长沙市", "1", "1", "1", "0", "3", "1"],
        ["湘潭市", "0", "0", "0", "1", "1", "0"],
    ]
    assert rows(report, "issuance_by_institution") == [
        ["湘雅医院", "430100000001", "长沙市", "1", "0", "1", "0", "2", "1"],
        ["长沙市第三医院", "430100000002", "长沙市", "0", "1", "0", "0", "1", "0"],
        ["湘潭市中心医院", "430300000001", "湘潭市", "0", "0", "0", "1", "1", "0"],
    ]


def test_replacements_come_from_the_audit_trail(world):
    assert AuditRecord.objects.filter(action="card.replace").count() == 1
    assert rows(province_report(), "issuance_by_day")[4][-1] == "1"


def test_status_totals(world):
    assert rows(province_report(), "card_status") == [
        ["Total", "", "2", "1", "1"],
        ["湘雅医院", "430100000001", "2", "0", "0"],
        ["长沙市第三医院", "430100000002", "0", "1", "0"],
        ["湘潭市中心医院", "430300000001", "0", "0", "1"],
    ]


def test_uses_per_day_with_the_cst_day_boundary(world):
    table = rows(province_report(), "use_by_day")
    assert table[0] == ["2026-06-01", "1", "0", "1"]  # 23:30 on 1 June; 23:59:59 on 31 May out
    assert table[1] == ["2026-06-02", "3", "1", "2"]  # 00:10 on 2 June counts on 2 June
    assert table[8] == ["2026-06-09", "4", "0", "3"]
    assert sum(int(r[1]) for r in table) == 8


def test_uses_by_care_step_terminal_type_level_and_institution(world):
    report = province_report()
    steps = {r[1]: r[2] for r in rows(report, "use_by_care_step")}
    assert steps == {
        "010101": "5",
        "010102": "1",
        "010103": "1",
        "010104": "0",
        "010105": "1",
        "010106": "0",
        "010107": "0",
        "000000": "0",
    }
    assert ("Registration", 5) in report.care_steps
    kinds = {r[1]: r[2] for r in rows(report, "use_by_terminal_type")}
    assert kinds == {"01": "4", "02": "3", "03": "1", "04": "0", "99": "0"}
    levels = {r[0]: r[1] for r in rows(report, "use_by_level")}
    assert levels["Tertiary hospital"] == "5"
    assert levels["Secondary hospital"] == "3"
    assert levels["Primary-care centre"] == "0"
    assert rows(report, "use_by_institution") == [
        ["湘雅医院", "430100000001", "Tertiary hospital", "4", "1", "3"],
        ["长沙市第三医院", "430100000002", "Secondary hospital", "3", "0", "2"],
        ["湘潭市中心医院", "430300000001", "Tertiary hospital", "1", "0", "1"],
    ]


def test_uses_and_distinct_cardholders_per_institution_per_day(world):
    assert rows(province_report(), "use_by_institution_day") == [
        ["2026-06-01", "湘雅医院", "430100000001", "1", "0", "1"],
        ["2026-06-02", "湘雅医院", "430100000001", "3", "1", "2"],
        ["2026-06-09", "长沙市第三医院", "430100000002", "3", "0", "2"],
        ["2026-06-09", "湘潭市中心医院", "430300000001", "1", "0", "1"],
    ]


def test_uses_per_day_by_care_step_terminal_type_and_level(world):
    report = province_report()
    steps = rows(report, "use_by_day_and_care_step")
    assert steps[0] == ["2026-06-01", "1", "0", "0", "0", "0", "0", "0", "0"]
    assert steps[1] == ["2026-06-02", "1", "1", "0", "0", "1", "0", "0", "0"]
    assert steps[8] == ["2026-06-09", "3", "0", "1", "0", "0", "0", "0", "0"]
    kinds = rows(report, "use_by_day_and_terminal_type")
    assert kinds[1] == ["2026-06-02", "3", "0", "0", "0", "0"]
    assert kinds[8] == ["2026-06-09", "0", "3", "1", "0", "0"]
    levels = rows(report, "use_by_day_and_level")
    assert levels[8] == ["2026-06-09", "1", "3", "0", "0", "0", "0"]
    assert len(levels) == 10


def test_cards_issued_per_institution_per_day(world):
    assert rows(province_report(), "issuance_by_institution_day") == [
        ["2026-06-01", "湘雅医院", "430100000001", "0", "0", "1", "0", "1", "0"],
        ["2026-06-02", "湘雅医院", "430100000001", "1", "0", "0", "0", "1", "0"],
        ["2026-06-02", "湘潭市中心医院", "430300000001", "0", "0", "0", "1", "1", "0"],
        ["2026-06-03", "长沙市第三医院", "430100000002", "0", "1", "0", "0", "1", "0"],
        ["2026-06-05", "湘雅医院", "430100000001", "0", "0", "0", "0", "0", "1"],
    ]


def test_readiness_needs_an_active_terminal_and_a_recent_verification(world):
    report = province_report()
    assert rows(report, "readiness") == [
        ["长沙市", "Secondary hospital", "1", "1", "1", "1", "100.0%", "2019-12-31", "met"],
        ["长沙市", "Tertiary hospital", "1", "1", "0", "0", "0.0%", "2019-07-31", "overdue"],
        ["长沙市", "Primary-care centre", "1", "0", "0", "0", "0.0%", "2019-12-31", "overdue"],
        ["湘潭市", "Tertiary hospital", "1", "0", "1", "0", "0.0%", "2019-07-31", "overdue"],
    ]
    why = {r[1]: r[4] for r in rows(report, "not_accepting")}
    assert why == {
        "430100000001": "no successful verification in 7 days",
        "430100000003": "no active terminal；no successful verification in 7 days",  # no terminal
        "430300000001": "no active terminal",  # its only terminal is disabled
    }
    bars = {label: (str(share), deadline) for label, share, deadline in report.readiness_bars}
    assert bars["Tertiary hospital"] == ("0.0%", "2019-07-31")
    assert bars["Secondary hospital"] == ("100.0%", "2019-12-31")


def test_readiness_before_a_deadline_is_due_not_overdue():
    assert statistics.deadline_state(Level.TERTIARY, False, datetime.date(2019, 6, 1)) == (
        "due by 2019-07-31"
    )
    assert statistics.deadline_state(Level.TERTIARY, False, datetime.date(2019, 8, 1)) == "overdue"
    assert statistics.deadline_state(Level.SECONDARY, True, datetime.date(2019, 8, 1)) == (
        "accepting"
    )


def test_visit_share_per_institution_with_every_edge(world):
    table = {r[1]: r for r in rows(province_report(), "visit_share_by_institution")}
    # 1 + 4 visits (the re-upload of 2 June: 4 stands, not 10), 1 + 2 card visits.
    assert table["430100000001"][4:] == ["5", "3", "60.0%", "80%", "below target", "2/10", "0"]
    # 9 June: 2 card visits but 1 reported visit is a data problem, left out of the
    # share (never 200 %); 8 June: 2 visits, no card visit.
    assert table["430100000002"][4:] == ["2", "0", "0.0%", "80%", "below target", "2/10", "1"]
    assert table["430300000001"][4:] == ["1", "1", "100.0%", "80%", "on target", "1/10", "0"]
    # No visits reported and no target for a primary-care centre.
    assert table["430100000003"][4:] == ["0", "0", "not reported", "", "", "0/10", "0"]


def test_a_day_with_more_card_visits_than_visits_is_a_data_problem(world, secondary):
    report = province_report()
    assert rows(report, "visit_data_problems") == [
        ["2026-06-09", "长沙市第三医院", "430100000002", "1", "2"]
    ]
    VisitTotal.objects.filter(institution=secondary, day="2026-06-08").delete()
    table = {r[1]: r for r in rows(province_report(), "visit_share_by_institution")}
    assert table["430100000002"][6:9] == ["data problem", "80%", "data problem"]
    for row in province_report().tables["visit_share_by_institution"].rows:
        assert row[6].value is None or row[6].value <= 1


def test_visit_share_by_city_level_and_below_target_list(world):
    report = province_report()
    assert rows(report, "visit_share_by_city") == [
        ["长沙市", "7", "3", "42.9%", "80%", "below target"],
        ["湘潭市", "1", "1", "100.0%", "80%", "on target"],
    ]
    levels = {r[0]: r[1:] for r in rows(report, "visit_share_by_level")}
    assert levels["Tertiary hospital"] == ["6", "4", "66.7%", "80%", "below target"]
    assert levels["Secondary hospital"] == ["2", "0", "0.0%", "80%", "below target"]
    assert levels["Primary-care centre"] == ["0", "0", "not reported", "", ""]
    assert [r[1] for r in rows(report, "below_target")] == ["430100000002", "430100000001"]
    assert [(label, str(share)) for label, share in report.share_bars] == [
        ("长沙市", "42.9%"),
        ("湘潭市", "100.0%"),
    ]


def test_reupload_that_changes_a_number_stands_and_is_audited(world, hospital):
    assert VisitTotal.objects.get(institution=hospital, day="2026-06-02").visits == 4
    changes = AuditRecord.objects.filter(action="visits.report", institution=hospital.code)
    details = sorted(
        (r.details["day"], r.details["old"] or 0, r.details["new"], r.details["source"])
        for r in changes
    )
    assert details == [
        ("2026-06-01", 0, 1, "api"),
        ("2026-06-02", 0, 10, "api"),
        ("2026-06-02", 10, 4, "csv"),
    ]
    again = statistics.report_visits(hospital, "2026-06-02", 4, by=None, source="api")
    assert again.status == "unchanged"
    assert changes.count() == 3


def test_filters_narrow_the_figures(world, secondary):
    assert [r[1] for r in rows(province_report(level=Level.SECONDARY), "use_by_institution")] == [
        "430100000002"
    ]
    assert [r[0] for r in rows(province_report(city="430300"), "issuance_by_city")] == ["湘潭市"]
    only = province_report(institution=secondary)
    assert rows(only, "use_by_day")[8] == ["2026-06-09", "3", "0", "2"]


@pytest.mark.parametrize(
    ("role_at", "role", "expected"),
    [
        ("province", Role.PROVINCE_ADMIN, ("province", None)),
        ("city_authority", Role.INSTITUTION_ADMIN, ("city", "430100")),
        ("hospital", Role.INSTITUTION_ADMIN, ("institution", "430100000001")),
        ("hospital", Role.SUPERVISOR, None),
        ("hospital", Role.CLERK, None),
    ],
)
def test_scope_follows_the_role(world, request, role_at, role, expected):
    user = get_user_model().objects.create_user(f"u-{role_at}-{role}")
    assign_role(user, request.getfixturevalue(role_at), role)
    scope = statistics.scope_for(user)
    if expected is None:
        assert scope is None
        return
    kind, key = expected
    assert scope.kind == kind
    if kind == "city":
        assert scope.city_code == key
    if kind == "institution":
        assert scope.institution.code == key


def test_a_city_scope_never_reads_another_city(world):
    report = statistics.report(
        statistics.StatisticsScope("city", city_code="430100"), Filters(START, END, city="430300")
    )
    assert rows(report, "issuance_by_city") == []
    assert rows(report, "use_by_day")[8] == ["2026-06-09", "0", "0", "0"]
    report = statistics.report(
        statistics.StatisticsScope("city", city_code="430100"), Filters(START, END)
    )
    assert [r[1] for r in rows(report, "visit_share_by_institution")] == [
        "430100000001",
        "430100000002",
        "430100000003",
    ]


def test_rebuild_is_idempotent_and_replaces_old_rows(world, hospital):
    before = (DailyUsage.objects.count(), DailyInstitutionUse.objects.count())
    statistics.rebuild(START, END)
    assert (DailyUsage.objects.count(), DailyInstitutionUse.objects.count()) == before
    UsageEvent.objects.filter(institution=hospital, scanned_at__date__gte=START).delete()
    statistics.rebuild(START, END)
    assert not DailyUsage.objects.filter(institution=hospital).exists()


def test_refresh_recent_rebuilds_today_and_yesterday(world, hospital, make_terminal):
    terminal = hospital.terminals.first()
    scan(terminal, world["a"], NOW - datetime.timedelta(hours=1))
    result = statistics.refresh_recent()
    assert (result.start, result.end) == (datetime.date(2026, 6, 9), datetime.date(2026, 6, 10))
    assert DailyUsage.objects.get(institution=hospital, day="2026-06-10").uses == 1


@pytest.mark.parametrize(
    ("day", "visits", "field"),
    [
        ("2026-13-01", 5, "date"),
        ("yesterday", 5, "date"),
        ("2026-06-11", 5, "date"),  # tomorrow in China
        ("2018-12-31", 5, "date"),
        ("2026-06-01", -1, "visits"),
        ("2026-06-01", 1_000_001, "visits"),
        ("2026-06-01", 2.5, "visits"),
        ("2026-06-01", True, "visits"),
        ("2026-06-01", "many", "visits"),
    ],
)
def test_bad_visit_totals_are_refused(hospital, time_machine, day, visits, field):
    time_machine.move_to(NOW, tick=False)
    with pytest.raises(StatisticsError) as exc:
        statistics.report_visits(hospital, day, visits, by=None, source="api")
    assert exc.value.details["field"] == field
    assert not VisitTotal.objects.exists()


def test_a_terminal_reports_only_for_its_own_institution(hospital, other_hospital, terminal):
    with pytest.raises(NotAllowed):
        statistics.report_visits(
            other_hospital, "2026-01-01", 5, by=terminal.terminal, source="api"
        )


def test_a_range_longer_than_a_year_or_backwards_is_refused():
    with pytest.raises(StatisticsError):
        Filters(END, START)
    with pytest.raises(StatisticsError):
        Filters(datetime.date(2025, 1, 1), datetime.date(2026, 6, 1))


def test_share_is_never_above_one_hundred_percent_by_construction():
    assert str(Share.of(3, 4)) == "75.0%"
    assert Share.of(0, 0).value is None


def test_cards_issued_in_an_authoritys_name_count_but_the_authority_is_no_hospital(
    world, province, make_card, time_machine
):
    time_machine.move_to(NOW, tick=False)
    make_card(channel=Channel.ONLINE, institution=province)
    statistics.rebuild(END, END)
    report = province_report()
    assert rows(report, "issuance_by_day")[-1] == ["2026-06-10", "1", "0", "0", "0", "1", "0"]
    assert ["省本级", "1", "0", "0", "0", "1", "0"] in rows(report, "issuance_by_city")
    assert province.code not in {r[1] for r in rows(report, "not_accepting")}
    assert province.code not in {r[1] for r in rows(report, "visit_share_by_institution")}


def test_deleting_an_institution_deletes_its_rollups(world, secondary):
    """The roll-ups have no database foreign key (faster rebuilds); the ORM cascades."""
    from healthcard.models import Card, DailyIssuance, Terminal

    pk = secondary.pk
    assert DailyUsage.objects.filter(institution_id=pk).exists()
    assert DailyIssuance.objects.filter(institution_id=pk).exists()
    UsageEvent.objects.filter(institution=secondary).delete()
    Terminal.objects.filter(institution=secondary).delete()
    Card.objects.filter(institution=secondary).update(institution=world["a"].institution)
    secondary.delete()
    assert not DailyUsage.objects.filter(institution_id=pk).exists()
    assert not DailyInstitutionUse.objects.filter(institution_id=pk).exists()
    assert not DailyIssuance.objects.filter(institution_id=pk).exists()
    assert not VisitTotal.objects.filter(institution_id=pk).exists()
