"""A scan's terminal type is `terminal_kind`, no longer `channel`: in this code base
"channel" means only a card's application channel (申领方式). The API keeps the
name `channel` (healthcard/api/serializers.py).

Both databases rename a column in place (ALTER TABLE … RENAME COLUMN), on PostgreSQL's
partitioned `healthcard_usageevent` together with every attached partition, and keep
the indexes on it. So the unique constraint of DailyUsage, which names the field, is
replaced in the migration state only: dropping and rebuilding its index would rewrite
nothing but cost a pass over the roll-up table.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("healthcard", "0007_oidc_signing_key"),
    ]

    operations = [
        migrations.RenameField(
            model_name="usageevent",
            old_name="channel",
            new_name="terminal_kind",
        ),
        migrations.RenameField(
            model_name="dailyusage",
            old_name="channel",
            new_name="terminal_kind",
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveConstraint(
                    model_name="dailyusage",
                    name="unique_daily_usage",
                ),
                migrations.AddConstraint(
                    model_name="dailyusage",
                    constraint=models.UniqueConstraint(
                        fields=("day", "institution", "care_step", "terminal_kind"),
                        name="unique_daily_usage",
                    ),
                ),
            ],
        ),
    ]
