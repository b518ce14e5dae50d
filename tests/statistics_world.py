"""The known world of the statistics tests (issue 13): four institutions in two 市州,
four cards, scans either side of a CST midnight and visit totals with every edge.
Test modules take the fixtures with `from tests.statistics_world import *`."""

import datetime
import uuid

import pytest

from healthcard import cards, statistics
from healthcard.models import CardStatus, Channel, Institution, Level, UsageEvent
from healthcard.statistics import CHINA

__all__ = ["END", "NOW", "START", "city_authority", "clinic", "cst", "scan", "secondary", "world"]

NOW = datetime.datetime(2026, 6, 10, 12, 0, tzinfo=CHINA)
START, END = datetime.date(2026, 6, 1), datetime.date(2026, 6, 10)


def cst(day: int, hour: int = 9, minute: int = 0) -> datetime.datetime:
    return datetime.datetime(2026, 6, day, hour, minute, tzinfo=CHINA)


@pytest.fixture
def city_authority(province):
    return Institution.objects.create(
        code="430100000000", name="长沙市卫生健康委员会", level=Level.AUTHORITY, city_code="430100"
    )


@pytest.fixture
def secondary(province):
    return Institution.objects.create(
        code="430100000002", name="长沙市第三医院", level=Level.SECONDARY, city_code="430100"
    )


@pytest.fixture
def clinic(province):
    """A primary-care centre with no terminal and no reports."""
    return Institution.objects.create(
        code="430100000003", name="岳麓社区卫生服务中心", level=Level.COMMUNITY, city_code="430100"
    )


def scan(terminal, card, at, step="010101", result="ok"):
    return UsageEvent.objects.create(
        uuid=uuid.uuid4(),
        terminal=terminal,
        institution=terminal.institution,
        card=card if result == "ok" else None,
        scanned_at=at,
        care_step=step,
        terminal_kind=terminal.kind,
        result=result,
        fingerprint="test",
    )


@pytest.fixture
def world(
    hospital,
    other_hospital,
    secondary,
    clinic,
    city_authority,
    make_card,
    make_terminal,
    time_machine,
):
    """Four institutions in two 市州, four cards, eleven scans, visit totals; the clock
    stands at 2026-06-10 12:00 CST and the roll-ups are built."""
    from healthcard.models import Card

    time_machine.move_to(cst(1), tick=False)
    # 23:59 on 1 June and 00:00 on 2 June CST: either side of the day boundary.
    a = make_card(channel=Channel.COUNTER)
    b = make_card(channel=Channel.ONLINE)
    c = make_card(channel=Channel.BATCH, institution=other_hospital)
    d = make_card(channel=Channel.INSTITUTION, institution=secondary)
    Card.objects.filter(pk=a.pk).update(issued_at=cst(1, 23, 59))
    Card.objects.filter(pk=b.pk).update(issued_at=cst(2, 0, 0))
    Card.objects.filter(pk=c.pk).update(issued_at=cst(2, 12))
    Card.objects.filter(pk=d.pk).update(issued_at=cst(3, 12))
    cards.set_status(c, CardStatus.CANCELLED, by=None, reason="deceased")
    cards.set_status(d, CardStatus.FROZEN, by=None, reason="dispute")
    time_machine.move_to(cst(5, 0, 30), tick=False)
    cards.replace_card(a, by=None, reason="lost")

    t_hospital = make_terminal(hospital, kind="01").terminal
    t_secondary = make_terminal(secondary, kind="02", name="kiosk").terminal
    t_other = make_terminal(other_hospital, kind="03", name="desk").terminal
    scan(t_hospital, a, cst(1, 23, 30))
    scan(t_hospital, a, cst(2, 0, 10), step="010102")
    scan(t_hospital, b, cst(2, 8))
    scan(t_hospital, b, cst(2, 9), step="010105")
    scan(t_hospital, None, cst(2, 10), result="bad_signature")
    scan(t_secondary, a, cst(9, 8))
    scan(t_secondary, b, cst(9, 8, 5))
    scan(t_secondary, b, cst(9, 8, 30), step="010103")
    scan(t_other, c, cst(9, 10))
    # Events of the day before the range and after it stay out.
    scan(t_hospital, a, cst(1, 0, 0) - datetime.timedelta(seconds=1))
    t_other.is_active = False
    t_other.save()

    time_machine.move_to(NOW, tick=False)
    statistics.report_visits(hospital, "2026-06-01", 1, by=None, source="api")
    statistics.report_visits(hospital, "2026-06-02", 10, by=None, source="api")
    statistics.report_visits(hospital, "2026-06-02", 4, by=None, source="csv")  # later stands
    statistics.report_visits(secondary, "2026-06-08", 2, by=None, source="api")
    statistics.report_visits(secondary, "2026-06-09", 1, by=None, source="api")  # 2 card visits
    statistics.report_visits(other_hospital, "2026-06-09", 1, by=None, source="api")
    statistics.rebuild(START, END)
    return {"a": a, "b": b, "c": c, "d": d}
