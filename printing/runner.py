"""Doing one print job: the plain function behind the Celery task.

`process(job_pk)` claims the job, builds the slip from the card's current state,
renders it for the job's printer and delivers it. It returns what happened; the task
decides about retrying.

Delivering (HEALTHCARD_PRINT_DELIVERY): `local` sends the bytes to the printer from
this process (one machine, or a site worker that holds the database); `site` is the
platform stage of the two-stage pipeline: sign the rendered bytes and publish them to
the institution's site queue, where printing.site prints them and reports back
(jobs.apply_report). PDF printers are always served here.

The job is never printed twice by this code: locally, a job found in `sending` was
being printed when a worker stopped, so it is flagged for a clerk; in site mode it is
published again as the same delivery (job and attempt), which the site prints at most
once.
"""

import enum
import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext

from healthcard import audit, keys
from healthcard.models import KeyPurpose
from printing import delivery, devices, jobs, output, queue, renderers
from printing.fonts import FontError
from printing.models import JobStatus, PdfLayout, Printer, PrinterKind, PrintJob, TextMode
from printing.slips import Slip, SlipError, build_slip, sample_slip

log = logging.getLogger(__name__)


class Outcome(enum.Enum):
    PRINTED = "printed"
    FAILED = "failed"
    RETRY = "retry"  # printer unreachable, job back in `queued`
    FLAGGED = "flagged"  # interrupted; a clerk decides
    SKIPPED = "skipped"  # not queued (printed, cancelled, or another worker has it)
    DELIVERED = "delivered"  # signed and published to the site queue; the site reports


@dataclass
class Result:
    outcome: Outcome
    error: str = ""


def attempt_seconds() -> int:
    """The longest one attempt can take (connect, status, send, status) with margin;
    in site mode a delivery may also wait in the site's queue until it expires."""
    seconds = 4 * settings.HEALTHCARD_PRINT_TIMEOUT + 60
    if settings.HEALTHCARD_PRINT_DELIVERY == "site":
        seconds += settings.HEALTHCARD_PRINT_DELIVERY_TTL
    return seconds


def to_site(printer: Printer) -> bool:
    return settings.HEALTHCARD_PRINT_DELIVERY == "site" and printer.kind != PrinterKind.PDF


def render(printer: Printer, slip: Slip, copies: int = 1) -> bytes:
    """The bytes a printer gets for `copies` of one slip (a PDF for `pdf` printers)."""
    if printer.kind == PrinterKind.PDF:
        if printer.pdf_layout == PdfLayout.SHEET:
            return renderers.render_pdf_sheet([slip] * copies)
        return renderers.render_pdf_card([slip] * copies)
    renderer = (
        renderers.render_escpos_native
        if printer.text_mode == TextMode.NATIVE
        else renderers.render_escpos_raster
    )
    return renderer(slip, printer.paper_width, printer.profile or None) * copies


def process(job_pk: int, *, last_attempt: bool = False, institution: str | None = None) -> Result:
    """Print job `job_pk` once. `last_attempt`: an unreachable printer fails the job
    instead of asking for a retry. `institution`: the code of the institution whose
    queue this came from; a job of another institution is refused untouched."""
    job = PrintJob.objects.select_related("printer__institution", "card").filter(pk=job_pk).first()
    if job is None:
        return Result(Outcome.SKIPPED, "no such job")
    printer = job.printer
    if institution is not None and printer.institution.code != institution:
        log.warning("job %s is not a job of %s; refused", job_pk, institution)
        return Result(Outcome.SKIPPED, "job of another institution")
    if job.status == JobStatus.SENDING:
        if to_site(printer) and not job.needs_confirmation:
            # The platform worker stopped after claiming: publish the same delivery
            # again (the site prints a delivery ID at most once).
            return _render_and_deliver(job)
        # Redelivered after the worker that claimed it died (acks_late): it may have
        # printed. Only the clerk at the printer can tell.
        error = gettext("The print worker stopped while sending this job.")
        jobs.flag_interrupted(job, error)
        return Result(Outcome.FLAGGED, error)
    # Jobs of this printer that a dead worker left behind (no redelivery will come).
    jobs.flag_stale(printer, older_than_seconds=attempt_seconds())
    if not jobs.claim(job):
        return Result(Outcome.SKIPPED)
    if to_site(printer):
        return _render_and_deliver(job)
    data = _render_job(job)
    if isinstance(data, Result):
        return data
    if printer.kind == PrinterKind.PDF:
        path = output.store_pdf(job.pk, data)
        jobs.mark_printed(job, output=path)
        return Result(Outcome.PRINTED)
    try:
        devices.send(printer, data)
    except devices.PrinterNotAllowed as exc:
        jobs.mark_failed(job, str(exc), reason="printer_not_allowed")
        return Result(Outcome.FAILED, str(exc))
    except devices.PrinterUnavailable as exc:
        if last_attempt:
            jobs.mark_failed(job, str(exc), reason="unreachable")
            return Result(Outcome.FAILED, str(exc))
        jobs.requeue(job, str(exc))
        return Result(Outcome.RETRY, str(exc))
    except devices.PrinterInterrupted as exc:
        jobs.flag_interrupted(job, str(exc))
        return Result(Outcome.FLAGGED, str(exc))
    jobs.mark_printed(job)
    return Result(Outcome.PRINTED)


