"""Doing one print job: the plain function behind the Celery task.

`process(job_pk)` claims the job, builds the slip from the card's current state,
renders it for the job's printer and delivers it. It returns what happened; the task
decides about retrying. The job is never printed twice by this code: a job found in
`sending` was being printed when a worker stopped, so it is flagged for a clerk.
"""

import enum
import logging
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext

from healthcard import audit
from printing import devices, jobs, output, renderers
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


@dataclass
class Result:
    outcome: Outcome
    error: str = ""


def attempt_seconds() -> int:
    """The longest one attempt can take (connect, status, send, status) with margin."""
    return 4 * settings.HEALTHCARD_PRINT_TIMEOUT + 60


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


def process(job_pk: int, *, last_attempt: bool = False) -> Result:
    """Print job `job_pk` once. `last_attempt`: an unreachable printer fails the job
    instead of asking for a retry."""
    job = PrintJob.objects.select_related("printer__institution", "card").filter(pk=job_pk).first()
    if job is None:
        return Result(Outcome.SKIPPED, "no such job")
    if job.status == JobStatus.SENDING:
        # Redelivered after the worker that claimed it died (acks_late): it may have
        # printed. Only the clerk at the printer can tell.
        error = gettext("The print worker stopped while sending this job.")
        jobs.flag_interrupted(job, error)
        return Result(Outcome.FLAGGED, error)
    printer = job.printer
    # Jobs of this printer that a dead worker left behind (no redelivery will come).
    jobs.flag_stale(printer, older_than_seconds=attempt_seconds())
    if not jobs.claim(job):
        return Result(Outcome.SKIPPED)
    try:
        slip = build_slip(job.card)
        data = render(printer, slip, job.copies)
    except SlipError as exc:
        jobs.mark_failed(job, str(exc), reason=exc.reason)
        return Result(Outcome.FAILED, str(exc))
    except (renderers.RenderError, FontError) as exc:
        jobs.mark_failed(job, str(exc), reason="render")
        return Result(Outcome.FAILED, str(exc))
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
