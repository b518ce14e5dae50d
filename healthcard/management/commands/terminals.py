"""Manage API terminals from the command line:

    manage.py terminals create --institution CODE --scopes verify,register --name NAME [--kind 01]
    manage.py terminals list [--institution CODE]
    manage.py terminals disable ID

`create` prints the token once; it is stored only as a hash.
"""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from healthcard import terminals
from healthcard.models import Institution, Terminal, TerminalKind


class Command(BaseCommand):
    help = "Create, list and disable API terminals."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create a terminal and print its token once")
        create.add_argument("--institution", required=True, help="institution code")
        create.add_argument("--name", required=True)
        create.add_argument(
            "--scopes",
            default="verify",
            help="comma-separated: verify, reveal_identity, register, link, report",
        )
        create.add_argument("--kind", default=TerminalKind.COUNTER, choices=TerminalKind.values)
        listing = sub.add_parser("list", help="list terminals")
        listing.add_argument("--institution", help="only this institution's")
        disable = sub.add_parser("disable", help="disable a terminal: its token stops working")
        disable.add_argument("id", type=int)

    def handle(self, *args, **options):
        getattr(self, f"do_{options['action']}")(options)

    def do_create(self, options):
        institution = Institution.objects.filter(code=options["institution"]).first()
        if institution is None:
            raise CommandError(f"No institution with code {options['institution']!r}.")
        try:
            terminal, token = terminals.create_terminal(
                institution,
                options["name"],
                kind=options["kind"],
                scopes=options["scopes"].split(","),
                by="system:cli",
            )
        except ValidationError as exc:
            raise CommandError(
                "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
            ) from None
        self.stdout.write(
            f"Created terminal {terminal.pk} ({terminal.name}) of {institution.code} "
            f"with scopes {','.join(terminal.scopes)}."
        )
        self.stdout.write("Token (shown only now, store it in the terminal's configuration):")
        self.stdout.write(token)

    def do_list(self, options):
        qs = Terminal.objects.select_related("institution").order_by("institution__code", "pk")
        if options.get("institution"):
            qs = qs.filter(institution__code=options["institution"])
        for t in qs:
            state = "active" if t.is_active else "disabled"
            used = t.last_used_at.isoformat(timespec="seconds") if t.last_used_at else "never"
            self.stdout.write(
                f"{t.pk}\t{t.institution.code}\t{t.kind}\t{state}\t{','.join(t.scopes)}\t"
                f"hct_{t.token_prefix}_…\tlast used {used}\t{t.name}"
            )

    def do_disable(self, options):
        terminal = Terminal.objects.filter(pk=options["id"]).first()
        if terminal is None:
            raise CommandError(f"No terminal with ID {options['id']}.")
        was_active = terminal.is_active
        terminals.disable(terminal, by="system:cli")
        if was_active:
            self.stdout.write(f"Disabled terminal {terminal.pk} ({terminal.name}).")
        else:
            self.stdout.write(f"Terminal {terminal.pk} was already disabled.")
