"""printing.sweep: queued jobs a broker outage left without a message are sent again
automatically, never cutting a retry's back-off short."""

import datetime

import pytest
from django.utils import timezone

from printing import jobs, queue, sweep
from printing.models import JobStatus, PrintJob


@pytest.fixture
def sent(monkeypatch):
    calls = []
    monkeypatch.setattr(
        queue, "send_print_job", lambda pk, name, countdown=0: calls.append((pk, name))
    )
    return calls


def submit(card, printer, key):
    job, _created = jobs.submit_print_job(card, printer, requested_by=None, idempotency_key=key)
    return job


def age(job, seconds, **fields):
    then = timezone.now() - datetime.timedelta(seconds=seconds)
    PrintJob.objects.filter(pk=job.pk).update(updated_at=then, **fields)


def test_a_job_queued_longer_than_the_sweep_interval_is_sent_again(
    card, network_printer, sent, settings
):
    settings.HEALTHCARD_PRINT_SWEEP_SECONDS = 60
    job = submit(card, network_printer, "a")
    assert sweep.requeue_stale_jobs() == 0
    age(job, 61)
    assert sweep.requeue_stale_jobs() == 1
    assert sent == [(job.pk, network_printer.queue_name)]


def test_a_job_waiting_for_a_retry_keeps_its_back_off(card, network_printer, sent, settings):
    settings.HEALTHCARD_PRINT_SWEEP_SECONDS = 60
    settings.HEALTHCARD_PRINT_RETRY_MAX_DELAY = 600
    job = submit(card, network_printer, "b")
    age(job, 300, attempts=2)
    assert sweep.requeue_stale_jobs() == 0
    age(job, 661, attempts=2)
    assert sweep.requeue_stale_jobs() == 1


@pytest.mark.parametrize(
    "status", [JobStatus.SENDING, JobStatus.PRINTED, JobStatus.FAILED, JobStatus.CANCELLED]
)
def test_jobs_not_queued_are_left_alone(card, network_printer, sent, settings, status):
    job = submit(card, network_printer, f"c-{status}")
    age(job, 10_000, status=status)
    assert sweep.requeue_stale_jobs() == 0
    assert sent == []


def test_the_sweep_runs_from_celery_beat(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["print-sweep"]
    assert entry["task"] == sweep.sweep_queued_print_jobs.name
    assert entry["schedule"] == settings.HEALTHCARD_PRINT_SWEEP_SECONDS
    assert "printing.sweep" in settings.CELERY_IMPORTS


def test_in_site_mode_the_sweep_sends_to_the_platform_queue(card, network_printer, sent, settings):
    settings.HEALTHCARD_PRINT_DELIVERY = "site"
    settings.HEALTHCARD_PRINT_SWEEP_SECONDS = 60
    job = submit(card, network_printer, "site")
    age(job, 61)
    assert sweep.requeue_stale_jobs() == 1
    assert sent == [(job.pk, settings.HEALTHCARD_PRINT_PLATFORM_QUEUE)]


def test_the_sweep_runs_on_a_queue_platform_workers_consume():
    from healthcard.celery import app

    route = app.amqp.router.route({}, "printing.sweep.sweep_queued_print_jobs")
    assert route["queue"].name == "statistics"
