from django.conf import settings
from django.core.management.base import BaseCommand

from printing.models import Printer, queue_for
from printing.queue import ensure_embedded_broker


class Command(BaseCommand):
    help = (
        "Print the comma-separated Celery queue names of every institution with an active "
        "printer (for `celery worker -Q`); the default queue when there is none."
    )

    def handle(self, *args, **options):
        ensure_embedded_broker()  # the worker started with these queues needs the folders
        codes = (
            Printer.objects.filter(is_active=True)
            .values_list("institution__code", flat=True)
            .distinct()
            .order_by("institution__code")
        )
        queues = [queue_for(code) for code in codes] or [settings.HEALTHCARD_PRINT_DEFAULT_QUEUE]
        self.stdout.write(",".join(queues))