def _render_job(job: PrintJob) -> bytes | Result:
    """The job's bytes from the card's current state, or the failed Result."""
    try:
        return render(job.printer, build_slip(job.card), job.copies)
    except SlipError as exc:
        jobs.mark_failed(job, str(exc), reason=exc.reason)
        return Result(Outcome.FAILED, str(exc))
    except (renderers.RenderError, FontError) as exc:
        jobs.mark_failed(job, str(exc), reason="render")
        return Result(Outcome.FAILED, str(exc))


def printer_settings(printer: Printer) -> dict:
    """What a site needs to reach the printer (delivery.PRINTER_FIELDS)."""
    return {
        "id": printer.pk,
        "institution": printer.institution.code,
        "kind": printer.kind,
        "host": printer.host,
        "port": printer.port,
        "usb_vendor_id": printer.usb_vendor_id,
        "usb_product_id": printer.usb_product_id,
        "device": printer.device,
        "baudrate": printer.baudrate,
        "status_check": printer.status_check,
    }


def _render_and_deliver(job: PrintJob) -> Result:
    """Platform stage: render, sign with the print-delivery key, publish to the site."""
    data = _render_job(job)
    if isinstance(data, Result):
        return data
    attempt = PrintJob.objects.values_list("attempts", flat=True).get(pk=job.pk)
    key = keys.active_key(KeyPurpose.PRINT_DELIVERY)
    now = int(time.time())
    code = job.printer.institution.code
    message = delivery.make(
        job=job.pk,
        attempt=attempt,
        institution=code,
        printer=printer_settings(job.printer),
        data=data,
        issued_at=now,
        expires_at=now + settings.HEALTHCARD_PRINT_DELIVERY_TTL,
        kid=key.kid,
        sign=keys.signer_for(key),
    )
    try:
        queue.publish_delivery(message, code)
    except Exception as exc:  # the broker refused or is down: nothing reached the site
        log.exception("could not publish delivery %s.%s", job.pk, attempt)
        jobs.requeue(job, f"could not reach the broker: {exc}")
        return Result(Outcome.RETRY, str(exc))
    jobs.record_delivery(job, attempt=attempt, kid=key.kid)
    return Result(Outcome.DELIVERED)


def send_test_page(printer: Printer, *, by=None) -> str:
    """Print a test page now (from the machine running this code); returns a short
    result and records it on the printer and in the audit log."""
    slip = sample_slip(printer.institution.name)
    result = "ok"
    try:
        data = render(printer, slip)
        if printer.kind == PrinterKind.PDF:
            result = output.store_pdf(0, data)
        else:
            devices.send(printer, data)
    except (
        devices.PrinterNotAllowed,
        devices.PrinterUnavailable,
        devices.PrinterInterrupted,
    ) as exc:
        result = f"error: {exc}"
    except (renderers.RenderError, FontError) as exc:
        result = f"error: {exc}"
    Printer.objects.filter(pk=printer.pk).update(
        last_test_at=timezone.now(), last_test_result=result[:500]
    )
    audit.record(
        "printer.test_page",
        actor=by,
        obj=printer,
        institution=printer.institution,
        result="ok" if not result.startswith("error") else "error",
    )
    return result
