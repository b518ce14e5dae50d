"""Every figure of the statistics page, its CSV exports and `manage.py statistics`,
computed from the roll-ups."""

import csv
import datetime
import io
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property
from typing import Any

from django.db.models import Count, Sum
from django.utils.translation import gettext as _

from healthcard.models import (
    Card,
    CardStatus,
    CareStep,
    Channel,
    DailyInstitutionUse,
    DailyIssuance,
    DailyUsage,
    Institution,
    Level,
    Terminal,
    TerminalKind,
    VisitTotal,
)
from healthcard.statistics.common import (
    ACCEPTANCE_DEADLINES,
    MAX_RANGE_DAYS,
    PAGE_ROWS,
    READINESS_DAYS,
    TARGET_LEVELS,
    VISIT_SHARE_TARGET,
    StatisticsError,
    city_name,
    days,
    today,
)
from healthcard.statistics.scope import StatisticsScope


@dataclass
class Filters:
    start: datetime.date
    end: datetime.date
    city: str = ""
    level: str = ""
    institution: Institution | None = None

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise StatisticsError("bad_range", _("The end date is before the start date."))
        if (self.end - self.start).days + 1 > MAX_RANGE_DAYS:
            raise StatisticsError(
                "bad_range", _("Choose at most %(n)d days.") % {"n": MAX_RANGE_DAYS}
            )

    @classmethod
    def last_days(cls, n: int = 30) -> "Filters":
        end = today()
        return cls(start=end - datetime.timedelta(n - 1), end=end)


class Table:
    """One table of figures: the page shows it, CSV exports it, the command writes it.

    A `detail` table (one row per institution and day: thousands for the province) is
    only exported; the page links to its CSV. Its rows are computed on first use from
    `compute`, so a page view never pays for them."""

    def __init__(
        self,
        key: str,
        title: str,
        columns: list[str],
        rows: list[list[Any]] | None = None,
        *,
        compute: Callable[[], list[list[Any]]] | None = None,
    ):
        self.key, self.title, self.columns = key, title, columns
        self.detail = compute is not None
        self._rows, self._compute = rows, compute

    @cached_property
    def rows(self) -> list[list[Any]]:
        return self._rows if self._compute is None else self._compute()

    @property
    def page_rows(self) -> list[list[Any]]:
        """The rows a page shows: the first PAGE_ROWS (the CSV export has them all)."""
        return self.rows[:PAGE_ROWS]

    @property
    def page_cells(self) -> list[list[tuple[Any, bool]]]:
        """page_rows with each cell paired with whether it is a number (right-aligned)."""
        return [[(v, isinstance(v, int | Decimal | Share)) for v in row] for row in self.page_rows]

    @property
    def truncated(self) -> bool:
        return len(self.rows) > PAGE_ROWS

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(self.columns)
        for row in self.rows:
            writer.writerow(["" if v is None else str(v) for v in row])
        return out.getvalue()


@dataclass(frozen=True)
class Share:
    """A visit share or a readiness share: `value` 0..1, or None with `note` saying why
    there is none (nothing reported, a data problem)."""

    value: Decimal | None
    note: str = ""

    @classmethod
    def of(cls, part: int, whole: int, note: str = "") -> "Share":
        if whole <= 0:
            return cls(None, note or str(_("not reported")))
        return cls(Decimal(part) / Decimal(whole))

    @property
    def percent(self) -> Decimal | None:
        if self.value is None:
            return None
        return (self.value * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)

    def __str__(self) -> str:
        return f"{self.percent}%" if self.value is not None else self.note


@dataclass
class Report:
    scope: StatisticsScope
    filters: Filters
    tables: dict[str, Table]
    issuance_series: dict[str, list[int]]  # channel label -> per day
    day_labels: list[str]
    care_steps: list[tuple[str, int]]
    share_bars: list[tuple[str, Share]]
    readiness_bars: list[tuple[str, Share, str]]  # level label, accepting share, deadline
    as_of: datetime.date


def _institutions(scope: StatisticsScope, filters: Filters) -> dict[int, Institution]:
    """The institutions in scope and filters, health authorities included (a card can
    be issued in an authority's name, e.g. online by the provincial platform)."""
    qs = Institution.objects.filter(scope.q())
    if filters.city:
        qs = qs.filter(city_code=filters.city)
    if filters.level:
        qs = qs.filter(level=filters.level)
    if filters.institution is not None:
        qs = qs.filter(pk=filters.institution.pk)
    return {i.pk: i for i in qs.order_by("city_code", "code")}


