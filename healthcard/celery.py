import os

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "healthcard.settings")

app = Celery("healthcard")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@after_setup_logger.connect
@after_setup_task_logger.connect
def scrub_worker_logs(logger, **kwargs):
    """A worker replaces the root logger's handlers with its own (worker_hijack_root_logger);
    they scrub secrets like the web's (healthcard.reporting)."""
    from healthcard.reporting import scrub_handlers

    scrub_handlers(logger)
