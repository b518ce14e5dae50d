"""Drop the single-column indexes of UsageEvent's foreign keys (terminal, institution,
card): the unique constraint (terminal, uuid, scanned_at) and the indexes (card,
scanned_at) and (institution, scanned_at) lead with the same columns and serve the
same lookups. Each of the three was written on every verification's INSERT and stored
for every row (docs/data-model.md, "Usage events for years").

Only the indexes go. Django's AlterField would also drop and re-add the foreign keys,
which on a table of billions of rows means checking every row again under lock; the
constraints are left as they are. DROP INDEX on the partitioned table drops each
partition's index with it, a catalog change.
"""

import django.db.models.deletion
from django.db import migrations, models

FIELDS = ("terminal", "institution", "card")


def _single_column_indexes(schema_editor, model) -> list[str]:
    table = model._meta.db_table
    columns = {model._meta.get_field(name).column for name in FIELDS}
    with schema_editor.connection.cursor() as cursor:
        found = schema_editor.connection.introspection.get_constraints(cursor, table)
    return [
        name
        for name, info in found.items()
        if info["index"]
        and not info["unique"]
        and not info["primary_key"]
        and len(info["columns"]) == 1
        and info["columns"][0] in columns
    ]


def drop_indexes(apps, schema_editor):
    model = apps.get_model("healthcard", "UsageEvent")
    for name in _single_column_indexes(schema_editor, model):
        schema_editor.execute(f"DROP INDEX {schema_editor.quote_name(name)}")


def create_indexes(apps, schema_editor):
    model = apps.get_model("healthcard", "UsageEvent")
    table, quote = model._meta.db_table, schema_editor.quote_name
    for name in FIELDS:
        column = model._meta.get_field(name).column
        index = quote(f"healthcard_usageevent_{column}")
        schema_editor.execute(f"CREATE INDEX {index} ON {quote(table)} ({quote(column)})")


class Migration(migrations.Migration):
    dependencies = [
        ("healthcard", "0008_terminal_kind"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(drop_indexes, create_indexes)],
            state_operations=[
                migrations.AlterField(
                    model_name="usageevent",
                    name="card",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="usage_events",
                        to="healthcard.card",
                        verbose_name="card",
                    ),
                ),
                migrations.AlterField(
                    model_name="usageevent",
                    name="institution",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="usage_events",
                        to="healthcard.institution",
                        verbose_name="institution",
                    ),
                ),
                migrations.AlterField(
                    model_name="usageevent",
                    name="terminal",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="usage_events",
                        to="healthcard.terminal",
                        verbose_name="terminal",
                    ),
                ),
            ],
        ),
    ]
