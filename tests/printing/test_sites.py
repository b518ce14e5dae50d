"""The two-stage pipeline in one process: the platform stage renders, signs and
publishes a delivery; the site stage (printing.site) verifies it, prints it at most
once and reports; the platform applies the report through the job state machine."""

import json
import time

import pytest

from healthcard import codes, keys
from healthcard.models import AuditRecord, KeyPurpose
from printing import delivery, jobs, queue, runner, site
from printing.models import JobStatus, Printer, PrinterKind, PrintJob
from printing.runner import Outcome
from tests.printing import escpos_decode


@pytest.fixture
def two_stage(settings, monkeypatch):
    """Site mode; the deliveries the platform publishes are collected, not sent."""
    settings.HEALTHCARD_PRINT_DELIVERY = "site"
    published = []
    monkeypatch.setattr(queue, "publish_delivery", lambda message, code: published.append(message))
    return published


@pytest.fixture
def hospital_site(hospital, key_file, tmp_path):
    """The site stage of `hospital`: its config, key set and journal."""
    config = site.SiteConfig(
        institution=hospital.code, keys_file=key_file, journal=tmp_path / "journal", timeout=2
    )

    class Site:
        def handle(self, message, redelivered=False):
            return site.handle(message, config, self.keys, self.journal, redelivered=redelivered)

    s = Site()
    s.config, s.keys, s.journal = config, site.KeySet(key_file), site.Journal(config.journal)
    return s


def submit(card, printer, key="k-1"):
    job, _ = jobs.submit_print_job(card, printer, requested_by=None, idempotency_key=key)
    return job


def status(job):
    job.refresh_from_db()
    return job.status


def test_platform_signs_site_prints_and_the_platform_records_printed(
    card, network_printer, virtual_printer, two_stage, hospital_site
):
    job = submit(card, network_printer)
    assert runner.process(job.pk).outcome == Outcome.DELIVERED
    assert virtual_printer.connections == 0  # the platform never contacts the printer
    (message,) = two_stage
    assert message["institution"] == card.institution.code
    assert "name" not in json.dumps(message["printer"])
    report = hospital_site.handle(message)
    assert report["outcome"] == delivery.PRINTED
    assert jobs.apply_report(report) == "applied"
    assert status(job) == JobStatus.PRINTED
    assert virtual_printer.wait_for_jobs(1)
    (image,) = escpos_decode.raster_slips(virtual_printer.data)
    assert codes.verify_code(escpos_decode.read_qr(image)[0]).ok
    actions = list(
        AuditRecord.objects.filter(object_id=str(job.pk))
        .order_by("at")
        .values_list("action", "actor")
    )
    assert ("print.delivered", "system") in actions
    assert ("print.printed", f"site:{card.institution.code}") in actions


def test_a_report_that_arrives_twice_changes_nothing_the_second_time(
    card, network_printer, virtual_printer, two_stage, hospital_site
):
    job = submit(card, network_printer)
    runner.process(job.pk)
    report = hospital_site.handle(two_stage[0])
    assert jobs.apply_report(report) == "applied"
    assert jobs.apply_report(report) == "duplicate"
    assert AuditRecord.objects.filter(action="print.printed", object_id=str(job.pk)).count() == 1


def test_redelivered_delivery_is_not_printed_again_and_its_report_is_sent_again(
    card, network_printer, virtual_printer, two_stage, hospital_site
):
    """The report was lost (or the site died after printing, before acknowledging):
    the broker redelivers; the journal answers with the same report."""
    job = submit(card, network_printer)
    runner.process(job.pk)
    first = hospital_site.handle(two_stage[0])
    again = hospital_site.handle(two_stage[0], redelivered=True)
    assert again == first
    assert virtual_printer.wait_for_jobs(1) and virtual_printer.connections == 1
    assert jobs.apply_report(again) == "applied"
    assert jobs.apply_report(first) == "duplicate"
    assert status(job) == JobStatus.PRINTED


def test_site_worker_killed_mid_send_leaves_the_job_flagged_not_reprinted(
    card, network_printer, virtual_printer, two_stage, hospital_site
):
    job = submit(card, network_printer)
    runner.process(job.pk)
    message = two_stage[0]
    # the journal says "sending": the worker died before it could finish
    hospital_site.journal.put(delivery.delivery_id(message), {"state": "sending"})
    report = hospital_site.handle(message, redelivered=True)
    assert report["outcome"] == delivery.INTERRUPTED
    assert jobs.apply_report(report) == "applied"
    job.refresh_from_db()
    assert job.status == JobStatus.SENDING and job.needs_confirmation
    assert virtual_printer.connections == 0
    # the platform does not send a flagged job again either
    assert runner.process(job.pk).outcome == Outcome.FLAGGED
    assert len(two_stage) == 1


def test_redelivered_without_a_journal_entry_is_treated_as_interrupted(
    card, network_printer, virtual_printer, two_stage, hospital_site
):
    job = submit(card, network_printer)
    runner.process(job.pk)
    report = hospital_site.handle(two_stage[0], redelivered=True)
    assert report["outcome"] == delivery.INTERRUPTED
    assert virtual_printer.connections == 0


