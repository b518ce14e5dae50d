"""The print queue against a real Celery worker: the embedded transport by default, and
Redis when CELERY_BROKER_URL points at it (skipped without it, failing when
HEALTHCARD_REQUIRE_SERVICES=1 and Redis is down)."""

import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import kombu.pools
import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.db import connection, connections

from healthcard.celery import app
from healthcard.models import Institution, Level
from printing import jobs, tasks
from printing.models import JobStatus, Printer, PrinterKind, PrintJob, queue_for
from tests.conftest import port_open, service_unavailable
from tests.printing import escpos_decode

BASE_DIR = Path(__file__).resolve().parents[2]


def redis_url() -> str | None:
    url = settings.CELERY_BROKER_URL
    return url if url.startswith("redis://") else None


def wait_until(predicate, timeout: float = 60.0) -> bool:
    """Poll the database until `predicate()` holds (the worker runs in another thread
    or process); this waits for an outcome, it does not time anything."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def job_status(job):
    job.refresh_from_db()
    return job.status


@pytest.fixture
def broker(tmp_path, settings):
    """Point the Celery app at Redis (if configured) or a private file-system broker."""
    url = redis_url()
    if url:
        parsed = urlparse(url)
        if not port_open(parsed.hostname or "127.0.0.1", parsed.port or 6379):
            service_unavailable(f"Redis is not reachable at {parsed.hostname}:{parsed.port}")
        options = {
            "visibility_timeout": 2,  # restore a dead worker's message quickly
            "unacked_restore_interval": 1,
            "unacked_restore_throttle": 1,
        }
    else:
        url = "filesystem://"
        folder = tmp_path / "broker"
        for sub in ("out", "processed", "control"):
            (folder / sub).mkdir(parents=True)
        options = {
            "data_folder_in": str(folder / "out"),
            "data_folder_out": str(folder / "out"),
            "processed_folder": str(folder / "processed"),
            # Broadcast exchanges; without it kombu writes them into the working directory.
            "control_folder": str(folder / "control"),
            "store_processed": False,
            "polling_interval": 0.1,
        }
    if connection.vendor == "sqlite":
        # The worker thread shares the in-memory database (shared cache), where a
        # reader's table lock makes the worker's write fail at once; polling the job
        # without read locks avoids that.
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA read_uncommitted = 1")
    saved = {k: app.conf[k] for k in ("broker_url", "broker_transport_options")}
    app.conf.update(broker_url=url, broker_transport_options=options, task_always_eager=False)
    _reset_pools()
    yield url
    app.conf.update(saved)
    _reset_pools()


def _reset_pools() -> None:
    """Drop every cached broker connection so the next message uses the new broker."""
    app._pool = None
    app.amqp._producer_pool = None
    kombu.pools.reset()


@pytest.fixture
def site(transactional_db):
    """An institution with its own queue name, so no other test's messages mix in."""
    code = "43T" + secrets.token_hex(5).upper()
    return Institution.objects.create(
        code=code, name="测试医院", level=Level.SECONDARY, city_code="430100"
    )


@pytest.fixture
def site_printer(site, make_network_printer):
    return make_network_printer(site, name="Counter", paper_width=58)


@pytest.fixture
def site_card(site, make_card):
    return make_card(institution=site)


@pytest.fixture
def worker(broker):
    """Start an in-process worker consuming the given queues."""
    started = []

    def start(*queues: str):
        context = start_worker(
            app,
            pool="solo",
            concurrency=1,
            perform_ping_check=False,
            queues=list(queues),
            loglevel="WARNING",
            shutdown_timeout=30,
        )
        context.__enter__()
        started.append(context)

    yield start
    for context in reversed(started):
        context.__exit__(None, None, None)
    connections.close_all()


def submit(card, printer, user=None, key=None, copies=1):
    job, _ = jobs.submit_print_job(
        card,
        printer,
        copies=copies,
        requested_by=user,
        idempotency_key=key or secrets.token_hex(8),
    )
    return job


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
