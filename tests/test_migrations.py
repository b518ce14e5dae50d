"""The suite fails when a model change has no migration (djangoproject.com's
PendingMigrationsTests)."""

from io import StringIO

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_no_migrations_are_pending():
    out = StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=StringIO())
    except SystemExit:  # makemigrations --check exits 1 when something is missing
        pytest.fail(f"Missing migrations:\n{out.getvalue()}")
