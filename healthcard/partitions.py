"""Usage events kept for years: one PostgreSQL partition per month of scan time.

Migration 0006 turns `healthcard_usageevent` into a table partitioned by range of
`scanned_at` (SQLite keeps one plain table, and every function here does nothing
there). A partition covers one calendar month in the platform's time zone
(Asia/Shanghai), so a day's or a month's statistics read one partition. A DEFAULT
partition catches a scan no month partition covers yet, so an INSERT never fails for
want of a partition; `ensure_partitions` moves such rows into their month when it
creates it.

- `ensure_partitions` creates this month's and the next months' partitions
  (HEALTHCARD_USAGE_PARTITIONS_AHEAD); the Celery beat task and the
  `usage_partitions ensure` command call it.
- `archive_partitions` exports every month older than HEALTHCARD_USAGE_RETENTION_MONTHS
  to a gzip-compressed CSV file and detaches its partition.

Each partition created, exported or detached is audited (`usage.partition_*`).
docs/data-model.md explains the design and the idempotency key.
"""

from __future__ import annotations

import datetime
import gzip
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from healthcard import audit

TABLE = "healthcard_usageevent"
DEFAULT = f"{TABLE}_default"
_NAME = re.compile(rf"^{TABLE}_y(\d{{4}})m(\d{{2}})$")
# pg_advisory_xact_lock(namespace, key): one maintenance run at a time.
_LOCK_NAMESPACE = 15_001


