"""Key management from the command line: a thin caller of healthcard.keys.

python manage.py keys list [--purpose P] [--json]
python manage.py keys rotate PURPOSE [--algorithm …]   (code-signing, dynamic-protection,
                                                     print-delivery, oidc-signing)
python manage.py keys retire KID
python manage.py keys revoke KID --reason TEXT
python manage.py keys export-public [--purpose print-delivery] [--output FILE]
"""

import json

from django.core.management.base import BaseCommand, CommandError

from ehccode import signing
from healthcard import keys
from healthcard.models import Key, KeyPurpose

ACTOR = "cli:keys"


class Command(BaseCommand):
    help = "List, rotate, retire and revoke keys; export the public key set."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="List keys (never secret material).")
        listing.add_argument("--purpose", choices=KeyPurpose.values)
        listing.add_argument("--json", action="store_true", help="Print JSON.")
        rotate = sub.add_parser("rotate", help="Make a new active key and retire the old one.")
        rotate.add_argument("purpose", choices=KeyPurpose.values)
        rotate.add_argument("--algorithm", choices=[*signing.ALGORITHMS, "sm4", "rs256"])
        retire = sub.add_parser("retire", help="Retire an active key.")
        retire.add_argument("kid")
        revoke = sub.add_parser("revoke", help="Revoke a key: it verifies nothing afterwards.")
        revoke.add_argument("kid")
        revoke.add_argument("--reason", required=True)
        export = sub.add_parser("export-public", help="Print the public key set JSON.")
        export.add_argument("--output", help="Write to this file instead of stdout.")
        export.add_argument(
            "--purpose",
            choices=keys.SIGNING,
            default=KeyPurpose.CODE_SIGNING,
            help="print-delivery: the key set print sites verify deliveries with.",
        )

    def handle(self, *args, **options):
        action = options["action"]
        try:
            if action == "list":
                self.list_keys(options["purpose"], options["json"])
            elif action == "rotate":
                key = keys.rotate(options["purpose"], algorithm=options["algorithm"], actor=ACTOR)
                self.stdout.write(f"rotated {key.purpose}: {key.kid} ({key.algorithm}) is active")
            elif action == "retire":
                key = keys.retire(self.get_key(options["kid"]), actor=ACTOR)
                self.stdout.write(f"retired {key.kid}; verifies until {key.not_after:%Y-%m-%d}")
            elif action == "revoke":
                key = keys.revoke(
                    self.get_key(options["kid"]), actor=ACTOR, reason=options["reason"]
                )
                self.stdout.write(f"revoked {key.kid}")
            elif action == "export-public":
                text = json.dumps(keys.public_key_set(options["purpose"]), indent=2)
                if options["output"]:
                    with open(options["output"], "w", encoding="utf-8") as out:
                        out.write(text + "\n")
                else:
                    self.stdout.write(text)
        except keys.KeyManagementError as exc:
            raise CommandError(exc.message) from None

    def get_key(self, kid: str) -> Key:
        try:
            return Key.objects.get(kid=kid.strip().upper())
        except Key.DoesNotExist:
            raise CommandError(f"no key {kid}") from None

    def list_keys(self, purpose: str | None, as_json: bool) -> None:
        qs = Key.objects.all()
        if purpose:
            qs = qs.filter(purpose=purpose)
        rows = [
            {
                "kid": k.kid,
                "purpose": k.purpose,
                "algorithm": k.algorithm,
                "state": k.state,
                "not_before": k.not_before.isoformat() if k.not_before else None,
                "not_after": k.not_after.isoformat() if k.not_after else None,
                "retired_at": k.retired_at.isoformat() if k.retired_at else None,
                "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
            }
            for k in qs
        ]
        if as_json:
            self.stdout.write(json.dumps(rows, indent=2))
            return
        for row in rows:
            until = row["not_after"][:10] if row["not_after"] else "-"
            self.stdout.write(
                f"{row['kid']:<10} {row['purpose']:<20} {row['algorithm']:<8} "
                f"{row['state']:<8} until {until}"
            )
