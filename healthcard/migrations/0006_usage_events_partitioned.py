"""On PostgreSQL, usage events move into a table partitioned by month of scanned_at.

The primary key and the idempotency constraint must hold the partition key, so the key
becomes (id, scanned_at) and the constraint (terminal, uuid, scanned_at); ids still come
from one sequence. Existing rows are copied into month partitions (from the oldest
scan to HEALTHCARD_USAGE_PARTITIONS_AHEAD months ahead) plus a DEFAULT partition.
SQLite keeps its one table: only the constraint changes there.
docs/data-model.md, "Usage events for years".
"""

import datetime

from django.db import migrations, models
from django.utils import timezone

TABLE = "healthcard_usageevent"
OLD = f"{TABLE}_old"


def _month_start(year: int, month: int) -> datetime.datetime:
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return timezone.make_aware(datetime.datetime(year, month, 1), timezone.get_default_timezone())


def _indexes_and_foreign_keys(cursor) -> tuple[list[str], list[tuple[str, str]]]:
    """The table's plain indexes (CREATE INDEX statements) and foreign keys, to
    rebuild them under the same names on the new table."""
    cursor.execute(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = %s",
        [TABLE],
    )
    indexes = [row[0] for row in cursor.fetchall() if not row[0].startswith("CREATE UNIQUE")]
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = to_regclass(%s) AND contype = 'f'",
        [TABLE],
    )
    return indexes, cursor.fetchall()


def _rebuild(schema_editor, *, partitioned: bool) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    from django.conf import settings

    with schema_editor.connection.cursor() as c:
        indexes, foreign_keys = _indexes_and_foreign_keys(c)
        c.execute(f"ALTER TABLE {TABLE} RENAME TO {OLD}")
        c.execute(f"ALTER TABLE {OLD} RENAME CONSTRAINT {TABLE}_pkey TO {OLD}_pkey")
        by = " PARTITION BY RANGE (scanned_at)" if partitioned else ""
        c.execute(f"CREATE TABLE {TABLE} (LIKE {OLD} INCLUDING DEFAULTS){by}")
        if partitioned:
            c.execute(f"CREATE TABLE {TABLE}_default PARTITION OF {TABLE} DEFAULT")
            c.execute(f"SELECT min(scanned_at) FROM {OLD}")
            first = timezone.localtime(c.fetchone()[0] or timezone.now())
            last = timezone.localtime(timezone.now())
            months = (last.year - first.year) * 12 + last.month - first.month
            months += settings.HEALTHCARD_USAGE_PARTITIONS_AHEAD
            for n in range(months + 1):
                lo = _month_start(first.year, first.month + n)
                hi = _month_start(first.year, first.month + n + 1)
                c.execute(
                    f"CREATE TABLE {TABLE}_y{lo.year:04d}m{lo.month:02d} PARTITION OF {TABLE}"
                    f" FOR VALUES FROM ('{lo.isoformat()}') TO ('{hi.isoformat()}')"
                )
        c.execute(f"INSERT INTO {TABLE} SELECT * FROM {OLD}")  # noqa: S608
        c.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {OLD}")  # noqa: S608
        next_id = c.fetchone()[0]
        if partitioned:
            # An identity column is per table in PostgreSQL 15: one sequence for all.
            # The copied default may name OLD's own sequence, dropped with it.
            c.execute(f"ALTER TABLE {TABLE} ALTER COLUMN id DROP DEFAULT")
            c.execute(f"DROP TABLE {OLD}")
            c.execute(f"CREATE SEQUENCE {TABLE}_id_seq OWNED BY {TABLE}.id")
            c.execute(f"ALTER TABLE {TABLE} ALTER COLUMN id SET DEFAULT nextval('{TABLE}_id_seq')")
            c.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY (id, scanned_at)")
        else:
            c.execute(f"ALTER SEQUENCE {TABLE}_id_seq OWNED BY {TABLE}.id")
            c.execute(f"DROP TABLE {OLD}")
            c.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY (id)")
        c.execute(f"SELECT setval('{TABLE}_id_seq', %s, false)", [next_id])
        for statement in indexes:
            c.execute(statement)
        for name, definition in foreign_keys:
            c.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {name} {definition}")


def partition(apps, schema_editor):
    _rebuild(schema_editor, partitioned=True)


def unpartition(apps, schema_editor):
    _rebuild(schema_editor, partitioned=False)


class Migration(migrations.Migration):
    dependencies = [
        ("healthcard", "0005_data_keys"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="usageevent",
            name="unique_usage_uuid_per_terminal",
        ),
        migrations.RunPython(partition, unpartition, elidable=False),
        migrations.AddConstraint(
            model_name="usageevent",
            constraint=models.UniqueConstraint(
                fields=("terminal", "uuid", "scanned_at"), name="unique_usage_uuid_per_terminal"
            ),
        ),
    ]
