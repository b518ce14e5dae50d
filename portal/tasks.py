"""Celery tasks of the resident portal: thin callers of healthcard.applications."""

import logging

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from healthcard import applications
from healthcard.models import Application, ApplicationStatus

log = logging.getLogger(__name__)

#: The queue the portal's worker consumes (`./dev run` starts one).
QUEUE = "portal"


@shared_task(bind=True, max_retries=20, acks_late=True)
def recheck_application(self, application_id: int) -> str:
    """Ask the real-name verifier again about a pending application; while it stays
    unavailable, try again after the application's growing backoff."""
    app = applications.recheck(application_id)
    if app is None:
        return "not due"
    if app.status == ApplicationStatus.PENDING:
        delay = max(1, int((app.next_check_at - timezone.now()).total_seconds()))
        raise self.retry(countdown=delay, queue=QUEUE)
    return app.status


def schedule_recheck(app: Application) -> None:
    """After the commit, queue the first re-check of a pending application. A broker
    that is down must not break the request: the application stays pending and the
    `recheck_applications` command picks it up."""

    def send() -> None:
        from printing.tasks import ensure_embedded_broker

        delay = max(1, int((app.next_check_at - timezone.now()).total_seconds()))
        try:
            ensure_embedded_broker()
            recheck_application.apply_async((app.pk,), countdown=delay, queue=QUEUE)
        except Exception:
            log.exception("could not queue the re-check of application %s", app.pk)

    transaction.on_commit(send)
