"""The automatic sweep: print jobs left `queued` are sent to their queue again.

A job row is committed before its message is published (printing.jobs.enqueue), and a
broker that is down does not fail the request (printing.tasks.send_print_job logs and
moves on), so after an outage some queued jobs have no message anywhere. Celery beat
runs `sweep_queued_print_jobs` every HEALTHCARD_PRINT_SWEEP_SECONDS; it sends again:

- a job never tried (attempts == 0) that has been queued that long;
- a job waiting between retries only once its longest retry delay has passed too
  (HEALTHCARD_PRINT_RETRY_MAX_DELAY), so the sweep never cuts a printer's back-off short.

Sending twice is harmless: a worker prints a job only after claiming it with a
conditional UPDATE (printing.jobs.claim), so a second message finds it taken or
printed and does nothing. docs/reliability.md has the broker drill.
"""

import datetime
import logging

from celery import shared_task
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from printing import queue
from printing.models import JobStatus, PrintJob

log = logging.getLogger(__name__)


def requeue_stale_jobs(now: datetime.datetime | None = None) -> int:
    """Publish every stale queued job again (see the module's docstring); returns how
    many were sent."""
    now = now or timezone.now()
    wait = datetime.timedelta(seconds=settings.HEALTHCARD_PRINT_SWEEP_SECONDS)
    retry_wait = wait + datetime.timedelta(seconds=settings.HEALTHCARD_PRINT_RETRY_MAX_DELAY)
    stale = (
        PrintJob.objects.filter(status=JobStatus.QUEUED)
        .filter(
            Q(attempts=0, updated_at__lt=now - wait)
            | Q(attempts__gt=0, updated_at__lt=now - retry_wait)
        )
        .select_related("printer__institution")
        .order_by("pk")
    )
    count = 0
    for job in stale.iterator():
        # The queue printing.jobs.enqueue uses: the institution's, or the platform's
        # in two-stage (site) mode.
        queue.send_print_job(job.pk, queue.job_queue(job.printer.institution.code))
        count += 1
    if count:
        log.info("print sweep: %d queued job(s) sent again", count)
    return count


@shared_task(ignore_result=True)
def sweep_queued_print_jobs() -> int:
    return requeue_stale_jobs()
