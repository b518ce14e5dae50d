import datetime

from django.core.management.base import BaseCommand
from django.utils import timezone

from printing.models import JobStatus, PrintJob
from printing.queue import job_queue, send_print_job


class Command(BaseCommand):
    help = (
        "Send queued print jobs older than --minutes to their queues again (after a "
        "broker outage). Safe to repeat: a job is claimed by one worker only."
    )

    def add_arguments(self, parser):
        parser.add_argument("--minutes", type=int, default=10)

    def handle(self, *args, **options):
        cutoff = timezone.now() - datetime.timedelta(minutes=options["minutes"])
        stale = PrintJob.objects.filter(
            status=JobStatus.QUEUED, updated_at__lt=cutoff
        ).select_related("printer__institution")
        count = 0
        for job in stale.iterator():
            send_print_job(job.pk, job_queue(job.printer.institution.code))
            count += 1
        self.stdout.write(f"{count} job(s) sent again.")
