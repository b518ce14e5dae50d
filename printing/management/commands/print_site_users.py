"""RabbitMQ users for print sites: each may read only its own queue `print.<code>` and
publish only to the report queue (docs/operations.md).

python manage.py print_site_users CODE [CODE ...] [--vhost /] [--apply]

Prints the rabbitmqctl commands (with a new password per site, shown once); --apply
also runs them on this machine (the broker host) and declares the queues with the
platform's own broker connection, because a site user may declare nothing.
"""

import re
import secrets
import shlex
import shutil
import subprocess

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from healthcard.celery import app
from healthcard.models import Institution
from printing import queue


def permissions(code: str) -> tuple[str, str, str]:
    """(configure, write, read) regular expressions for the site user of `code`."""
    report = settings.HEALTHCARD_PRINT_REPORT_QUEUE
    return "^$", f"^{re.escape(report)}$", f"^{re.escape(f'print.{code}')}$"


def commands(code: str, password: str, vhost: str) -> list[list[str]]:
    user = queue.site_user(code)
    configure, write, read = permissions(code)
    return [
        ["rabbitmqctl", "add_user", user, password],
        ["rabbitmqctl", "set_permissions", "-p", vhost, user, configure, write, read],
    ]


class Command(BaseCommand):
    help = "Print (or --apply) the RabbitMQ user and permissions of institutions' print sites."

    def add_arguments(self, parser):
        parser.add_argument("codes", nargs="+", help="institution codes")
        parser.add_argument("--vhost", default="/")
        parser.add_argument("--apply", action="store_true", help="run rabbitmqctl here")

    def handle(self, *args, codes, vhost, apply, **options):
        known = set(Institution.objects.filter(code__in=codes).values_list("code", flat=True))
        unknown = sorted(set(codes) - known)
        if unknown:
            raise CommandError(f"no institution {', '.join(unknown)}")
        if apply:
            self.declare(codes)
        for code in codes:
            password = secrets.token_hex(24)  # no leading "-" for rabbitmqctl to misread
            for command in commands(code, password, vhost):
                if apply:
                    self.run(command)
                else:
                    self.stdout.write(shlex.join(command))
            self.stdout.write(
                f"# site {code}: CELERY_BROKER_URL=amqps://{queue.site_user(code)}:{password}@…"
            )

    def declare(self, codes) -> None:
        """The queues, their exchanges and bindings, made by the platform's user."""
        names = [f"print.{code}" for code in codes] + [settings.HEALTHCARD_PRINT_REPORT_QUEUE]
        with app.connection_for_write() as connection:
            channel = connection.default_channel
            for name in names:
                queue.named_queue(name)(channel).declare()

    def run(self, command: list[str]) -> None:
        tool = shutil.which(command[0])
        if tool is None:
            raise CommandError("rabbitmqctl not found: run --apply on the broker host")
        if command[1] == "add_user":
            users = subprocess.run(  # noqa: S603 (fixed tool, arguments from this command)
                [tool, "-q", "list_users"], capture_output=True, text=True, check=True
            )
            if any(line.split("\t")[0] == command[2] for line in users.stdout.splitlines()):
                # a site set up before gets a new password instead
                command = [command[0], "change_password", command[2], command[3]]
        result = subprocess.run([tool, *command[1:]], capture_output=True, text=True)  # noqa: S603
        if result.returncode != 0:
            raise CommandError(f"rabbitmqctl {command[1]} failed: {result.stderr.strip()}")
        user = command[-4] if command[1] == "set_permissions" else command[2]
        self.stdout.write(f"{command[1]} {user}: ok")
