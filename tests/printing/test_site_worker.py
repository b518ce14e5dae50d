"""The site stage as a real process: `python -m printing.site_worker` started with no
database URL, no KEK and no SECRET_KEY, against the embedded broker and (marked
`rabbitmq`) RabbitMQ with per-site users from `print_site_users --apply`."""

import os
import re
import secrets
import signal
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from kombu import Connection, Exchange, Producer

from healthcard.celery import app
from healthcard.models import AuditRecord, Institution, Level
from printing import queue
from printing.models import JobStatus, PrintJob
from tests.conftest import port_open, service_unavailable
from tests.printing import escpos_decode
from tests.printing.conftest import (
    _reset_pools,
    job_status,
    share_database_with_worker_thread,
    submit,
    wait_until,
    worker_threads,
)

BASE_DIR = Path(__file__).resolve().parents[2]
SECRETS = ("DATABASE_URL", "HEALTHCARD_KEK", "HEALTHCARD_KEK_PREVIOUS", "SECRET_KEY")


@pytest.fixture
def two_stage(settings):
    settings.HEALTHCARD_PRINT_DELIVERY = "site"


@pytest.fixture
def site_worker(tmp_path, key_file):
    """Start site worker processes with nothing but the broker and the key set."""
    started = []

    def start(code: str, broker_url: str, journal: str = "journal"):
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "CELERY_BROKER_URL": broker_url,
            "HEALTHCARD_VAR_DIR": str(tmp_path),  # the embedded broker's folders
            "HEALTHCARD_SITE_INSTITUTION": code,
            "HEALTHCARD_SITE_KEYS": str(key_file),
            "HEALTHCARD_SITE_JOURNAL": str(tmp_path / journal),
            "HEALTHCARD_SITE_POLL_SECONDS": "0.1",
            "HEALTHCARD_PRINT_TIMEOUT": "300",
            # The virtual printer listens on loopback, which a site refuses by default
            # (printing.targets); the same documented widening as tests/settings.py.
            "HEALTHCARD_PRINTER_NETWORKS": "127.0.0.1/32",
            "LOG_LEVEL": "warning",
        }
        assert not set(SECRETS) & set(env)
        proc = subprocess.Popen(
            [sys.executable, "-m", "printing.site_worker"],
            cwd=BASE_DIR,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(tmp_path / f"site-{len(started)}.log", "w"),  # noqa: SIM115
        )
        started.append(proc)
        return proc

    yield start
    for n, proc in enumerate(started):
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        # shown by pytest when the test failed
        print(f"site worker {n}:", (tmp_path / f"site-{n}.log").read_text()[-3000:])


def platform_queues(settings) -> tuple[str, str]:
    return settings.HEALTHCARD_PRINT_PLATFORM_QUEUE, settings.HEALTHCARD_PRINT_REPORT_QUEUE


def test_site_worker_imports_no_models_and_needs_no_secrets(tmp_path, key_file):
    code = (
        "import sys, printing.site_worker as w;"
        "print(sorted(m for m in sys.modules if m.endswith('.models') and "
        "m.startswith(('healthcard', 'printing'))), w.app.conf.worker_enable_remote_control)"
    )
    env = {
        "PATH": os.environ["PATH"],
        "CELERY_BROKER_URL": "memory://",
        "HEALTHCARD_SITE_INSTITUTION": "430100000001",
        "HEALTHCARD_SITE_KEYS": str(key_file),
        "HEALTHCARD_SITE_JOURNAL": str(tmp_path / "j"),
    }
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=BASE_DIR, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["[]", "False"]


def test_site_worker_process_without_secrets_prints_and_the_platform_records_it(
    site,
    site_card,
    site_printer,
    virtual_printer,
    broker,
    worker,
    site_worker,
    two_stage,
    settings,
):
    worker(*platform_queues(settings))
    site_worker(site.code, broker)
    job = submit(site_card, site_printer)
    assert wait_until(lambda: job_status(job) == JobStatus.PRINTED, timeout=90)
    assert virtual_printer.wait_for_jobs(1)
    (image,) = escpos_decode.raster_slips(virtual_printer.data)
    assert escpos_decode.read_qr(image)
    assert virtual_printer.connections == 1
    assert AuditRecord.objects.filter(
        action="print.printed", object_id=str(job.pk), actor=f"site:{site.code}"
    ).exists()


