"""`manage.py audit verify`: check every hash chain of the audit log."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from healthcard import audit


class Command(BaseCommand):
    help = "Audit log tools. `verify` checks every hash chain and names the first broken record."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True)
        sub.add_parser("verify", help="Check the whole audit log; exit 1 on the first problem.")

    def handle(self, *args, subcommand: str, **options) -> None:
        if subcommand == "verify":
            self.verify()

    def verify(self) -> None:
        checked, problem = audit.verify()
        if problem is not None:
            # CommandError exits with status 1 and prints to stderr.
            raise CommandError(f"Audit log broken at {problem} ({checked} records checked).")
        self.stdout.write(self.style.SUCCESS(f"Audit log intact: {checked} records verified."))
