"""The print worker of a hospital site: a Celery app of its own, without Django's
database, models or secrets.

    python -m printing.site_worker
    # = celery -A printing.site_worker worker -Q print.<code> --without-gossip …

Configured only from the environment (docs/operations.md):

    CELERY_BROKER_URL            the broker, with this site's own credentials
    HEALTHCARD_SITE_INSTITUTION  the institution code; the worker consumes print.<code>
    HEALTHCARD_SITE_KEYS         the print-delivery key set file
                                 (manage.py keys export-public --purpose print-delivery)
    HEALTHCARD_SITE_JOURNAL      folder of the at-most-once journal (default var/site-journal)
    HEALTHCARD_PRINT_TIMEOUT     seconds per network operation with a printer (10)
    HEALTHCARD_PRINT_REPORT_QUEUE  the platform's report queue (platform.print-reports)

It declares nothing on a RabbitMQ broker (the platform's `print_site_users --apply`
made its queue), consumes only its queue, publishes only reports, and runs without
remote control, events, gossip or mingle, so a site user needs no other permission.
"""

import logging
import os
from pathlib import Path
from urllib.parse import unquote, urlparse

from celery import Celery
from django.conf import settings
from kombu import Exchange, Queue

from printing import targets

log = logging.getLogger(__name__)

REPORT_TASK = "printing.apply_report"
DELIVER_TASK = "printing.deliver"


def _env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if not value:
        raise SystemExit(f"{name} must be set for the site print worker")
    return value


def _list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def _queue(name: str, *, declare: bool) -> Queue:
    # One direct exchange per queue, named like it: a site user's write permission on
    # the report exchange lets it publish there and nowhere else.
    return Queue(name, Exchange(name, type="direct"), routing_key=name, no_declare=not declare)


def make_app() -> Celery:
    broker = _env("CELERY_BROKER_URL")
    code = _env("HEALTHCARD_SITE_INSTITUTION")
    is_amqp = broker.startswith(("amqp://", "amqps://", "pyamqp://"))
    if not settings.configured:
        # printing.devices reads its timeout and printing.targets the allow-lists from
        # Django settings: give it those only (the same variables as the platform's).
        settings.configure(
            USE_I18N=False,
            HEALTHCARD_PRINT_TIMEOUT=int(os.environ.get("HEALTHCARD_PRINT_TIMEOUT", "10")),
            HEALTHCARD_PRINTER_DEVICES=_list("HEALTHCARD_PRINTER_DEVICES", targets.DEFAULT_DEVICES),
            HEALTHCARD_PRINTER_NETWORKS=_list(
                "HEALTHCARD_PRINTER_NETWORKS", targets.DEFAULT_NETWORKS
            ),
        )
    from printing import site

    # fixups=(): no Django fixup, which would load the platform's settings and models
    app = Celery("healthcard-site", fixups=())
    site_queue = _queue(f"print.{code}", declare=not is_amqp)
    report_queue = _queue(
        os.environ.get("HEALTHCARD_PRINT_REPORT_QUEUE", "platform.print-reports"),
        declare=not is_amqp,
    )
    # RabbitMQ confirms each report, so one it refuses or loses is not acknowledged as sent
    options = {"confirm_publish": True} if is_amqp else {}
    if broker.startswith("filesystem://"):
        folder = Path(os.environ.get("HEALTHCARD_VAR_DIR", "var")) / "broker"
        for sub in ("out", "processed", "control"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        options = {
            "data_folder_in": str(folder / "out"),
            "data_folder_out": str(folder / "out"),
            "processed_folder": str(folder / "processed"),
            "control_folder": str(folder / "control"),
            "store_processed": False,
            "polling_interval": float(os.environ.get("HEALTHCARD_SITE_POLL_SECONDS", "1")),
        }
    app.conf.update(
        broker_url=broker,
        broker_transport_options=options,
        broker_connection_retry_on_startup=True,
        task_queues=[site_queue],
        task_default_queue=site_queue.name,
        task_create_missing_queues=False,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        result_backend=None,
        worker_enable_remote_control=False,
        worker_send_task_events=False,
        task_send_sent_event=False,
        worker_hijack_root_logger=False,
    )
    config = site.SiteConfig(
        institution=code,
        keys_file=Path(_env("HEALTHCARD_SITE_KEYS")),
        journal=Path(os.environ.get("HEALTHCARD_SITE_JOURNAL", "var/site-journal")),
        timeout=float(os.environ.get("HEALTHCARD_PRINT_TIMEOUT", "10")),
    )
    keys = site.KeySet(config.keys_file)
    journal = site.Journal(config.journal)
    # RabbitMQ checks a message's user_id against the connection's user, so the
    # platform knows which site sent a report.
    user = unquote(urlparse(broker).username or "") if is_amqp else ""

    @app.task(
        name=DELIVER_TASK, bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True
    )
    def deliver(self, message: dict) -> str:
        redelivered = bool((self.request.delivery_info or {}).get("redelivered"))
        report = site.handle(message, config, keys, journal, redelivered=redelivered)
        # Sent before the delivery is acknowledged: a crash in between redelivers it,
        # and the journal sends the same report again instead of printing again.
        options = {"user_id": user} if user else {}
        app.send_task(
            REPORT_TASK,
            args=[report],
            queue=report_queue,
            exchange=report_queue.exchange.name,
            routing_key=report_queue.routing_key,
            **options,
        )
        log.info("delivery %s.%s: %s", report["job"], report["attempt"], report["outcome"])
        return report["outcome"]

    app.site_queue = site_queue
    return app


app = make_app()


def main() -> None:
    app.worker_main(
        [
            "worker",
            "-Q",
            app.site_queue.name,
            "--pool",
            "solo",
            "--without-mingle",
            "--without-gossip",
            "--without-heartbeat",
            "-l",
            os.environ.get("LOG_LEVEL", "info"),
        ]
    )


if __name__ == "__main__":
    main()
