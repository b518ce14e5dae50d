"""Constants, targets and CST day helpers shared by the statistics modules."""

import datetime
import zoneinfo
from decimal import Decimal

from django.utils import timezone

from healthcard.errors import DomainError
from healthcard.models import (
    Level,
)

# A named zone, not a fixed offset: PostgreSQL reads a bare "CST" as US Central time.
# China has kept UTC+8 without daylight saving since 1991.
CHINA = zoneinfo.ZoneInfo("Asia/Shanghai")

#: Share of visits at secondary-and-above hospitals to be made with the card.
VISIT_SHARE_TARGET = Decimal("0.80")
#: The levels the visit-share target applies to (二级, 三级).
TARGET_LEVELS = (Level.TERTIARY, Level.SECONDARY)
#: The day by which each level must accept the card (实施方案 四(二)2).
ACCEPTANCE_DEADLINES: dict[str, datetime.date] = {
    Level.TERTIARY: datetime.date(2019, 7, 31),
    Level.SECONDARY: datetime.date(2019, 12, 31),
    Level.PRIMARY_HOSPITAL: datetime.date(2019, 12, 31),
    Level.COMMUNITY: datetime.date(2019, 12, 31),
    Level.VILLAGE: datetime.date(2019, 12, 31),
    Level.PUBLIC_HEALTH: datetime.date(2019, 12, 31),
}
#: An institution is accepting when it has an active terminal and a successful
#: verification within this many days (the last day included).
READINESS_DAYS = 7
#: The longest date range one page or export covers.
MAX_RANGE_DAYS = 366
#: A page shows at most this many rows of a table; its CSV export has every row.
PAGE_ROWS = 200
#: Days before this are not accepted as visit totals (the plan started in 2019).
FIRST_DAY = datetime.date(2019, 1, 1)

#: Hunan's 市州 (GB/T 2260); an institution's city_code is one of these.
CITY_NAMES = {
    "430100": "长沙市",
    "430200": "株洲市",
    "430300": "湘潭市",
    "430400": "衡阳市",
    "430500": "邵阳市",
    "430600": "岳阳市",
    "430700": "常德市",
    "430800": "张家界市",
    "430900": "益阳市",
    "431000": "郴州市",
    "431100": "永州市",
    "431200": "怀化市",
    "431300": "娄底市",
    "433100": "湘西土家族苗族自治州",
    "430000": "省本级",  # the provincial authority and institutions directly under it
}
PROVINCE_CITY_CODE = "430000"


class StatisticsError(DomainError):
    """Refused statistics input (a bad range, a bad visit total)."""

    http_status = 400


def city_name(code: str) -> str:
    return CITY_NAMES.get(code, code)


def today() -> datetime.date:
    return timezone.now().astimezone(CHINA).date()


def day_start(day: datetime.date) -> datetime.datetime:
    """Midnight China Standard Time at the start of `day`."""
    return datetime.datetime.combine(day, datetime.time(), tzinfo=CHINA)


def days(start: datetime.date, end: datetime.date) -> list[datetime.date]:
    return [start + datetime.timedelta(n) for n in range((end - start).days + 1)]
