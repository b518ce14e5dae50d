"""Races the portal's rules must win on PostgreSQL: two managers at once, one form
submitted twice at once."""

import threading

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, connections

from healthcard import applications, keys, people
from healthcard.models import Application, Guardianship
from tests.conftest import make_id_number

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_together(n, work):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent transactions need PostgreSQL (DATABASE_URL)")
    barrier = threading.Barrier(n, timeout=30)
    results, errors = [], []

    def run(i):
        try:
            barrier.wait()
            results.append(work(i))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors


def test_two_managers_added_at_once_cannot_pass_the_limit(make_card):
    keys.root_key()
    child = make_card(name="王小明", id_number=make_id_number()).person
    first = make_card(name="赵六", id_number=make_id_number()).person
    applications.link_family(first, child, "child", by=None)
    others = [make_card(name="钱七", id_number=make_id_number()).person for _ in range(3)]
    results, errors = run_together(
        3, lambda i: applications.link_family(others[i], child, "child", by=None)
    )
    assert len(results) == 1
    assert all(getattr(e, "code", None) == "managers_full" for e in errors), errors
    assert Guardianship.objects.filter(dependant=child).count() == 2


def test_one_form_submitted_twice_at_once_makes_one_application(province, registered):
    keys.root_key()
    user = get_user_model().objects.create_user("sms:test")
    number = registered("王建国")
    data = people.PersonData(name="王建国", id_type="01", id_number=number)
    results, errors = run_together(
        3,
        lambda i: applications.apply(
            user, data, relation="self", form_token="same", account_phone="13912345678"
        ),
    )
    assert errors == []
    assert len({app.pk for app in results}) == 1
    assert Application.objects.count() == 1