def test_platform_worker_killed_after_rendering_delivers_once(
    card, network_printer, virtual_printer, two_stage, hospital_site
):
    """The platform worker claimed and published, then died before acknowledging: the
    job is redelivered to another platform worker, which publishes the same delivery
    again; the site prints it once."""
    job = submit(card, network_printer)
    runner.process(job.pk)
    assert runner.process(job.pk).outcome == Outcome.DELIVERED  # the redelivered task
    first, second = two_stage
    assert delivery.delivery_id(first) == delivery.delivery_id(second)
    reports = [hospital_site.handle(first), hospital_site.handle(second)]
    assert reports[0] == reports[1]
    assert [jobs.apply_report(r) for r in reports] == ["applied", "duplicate"]
    assert virtual_printer.wait_for_jobs(1) and virtual_printer.connections == 1
    job.refresh_from_db()
    assert (job.status, job.attempts) == (JobStatus.PRINTED, 1)


def test_delivery_with_a_bad_signature_is_refused_and_reported(
    card, network_printer, virtual_printer, two_stage, hospital_site
):
    job = submit(card, network_printer)
    runner.process(job.pk)
    forged = dict(two_stage[0], data=two_stage[0]["data"][:-8] + "AAAAAAA=")
    report = hospital_site.handle(forged)
    assert (report["outcome"], report["reason"]) == (delivery.FAILED, "bad_signature")
    assert virtual_printer.connections == 0
    assert jobs.apply_report(report) == "applied"
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and "signature" in job.last_error


@pytest.mark.parametrize("signature", ["not hex", "", None, "zz" * 64])
def test_delivery_with_a_malformed_signature_is_refused_not_a_crash(
    card, network_printer, virtual_printer, two_stage, hospital_site, signature
):
    runner.process(submit(card, network_printer).pk)
    report = hospital_site.handle(dict(two_stage[0], signature=signature))
    assert (report["outcome"], report["reason"]) == (delivery.FAILED, "bad_signature")
    assert virtual_printer.connections == 0


def test_a_key_of_an_unknown_algorithm_verifies_no_delivery(
    card, network_printer, virtual_printer, two_stage, key_file
):
    runner.process(submit(card, network_printer).pk)
    key_set = json.loads(key_file.read_text())
    for key in key_set["keys"]:
        key["algorithm"] = "rsa-md5"
    with pytest.raises(delivery.DeliveryRefused) as exc:
        delivery.verify(
            two_stage[0], key_set, institution=network_printer.institution.code, now=time.time()
        )
    assert exc.value.reason == "bad_signature"
    assert virtual_printer.connections == 0


def test_delivery_signed_by_a_key_the_site_does_not_know_is_refused(
    card, network_printer, virtual_printer, two_stage, hospital_site
):
    keys.rotate(KeyPurpose.PRINT_DELIVERY)  # the site's key file is older
    runner.process(submit(card, network_printer).pk)
    assert hospital_site.handle(two_stage[0])["reason"] == "unknown_key"
    assert virtual_printer.connections == 0


def test_delivery_for_another_institutions_printer_is_refused_and_reported(
    make_card, other_hospital, virtual_printer, two_stage, hospital_site
):
    printer = Printer.objects.create(
        institution=other_hospital,
        name="Other",
        kind=PrinterKind.ESCPOS_NETWORK,
        host=virtual_printer.host,
        port=virtual_printer.port,
    )
    runner.process(submit(make_card(institution=other_hospital), printer).pk)
    report = hospital_site.handle(two_stage[0])  # it reached the wrong site
    assert (report["outcome"], report["reason"]) == (delivery.FAILED, "other_institution")
    assert virtual_printer.connections == 0


def test_expired_delivery_is_refused(
    card, network_printer, virtual_printer, two_stage, hospital_site, monkeypatch
):
    runner.process(submit(card, network_printer).pk)
    monkeypatch.setattr(site.time, "time", lambda: two_stage[0]["expires_at"] + 1)
    assert hospital_site.handle(two_stage[0])["reason"] == "expired"
    assert virtual_printer.connections == 0


def test_pdf_printers_stay_on_the_platform(card, pdf_printer, two_stage):
    job = submit(card, pdf_printer)
    assert runner.process(job.pk).outcome == Outcome.PRINTED
    assert two_stage == [] and status(job) == JobStatus.PRINTED


def test_a_signed_delivery_for_a_pdf_printer_is_refused_by_the_site(pdf_printer, key_file):
    key = keys.active_key(KeyPurpose.PRINT_DELIVERY)
    code = pdf_printer.institution.code
    message = delivery.make(
        job=1,
        attempt=1,
        institution=code,
        printer=runner.printer_settings(pdf_printer),
        data=b"%PDF",
        issued_at=0,
        expires_at=2**40,
        kid=key.kid,
        sign=keys.signer_for(key),
    )
    key_set = json.loads(key_file.read_text())
    with pytest.raises(delivery.DeliveryRefused) as refused:
        delivery.verify(message, key_set, institution=code, now=1)
    assert refused.value.reason == "not_a_site_printer"


