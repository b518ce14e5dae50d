"""Fixtures of the printing tests: printers of each kind and the virtual network printer."""

import datetime
import json
import os
import secrets
import time
from pathlib import Path
from urllib.parse import urlparse

import kombu.pools
import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings as django_settings
from django.db import connection, connections

from healthcard.celery import app
from healthcard.models import Institution, Level
from printing import jobs
from printing import tasks as _tasks  # noqa: F401 (the in-process worker runs them)
from printing.models import Printer, PrinterKind, TextMode
from printing.slip import Slip
from tests.conftest import port_open, service_unavailable
from tests.printing.virtual_printer import VirtualPrinter


def preview(image, name: str) -> None:
    """Save a rendered slip as PNG for a person to look at, when
    HEALTHCARD_PRINT_PREVIEWS names a directory."""
    folder = os.environ.get("HEALTHCARD_PRINT_PREVIEWS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        image.save(Path(folder) / f"{name}.png")


@pytest.fixture
def virtual_printer():
    printer = VirtualPrinter()
    yield printer
    printer.close()


@pytest.fixture(autouse=True)
def _fast_printing(settings, tmp_path):
    settings.HEALTHCARD_PRINT_TIMEOUT = 2
    settings.HEALTHCARD_PRINT_RETRY_DELAY = 0
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def make_network_printer(virtual_printer):
    """An escpos-network printer of `institution` pointing at the virtual printer."""

    def make(institution, name="Counter 1", paper_width=80, **extra):
        return Printer.objects.create(
            institution=institution,
            name=name,
            kind=PrinterKind.ESCPOS_NETWORK,
            host=virtual_printer.host,
            port=virtual_printer.port,
            paper_width=paper_width,
            **extra,
        )

    return make


@pytest.fixture
def network_printer(hospital, make_network_printer):
    return make_network_printer(hospital)


@pytest.fixture
def native_printer(hospital, make_network_printer):
    return make_network_printer(
        hospital, name="Counter 2", paper_width=58, text_mode=TextMode.NATIVE
    )


@pytest.fixture
def key_file(tmp_path, db):
    """The print-delivery key set a site reads (keys export-public --purpose print-delivery)."""
    from healthcard import keys
    from healthcard.models import KeyPurpose

    keys.active_key(KeyPurpose.PRINT_DELIVERY)
    path = tmp_path / "print-keys.json"
    path.write_text(json.dumps(keys.public_key_set(KeyPurpose.PRINT_DELIVERY)))
    return path


@pytest.fixture
def pdf_printer(hospital):
    return Printer.objects.create(institution=hospital, name="Browser", kind=PrinterKind.PDF)


LABELS = {
    "name": "姓名",
    "ehc_id": "健康卡号",
    "institution": "发卡机构",
    "date": "发卡日期",
    "seq": "发卡序号",
}


@pytest.fixture
def make_slip():
    """A plain slip without a database (renderers take plain data)."""

    def make(name="张*三", code="EHC1.TEST." + "A" * 150, **extra):
        return Slip(
            code=code,
            masked_name=name,
            ehc_id="1AF4C373AED327EC520E6CE19E16F5CB0C0215A1DBAFCF8BA7C3936101986B7D",
            institution_name="中南大学湘雅医院",
            issued_on=datetime.date(2026, 11, 25),
            issue_seq=extra.pop("issue_seq", 1),
            labels=LABELS,
            instruction="在湖南省任何公立医院或诊所出示此码。遗失请到任意窗口挂失。",
            **extra,
        )

    return make


# --- the queue against a real Celery worker (test_queue.py, test_site_worker.py) --------


def redis_url() -> str | None:
    url = django_settings.CELERY_BROKER_URL
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


def share_database_with_worker_thread() -> None:
    if connection.vendor == "sqlite":
        # The worker thread shares the in-memory database (shared cache), where a
        # reader's table lock makes the worker's write fail at once; polling the job
        # without read locks avoids that.
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA read_uncommitted = 1")


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
    share_database_with_worker_thread()
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
    yield from worker_threads()


def worker_threads():
    """A fixture body: start(*queues) runs an in-process worker on the app's broker."""
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
