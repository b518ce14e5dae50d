"""Printing admin: scoped to the user's institution; actions call printing.jobs."""

import pytest
from django.urls import reverse

from printing import jobs
from printing.models import JobStatus, Printer, PrinterKind
from printing.tasks import print_test_page


@pytest.fixture
def job(card, network_printer, clerk):
    job, _ = jobs.submit_print_job(card, network_printer, requested_by=clerk, idempotency_key="a")
    return job


def failed(job, error="cannot reach printer at 10.0.0.9:9100"):
    jobs.claim(job)
    jobs.mark_failed(job, error)
    job.refresh_from_db()
    return job


def flagged(job):
    jobs.claim(job)
    jobs.flag_interrupted(job, "The print worker stopped while sending this job.")
    job.refresh_from_db()
    return job


def act(client, action, *objs, model="printjob"):
    return client.post(
        reverse(f"admin:printing_{model}_changelist"),
        {"action": action, "_selected_action": [o.pk for o in objs]},
        follow=True,
    )


def test_job_list_shows_masked_holder_and_last_error(client, otp_login, supervisor, job, card):
    failed(job)
    otp_login(client, supervisor)
    response = client.get(reverse("admin:printing_printjob_changelist"))
    page = response.content.decode()
    assert response.status_code == 200
    assert "cannot reach printer" in page
    assert reverse("admin:printing_printjob_change", args=[job.pk]) in page
    assert card.person.masked_name in page
    assert card.person.name not in page


def test_other_institution_does_not_see_the_job(client, otp_login, outsider, job):
    otp_login(client, outsider)  # a supervisor of another hospital
    response = client.get(reverse("admin:printing_printjob_changelist"))
    assert reverse("admin:printing_printjob_change", args=[job.pk]) not in response.content.decode()
    response = client.get(reverse("admin:printing_printjob_change", args=[job.pk]))
    assert response.status_code in (302, 404)


def test_supervisor_retries_a_failed_job(client, otp_login, supervisor, job):
    failed(job)
    otp_login(client, supervisor)
    act(client, "retry", job)
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED


def test_supervisor_cancels_a_queued_job(client, otp_login, supervisor, job):
    otp_login(client, supervisor)
    act(client, "cancel", job)
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED


def test_refused_action_shows_the_reason(client, otp_login, supervisor, job):
    otp_login(client, supervisor)
    response = act(client, "retry", job)  # a queued job cannot be retried
    assert "Only a failed job can be retried" in response.content.decode()
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED


def test_clerk_confirms_an_interrupted_job(client, otp_login, clerk, job):
    flagged(job)
    otp_login(client, clerk)
    act(client, "confirm_printed", job)
    job.refresh_from_db()
    assert (job.status, job.needs_confirmation) == (JobStatus.PRINTED, False)


def test_clerk_prints_an_interrupted_job_again(client, otp_login, clerk, job):
    flagged(job)
    otp_login(client, clerk)
    act(client, "print_again", job)
    job.refresh_from_db()
    assert (job.status, job.needs_confirmation) == (JobStatus.QUEUED, False)


def test_clerk_cannot_retry_or_cancel(client, otp_login, clerk, job):
    failed(job)
    otp_login(client, clerk)
    act(client, "cancel", job)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED


def test_test_page_action_goes_through_the_institution_queue(
    client, otp_login, institution_admin, network_printer, monkeypatch
):
    sent = []
    monkeypatch.setattr(
        print_test_page, "apply_async", lambda args, queue: sent.append((args, queue))
    )
    otp_login(client, institution_admin)
    response = act(client, "send_test_page", network_printer, model="printer")
    assert response.status_code == 200
    assert sent == [
        ((network_printer.pk, institution_admin.pk), f"print.{network_printer.institution.code}")
    ]


def test_institution_admin_sees_only_own_printers(
    client, otp_login, institution_admin, network_printer, other_hospital
):
    other = Printer.objects.create(
        institution=other_hospital, name="Elsewhere", kind=PrinterKind.PDF
    )
    otp_login(client, institution_admin)
    page = client.get(reverse("admin:printing_printer_changelist")).content.decode()
    assert network_printer.name in page
    assert other.name not in page


def test_institution_admin_can_add_printers_only_for_own_institution(
    client, otp_login, institution_admin, hospital, other_hospital
):
    otp_login(client, institution_admin)
    response = client.get(reverse("admin:printing_printer_add"))
    choices = list(response.context["adminform"].form.fields["institution"].queryset)
    assert choices == [hospital]