def test_unreachable_printer_is_retried_by_the_platform_then_fails(
    card, network_printer, virtual_printer, two_stage, hospital_site, settings, monkeypatch
):
    settings.HEALTHCARD_PRINT_MAX_RETRIES = 1
    requeued = []
    monkeypatch.setattr(jobs, "enqueue", lambda job, countdown=0: requeued.append(countdown))
    virtual_printer.then("refuse", "refuse")
    job = submit(card, network_printer)
    runner.process(job.pk)
    report = hospital_site.handle(two_stage[-1])
    assert report["reason"] == "unreachable"
    assert jobs.apply_report(report) == "applied"
    assert status(job) == JobStatus.QUEUED
    assert len(requeued) == 2  # the submission, then the retry after backoff
    runner.process(job.pk)  # the retry: attempt 2, the last
    assert jobs.apply_report(hospital_site.handle(two_stage[-1])) == "applied"
    job.refresh_from_db()
    assert (job.status, job.attempts) == (JobStatus.FAILED, 2)
    assert "cannot reach" in job.last_error


def test_report_of_an_older_attempt_is_ignored(
    card, network_printer, virtual_printer, two_stage, hospital_site
):
    job = submit(card, network_printer)
    runner.process(job.pk)
    old = hospital_site.handle(two_stage[0])
    PrintJob.objects.filter(pk=job.pk).update(attempts=2)
    assert jobs.apply_report(old) == "stale"
    assert status(job) == JobStatus.SENDING


def test_report_naming_another_institution_is_refused_and_audited(
    card, network_printer, virtual_printer, two_stage, hospital_site, other_hospital
):
    job = submit(card, network_printer)
    runner.process(job.pk)
    report = dict(hospital_site.handle(two_stage[0]), institution=other_hospital.code)
    assert jobs.apply_report(report) == "refused"
    assert status(job) == JobStatus.SENDING
    assert AuditRecord.objects.filter(action="print.report_refused").exists()


def test_on_rabbitmq_a_report_must_come_from_the_jobs_site_user(
    card, network_printer, virtual_printer, two_stage, hospital_site, settings, other_hospital
):
    settings.CELERY_BROKER_URL = "amqp://platform@broker//"
    job = submit(card, network_printer)
    runner.process(job.pk)
    report = hospital_site.handle(two_stage[0])
    assert jobs.apply_report(report, sender=None) == "refused"
    assert jobs.apply_report(report, sender=queue.site_user(other_hospital.code)) == "refused"
    assert jobs.apply_report(report, sender=queue.site_user(card.institution.code)) == "applied"


@pytest.mark.parametrize("bad", [{}, {"job": "x", "attempt": 1}, {"job": 1}])
def test_malformed_reports_are_refused(db, bad):
    assert jobs.apply_report(bad) == "refused"


def test_unknown_job_report_is_ignored(db):
    report = {"job": 99999, "attempt": 1, "institution": "x", "outcome": "printed"}
    assert jobs.apply_report(report) == "unknown"


def test_process_refuses_a_job_of_another_institutions_queue(
    card, network_printer, virtual_printer, other_hospital
):
    job = submit(card, network_printer)
    result = runner.process(job.pk, institution=other_hospital.code)
    assert result.outcome == Outcome.SKIPPED
    assert status(job) == JobStatus.QUEUED and virtual_printer.connections == 0


def test_journal_entries_older_than_a_week_are_pruned(tmp_path):
    journal = site.Journal(tmp_path)
    journal.put("1.1", {"state": "done", "report": {}})
    journal.prune(now=__import__("time").time() + 8 * 86400)
    assert journal.get("1.1") is None


def test_the_printing_modules_import_without_a_cycle():
    import subprocess
    import sys

    for module in ("printing.jobs", "printing.tasks", "printing.runner"):
        code = (
            "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='tests.settings';"
            f"django.setup(); import {module}"
        )
        assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_a_retired_delivery_key_verifies_until_its_not_after_only(network_printer, key_file):
    """A retired key that someone kept signs nothing a site accepts after its end."""
    old = keys.active_key(KeyPurpose.PRINT_DELIVERY)
    keys.rotate(KeyPurpose.PRINT_DELIVERY)
    old.refresh_from_db()
    key_set = keys.public_key_set(KeyPurpose.PRINT_DELIVERY)
    end = old.not_after.timestamp()
    message = delivery.make(
        job=1,
        attempt=1,
        institution=network_printer.institution.code,
        printer=runner.printer_settings(network_printer),
        data=b"slip",
        issued_at=int(end),
        expires_at=int(end) + 900,
        kid=old.kid,
        sign=keys.signer_for(old),
    )
    code = network_printer.institution.code
    assert delivery.verify(message, key_set, institution=code, now=end - 60)[1] == b"slip"
    with pytest.raises(delivery.DeliveryRefused) as refused:
        delivery.verify(message, key_set, institution=code, now=end + 60)
    assert refused.value.reason == "unknown_key"
