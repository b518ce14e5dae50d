"""Celery tasks of the core domain, run by beat (CELERY_BEAT_SCHEDULE in
healthcard/settings.py): thin callers of healthcard.statistics and healthcard.partitions."""

from celery import shared_task

from healthcard import partitions, statistics


@shared_task(ignore_result=True)
def refresh_statistics() -> str:
    """Today's and yesterday's roll-ups (every few minutes)."""
    result = statistics.refresh_recent()
    return f"{result.start}..{result.end}"


@shared_task(ignore_result=True)
def rebuild_late_statistics() -> str:
    """Every day an offline upload can still change (nightly)."""
    result = statistics.rebuild_late()
    return f"{result.start}..{result.end}"


@shared_task(ignore_result=True)
def maintain_usage_partitions() -> str:
    """Create the coming months' usage-event partitions, then archive and detach the
    months past retention (healthcard.partitions). Safe to run any number of times."""
    created = partitions.ensure_partitions(by="system:beat")
    archived = partitions.archive_partitions(by="system:beat")
    return f"created {len(created)}, archived {len(archived)}"