def _in(qs, institutions: dict[int, Institution], full: bool):
    """Keep the rows of `institutions`; without any filter (the whole province) no
    IN list is needed."""
    return qs if full else qs.filter(institution_id__in=list(institutions))


def report(scope: StatisticsScope, filters: Filters) -> Report:
    """Every figure for `scope` narrowed by `filters`, from the roll-ups. Institutions
    outside the scope are never read, whatever the filters say."""
    insts = _institutions(scope, filters)
    full = scope.kind == "province" and not (filters.city or filters.level or filters.institution)
    span = days(filters.start, filters.end)
    in_range = {"day__gte": filters.start, "day__lte": filters.end}
    tables: dict[str, Table] = {}

    issuance_series = _issuance_tables(tables, insts, full, in_range, span)
    _status_table(tables, insts, full)
    # Use
    inst_day = [
        r
        for r in _in(DailyInstitutionUse.objects.filter(**in_range), insts, full).values_list(
            "day", "institution_id", "uses", "failed", "cardholders"
        )
        if r[1] in insts
    ]
    care_steps = _use_tables(tables, insts, inst_day, full, filters, span)
    # Readiness and visit share: institutions that treat patients, and are open.
    care = {pk: i for pk, i in insts.items() if i.level != Level.AUTHORITY and i.is_active}
    as_of = min(filters.end, today())
    readiness_bars = _readiness(tables, care, as_of)
    share_bars = _visit_share(tables, care, inst_day, filters, scope)

    return Report(
        scope=scope,
        filters=filters,
        tables=tables,
        issuance_series=issuance_series,
        day_labels=[d.isoformat() for d in span],
        care_steps=care_steps,
        share_bars=share_bars,
        readiness_bars=readiness_bars,
        as_of=as_of,
    )


