"""Fill the local population register (real-name checks) from a CSV file."""

import csv

from django.core.management.base import BaseCommand, CommandError

from healthcard import realname


class Command(BaseCommand):
    help = (
        "Import the population register used for real-name checks from a UTF-8 CSV file "
        "with the columns name, id_type (01 when empty) and id_number."
    )

    def add_arguments(self, parser):
        parser.add_argument("csv_file")

    def handle(self, *args, csv_file, **options):
        try:
            with open(csv_file, encoding="utf-8-sig", newline="") as handle:
                reader = csv.DictReader(handle)
                if not reader.fieldnames or not {"name", "id_number"} <= set(reader.fieldnames):
                    raise CommandError(
                        "the CSV file needs the columns name and id_number (and id_type)"
                    )
                created, updated, problems = realname.import_register(reader)
        except OSError as exc:
            raise CommandError(f"cannot read {csv_file}: {exc.strerror}") from None
        for problem in problems:
            self.stderr.write(problem)
        self.stdout.write(f"{created} added, {updated} updated, {len(problems)} refused")
