"""Usage-event partitions on PostgreSQL (healthcard.partitions, docs/operations.md):

    manage.py usage_partitions list
    manage.py usage_partitions ensure [--ahead N]
    manage.py usage_partitions archive [--directory DIR]

`ensure` creates this month's and the coming months' partitions; `archive` exports the
months past HEALTHCARD_USAGE_RETENTION_MONTHS to gzip files and detaches them. Both
are audited and safe to repeat; on SQLite they do nothing.
"""

from pathlib import Path

from django.core.management.base import BaseCommand

from healthcard import partitions


class Command(BaseCommand):
    help = "List, create ahead and archive the monthly usage-event partitions."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("list", help="list the attached month partitions")
        ensure = sub.add_parser("ensure", help="create this month's and the next partitions")
        ensure.add_argument("--ahead", type=int, help="months ahead (default: the setting)")
        archive = sub.add_parser("archive", help="export and detach months past retention")
        archive.add_argument("--directory", type=Path, help="where the .csv.gz files go")

    def handle(self, *args, **options):
        if not partitions.is_partitioned():
            self.stdout.write("Usage events are not partitioned here (not PostgreSQL).")
            return
        getattr(self, f"do_{options['action']}")(options)

    def do_list(self, options):
        for month in partitions.attached_months():
            self.stdout.write(f"{month}  {month.table}")
        self.stdout.write(f"Rows in the DEFAULT partition: {partitions.rows_in_default()}")

    def do_ensure(self, options):
        created = partitions.ensure_partitions(ahead=options["ahead"], by="system:cli")
        for month in created:
            self.stdout.write(f"Created {month.table}.")
        self.stdout.write(f"{len(created)} partition(s) created.")

    def do_archive(self, options):
        done = partitions.archive_partitions(directory=options["directory"], by="system:cli")
        for item in done:
            self.stdout.write(
                f"Exported {item.rows} rows of {item.month} to {item.path} (sha256 {item.sha256})"
                f" and detached {item.month.table}."
            )
        self.stdout.write(f"{len(done)} partition(s) archived.")
