"""`manage.py statistics`: the statistics page's figures for a date range, as CSV."""

import datetime
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from healthcard import statistics
from healthcard.models import Institution, Level


def date_arg(value: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"not a date (YYYY-MM-DD): {value}") from None


class Command(BaseCommand):
    help = (
        "Write the adoption figures (the admin statistics page's tables, from the daily "
        "roll-ups) for a date range as CSV: to stdout, or one file per table with --output."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="start", type=date_arg, help="First day (CST).")
        parser.add_argument("--to", dest="end", type=date_arg, help="Last day (CST).")
        parser.add_argument("--city", default="", help="Only this 市州 (6-digit code).")
        parser.add_argument("--level", default="", choices=["", *Level.values])
        parser.add_argument("--institution", default="", help="Only this institution code.")
        parser.add_argument(
            "--table",
            action="append",
            choices=statistics.TABLE_KEYS,
            help="Only these tables (repeatable); all by default.",
        )
        parser.add_argument("--output", type=Path, help="Directory for one CSV file per table.")

    def handle(self, *args, **options) -> None:
        default = statistics.Filters.last_days(30)
        institution = None
        if options["institution"]:
            institution = Institution.objects.filter(code=options["institution"]).first()
            if institution is None:
                raise CommandError(f"unknown institution: {options['institution']}")
        try:
            filters = statistics.Filters(
                start=options["start"] or default.start,
                end=options["end"] or default.end,
                city=options["city"],
                level=options["level"],
                institution=institution,
            )
        except statistics.StatisticsError as exc:
            raise CommandError(str(exc.message)) from None
        report = statistics.report(statistics.StatisticsScope("province"), filters)
        keys = options["table"] or statistics.TABLE_KEYS
        out: Path | None = options["output"]
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
        for key in keys:
            table = report.tables[key]
            if out is None:
                self.stdout.write(f"# {table.title}\n{table.csv()}")
            else:
                name = out / f"{key}-{filters.start}-{filters.end}.csv"
                name.write_text(table.csv(), encoding="utf-8-sig")
                self.stdout.write(f"{name} ({len(table.rows)} rows)")