@dataclass(frozen=True, order=True)
class Month:
    year: int
    month: int

    @classmethod
    def of(cls, moment: datetime.datetime) -> Month:
        local = timezone.localtime(moment)
        return cls(local.year, local.month)

    def plus(self, months: int) -> Month:
        index = self.year * 12 + self.month - 1 + months
        return Month(index // 12, index % 12 + 1)

    @property
    def start(self) -> datetime.datetime:
        """Midnight of the first day, in the platform's time zone."""
        naive = datetime.datetime(self.year, self.month, 1)
        return timezone.make_aware(naive, timezone.get_default_timezone())

    @property
    def end(self) -> datetime.datetime:
        return self.plus(1).start

    @property
    def table(self) -> str:
        return f"{TABLE}_y{self.year:04d}m{self.month:02d}"

    @property
    def bounds(self) -> str:
        """The partition bound clause (DDL takes no parameters; these are our own dates)."""
        return f"FOR VALUES FROM ('{self.start.isoformat()}') TO ('{self.end.isoformat()}')"

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def is_partitioned() -> bool:
    """True when the usage-event table is a partitioned PostgreSQL table."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [TABLE])
        row = cursor.fetchone()
    return bool(row) and row[0] == "p"


def attached_months() -> list[Month]:
    """The month partitions now attached, oldest first (the DEFAULT one not included)."""
    if not is_partitioned():
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = to_regclass(%s)",
            [TABLE],
        )
        names = [row[0] for row in cursor.fetchall()]
    months = []
    for name in names:
        match = _NAME.match(name)
        if match:
            months.append(Month(int(match[1]), int(match[2])))
    return sorted(months)


def rows_in_default() -> int:
    """Events no month partition holds: 0 unless a scan came before its month's partition."""
    if not is_partitioned():
        return 0
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {DEFAULT}")  # noqa: S608 (constant name)
        return cursor.fetchone()[0]


def _lock(cursor) -> None:
    cursor.execute("SELECT pg_advisory_xact_lock(%s, 0)", [_LOCK_NAMESPACE])


def _create(cursor, month: Month) -> int:
    """Create the month's partition; returns how many rows it took over from DEFAULT."""
    bounds = month.bounds
    cursor.execute(
        f"SELECT count(*) FROM {DEFAULT} WHERE scanned_at >= %s AND scanned_at < %s",  # noqa: S608
        [month.start, month.end],
    )
    waiting = cursor.fetchone()[0]
    if not waiting:
        cursor.execute(f"CREATE TABLE {month.table} PARTITION OF {TABLE} {bounds}")
        return 0
    # PostgreSQL refuses a partition for a range the DEFAULT partition holds rows of:
    # build the month as a plain table, move the rows, then attach it.
    cursor.execute(f"CREATE TABLE {month.table} (LIKE {TABLE} INCLUDING DEFAULTS)")
    cursor.execute(
        f"WITH moved AS (DELETE FROM {DEFAULT} WHERE scanned_at >= %s AND scanned_at < %s"  # noqa: S608
        f" RETURNING *) INSERT INTO {month.table} SELECT * FROM moved",
        [month.start, month.end],
    )
    cursor.execute(f"ALTER TABLE {TABLE} ATTACH PARTITION {month.table} {bounds}")
    return waiting


def ensure_partitions(
    *, ahead: int | None = None, now: datetime.datetime | None = None, by: str = "system"
) -> list[Month]:
    """Create the partitions of this month and the `ahead` next ones that do not
    exist yet (HEALTHCARD_USAGE_PARTITIONS_AHEAD by default), each in its own
    transaction and audited (`usage.partition_create`, with the rows it took over
    from the DEFAULT partition). Returns the months created; does nothing on SQLite."""
    if not is_partitioned():
        return []
    ahead = settings.HEALTHCARD_USAGE_PARTITIONS_AHEAD if ahead is None else ahead
    first = Month.of(now or timezone.now())
    created = []
    for offset in range(ahead + 1):
        month = first.plus(offset)
        with transaction.atomic(), connection.cursor() as cursor:
            _lock(cursor)
            if month in attached_months():
                continue
            moved = _create(cursor, month)
            audit.record(
                "usage.partition_create",
                actor=by,
                partition=month.table,
                month=str(month),
                moved=moved,
            )
        created.append(month)
    return created


def expired_months(now: datetime.datetime | None = None) -> list[Month]:
    """Attached months wholly older than HEALTHCARD_USAGE_RETENTION_MONTHS."""
    oldest_kept = Month.of(now or timezone.now()).plus(-settings.HEALTHCARD_USAGE_RETENTION_MONTHS)
    return [
        m for m in attached_months() if (m.year, m.month) < (oldest_kept.year, oldest_kept.month)
    ]


@dataclass(frozen=True)
class Archived:
    month: Month
    path: Path
    rows: int
    sha256: str


def archive_partitions(
    *, directory: Path | None = None, now: datetime.datetime | None = None, by: str = "system"
) -> list[Archived]:
    """For every month past retention (`expired_months`), oldest first: export its
    rows to `<directory>/<partition>.csv.gz` (CSV with a header row, written to a
    temporary name and renamed once complete), audit `usage.partition_export` with
    the row count and the file's SHA-256, then detach the partition and audit
    `usage.partition_detach`, in one transaction. The detached table stays in the
    database until an operator drops it (docs/operations.md), so the data exists
    twice until the archive is known to be safe. Does nothing on SQLite."""
    if not is_partitioned():
        return []
    directory = Path(directory or settings.HEALTHCARD_USAGE_ARCHIVE_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    done = []
    for month in expired_months(now):
        with transaction.atomic(), connection.cursor() as cursor:
            _lock(cursor)
            if month not in attached_months():
                continue  # another run archived it meanwhile
            path = directory / f"{month.table}.csv.gz"
            rows, digest = _export(cursor, month, path)
            audit.record(
                "usage.partition_export",
                actor=by,
                partition=month.table,
                month=str(month),
                rows=rows,
                file=path.name,
                sha256=digest,
            )
            cursor.execute(f"ALTER TABLE {TABLE} DETACH PARTITION {month.table}")
            audit.record(
                "usage.partition_detach", actor=by, partition=month.table, month=str(month)
            )
        done.append(Archived(month, path, rows, digest))
    return done


def _export(cursor, month: Month, path: Path) -> tuple[int, str]:
    partial = path.with_name(path.name + ".partial")
    with gzip.open(partial, "wb") as out:
        copy_sql = f"COPY {month.table} TO STDOUT WITH (FORMAT csv, HEADER)"
        with cursor.copy(copy_sql) as copy:
            for chunk in copy:
                out.write(chunk)
        rows = cursor.rowcount
    digest = hashlib.sha256()
    with partial.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    os.replace(partial, path)
    return rows, digest.hexdigest()