# --- RabbitMQ -------------------------------------------------------------------------

pytest_rabbitmq = pytest.mark.rabbitmq  # fails instead of skipping in CI (.ci/run)


def _rabbitmqctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True)


@pytest.fixture
def rabbit(settings, tmp_path, transactional_db, monkeypatch):
    """A private RabbitMQ vhost (i14-…) with the platform on guest, as the Celery app's
    broker; removed afterwards with its site users."""
    host = os.environ.get("HEALTHCARD_RABBITMQ_HOST", "127.0.0.1")
    if not port_open(host, 5672):
        service_unavailable(f"RabbitMQ is not reachable at {host}:5672")
    if subprocess.run(["which", "rabbitmqctl"], capture_output=True).returncode != 0:
        service_unavailable("rabbitmqctl is not installed")
    vhost = f"i14-{secrets.token_hex(4)}"
    assert _rabbitmqctl("add_vhost", vhost).returncode == 0
    _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    url = f"amqp://guest:guest@{host}:5672/{vhost}"
    saved = {k: app.conf[k] for k in ("broker_url", "broker_transport_options")}
    app.conf.update(broker_url=url, broker_transport_options={}, task_always_eager=False)
    # Celery prefers the environment variable to broker_url (CI sets it to Redis)
    monkeypatch.setenv("CELERY_BROKER_URL", url)
    settings.CELERY_BROKER_URL = url
    settings.HEALTHCARD_PRINT_SITE_USER_PREFIX = f"{vhost}-site-"
    _reset_pools()
    share_database_with_worker_thread()
    created_users = []

    def site_users(*codes: str) -> dict[str, str]:
        """print_site_users --apply; returns each site's broker URL."""
        out = StringIO()
        call_command("print_site_users", *codes, "--vhost", vhost, "--apply", stdout=out)
        urls = {}
        for code, user, password in re.findall(
            r"# site (\S+): CELERY_BROKER_URL=amqps://([^:]+):([^@]+)@", out.getvalue()
        ):
            created_users.append(user)
            urls[code] = f"amqp://{user}:{password}@{host}:5672/{vhost}"
        return urls

    yield site_users
    app.conf.update(saved)
    _reset_pools()
    for user in created_users:
        _rabbitmqctl("delete_user", user)
    _rabbitmqctl("delete_vhost", vhost)


@pytest.fixture
def rabbit_worker(rabbit):
    """In-process platform workers on the RabbitMQ vhost."""
    yield from worker_threads()


@pytest.fixture
def other_site(transactional_db):
    return Institution.objects.create(
        code="43T" + secrets.token_hex(5).upper(),
        name="其他医院",
        level=Level.SECONDARY,
        city_code="430300",
    )


def _connect(url: str) -> Connection:
    return Connection(url, transport_options={"confirm_publish": True}, connect_timeout=5)


@pytest_rabbitmq
def test_rabbitmq_site_user_cannot_read_another_sites_queue(rabbit, site, other_site):
    urls = rabbit(site.code, other_site.code)
    with _connect(urls[site.code]) as conn:
        channel = conn.channel()
        with pytest.raises(Exception, match="ACCESS_REFUSED"):
            channel.basic_get(f"print.{other_site.code}")
    with _connect(urls[site.code]) as conn:
        # its own queue it may read
        assert conn.channel().basic_get(f"print.{site.code}") is None


@pytest_rabbitmq
def test_rabbitmq_site_user_cannot_forge_deliveries_or_declare(rabbit, site, other_site):
    urls = rabbit(site.code, other_site.code)
    for exchange in (f"print.{other_site.code}", f"print.{site.code}", ""):
        with _connect(urls[site.code]) as conn:
            producer = Producer(
                conn.channel(), exchange=Exchange(exchange, type="direct"), auto_declare=False
            )
            with pytest.raises(Exception, match="ACCESS_REFUSED"):
                producer.publish({"forged": True}, routing_key=f"print.{other_site.code}")
    with _connect(urls[site.code]) as conn, pytest.raises(Exception, match="ACCESS_REFUSED"):
        queue.named_queue("print.new")(conn.channel()).declare()


