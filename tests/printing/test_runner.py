"""runner.process: one job from claim to printer, through the real escpos-network path
into the virtual printer, and what is printed decodes to a code that verifies."""

from pathlib import Path

import pytest
from django.conf import settings

from healthcard import cards, codes
from healthcard.models import AuditRecord, CardStatus
from printing import jobs, runner
from printing.models import JobStatus, PdfLayout
from printing.runner import Outcome
from tests.printing import escpos_decode
from tests.printing.test_renderers import pdf_pages


def submit(card, printer, user, key="k-1", copies=1):
    job, _ = jobs.submit_print_job(
        card, printer, copies=copies, requested_by=user, idempotency_key=key
    )
    return job


def received(virtual_printer, count: int = 1) -> bytes:
    """What the printer got; its thread files a job when the connection closes, which
    may be a moment after the sender has its confirmation."""
    assert virtual_printer.wait_for_jobs(count, timeout=10)
    return virtual_printer.data


def test_raster_job_prints_a_code_that_verifies(card, network_printer, virtual_printer, clerk):
    job = submit(card, network_printer, clerk)
    assert runner.process(job.pk).outcome == Outcome.PRINTED
    job.refresh_from_db()
    assert (job.status, job.attempts, job.last_error) == (JobStatus.PRINTED, 1, "")
    received(virtual_printer)
    (data,) = virtual_printer.jobs
    (image,) = escpos_decode.raster_slips(data)
    (text,) = escpos_decode.read_qr(image)
    result = codes.verify_code(text)
    assert result.ok and result.card == card
    assert AuditRecord.objects.filter(action="print.printed", object_id=str(job.pk)).exists()


def test_copies_print_that_many_slips(card, network_printer, virtual_printer, clerk):
    job = submit(card, network_printer, clerk, copies=3)
    runner.process(job.pk)
    assert len(escpos_decode.raster_slips(received(virtual_printer))) == 3


def test_native_job_sends_the_code_in_the_qr_command(card, native_printer, virtual_printer, clerk):
    job = submit(card, native_printer, clerk)
    assert runner.process(job.pk).outcome == Outcome.PRINTED
    (payload,) = escpos_decode.qr_payloads(received(virtual_printer))
    assert codes.verify_code(payload.decode()).ok
    assert card.person.masked_name in escpos_decode.chinese_texts(virtual_printer.data)


def test_native_job_for_a_name_outside_gbk_prints_raster(
    make_card, native_printer, virtual_printer, clerk
):
    card = make_card(name="𠮷𡒄")
    job = submit(card, native_printer, clerk)
    assert runner.process(job.pk).outcome == Outcome.PRINTED
    data = received(virtual_printer)
    assert b"\x1c&" not in data and b"?" not in data.split(b"\x1dv0")[0]
    (image,) = escpos_decode.raster_slips(data)
    assert codes.verify_code(escpos_decode.read_qr(image)[0]).ok


@pytest.mark.parametrize("layout", [PdfLayout.CARD, PdfLayout.SHEET])
def test_pdf_job_stores_a_pdf_with_code_name_and_ehc_id(card, pdf_printer, clerk, layout):
    pdf_printer.pdf_layout = layout
    pdf_printer.save()
    job = submit(card, pdf_printer, clerk)
    assert runner.process(job.pk).outcome == Outcome.PRINTED
    job.refresh_from_db()
    assert job.output.startswith("print-jobs/") and job.output.endswith(".pdf")
    assert str(job.pk) in Path(job.output).name
    data = (Path(settings.MEDIA_ROOT) / job.output).read_bytes()
    ((image, text),) = list(pdf_pages(data, dpi=200))
    (code,) = escpos_decode.read_qr(image)
    assert codes.verify_code(code).ok
    assert card.person.masked_name in text
    assert " ".join([card.ehc_id[i : i + 4] for i in range(0, 16, 4)]) in text
    assert card.person.name not in text


