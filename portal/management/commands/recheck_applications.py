"""Re-check every pending application that is due (e.g. from cron, next to the worker)."""

from django.core.management.base import BaseCommand

from healthcard import applications


class Command(BaseCommand):
    help = "Ask the real-name verifier again about pending applications that are due."

    def handle(self, *args, **options):
        decided = 0
        due = applications.due_applications()
        for pk in due:
            app = applications.recheck(pk)
            decided += app is not None and app.status != "pending"
        self.stdout.write(f"{len(due)} due, {decided} decided")
