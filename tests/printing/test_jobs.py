"""printing.jobs: submitting, the conditional state changes and the clerk's actions."""

import json

import pytest
from django.utils import timezone

from healthcard import cards
from healthcard.models import AuditRecord, CardStatus
from printing import jobs
from printing.models import JobStatus, PrintJob


def submit(card, printer, user, key="k-1", **kwargs):
    return jobs.submit_print_job(card, printer, requested_by=user, idempotency_key=key, **kwargs)


def test_submit_creates_a_queued_job_audits_it_and_enqueues_after_commit(
    card, network_printer, clerk, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        job, created = submit(card, network_printer, clerk, copies=2)
    assert created
    assert (job.status, job.copies, job.requested_by, job.attempts) == ("queued", 2, clerk, 0)
    assert len(callbacks) == 1  # the task is sent only once the job is committed
    entry = AuditRecord.objects.get(action="print.submit")
    assert entry.object_id == str(job.pk)
    assert entry.actor == f"user:{clerk.pk}"
    assert entry.institution == network_printer.institution.code
    assert entry.details == {"card": card.pk, "printer": network_printer.pk, "copies": 2}


def test_same_key_returns_the_same_job(card, network_printer, clerk):
    first, created = submit(card, network_printer, clerk)
    again, created_again = submit(card, network_printer, clerk)
    assert created and not created_again
    assert again.pk == first.pk
    assert PrintJob.objects.count() == 1
    assert AuditRecord.objects.filter(action="print.submit").count() == 1


def test_key_reused_for_another_card_is_refused(card, make_card, network_printer, clerk):
    submit(card, network_printer, clerk)
    other = make_card(name="李四")
    with pytest.raises(jobs.PrintError) as exc:
        submit(other, network_printer, clerk)
    assert exc.value.code == "key_reused"


@pytest.mark.parametrize("copies", [0, 11, -1, "2"])
def test_bad_copies_are_refused(card, network_printer, clerk, copies):
    with pytest.raises(jobs.PrintError) as exc:
        submit(card, network_printer, clerk, copies=copies)
    assert exc.value.code == "bad_copies"


@pytest.mark.parametrize("key", ["", "   ", "x" * 65])
def test_bad_idempotency_key_is_refused(card, network_printer, clerk, key):
    with pytest.raises(jobs.PrintError) as exc:
        submit(card, network_printer, clerk, key=key)
    assert exc.value.code == "bad_key"


def test_inactive_printer_is_refused(card, network_printer, clerk):
    network_printer.is_active = False
    network_printer.save()
    with pytest.raises(jobs.PrintError) as exc:
        submit(card, network_printer, clerk)
    assert exc.value.code == "printer_inactive"


def test_frozen_card_is_refused(card, network_printer, clerk):
    cards.set_status(card, CardStatus.FROZEN, by=None, reason="test")
    card.refresh_from_db()
    with pytest.raises(cards.CardError) as exc:
        submit(card, network_printer, clerk)
    assert exc.value.code == "card_frozen"
    assert not PrintJob.objects.exists()


def test_only_one_claim_wins(card, network_printer, clerk):
    job, _ = submit(card, network_printer, clerk)
    assert jobs.claim(job)
    assert not jobs.claim(job)
    job.refresh_from_db()
    assert (job.status, job.attempts) == (JobStatus.SENDING, 1)
    assert job.sending_at is not None


def test_printed_job_cannot_be_claimed_retried_or_cancelled(card, network_printer, clerk):
    job, _ = submit(card, network_printer, clerk)
    jobs.claim(job)
    assert jobs.mark_printed(job)
    assert not jobs.claim(job)
    for action in (jobs.retry, jobs.cancel, jobs.confirm_printed, jobs.print_again):
        with pytest.raises(jobs.PrintError):
            action(job, by=clerk)
    job.refresh_from_db()
    assert job.status == JobStatus.PRINTED and job.finished_at


def test_failed_job_keeps_its_error_and_can_be_retried(card, network_printer, clerk):
    job, _ = submit(card, network_printer, clerk)
    jobs.claim(job)
    jobs.mark_failed(job, "printer at 10.0.0.9:9100 unreachable", reason="unreachable")
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "unreachable" in job.last_error
    job = jobs.retry(job, by=clerk)
    assert job.status == JobStatus.QUEUED
    assert AuditRecord.objects.filter(action="print.retry", actor=f"user:{clerk.pk}").exists()


def test_queued_job_cannot_be_retried_but_can_be_cancelled(card, network_printer, clerk):
    job, _ = submit(card, network_printer, clerk)
    with pytest.raises(jobs.PrintError) as exc:
        jobs.retry(job, by=clerk)
    assert exc.value.code == "not_failed"
    job = jobs.cancel(job, by=clerk)
    assert job.status == JobStatus.CANCELLED
    assert not jobs.claim(job)


def test_sending_job_cannot_be_cancelled_unless_flagged(card, network_printer, clerk):
    job, _ = submit(card, network_printer, clerk)
    jobs.claim(job)
    with pytest.raises(jobs.PrintError):
        jobs.cancel(job, by=clerk)
    jobs.flag_interrupted(job, "worker stopped")
    assert jobs.cancel(job, by=clerk).status == JobStatus.CANCELLED


def test_flagged_job_can_be_confirmed_printed(card, network_printer, clerk):
    job, _ = submit(card, network_printer, clerk)
    jobs.claim(job)
    assert jobs.flag_interrupted(job, "worker stopped")
    assert not jobs.flag_interrupted(job, "again")  # flagged once
    job = jobs.confirm_printed(job, by=clerk)
    assert (job.status, job.needs_confirmation) == (JobStatus.PRINTED, False)


def test_flagged_job_can_be_printed_again(
    card, network_printer, clerk, django_capture_on_commit_callbacks
):
    job, _ = submit(card, network_printer, clerk)
    jobs.claim(job)
    jobs.flag_interrupted(job, "worker stopped")
    with django_capture_on_commit_callbacks() as callbacks:
        job = jobs.print_again(job, by=clerk)
    assert (job.status, job.needs_confirmation) == (JobStatus.QUEUED, False)
    assert len(callbacks) == 1


def test_unflagged_sending_job_cannot_be_confirmed_or_printed_again(card, network_printer, clerk):
    job, _ = submit(card, network_printer, clerk)
    jobs.claim(job)
    for action in (jobs.confirm_printed, jobs.print_again):
        with pytest.raises(jobs.PrintError) as exc:
            action(job, by=clerk)
        assert exc.value.code == "not_flagged"


def test_stale_sending_jobs_are_flagged(card, network_printer, clerk, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    job, _ = submit(card, network_printer, clerk)
    jobs.claim(job)
    assert jobs.flag_stale(network_printer, older_than_seconds=60) == 0
    time_machine.shift(120)
    assert jobs.flag_stale(network_printer, older_than_seconds=60) == 1
    job.refresh_from_db()
    assert job.status == JobStatus.SENDING and job.needs_confirmation


def test_audit_details_hold_no_personal_data(card, network_printer, clerk):
    job, _ = submit(card, network_printer, clerk)
    jobs.claim(job)
    jobs.mark_failed(job, "boom")
    jobs.retry(job, by=clerk)
    person = card.person
    for entry in AuditRecord.objects.filter(action__startswith="print."):
        text = json.dumps(entry.details, ensure_ascii=False)
        assert person.name not in text
        assert person.id_number not in text
        assert card.ehc_id not in text


def test_a_non_user_requester_is_audited_not_stored(card, network_printer):
    job, created = jobs.submit_print_job(
        card, network_printer, requested_by="terminal:7", idempotency_key="t-1"
    )
    assert created and job.requested_by is None
    assert AuditRecord.objects.get(action="print.submit").actor == "terminal:7"
