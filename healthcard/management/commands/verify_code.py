"""Verify a code offline, the way a terminal without network does: a saved key set
and revocation list only, no database, no network. A thin caller of the ehccode
library, whose own command (python -m ehccode verify) needs no Django at all.

    python manage.py verify_code --keys keys.json --revocations rev.json TEXT

Prints the outcome; exit status 0 for a valid code, 1 for a refused one, 2 for
unreadable inputs. TEXT "-" reads the code from standard input.
"""

import json
import sys

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext

from ehccode import cli


class Command(BaseCommand):
    help = "Verify a QR code text offline against a saved key set and revocation list."
    requires_system_checks = []  # a terminal tool: no database, nothing to check
    requires_migrations_checks = False

    def add_arguments(self, parser):
        parser.add_argument("text", help='The scanned code text, or "-" for stdin.')
        parser.add_argument("--keys", required=True, help="Key set JSON (GET /api/v1/keys).")
        parser.add_argument("--revocations", help="Revocation list JSON (GET /api/v1/revocations).")
        parser.add_argument("--at", help="Verify as of this ISO 8601 time (default: now).")
        parser.add_argument("--json", action="store_true", help="Print the result as JSON.")

    def handle(self, *args, **options):
        text = options["text"]
        if text == "-":
            text = sys.stdin.read(2048).rstrip("\r\n")
        try:
            at = cli.parse_at(options["at"])
            verifier = cli.load(options["keys"], options["revocations"])
        except cli.UsageError as exc:
            raise CommandError(str(exc), returncode=2) from None
        result = verifier.verify(text, at=at)
        if options["json"]:
            self.stdout.write(json.dumps(cli.as_dict(result)))
        else:
            self.stdout.write(cli.describe(result, gettext(result.message)))
        if not result.ok:
            raise CommandError(result.reason, returncode=1)
