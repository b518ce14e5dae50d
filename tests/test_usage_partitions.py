"""Usage events partitioned by month on PostgreSQL (healthcard.partitions): partitions
created ahead, rows caught by the DEFAULT partition moved into their month, months
past retention exported and detached, every step audited, and idempotency by terminal
and UUID across partitions."""

import csv
import datetime
import gzip
import io
import threading
import uuid

import pytest
from django.core.management import call_command
from django.db import connection, connections
from django.test import override_settings
from django.utils import timezone

from healthcard import codes, partitions, usage
from healthcard.models import AuditRecord, UsageEvent
from tests.conftest import service_unavailable

pytestmark = pytest.mark.postgres


@pytest.fixture
def partitioned(db):
    if connection.vendor != "postgresql":
        service_unavailable("partitioned usage events need PostgreSQL (DATABASE_URL)")
    assert partitions.is_partitioned()


def scan(code, **extra):
    return usage.Scan(
        uuid=extra.pop("uuid", uuid.uuid4()),
        code=code,
        care_step="010101",
        terminal_kind="01",
        scanned_at=extra.pop("scanned_at", timezone.now()),
        **extra,
    )


def partition_of(event: UsageEvent) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tableoid::regclass::text FROM healthcard_usageevent WHERE id = %s", [event.pk]
        )
        return cursor.fetchone()[0]


def local(year, month, day=15):
    return timezone.make_aware(datetime.datetime(year, month, day, 12))


def test_month_arithmetic_and_bounds_follow_the_platform_time_zone():
    month = partitions.Month(2026, 12)
    assert month.plus(1) == partitions.Month(2027, 1)
    assert month.plus(-12) == partitions.Month(2025, 12)
    assert month.table == "healthcard_usageevent_y2026m12"
    assert month.start.isoformat() == "2026-12-01T00:00:00+08:00"
    # 1 December 00:30 in Changsha is still November in UTC: it belongs to December.
    assert (
        partitions.Month.of(datetime.datetime(2026, 11, 30, 16, 30, tzinfo=datetime.UTC)) == month
    )


def test_functions_do_nothing_on_sqlite(db):
    if connection.vendor == "postgresql":
        pytest.skip("checks the SQLite behaviour")
    assert partitions.is_partitioned() is False
    assert partitions.ensure_partitions() == []
    assert partitions.archive_partitions() == []
    out = io.StringIO()
    call_command("usage_partitions", "list", stdout=out)
    assert "not partitioned" in out.getvalue()


def test_the_migration_partitions_by_month_with_this_and_coming_months(partitioned):
    this_month = partitions.Month.of(timezone.now())
    months = partitions.attached_months()
    for offset in range(4):
        assert this_month.plus(offset) in months
    assert partitions.rows_in_default() == 0


def test_the_terminal_type_column_is_terminal_kind_in_every_partition(partitioned):
    """Migration 0008 renamed the column on the partitioned table, which renames it in
    every attached partition; a partition created since has it too."""
    partitions.ensure_partitions(ahead=0, now=timezone.now() + datetime.timedelta(days=800))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, a.attname FROM pg_inherits i"
            " JOIN pg_class c ON c.oid = i.inhrelid"
            " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
            " WHERE i.inhparent = %s::regclass AND a.attname IN ('channel', 'terminal_kind')",
            [partitions.TABLE],
        )
        columns = cursor.fetchall()
    tables = {table for table, _column in columns}
    assert partitions.DEFAULT in tables
    assert len(tables) == len(partitions.attached_months()) + 1
    assert {column for _table, column in columns} == {"terminal_kind"}


def test_online_verification_lands_in_this_months_partition(partitioned, terminal, card):
    verification, event = usage.verify_and_record(terminal.terminal, scan(codes.static_code(card)))
    assert verification.ok
    assert partition_of(event) == partitions.Month.of(event.scanned_at).table


def test_ensure_creates_missing_months_once_and_audits_each(partitioned):
    future = timezone.now() + datetime.timedelta(days=400)
    created = partitions.ensure_partitions(ahead=2, now=future, by="system:cli")
    first = partitions.Month.of(future)
    assert created == [first, first.plus(1), first.plus(2)]
    assert partitions.ensure_partitions(ahead=2, now=future) == []
    audits = AuditRecord.objects.filter(action="usage.partition_create").order_by("id")
    assert [a.details["partition"] for a in audits] == [m.table for m in created]
    assert {a.actor for a in audits} == {"system:cli"}


def test_a_scan_without_its_partition_waits_in_default_and_moves_into_its_month(
    partitioned, terminal, card
):
    far = timezone.now() + datetime.timedelta(days=800)
    verification = codes.verify_code(codes.static_code(card))
    event = usage._event(terminal.terminal, scan("x", scanned_at=far), verification, offline=True)
    event.save()
    assert partition_of(event) == partitions.DEFAULT
    assert partitions.rows_in_default() == 1
    [month] = partitions.ensure_partitions(ahead=0, now=far)
    assert partition_of(event) == month.table
    assert partitions.rows_in_default() == 0
    audit = AuditRecord.objects.get(action="usage.partition_create")
    assert audit.details["moved"] == 1
    assert UsageEvent.objects.filter(pk=event.pk).exists()


