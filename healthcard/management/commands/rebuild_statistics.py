"""`manage.py rebuild_statistics`: recompute the daily roll-ups for a date range."""

import datetime
import time

from django.core.management.base import BaseCommand, CommandError, CommandParser

from healthcard import statistics
from healthcard.management.commands.statistics import date_arg


class Command(BaseCommand):
    help = (
        "Recompute the statistics roll-ups (issuance, use, distinct cardholders) for the "
        "days --from..--to (CST), by default yesterday and today, one transaction per "
        "--chunk days. Safe to run while the beat task runs; idempotent."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="start", type=date_arg)
        parser.add_argument("--to", dest="end", type=date_arg)
        parser.add_argument("--chunk", type=int, default=31, help="Days per transaction.")

    def handle(self, *args, **options) -> None:
        today = statistics.today()
        start = options["start"] or today - datetime.timedelta(1)
        end = options["end"] or today
        if end < start:
            raise CommandError("--to is before --from")
        chunk = max(1, options["chunk"])
        day = start
        while day <= end:
            last = min(end, day + datetime.timedelta(chunk - 1))
            began = time.perf_counter()
            result = statistics.rebuild(day, last)
            took = time.perf_counter() - began
            self.stdout.write(
                f"{day}..{last}: {result.issuance_rows} issuance, {result.usage_rows} usage, "
                f"{result.institution_rows} institution-day rows in {took:.1f} s"
            )
            day = last + datetime.timedelta(1)
