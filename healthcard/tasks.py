"""Periodic housekeeping run by Celery beat (CELERY_BEAT_SCHEDULE in settings)."""

from celery import shared_task

from healthcard import partitions


@shared_task(ignore_result=True)
def maintain_usage_partitions() -> str:
    """Create the coming months' usage-event partitions, then archive and detach the
    months past retention (healthcard.partitions). Safe to run any number of times."""
    created = partitions.ensure_partitions(by="system:beat")
    archived = partitions.archive_partitions(by="system:beat")
    return f"created {len(created)}, archived {len(archived)}"
