from django.core.management.base import BaseCommand, CommandError

from printing import runner
from printing.models import Printer, queue_for


class Command(BaseCommand):
    help = (
        "Print a test page on a printer. By default the page goes through the "
        "institution's print queue; --now sends it from this machine (run it at the "
        "hospital site, next to the printer)."
    )

    def add_arguments(self, parser):
        parser.add_argument("printer", type=int, help="printer ID (see the admin)")
        parser.add_argument("--now", action="store_true", help="send directly, not via the queue")

    def handle(self, *args, **options):
        printer = (
            Printer.objects.select_related("institution").filter(pk=options["printer"]).first()
        )
        if printer is None:
            raise CommandError(f"No printer with ID {options['printer']}.")
        if options["now"]:
            result = runner.send_test_page(printer, by="command:print_test_page")
            if result.startswith("error"):
                raise CommandError(result)
            self.stdout.write(f"Test page sent to {printer}: {result}")
            return
        from printing.tasks import print_test_page

        queue = queue_for(printer.institution.code)
        print_test_page.apply_async((printer.pk,), queue=queue)
        self.stdout.write(f"Test page queued on {queue} for {printer}.")
