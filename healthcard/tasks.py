"""Celery tasks of the core domain: thin callers of healthcard.statistics, run by
beat (the schedule is in healthcard/settings.py, CELERY_BEAT_SCHEDULE)."""

from celery import shared_task

from healthcard import statistics


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