def _issuance_tables(
    tables: dict[str, Table],
    insts: dict[int, Institution],
    full: bool,
    in_range: dict,
    span: list[datetime.date],
) -> dict[str, list[int]]:
    """Cards issued and replaced per day by channel, by 市州, by institution, and per
    institution per day (a detail table). Returns the per-day series by channel."""
    issuance = _in(DailyIssuance.objects.filter(**in_range), insts, full)
    channels = list(Channel)
    per_day: dict[datetime.date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in issuance.values("day", "channel").annotate(n=Sum("issued"), r=Sum("replaced")):
        per_day[row["day"]][row["channel"]] += row["n"]
        per_day[row["day"]]["replaced"] += row["r"]
    channel_cols = [str(c.label) for c in channels]
    tables["issuance_by_day"] = Table(
        "issuance_by_day",
        _("Cards issued per day by application channel"),
        [_("Day"), *channel_cols, _("Total"), _("Replaced")],
        [
            [
                d.isoformat(),
                *(per_day[d][c] for c in channels),
                sum(per_day[d][c] for c in channels),
                per_day[d]["replaced"],
            ]
            for d in span
        ],
    )
    by_inst: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in issuance.values("institution_id", "channel").annotate(
        n=Sum("issued"), r=Sum("replaced")
    ):
        by_inst[row["institution_id"]][row["channel"]] += row["n"]
        by_inst[row["institution_id"]]["replaced"] += row["r"]
    by_city: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for pk, counts in by_inst.items():
        if pk not in insts:
            continue
        for key, n in counts.items():
            by_city[insts[pk].city_code][key] += n

    def issuance_cells(counts: dict[str, int]) -> list[int]:
        return [
            *(counts[c] for c in channels),
            sum(counts[c] for c in channels),
            counts["replaced"],
        ]

    # Every 市州 with a hospital or clinic, and any other (省本级) that issued cards.
    cities = sorted(
        {i.city_code for i in insts.values() if i.level != Level.AUTHORITY} | set(by_city)
    )
    tables["issuance_by_city"] = Table(
        "issuance_by_city",
        _("Cards issued by city/prefecture"),
        [_("City/prefecture"), *channel_cols, _("Total"), _("Replaced")],
        [[city_name(c), *issuance_cells(by_city[c])] for c in cities],
    )
    tables["issuance_by_institution"] = Table(
        "issuance_by_institution",
        _("Cards issued by institution"),
        [
            _("Institution"),
            _("Code"),
            _("City/prefecture"),
            *channel_cols,
            _("Total"),
            _("Replaced"),
        ],
        [
            [i.name, i.code, city_name(i.city_code), *issuance_cells(by_inst[pk])]
            for pk, i in insts.items()
            if by_inst.get(pk)
        ],
    )

    def issuance_detail() -> list[list[Any]]:
        cells: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for day, pk, channel, issued, replaced in issuance.values_list(
            "day", "institution_id", "channel", "issued", "replaced"
        ):
            if pk in insts:
                cells[(day, pk)][channel] += issued
                cells[(day, pk)]["replaced"] += replaced
        order = {pk: n for n, pk in enumerate(insts)}
        return [
            [day.isoformat(), insts[pk].name, insts[pk].code, *issuance_cells(counts)]
            for (day, pk), counts in sorted(
                cells.items(), key=lambda kv: (kv[0][0], order[kv[0][1]])
            )
        ]

    tables["issuance_by_institution_day"] = Table(
        "issuance_by_institution_day",
        _("Cards issued per institution per day"),
        [_("Day"), _("Institution"), _("Code"), *channel_cols, _("Total"), _("Replaced")],
        compute=issuance_detail,
    )

    return {str(c.label): [per_day[d][c] for d in span] for c in channels}


def _status_table(tables: dict[str, Table], insts: dict[int, Institution], full: bool) -> None:
    """Cards by current status, per issuing institution, with a total row."""
    statuses = list(CardStatus)
    status_counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in (
        _in(Card.objects.all(), insts, full)
        .order_by()
        .values("institution_id", "status")
        .annotate(n=Count("id"))
    ):
        if row["institution_id"] in insts:
            status_counts[row["institution_id"]][row["status"]] = row["n"]
    totals = defaultdict(int)
    status_rows = []
    for pk, i in insts.items():
        counts = status_counts.get(pk)
        if not counts:
            continue
        for s in statuses:
            totals[s] += counts[s]
        status_rows.append([i.name, i.code, *(counts[s] for s in statuses)])
    tables["card_status"] = Table(
        "card_status",
        _("Cards by status (now)"),
        [_("Institution"), _("Code"), *(str(s.label) for s in statuses)],
        [[_("Total"), "", *(totals[s] for s in statuses)], *status_rows],
    )


def _use_tables(
    tables: dict[str, Table],
    insts: dict[int, Institution],
    inst_day: list[tuple],
    full: bool,
    filters: Filters,
    span: list[datetime.date],
) -> list[tuple[str, int]]:
    """Uses per day, and by institution, level, care step and terminal type (each also
    per day), and distinct cardholders per institution per day. Two aggregations over
    DailyUsage (care step, terminal type); the rest comes from the institution-day rows."""
    by_day: dict[datetime.date, list[int]] = defaultdict(lambda: [0, 0, 0])
    by_inst: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    level_day: dict[tuple, int] = defaultdict(int)
    for day, pk, uses, failed, holders in inst_day:
        for acc in (by_day[day], by_inst[pk]):
            acc[0] += uses
            acc[1] += failed
            acc[2] += holders
        level_day[(day, insts[pk].level)] += uses
    tables["use_by_day"] = Table(
        "use_by_day",
        _("Card uses per day"),
        [_("Day"), _("Uses"), _("Failed scans"), _("Distinct cardholders (sum over institutions)")],
        [[d.isoformat(), *by_day[d]] if d in by_day else [d.isoformat(), 0, 0, 0] for d in span],
    )
    usage = _in(
        DailyUsage.objects.filter(day__gte=filters.start, day__lte=filters.end), insts, full
    )

    # One pass over DailyUsage gives both breakdowns, per day and in total.
    step_day: dict[tuple, int] = defaultdict(int)
    kind_day: dict[tuple, int] = defaultdict(int)
    steps: dict[str, int] = defaultdict(int)
    kinds: dict[str, int] = defaultdict(int)
    for day, step, kind, n in usage.values_list("day", "care_step", "terminal_kind").annotate(
        n=Sum("uses")
    ):
        step_day[(day, step)] += n
        kind_day[(day, kind)] += n
        steps[step] += n
        kinds[kind] += n

    def pivot(key: str, title: str, cells: dict, choices: list) -> Table:
        return Table(
            key,
            title,
            [_("Day"), *(str(c.label) for c in choices)],
            [[d.isoformat(), *(cells[(d, c.value)] for c in choices)] for d in span],
        )

    tables["use_by_day_and_care_step"] = pivot(
        "use_by_day_and_care_step", _("Card uses per day by care step"), step_day, list(CareStep)
    )
    tables["use_by_care_step"] = Table(
        "use_by_care_step",
        _("Card uses by care step"),
        [_("Care step"), _("Code"), _("Uses")],
        [[str(c.label), c.value, steps.get(c.value, 0)] for c in CareStep],
    )
    tables["use_by_day_and_terminal_type"] = pivot(
        "use_by_day_and_terminal_type",
        _("Card uses per day by terminal type"),
        kind_day,
        list(TerminalKind),
    )
    tables["use_by_terminal_type"] = Table(
        "use_by_terminal_type",
        _("Card uses by terminal type"),
        [_("Terminal type"), _("Code"), _("Uses")],
        [[str(k.label), k.value, kinds.get(k.value, 0)] for k in TerminalKind],
    )
    levels = [lv for lv in Level if lv != Level.AUTHORITY]
    tables["use_by_level"] = Table(
        "use_by_level",
        _("Card uses by institution level"),
        [_("Level"), _("Uses")],
        [[str(lv.label), sum(level_day[(d, lv.value)] for d in span)] for lv in levels],
    )
    tables["use_by_day_and_level"] = Table(
        "use_by_day_and_level",
        _("Card uses per day by institution level"),
        [_("Day"), *(str(lv.label) for lv in levels)],
        [[d.isoformat(), *(level_day[(d, lv.value)] for lv in levels)] for d in span],
    )
    tables["use_by_institution"] = Table(
        "use_by_institution",
        _("Card uses by institution"),
        [
            _("Institution"),
            _("Code"),
            _("Level"),
            _("Uses"),
            _("Failed scans"),
            _("Cardholders seen (sum of daily distinct)"),
        ],
        [
            [i.name, i.code, i.get_level_display(), *by_inst[pk]]
            for pk, i in insts.items()
            if pk in by_inst
        ],
    )
    order = {pk: n for n, pk in enumerate(insts)}
    tables["use_by_institution_day"] = Table(
        "use_by_institution_day",
        _("Card uses and distinct cardholders per institution per day"),
        [
            _("Day"),
            _("Institution"),
            _("Code"),
            _("Uses"),
            _("Failed scans"),
            _("Distinct cardholders"),
        ],
        compute=lambda: [
            [day.isoformat(), insts[pk].name, insts[pk].code, uses, failed, holders]
            for day, pk, uses, failed, holders in sorted(
                inst_day, key=lambda r: (r[0], order[r[1]])
            )
        ],
    )
    return [(str(c.label), steps.get(c.value, 0)) for c in CareStep]


def accepting_institutions(
    institutions: Iterable[int], as_of: datetime.date
) -> tuple[set[int], set[int]]:
    """(with an active terminal, with a successful verification in the READINESS_DAYS
    days up to `as_of`) among `institutions`; accepting is in both."""
    ids = list(institutions)
    with_terminal = set(
        Terminal.objects.filter(is_active=True, institution_id__in=ids).values_list(
            "institution_id", flat=True
        )
    )
    window = as_of - datetime.timedelta(READINESS_DAYS - 1)
    verified = set(
        DailyInstitutionUse.objects.filter(
            day__gte=window, day__lte=as_of, uses__gt=0, institution_id__in=ids
        ).values_list("institution_id", flat=True)
    )
    return with_terminal, verified


def deadline_state(level: str, accepting: bool, as_of: datetime.date) -> str:
    deadline = ACCEPTANCE_DEADLINES.get(level)
    if accepting:
        return str(_("accepting"))
    if deadline is None:
        return ""
    if as_of > deadline:
        return str(_("overdue"))
    return str(_("due by %(day)s") % {"day": deadline.isoformat()})


def _readiness(tables: dict[str, Table], insts: dict[int, Institution], as_of) -> list:
    with_terminal, verified = accepting_institutions(insts, as_of)
    accepting = with_terminal & verified
    groups: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    by_level: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    waiting = []
    for pk, i in insts.items():
        g = groups[(i.city_code, i.level)]
        g[0] += 1
        g[1] += pk in with_terminal
        g[2] += pk in verified
        g[3] += pk in accepting
        by_level[i.level][0] += 1
        by_level[i.level][1] += pk in accepting
        if pk not in accepting:
            reasons = []
            if pk not in with_terminal:
                reasons.append(str(_("no active terminal")))
            if pk not in verified:
                reasons.append(
                    str(_("no successful verification in %(n)d days") % {"n": READINESS_DAYS})
                )
            deadline = ACCEPTANCE_DEADLINES.get(i.level)
            waiting.append(
                [
                    i.name,
                    i.code,
                    city_name(i.city_code),
                    i.get_level_display(),
                    "；".join(reasons),
                    deadline.isoformat() if deadline else "",
                    deadline_state(i.level, False, as_of),
                ]
            )
    rows = []
    for (city, level), (n, term, ver, acc) in sorted(groups.items()):
        deadline = ACCEPTANCE_DEADLINES.get(level)
        share = Share.of(acc, n)
        state = ""
        if deadline is not None:
            if acc == n:
                state = str(_("met"))
            elif as_of > deadline:
                state = str(_("overdue"))
            else:
                state = str(_("due by %(day)s") % {"day": deadline.isoformat()})
        rows.append(
            [
                city_name(city),
                Level(level).label,
                n,
                term,
                ver,
                acc,
                share,
                deadline.isoformat() if deadline else "",
                state,
            ]
        )
    tables["readiness"] = Table(
        "readiness",
        _("Acceptance readiness by city/prefecture and level (as of %(day)s)")
        % {"day": as_of.isoformat()},
        [
            _("City/prefecture"),
            _("Level"),
            _("Institutions"),
            _("With an active terminal"),
            _("Verified in the last 7 days"),
            _("Accepting"),
            _("Share accepting"),
            _("Deadline"),
            _("State"),
        ],
        rows,
    )
    tables["not_accepting"] = Table(
        "not_accepting",
        _("Institutions not yet accepting the card"),
        [
            _("Institution"),
            _("Code"),
            _("City/prefecture"),
            _("Level"),
            _("Why"),
            _("Deadline"),
            _("State"),
        ],
        waiting,
    )
    bars = []
    for level in Level:
        if level in by_level:
            n, acc = by_level[level]
            deadline = ACCEPTANCE_DEADLINES.get(level)
            bars.append(
                (str(level.label), Share.of(acc, n), deadline.isoformat() if deadline else "")
            )
    return bars


def _visit_share(
    tables: dict[str, Table],
    insts: dict[int, Institution],
    inst_day: list[tuple],
    filters: Filters,
    scope,
) -> list[tuple[str, Share]]:
    in_range = {
        "day__gte": filters.start,
        "day__lte": filters.end,
        "institution_id__in": list(insts),
    }
    reported = {
        (r["institution_id"], r["day"]): r["visits"]
        for r in VisitTotal.objects.filter(**in_range).values("institution_id", "day", "visits")
    }
    ehc = {(pk, day): holders for day, pk, _u, _f, holders in inst_day if pk in insts}
    # per institution: [visits, ehc visits] over valid days, days reported, problem days
    per_inst: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    problems = []
    for (pk, day), visits in sorted(reported.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        seen = ehc.get((pk, day), 0)
        acc = per_inst[pk]
        acc[2] += 1
        if seen > visits:
            # More card visits than visits: one of the figures is wrong. The day is
            # left out of every share rather than shown as more than 100 %.
            acc[3] += 1
            i = insts[pk]
            problems.append([day.isoformat(), i.name, i.code, visits, seen])
            continue
        acc[0] += visits
        acc[1] += seen
    n_days = len(days(filters.start, min(filters.end, today()))) if filters.start <= today() else 0
    rows, below = [], []
    by_city: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_level: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for pk, i in insts.items():
        visits, seen, reported_days, problem_days = per_inst.get(pk, [0, 0, 0, 0])
        target = VISIT_SHARE_TARGET if i.level in TARGET_LEVELS else None
        note = str(_("data problem")) if problem_days and not visits else ""
        share = (
            Share.of(seen, visits, note) if reported_days else Share(None, str(_("not reported")))
        )
        if reported_days - problem_days > 0 and visits == 0:
            share = Share(None, str(_("no visits")))
        state = ""
        if target is not None:
            if share.value is None:
                state = share.note
            elif share.value >= target:
                state = str(_("on target"))
            else:
                state = str(_("below target"))
                below.append(
                    [
                        i.name,
                        i.code,
                        city_name(i.city_code),
                        i.get_level_display(),
                        share,
                        visits,
                        seen,
                    ]
                )
        if reported_days - problem_days > 0:
            by_level[i.level][0] += visits
            by_level[i.level][1] += seen
            if target is not None:
                by_city[i.city_code][0] += visits
                by_city[i.city_code][1] += seen
        rows.append(
            [
                i.name,
                i.code,
                city_name(i.city_code),
                i.get_level_display(),
                visits,
                seen,
                share,
                f"{int(target * 100)}%" if target is not None else "",
                state,
                f"{reported_days}/{n_days}",
                problem_days,
            ]
        )
    target_label = f"{int(VISIT_SHARE_TARGET * 100)}%"
    tables["visit_share_by_institution"] = Table(
        "visit_share_by_institution",
        _("Visit share by institution"),
        [
            _("Institution"),
            _("Code"),
            _("City/prefecture"),
            _("Level"),
            _("Reported visits"),
            _("Card visits"),
            _("Share"),
            _("Target"),
            _("State"),
            _("Days reported"),
            _("Days with a data problem"),
        ],
        rows,
    )
    city_rows = []
    for city in sorted({i.city_code for i in insts.values()}):
        visits, seen = by_city.get(city, [0, 0])
        share = Share.of(seen, visits)
        city_rows.append([city_name(city), visits, seen, share, target_label, _state(share)])
    tables["visit_share_by_city"] = Table(
        "visit_share_by_city",
        _("Visit share at secondary and tertiary hospitals by city/prefecture"),
        [
            _("City/prefecture"),
            _("Reported visits"),
            _("Card visits"),
            _("Share"),
            _("Target"),
            _("State"),
        ],
        city_rows,
    )
    level_rows = []
    for level in Level:
        if level == Level.AUTHORITY:
            continue
        visits, seen = by_level.get(level, [0, 0])
        share = Share.of(seen, visits)
        target = level in TARGET_LEVELS
        level_rows.append(
            [
                str(level.label),
                visits,
                seen,
                share,
                target_label if target else "",
                _state(share) if target else "",
            ]
        )
    tables["visit_share_by_level"] = Table(
        "visit_share_by_level",
        _("Visit share by level"),
        [_("Level"), _("Reported visits"), _("Card visits"), _("Share"), _("Target"), _("State")],
        level_rows,
    )
    below.sort(key=lambda r: r[4].value)
    tables["below_target"] = Table(
        "below_target",
        _("Secondary and tertiary hospitals below the %(target)s target")
        % {"target": target_label},
        [
            _("Institution"),
            _("Code"),
            _("City/prefecture"),
            _("Level"),
            _("Share"),
            _("Reported visits"),
            _("Card visits"),
        ],
        below,
    )
    tables["visit_data_problems"] = Table(
        "visit_data_problems",
        _("Days with more card visits than reported visits (data problems)"),
        [_("Day"), _("Institution"), _("Code"), _("Reported visits"), _("Card visits")],
        problems,
    )
    if scope.kind == "province" and not filters.institution:
        return [(row[0], row[3]) for row in city_rows]
    return [(row[0], row[6]) for row in rows if insts and row[7]][:30]


def _state(share: Share) -> str:
    if share.value is None:
        return share.note
    return str(_("on target")) if share.value >= VISIT_SHARE_TARGET else str(_("below target"))


TABLE_KEYS = (
    "issuance_by_day",
    "issuance_by_city",
    "issuance_by_institution",
    "issuance_by_institution_day",
    "card_status",
    "use_by_day",
    "use_by_care_step",
    "use_by_terminal_type",
    "use_by_level",
    "use_by_institution",
    "use_by_day_and_care_step",
    "use_by_day_and_terminal_type",
    "use_by_day_and_level",
    "use_by_institution_day",
    "readiness",
    "not_accepting",
    "visit_share_by_institution",
    "visit_share_by_city",
    "visit_share_by_level",
    "below_target",
    "visit_data_problems",
)
