"""Verify a code offline, the way a terminal without network does: a saved key set
and revocation list only, no database, no network (healthcard.offline).

    python manage.py verify_code --keys keys.json --revocations rev.json TEXT

Prints the outcome; exit status 0 for a valid code, 1 for a refused one, 2 for
unreadable inputs. TEXT "-" reads the code from standard input.
"""

import datetime
import json
import sys

from django.core.management.base import BaseCommand, CommandError

from healthcard.offline import OfflineVerifier


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
        at = None
        if options["at"]:
            try:
                at = datetime.datetime.fromisoformat(options["at"].replace("Z", "+00:00"))
            except ValueError:
                raise CommandError("--at is not an ISO 8601 time", returncode=2) from None
            if at.tzinfo is None:
                raise CommandError("--at needs a UTC offset, e.g. Z or +08:00", returncode=2)
        try:
            verifier = OfflineVerifier.from_files(options["keys"], options["revocations"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CommandError(f"cannot load key set or revocations: {exc}", returncode=2) from None
        result = verifier.verify(text, at=at)
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "ok": result.ok,
                        "reason": result.reason,
                        "kind": result.kind,
                        "kid": result.kid,
                        "ehc_id": result.ehc_id,
                        "message": result.message,
                    }
                )
            )
        elif result.ok:
            self.stdout.write(f"valid {result.kind} code, key {result.kid}, EHC ID {result.ehc_id}")
        else:
            self.stdout.write(f"refused: {result.reason}: {result.message}")
        if not result.ok:
            raise CommandError(result.reason, returncode=1)
