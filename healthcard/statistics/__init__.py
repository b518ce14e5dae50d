"""Adoption statistics: the daily roll-ups, the visit totals institutions report, and
every figure the admin page, its CSV exports and `manage.py statistics` show.

Figures come only from the roll-up tables (healthcard.models.statistics), cards and
terminals, never from scanning usage events: `rebuild()` is the one place that reads
usage events, for a range of days, and the Celery beat task (healthcard.tasks) keeps
recent days current. Days are China Standard Time days.

The targets come from the province's plan (湘卫函〔2019〕159号): tertiary public
institutions accept the card by the end of July 2019, secondary, primary-care and
public-health institutions by the end of 2019, and at least 80 % of visits at
secondary-and-above public hospitals are made with the card.
"""

from healthcard.statistics.common import (
    ACCEPTANCE_DEADLINES,
    CHINA,
    CITY_NAMES,
    FIRST_DAY,
    MAX_RANGE_DAYS,
    PAGE_ROWS,
    READINESS_DAYS,
    TARGET_LEVELS,
    VISIT_SHARE_TARGET,
    StatisticsError,
    city_name,
    day_start,
    days,
    today,
)
from healthcard.statistics.figures import (
    TABLE_KEYS,
    Filters,
    Report,
    Share,
    Table,
    accepting_institutions,
    deadline_state,
    report,
)
from healthcard.statistics.rollups import RebuildResult, rebuild, rebuild_late, refresh_recent
from healthcard.statistics.scope import StatisticsScope, scope_for
from healthcard.statistics.visits import (
    CSV_COLUMNS,
    MAX_CSV_BYTES,
    CsvImport,
    CsvRow,
    VisitReport,
    check_visit_input,
    import_visit_csv,
    may_report_for,
    report_visits,
)

__all__ = [
    "ACCEPTANCE_DEADLINES",
    "CHINA",
    "CITY_NAMES",
    "CSV_COLUMNS",
    "FIRST_DAY",
    "MAX_CSV_BYTES",
    "MAX_RANGE_DAYS",
    "PAGE_ROWS",
    "READINESS_DAYS",
    "TABLE_KEYS",
    "TARGET_LEVELS",
    "VISIT_SHARE_TARGET",
    "CsvImport",
    "CsvRow",
    "Filters",
    "RebuildResult",
    "Report",
    "Share",
    "StatisticsError",
    "StatisticsScope",
    "Table",
    "VisitReport",
    "accepting_institutions",
    "check_visit_input",
    "city_name",
    "day_start",
    "days",
    "deadline_state",
    "import_visit_csv",
    "may_report_for",
    "rebuild",
    "rebuild_late",
    "refresh_recent",
    "report",
    "report_visits",
    "scope_for",
    "today",
]
