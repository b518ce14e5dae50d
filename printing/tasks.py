"""Celery tasks: thin callers of printing.runner.

Each institution's jobs travel on its own queue `print.<institution code>` (see
printing.jobs.enqueue), consumed by a worker at the hospital site:
`celery -A healthcard worker -Q print.<code>`. Settings make delivery at-least-once
(acks_late, reject_on_worker_lost); runner.process makes printing at-most-once.
"""

import logging
from pathlib import Path

from celery import shared_task
from django.conf import settings

from printing import runner
from printing.models import Printer

log = logging.getLogger(__name__)


def ensure_embedded_broker() -> None:
    """The file-system transport (the embedded default) fails when its folders are
    missing; create them. Nothing to do for Redis or RabbitMQ."""
    if not settings.CELERY_BROKER_URL.startswith("filesystem://"):
        return
    for key, folder in settings.CELERY_BROKER_TRANSPORT_OPTIONS.items():
        if key.endswith("_folder") or key.startswith("data_folder"):
            Path(folder).mkdir(parents=True, exist_ok=True)


def send_print_job(job_pk: int, queue: str) -> None:
    """Publish a job to its queue. A broker that is down must not break the request
    that made the job: the job stays `queued`, and the error is logged (the admin's
    retry and `print_requeue` send it again)."""
    try:
        ensure_embedded_broker()
        print_job.apply_async((job_pk,), queue=queue)
    except Exception:
        log.exception("could not queue print job %s on %s", job_pk, queue)


def backoff(retries: int) -> int:
    """Seconds before retry number `retries + 1`: 10, 20, 40 ... capped."""
    delay = settings.HEALTHCARD_PRINT_RETRY_DELAY * (2**retries)
    return min(delay, settings.HEALTHCARD_PRINT_RETRY_MAX_DELAY)


def longest_retry_chain() -> int:
    """Seconds from the first attempt to the last, timeouts included; the Redis
    visibility timeout must exceed it (checked by a test)."""
    retries = settings.HEALTHCARD_PRINT_MAX_RETRIES
    waits = sum(backoff(n) for n in range(retries))
    # each attempt may wait for connect, status, send and status again
    return waits + (retries + 1) * 4 * settings.HEALTHCARD_PRINT_TIMEOUT


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def print_job(self, job_pk: int) -> str:
    retries = self.request.retries
    result = runner.process(job_pk, last_attempt=retries >= settings.HEALTHCARD_PRINT_MAX_RETRIES)
    if result.outcome == runner.Outcome.RETRY:
        # Same queue as this delivery (Celery keeps the routing of the request).
        raise self.retry(countdown=backoff(retries), max_retries=None)
    return result.outcome.value


@shared_task(acks_late=True, ignore_result=True)
def print_test_page(printer_pk: int, user_pk: int | None = None) -> str:
    printer = Printer.objects.select_related("institution").get(pk=printer_pk)
    by = f"user:{user_pk}" if user_pk else None
    return runner.send_test_page(printer, by=by)
