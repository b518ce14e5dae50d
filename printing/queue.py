"""Publishing print work on the broker, by task name: printing.jobs queues jobs and
printing.runner publishes deliveries without importing the tasks (which import them).

Queues (docs/printing.md):
- `print.<institution code>`: with HEALTHCARD_PRINT_DELIVERY=local, the jobs a worker
  with the database prints itself; with `site`, the signed deliveries a site worker
  prints (printing.site_worker);
- HEALTHCARD_PRINT_PLATFORM_QUEUE: with `site`, the jobs platform workers render;
- HEALTHCARD_PRINT_REPORT_QUEUE: the sites' reports, applied by platform workers.
"""

import logging
from pathlib import Path

from django.conf import settings
from kombu import Exchange, Queue

from healthcard.celery import app

log = logging.getLogger(__name__)

PRINT_TASK = "printing.tasks.print_job"
DELIVER_TASK = "printing.deliver"  # printing.site_worker
REPORT_TASK = "printing.apply_report"


def ensure_embedded_broker() -> None:
    """The file-system transport (the embedded default) fails when its folders are
    missing; create them. Nothing to do for Redis or RabbitMQ."""
    if not settings.CELERY_BROKER_URL.startswith("filesystem://"):
        return
    for key, folder in settings.CELERY_BROKER_TRANSPORT_OPTIONS.items():
        if key.endswith("_folder") or key.startswith("data_folder"):
            Path(folder).mkdir(parents=True, exist_ok=True)


def named_queue(name: str) -> Queue:
    """A queue with a direct exchange of its own name (what Celery makes by default),
    so RabbitMQ permissions can name exactly one queue and one exchange."""
    return Queue(name, Exchange(name, type="direct"), routing_key=name)


def route(name: str) -> dict:
    """send_task options for queue `name` through its own exchange. Without an explicit
    exchange Celery publishes through the default exchange, which on RabbitMQ reaches
    every queue: the per-site permissions (print_site_users) allow neither."""
    queue = named_queue(name)
    return {"queue": queue, "exchange": queue.exchange.name, "routing_key": queue.routing_key}


def job_queue(institution_code: str) -> str:
    """Where a new job of this institution goes."""
    if settings.HEALTHCARD_PRINT_DELIVERY == "site":
        return settings.HEALTHCARD_PRINT_PLATFORM_QUEUE
    return f"print.{institution_code}"


def send_print_job(job_pk: int, queue: str, *, countdown: int = 0) -> None:
    """Publish a job to its queue. A broker that is down must not break the request
    that made the job: the job stays `queued`, and the error is logged (the admin's
    retry and `print_requeue` send it again)."""
    try:
        ensure_embedded_broker()
        app.send_task(PRINT_TASK, args=(job_pk,), countdown=countdown, **route(queue))
    except Exception:
        log.exception("could not queue print job %s on %s", job_pk, queue)


def publish_delivery(message: dict, institution_code: str) -> None:
    """Put a signed delivery on the site's queue. Raises when the broker refuses: the
    caller (a platform task) is retried, and the site's journal makes a second
    publication of the same delivery harmless."""
    ensure_embedded_broker()
    app.send_task(DELIVER_TASK, args=(message,), **route(f"print.{institution_code}"))


def backoff(retries: int) -> int:
    """Seconds before retry number `retries + 1`: 10, 20, 40 ... capped."""
    delay = settings.HEALTHCARD_PRINT_RETRY_DELAY * (2**retries)
    return min(delay, settings.HEALTHCARD_PRINT_RETRY_MAX_DELAY)


def site_user(institution_code: str) -> str:
    """The broker user of an institution's print site (print_site_users)."""
    return f"{settings.HEALTHCARD_PRINT_SITE_USER_PREFIX}{institution_code}"


def site_users_enforced() -> bool:
    """On RabbitMQ every report must carry its site's broker-validated user ID; Redis
    and the embedded broker serve a single site and have no per-user permissions."""
    return settings.CELERY_BROKER_URL.startswith(("amqp://", "amqps://", "pyamqp://"))