def test_card_frozen_after_submission_fails_the_job_with_its_reason(
    card, network_printer, virtual_printer, clerk
):
    job = submit(card, network_printer, clerk)
    cards.set_status(card, CardStatus.FROZEN, by=None, reason="reported lost")
    result = runner.process(job.pk)
    assert result.outcome == Outcome.FAILED
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.last_error  # a clear reason for the clerk
    assert virtual_printer.connections == 0  # the printer is not even contacted
    entry = AuditRecord.objects.get(action="print.failed")
    assert entry.details["reason"] == "card_frozen"


def test_card_replaced_after_submission_prints_the_new_issue(
    card, network_printer, virtual_printer, clerk
):
    job = submit(card, network_printer, clerk)
    cards.replace_card(card, by=clerk, reason="lost")
    runner.process(job.pk)
    (image,) = escpos_decode.raster_slips(received(virtual_printer))
    result = codes.verify_code(escpos_decode.read_qr(image)[0])
    assert result.ok  # the code of issue 2, not a dead code of issue 1


def test_unreachable_printer_requeues_then_fails_on_the_last_attempt(
    card, network_printer, virtual_printer, clerk
):
    virtual_printer.then("refuse", "refuse")
    job = submit(card, network_printer, clerk)
    assert runner.process(job.pk).outcome == Outcome.RETRY
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED and job.last_error
    assert runner.process(job.pk, last_attempt=True).outcome == Outcome.FAILED
    job.refresh_from_db()
    assert (job.status, job.attempts) == (JobStatus.FAILED, 2)
    assert virtual_printer.jobs == []


def test_connection_dropped_mid_job_flags_the_job(card, network_printer, virtual_printer, clerk):
    virtual_printer.then("drop")
    job = submit(card, network_printer, clerk)
    assert runner.process(job.pk).outcome == Outcome.FLAGGED
    job.refresh_from_db()
    assert job.status == JobStatus.SENDING and job.needs_confirmation
    # a redelivery does not print it again
    assert runner.process(job.pk).outcome == Outcome.FLAGGED
    assert virtual_printer.jobs == [] and virtual_printer.connections == 1


def test_job_found_sending_is_flagged_not_printed(card, network_printer, virtual_printer, clerk):
    job = submit(card, network_printer, clerk)
    jobs.claim(job)  # a worker took it and died
    result = runner.process(job.pk)
    assert result.outcome == Outcome.FLAGGED
    job.refresh_from_db()
    assert job.needs_confirmation and job.status == JobStatus.SENDING
    assert virtual_printer.connections == 0
    assert AuditRecord.objects.filter(action="print.interrupted").count() == 1


@pytest.mark.parametrize("status", [JobStatus.PRINTED, JobStatus.CANCELLED, JobStatus.FAILED])
def test_finished_jobs_are_skipped(card, network_printer, virtual_printer, clerk, status):
    job = submit(card, network_printer, clerk)
    type(job).objects.filter(pk=job.pk).update(status=status)
    assert runner.process(job.pk).outcome == Outcome.SKIPPED
    assert virtual_printer.connections == 0


def test_missing_job_is_skipped(db):
    assert runner.process(999999).outcome == Outcome.SKIPPED


def test_test_page_is_recorded_on_the_printer(network_printer, virtual_printer, clerk):
    assert runner.send_test_page(network_printer, by=clerk) == "ok"
    network_printer.refresh_from_db()
    assert network_printer.last_test_result == "ok" and network_printer.last_test_at
    (image,) = escpos_decode.raster_slips(received(virtual_printer))
    assert escpos_decode.read_qr(image) == ["HEALTHCARD-PRINTER-TEST-PAGE"]


def test_failed_test_page_shows_the_error(network_printer, virtual_printer, clerk):
    virtual_printer.then("refuse")
    assert runner.send_test_page(network_printer, by=clerk).startswith("error")
    network_printer.refresh_from_db()
    assert network_printer.last_test_result.startswith("error")
