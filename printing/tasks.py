"""Celery tasks: thin callers of printing.runner and printing.jobs.

`print_job` runs where the database is: with HEALTHCARD_PRINT_DELIVERY=local on each
institution's queue `print.<code>` (one machine, or a site worker trusted with the
database), with `site` on the platform queue, where it renders and publishes a signed
delivery to `print.<code>` for the site worker (printing.site_worker). `apply_report`
applies the sites' reports. Settings make delivery at-least-once (acks_late,
reject_on_worker_lost); runner.process and the site journal make printing at-most-once.
"""

import logging

from celery import shared_task
from django.conf import settings

from printing import jobs, queue, runner
from printing.models import Printer

log = logging.getLogger(__name__)

# Where they lived before printing.queue; callers and tests still use these names.
ensure_embedded_broker = queue.ensure_embedded_broker
send_print_job = queue.send_print_job
backoff = queue.backoff


def longest_retry_chain() -> int:
    """Seconds from the first attempt to the last, timeouts included; the Redis
    visibility timeout must exceed it (checked by a test)."""
    retries = settings.HEALTHCARD_PRINT_MAX_RETRIES
    waits = sum(backoff(n) for n in range(retries))
    # each attempt may wait for connect, status, send and status again
    return waits + (retries + 1) * 4 * settings.HEALTHCARD_PRINT_TIMEOUT


def _queue_institution(request) -> str | None:
    """The institution whose queue this message came from (None: the platform queue,
    or an eager call)."""
    routing_key = (request.delivery_info or {}).get("routing_key") or ""
    return routing_key.removeprefix("print.") if routing_key.startswith("print.") else None


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def print_job(self, job_pk: int) -> str:
    retries = self.request.retries
    result = runner.process(
        job_pk,
        last_attempt=retries >= settings.HEALTHCARD_PRINT_MAX_RETRIES,
        institution=_queue_institution(self.request),
    )
    if result.outcome == runner.Outcome.RETRY:
        # Same queue as this delivery (Celery keeps the routing of the request).
        raise self.retry(countdown=backoff(retries), max_retries=None)
    return result.outcome.value


@shared_task(name=queue.REPORT_TASK, bind=True, acks_late=True, ignore_result=True)
def apply_report(self, report: dict) -> str:
    sender = (self.request.properties or {}).get("user_id")
    result = jobs.apply_report(report, sender=sender)
    if result == "refused":
        log.warning("print report refused (sender %s)", sender)
    return result


@shared_task(acks_late=True, ignore_result=True)
def print_test_page(printer_pk: int, user_pk: int | None = None) -> str:
    printer = Printer.objects.select_related("institution").get(pk=printer_pk)
    by = f"user:{user_pk}" if user_pk else None
    return runner.send_test_page(printer, by=by)
