"""print_queues and print_test_page management commands."""

import io

import pytest
from django.core.management import CommandError, call_command

from printing.models import Printer, PrinterKind
from printing.tasks import print_test_page
from tests.printing import escpos_decode


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().strip()


def test_print_queues_without_printers_names_the_default_queue(db):
    assert run("print_queues") == "print.default"


def test_print_queues_lists_each_institution_with_an_active_printer_once(
    hospital, other_hospital, province
):
    Printer.objects.create(institution=hospital, name="a", kind=PrinterKind.PDF)
    Printer.objects.create(institution=hospital, name="b", kind=PrinterKind.PDF)
    Printer.objects.create(institution=other_hospital, name="c", kind=PrinterKind.PDF)
    Printer.objects.create(institution=province, name="d", kind=PrinterKind.PDF, is_active=False)
    assert run("print_queues") == f"print.{hospital.code},print.{other_hospital.code}"


def test_print_test_page_now_prints_through_the_network(network_printer, virtual_printer):
    assert "Test page sent" in run("print_test_page", str(network_printer.pk), "--now")
    assert virtual_printer.wait_for_jobs(1)
    (image,) = escpos_decode.raster_slips(virtual_printer.data)
    assert escpos_decode.read_qr(image) == ["HEALTHCARD-PRINTER-TEST-PAGE"]


def test_print_test_page_now_reports_an_unreachable_printer(network_printer, virtual_printer):
    virtual_printer.then("refuse")
    with pytest.raises(CommandError, match="cannot reach"):
        run("print_test_page", str(network_printer.pk), "--now")


def test_print_test_page_queues_by_default(network_printer, monkeypatch):
    sent = []
    monkeypatch.setattr(
        print_test_page, "apply_async", lambda args, queue: sent.append((args, queue))
    )
    assert "queued" in run("print_test_page", str(network_printer.pk))
    assert sent == [((network_printer.pk,), network_printer.queue_name)]


def test_print_test_page_of_unknown_printer_is_an_error(db):
    with pytest.raises(CommandError, match="No printer"):
        run("print_test_page", "999")


def test_pdf_test_page_is_stored(pdf_printer, settings):
    result = run("print_test_page", str(pdf_printer.pk), "--now")
    assert "print-jobs/" in result
    assert list((settings.MEDIA_ROOT / "print-jobs").rglob("*.pdf"))


def test_print_requeue_sends_old_queued_jobs_again(card, network_printer, monkeypatch):
    from printing import jobs
    from printing.models import PrintJob

    job, _ = jobs.submit_print_job(card, network_printer, requested_by=None, idempotency_key="r")
    sent = []
    monkeypatch.setattr(
        "printing.management.commands.print_requeue.send_print_job",
        lambda pk, queue: sent.append((pk, queue)),
    )
    assert run("print_requeue") == "0 job(s) sent again."
    PrintJob.objects.filter(pk=job.pk).update(updated_at=job.created_at.replace(year=2020))
    assert run("print_requeue", "--minutes", "10") == "1 job(s) sent again."
    assert sent == [(job.pk, network_printer.queue_name)]


def test_broker_down_leaves_the_job_queued_and_logs(card, network_printer, monkeypatch, caplog):
    from printing import tasks

    def down(*args, **kwargs):
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(tasks.queue.app, "send_task", down)
    tasks.send_print_job(1, "print.x")  # does not raise
    assert "could not queue print job 1" in caplog.text