@pytest_rabbitmq
def test_rabbitmq_refuses_a_report_published_under_another_sites_name(
    rabbit, site, other_site, settings
):
    urls = rabbit(site.code, other_site.code)
    report_exchange = Exchange(settings.HEALTHCARD_PRINT_REPORT_QUEUE, type="direct")
    with _connect(urls[site.code]) as conn:
        producer = Producer(conn.channel(), exchange=report_exchange, auto_declare=False)
        with pytest.raises(Exception, match="PRECONDITION_FAILED"):
            producer.publish(
                {"job": 1},
                routing_key=settings.HEALTHCARD_PRINT_REPORT_QUEUE,
                user_id=queue.site_user(other_site.code),
            )
    with _connect(urls[site.code]) as conn:  # under its own name it may report
        Producer(conn.channel(), exchange=report_exchange, auto_declare=False).publish(
            {"job": 1},
            routing_key=settings.HEALTHCARD_PRINT_REPORT_QUEUE,
            user_id=queue.site_user(site.code),
        )


@pytest_rabbitmq
def test_rabbitmq_forged_report_for_another_sites_job_is_refused_by_the_platform(
    rabbit, site, site_card, site_printer, other_site, rabbit_worker, settings
):
    """Site B reports site A's job as printed under its own (validated) name."""
    urls = rabbit(site.code, other_site.code)
    job = submit(site_card, site_printer)
    PrintJob.objects.filter(pk=job.pk).update(status=JobStatus.SENDING, attempts=1)
    report = {"job": job.pk, "attempt": 1, "institution": site.code, "outcome": "printed"}
    with Connection(urls[other_site.code]) as conn:
        celery_producer = app.amqp.Producer(conn)
        app.send_task(
            queue.REPORT_TASK,
            args=[report],
            producer=celery_producer,
            user_id=queue.site_user(other_site.code),
            declare=[],  # a site user may declare nothing
            **queue.route(settings.HEALTHCARD_PRINT_REPORT_QUEUE),
        )
    rabbit_worker(settings.HEALTHCARD_PRINT_REPORT_QUEUE)
    assert wait_until(lambda: AuditRecord.objects.filter(action="print.report_refused").exists())
    assert job_status(job) == JobStatus.SENDING


@pytest_rabbitmq
def test_rabbitmq_site_worker_with_its_own_user_prints_end_to_end(
    rabbit,
    site,
    site_card,
    site_printer,
    virtual_printer,
    rabbit_worker,
    site_worker,
    two_stage,
    settings,
):
    urls = rabbit(site.code)
    rabbit_worker(*platform_queues(settings))
    site_worker(site.code, urls[site.code])
    job = submit(site_card, site_printer)
    assert wait_until(lambda: job_status(job) == JobStatus.PRINTED, timeout=90)
    assert virtual_printer.wait_for_jobs(1) and virtual_printer.connections == 1


@pytest_rabbitmq
def test_rabbitmq_site_worker_killed_mid_send_leaves_the_job_flagged_not_reprinted(
    rabbit,
    site,
    site_card,
    site_printer,
    virtual_printer,
    rabbit_worker,
    site_worker,
    two_stage,
    settings,
):
    urls = rabbit(site.code)
    virtual_printer.then("stall")
    rabbit_worker(*platform_queues(settings))
    first = site_worker(site.code, urls[site.code])
    job = submit(site_card, site_printer)
    assert virtual_printer.wait_for_partial(timeout=60), "the site never sent the job"
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    # RabbitMQ hands the unacknowledged delivery to the next site worker
    site_worker(site.code, urls[site.code])
    assert wait_until(lambda: PrintJob.objects.get(pk=job.pk).needs_confirmation, timeout=90)
    assert job_status(job) == JobStatus.SENDING
    assert virtual_printer.jobs == [] and virtual_printer.connections == 1


def test_print_site_users_prints_the_permissions_without_apply(site, settings):
    out = StringIO()
    call_command("print_site_users", site.code, "--vhost", "/hunan", stdout=out)
    text = out.getvalue()
    user = queue.site_user(site.code)
    assert f"rabbitmqctl add_user {user} " in text
    assert (
        f"rabbitmqctl set_permissions -p /hunan {user} '^$' "
        f"'^platform\\.print\\-reports$' '^print\\.{site.code}$'"
    ) in text


def test_print_site_users_refuses_an_unknown_institution(db):
    with pytest.raises(Exception, match="no institution"):
        call_command("print_site_users", "NOPE", stdout=StringIO())