def test_months_past_retention_are_exported_and_detached(partitioned, terminal, card, tmp_path):
    now = timezone.now()
    old = partitions.Month.of(now).plus(-40)
    kept = partitions.Month.of(now).plus(-20)
    for month in (old, kept):
        partitions.ensure_partitions(ahead=0, now=month.start)
    verification = codes.verify_code(codes.static_code(card))
    old_event = usage._event(
        terminal.terminal, scan("x", scanned_at=old.start), verification, offline=True
    )
    old_event.save()
    kept_event = usage._event(
        terminal.terminal, scan("x", scanned_at=kept.start), verification, offline=True
    )
    kept_event.save()

    with override_settings(HEALTHCARD_USAGE_RETENTION_MONTHS=36):
        [done] = partitions.archive_partitions(directory=tmp_path)

    assert done.month == old
    assert done.rows == 1
    with gzip.open(done.path, "rt", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["uuid"] for r in rows] == [str(old_event.uuid)]
    assert old not in partitions.attached_months()
    assert kept in partitions.attached_months()
    assert not UsageEvent.objects.filter(pk=old_event.pk).exists()
    assert UsageEvent.objects.filter(pk=kept_event.pk).exists()
    export = AuditRecord.objects.get(action="usage.partition_export")
    assert export.details["rows"] == 1
    assert export.details["sha256"] == done.sha256
    assert AuditRecord.objects.get(action="usage.partition_detach").details["month"] == str(old)
    # A second run finds nothing more to archive.
    assert partitions.archive_partitions(directory=tmp_path) == []


def test_the_command_lists_ensures_and_archives(partitioned, tmp_path):
    out = io.StringIO()
    call_command("usage_partitions", "ensure", "--ahead", "5", stdout=out)
    call_command("usage_partitions", "list", stdout=out)
    call_command("usage_partitions", "archive", "--directory", str(tmp_path), stdout=out)
    text = out.getvalue()
    assert partitions.Month.of(timezone.now()).plus(5).table in text
    assert "Rows in the DEFAULT partition: 0" in text
    assert "0 partition(s) archived." in text


def test_a_reupload_into_another_months_partition_is_still_recognised(partitioned, terminal, card):
    code = codes.static_code(card)
    now = timezone.now()
    first = scan(code, scanned_at=now - datetime.timedelta(days=45))
    usage.upload_batch(terminal.terminal, [(0, first)])
    same = scan(code, uuid=first.uuid, scanned_at=first.scanned_at)
    moved = scan(code, uuid=first.uuid, scanned_at=now - datetime.timedelta(days=1))
    assert partitions.Month.of(first.scanned_at) != partitions.Month.of(moved.scanned_at)
    results = usage.upload_batch(terminal.terminal, [(0, same), (1, moved)])
    assert [r.status for r in results] == ["duplicate", "conflict"]
    assert UsageEvent.objects.filter(uuid=first.uuid).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_uploads_of_one_uuid_in_two_months_store_one_event(terminal, card):
    if connection.vendor != "postgresql":
        service_unavailable("partitioned usage events need PostgreSQL (DATABASE_URL)")
    code = codes.static_code(card)
    now = timezone.now()
    shared = uuid.uuid4()
    variants = [
        scan(code, uuid=shared, scanned_at=now - datetime.timedelta(days=45)),
        scan(code, uuid=shared, scanned_at=now - datetime.timedelta(days=1)),
    ]
    barrier = threading.Barrier(2, timeout=10)
    statuses: list[str] = []
    errors: list[BaseException] = []

    def upload(item):
        try:
            barrier.wait()
            [result] = usage.upload_batch(terminal.terminal, [(0, item)])
            statuses.append(result.status)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=upload, args=(v,)) for v in variants]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(statuses) == ["conflict", "created"]
    assert UsageEvent.objects.filter(uuid=shared).count() == 1


def test_the_beat_task_ensures_then_archives(db, settings):
    from healthcard.tasks import maintain_usage_partitions

    assert "usage-partitions" in settings.CELERY_BEAT_SCHEDULE
    # On PostgreSQL the migration already made this month and the coming ones.
    assert maintain_usage_partitions() == "created 0, archived 0"


def test_each_foreign_key_leads_exactly_one_index_and_none_of_its_own(db):
    """Every lookup by terminal, institution or card has an index that starts with its
    column (the unique constraint, the two Meta indexes), and no single-column index
    is written on each insert besides (migration 0009)."""
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, UsageEvent._meta.db_table)
    indexes = [info["columns"] for info in found.values() if info["index"] or info["unique"]]
    for name in ("terminal", "institution", "card"):
        column = UsageEvent._meta.get_field(name).column
        leading = [columns for columns in indexes if columns[0] == column]
        assert len(leading) == 1, (column, indexes)
        assert len(leading[0]) > 1, (column, indexes)
