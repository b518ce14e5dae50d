"""The print queue against a real Celery worker: the embedded transport by default, and
Redis when CELERY_BROKER_URL points at it (skipped without it, failing when
HEALTHCARD_REQUIRE_SERVICES=1 and Redis is down)."""

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.db import connection

from printing import jobs, tasks
from printing.models import JobStatus, Printer, PrinterKind, PrintJob, queue_for
from tests.printing import escpos_decode
from tests.printing.conftest import job_status, redis_url, submit, wait_until

BASE_DIR = Path(__file__).resolve().parents[2]


def test_a_job_is_printed_exactly_once(site_card, site_printer, virtual_printer, worker):
    worker(site_printer.queue_name)
    job = submit(site_card, site_printer, key="once")
    again = submit(site_card, site_printer, key="once")  # a double click
    assert again.pk == job.pk
    assert wait_until(lambda: job_status(job) == JobStatus.PRINTED)
    assert virtual_printer.wait_for_jobs(1)
    assert len(escpos_decode.raster_slips(virtual_printer.data)) == 1
    assert job.attempts == 1
    assert virtual_printer.connections == 1


def test_printer_refusing_twice_prints_once_after_retries(
    site_card, site_printer, virtual_printer, worker
):
    virtual_printer.then("refuse", "refuse")
    worker(site_printer.queue_name)
    job = submit(site_card, site_printer)
    assert wait_until(lambda: job_status(job) == JobStatus.PRINTED)
    assert job.attempts == 3
    assert virtual_printer.wait_for_jobs(1)
    assert virtual_printer.connections == 3
    assert len(virtual_printer.jobs) == 1


def test_printer_that_never_answers_fails_after_the_retry_limit(
    site_card, site_printer, virtual_printer, worker, settings
):
    settings.HEALTHCARD_PRINT_MAX_RETRIES = 2
    virtual_printer.then("refuse", "refuse", "refuse", "refuse")
    worker(site_printer.queue_name)
    job = submit(site_card, site_printer)
    assert wait_until(lambda: job_status(job) == JobStatus.FAILED)
    assert job.attempts == 3
    assert "cannot reach" in job.last_error
    assert virtual_printer.jobs == []


def test_each_institution_worker_takes_only_its_own_jobs(
    site_card, site_printer, virtual_printer, worker, make_card, other_hospital
):
    other_printer = Printer.objects.create(
        institution=other_hospital,
        name="Other",
        kind=PrinterKind.ESCPOS_NETWORK,
        host=virtual_printer.host,
        port=virtual_printer.port,
    )
    worker(site_printer.queue_name)
    foreign = submit(make_card(name="李四"), other_printer)
    own = submit(site_card, site_printer)
    assert wait_until(lambda: job_status(own) == JobStatus.PRINTED)
    assert virtual_printer.wait_for_jobs(1)
    # the worker has polled its queue and printed; the other site's job is untouched
    assert job_status(foreign) == JobStatus.QUEUED
    assert len(virtual_printer.jobs) == 1


def test_job_found_sending_at_task_start_is_flagged_not_reprinted(
    site_card, site_printer, virtual_printer, worker
):
    job = submit(site_card, site_printer)
    jobs.claim(job)  # as if a worker had taken it and died mid-job
    worker(site_printer.queue_name)
    tasks.print_job.apply_async((job.pk,), queue=site_printer.queue_name)  # the redelivery
    assert wait_until(lambda: PrintJob.objects.get(pk=job.pk).needs_confirmation)
    assert job_status(job) == JobStatus.SENDING
    assert virtual_printer.connections == 0


def _database_url() -> str:
    db = connection.settings_dict
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


def test_worker_killed_mid_job_leaves_it_flagged_not_lost_nor_reprinted(
    site_card, site_printer, virtual_printer, worker, broker
):
    """A real worker process is killed (SIGKILL) while the printer holds the job
    unconfirmed; Redis redelivers the unacknowledged message to a new worker, which
    flags the job instead of printing it again."""
    if connection.vendor != "postgresql" or not redis_url():
        pytest.skip("a worker process needs a shared database and broker: PostgreSQL and Redis")
    virtual_printer.then("stall")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": broker,
        "CELERY_VISIBILITY_TIMEOUT": "2",
        "HEALTHCARD_PRINT_TIMEOUT": "300",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "healthcard",
            "worker",
            "-Q",
            site_printer.queue_name,
            "--pool",
            "solo",
            "--without-mingle",
            "--without-gossip",
            "-l",
            "warning",
        ],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        job = submit(site_card, site_printer)
        assert virtual_printer.wait_for_partial(timeout=60), "the worker never sent the job"
        assert job_status(job) == JobStatus.SENDING
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    worker(site_printer.queue_name)
    assert wait_until(lambda: PrintJob.objects.get(pk=job.pk).needs_confirmation, timeout=90)
    assert job_status(job) == JobStatus.SENDING
    assert virtual_printer.jobs == []
    assert virtual_printer.connections == 1  # never sent a second time
    assert "stopped" in job.last_error


def test_fifty_concurrent_submissions_of_one_key_make_one_job(site_card, site_printer, broker):
    if connection.vendor == "sqlite":
        pytest.skip(
            "SQLite serialises writers, so threads cannot race; the race is real on PostgreSQL"
        )
    barrier = threading.Barrier(50)
    results, errors = [], []

    def attempt():
        try:
            barrier.wait()
            results.append(
                jobs.submit_print_job(
                    site_card, site_printer, requested_by=None, idempotency_key="same-key"
                )
            )
        except Exception as exc:  # collected and reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(results) == 50
    assert len({job.pk for job, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert PrintJob.objects.filter(idempotency_key="same-key").count() == 1


def test_redis_visibility_timeout_outlasts_the_longest_retry_chain():
    """Otherwise Redis would hand a job still being retried to a second worker."""
    from importlib import reload

    import healthcard.settings as production

    env = {"CELERY_BROKER_URL": "redis://127.0.0.1:6379/0"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        reload(production)
        visibility = production.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        reload(production)
    assert visibility > tasks.longest_retry_chain()


def test_queue_name_is_per_institution(site):
    assert queue_for(site.code) == f"print.{site.code}"
