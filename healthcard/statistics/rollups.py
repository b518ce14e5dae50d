"""The daily roll-ups: rebuilt from cards, audit records and usage events for a range
of CST days; the only code that reads usage events for statistics."""

import datetime
from collections import defaultdict
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils.translation import gettext as _

from healthcard.models import (
    AuditRecord,
    Card,
    DailyInstitutionUse,
    DailyIssuance,
    DailyUsage,
    UsageEvent,
)
from healthcard.statistics.common import CHINA, StatisticsError, day_start, today
from healthcard.usage import MAX_OFFLINE_AGE


@dataclass
class RebuildResult:
    start: datetime.date
    end: datetime.date
    issuance_rows: int = 0
    usage_rows: int = 0
    institution_rows: int = 0


def _lock_rollups() -> None:
    """Two rebuilds of overlapping days (the beat task and an operator's command) must
    not interleave their delete and insert: the second waits for the first. SQLite
    serialises writers anyway."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [0x45484353])  # "EHCS"
            # The month's grouping keeps its hash tables in memory instead of spilling
            # to disk (for this transaction only).
            cursor.execute("SET LOCAL work_mem = '64MB'")


def rebuild(start: datetime.date, end: datetime.date) -> RebuildResult:
    """Recompute every roll-up row of the days start..end (inclusive, CST) from cards,
    `card.replace` audit records and usage events, in one transaction: readers see the
    old figures or the new ones, never a mix. Idempotent."""
    if end < start:
        raise StatisticsError("bad_range", _("The end date is before the start date."))
    lo, hi = day_start(start), day_start(end + datetime.timedelta(1))
    result = RebuildResult(start, end)
    with transaction.atomic():
        _lock_rollups()
        for model in (DailyIssuance, DailyUsage, DailyInstitutionUse):
            model.objects.filter(day__gte=start, day__lte=end).delete()
        issuance = _issuance_rows(lo, hi)
        DailyIssuance.objects.bulk_create(issuance, batch_size=5000)
        events = UsageEvent.objects.filter(scanned_at__gte=lo, scanned_at__lt=hi).order_by()
        by_day = events.annotate(d=TruncDate("scanned_at", tzinfo=CHINA))
        ok = Q(result=UsageEvent.RESULT_OK)
        usage = _insert_select(
            DailyUsage,
            by_day.values("d", "institution_id", "care_step", "terminal_kind").annotate(
                uses=Count("id", filter=ok), failed=Count("id", filter=~ok)
            ),
        )
        per_institution = _insert_select(
            DailyInstitutionUse,
            by_day.values("d", "institution_id").annotate(
                uses=Count("id", filter=ok),
                failed=Count("id", filter=~ok),
                cardholders=Count("card_id", distinct=True, filter=ok),
            ),
        )
    result.issuance_rows, result.usage_rows, result.institution_rows = (
        len(issuance),
        usage,
        per_institution,
    )
    if connection.vendor == "postgresql" and usage > ANALYZE_AFTER_ROWS:
        # After replacing a month of rows the planner's statistics are stale until
        # autovacuum comes round; a 市州 page then took 0.7 s instead of 30 ms.
        with connection.cursor() as cursor:
            for model in (DailyIssuance, DailyUsage, DailyInstitutionUse):
                cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
    return result


#: A rebuild that wrote more usage rows than this refreshes the planner's statistics.
ANALYZE_AFTER_ROWS = 20_000


def _insert_select(model, aggregate) -> int:
    """INSERT INTO `model`'s table the rows of `aggregate` (a values().annotate() query
    whose names are the model's columns, `d` being `day`) inside the database: the
    ORM writes the SELECT for either backend, and no row travels to Python. Returns the
    number of rows inserted."""
    select, params = aggregate.query.sql_with_params()
    names = [n for n in aggregate.query.values_select] + list(aggregate.query.annotation_select)
    columns = ["day" if n == "d" else model._meta.get_field(n).column for n in names]
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(map(connection.ops.quote_name, columns))}) "  # noqa: S608 - names from the model
            f"SELECT {', '.join(map(connection.ops.quote_name, names))} FROM ({select}) agg",
            params,
        )
        return cursor.rowcount


def _issuance_rows(lo: datetime.datetime, hi: datetime.datetime) -> list[DailyIssuance]:
    counts: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    issued = (
        Card.objects.filter(issued_at__gte=lo, issued_at__lt=hi)
        .order_by()
        .annotate(d=TruncDate("issued_at", tzinfo=CHINA))
        .values("d", "institution_id", "channel")
        .annotate(n=Count("id"))
    )
    for row in issued:
        counts[(row["d"], row["institution_id"], row["channel"])][0] = row["n"]
    # A replacement is a `card.replace` audit record (there is one per replacement; the
    # card itself keeps only its latest). Few a day, so they are matched in Python.
    replaced = list(
        AuditRecord.objects.filter(action="card.replace", at__gte=lo, at__lt=hi)
        .order_by()
        .values_list("at", "object_id")
    )
    card_ids = {int(oid) for _at, oid in replaced if oid.isdigit()}
    owners = {
        pk: (inst, channel)
        for pk, inst, channel in Card.objects.filter(pk__in=card_ids).values_list(
            "pk", "institution_id", "channel"
        )
    }
    for at, oid in replaced:
        owner = owners.get(int(oid)) if oid.isdigit() else None
        if owner is not None:
            counts[(at.astimezone(CHINA).date(), *owner)][1] += 1
    return [
        DailyIssuance(day=d, institution_id=inst, channel=ch, issued=n[0], replaced=n[1])
        for (d, inst, ch), n in counts.items()
    ]


def refresh_recent() -> RebuildResult:
    """Today and yesterday (CST): what the beat task runs every few minutes. Yesterday
    is included so that scans reported just after midnight still land on their day."""
    now = today()
    return rebuild(now - datetime.timedelta(1), now)


def rebuild_late() -> RebuildResult:
    """Every day an offline upload can still change (usage.MAX_OFFLINE_AGE): the
    nightly beat task, so late batches are counted on the day they were scanned."""
    now = today()
    return rebuild(now - datetime.timedelta(MAX_OFFLINE_AGE.days), now)
