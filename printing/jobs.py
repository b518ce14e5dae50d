"""Print jobs: submitting, claiming and finishing them, and the clerk's decisions.

Every state change is a conditional UPDATE on the job's current status, so two workers
(or a worker and a clerk) never both act on one job: the row count decides. Each change
writes an audit row in the same transaction, with job, card and printer IDs only.

    queued --claim--> sending --mark_printed--> printed
       ^                 |  \\--mark_failed--> failed --retry--> queued
       |                 |   \\--requeue (printer unreachable, retried by the task)
       |                 \\--flag_interrupted: stays `sending` with needs_confirmation,
       |                     then confirm_printed -> printed, or print_again -> queued
       \\-- cancel from queued, failed, or a flagged job
"""

import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from healthcard import access, audit, cards
from healthcard.errors import DomainError, NotAllowed
from healthcard.models import Card
from printing import delivery, output, queue
from printing.models import JobStatus, Printer, PrintJob

MAX_COPIES = 10


class PrintError(DomainError):
    """A refused print request or clerk action; `code` is stable, str() explains."""


def _audit(action: str, job: PrintJob, *, by: Any = None, **details: Any) -> None:
    audit.record(
        action,
        actor=by,
        obj=job,
        institution=job.printer.institution,
        card=job.card_id,
        printer=job.printer_id,
        **details,
    )


def enqueue(job: PrintJob, *, countdown: int = 0) -> None:
    """Send the job to its queue (its institution's, or the platform's in site mode)
    once the current transaction commits (a worker must never look for a job that is
    not yet visible)."""
    name = queue.job_queue(job.printer.institution.code)
    transaction.on_commit(lambda: queue.send_print_job(job.pk, name, countdown=countdown))


def submit_print_job(
    card: Card,
    printer: Printer,
    *,
    copies: int = 1,
    requested_by: Any,
    idempotency_key: str,
) -> tuple[PrintJob, bool]:
    """Queue `copies` slips of `card` on `printer`. The same `idempotency_key` always
    returns the one job made for it (created=False), however many requests race.
    `requested_by`: a user (stored on the job), or any actor healthcard.audit accepts
    (a terminal, "command:…"), recorded in the audit row.

    Refuses (PrintError): an inactive printer, copies outside 1..10, an empty key, and
    a key already used for a different card or printer; (CardError, through
    cards.require_active) a card that is not active."""
    key = (idempotency_key or "").strip()
    if not key or len(key) > 64:
        raise PrintError("bad_key", _("An idempotency key of 1 to 64 characters is required."))
    existing = PrintJob.objects.filter(idempotency_key=key).first()
    if existing is not None:
        return _same_request(existing, card, printer), False
    if not isinstance(copies, int) or not 1 <= copies <= MAX_COPIES:
        raise PrintError("bad_copies", _("Copies must be between 1 and 10."))
    if not printer.is_active:
        raise PrintError("printer_inactive", _("This printer is switched off in the settings."))
    cards.require_active(card)
    try:
        with transaction.atomic():
            job = PrintJob.objects.create(
                card=card,
                printer=printer,
                copies=copies,
                # a terminal or a command may ask too: the audit row names it
                requested_by=requested_by if isinstance(requested_by, get_user_model()) else None,
                idempotency_key=key,
            )
            _audit("print.submit", job, by=requested_by, copies=copies)
            enqueue(job)
    except IntegrityError:
        # Another request with the same key won the race; theirs is the job.
        existing = PrintJob.objects.filter(idempotency_key=key).first()
        if existing is None:
            raise
        return _same_request(existing, card, printer), False
    return job, True


def _same_request(job: PrintJob, card: Card, printer: Printer) -> PrintJob:
    if job.card_id != card.pk or job.printer_id != printer.pk:
        raise PrintError(
            "key_reused", _("This idempotency key was already used for another print job.")
        )
    return job


def _transition(job: PrintJob, frm: set[str], to: str, *, flagged: bool | None = None, **fields):
    """Conditional UPDATE: True if this caller moved the job, False if it was elsewhere."""
    qs = PrintJob.objects.filter(pk=job.pk, status__in=frm)
    if flagged is not None:
        qs = qs.filter(needs_confirmation=flagged)
    return qs.update(status=to, updated_at=timezone.now(), **fields) == 1


def claim(job: PrintJob) -> bool:
    """Make a queued job `sending` for this worker. False: someone else has it, or it is
    printed, failed or cancelled."""
    return _transition(
        job,
        {JobStatus.QUEUED},
        JobStatus.SENDING,
        attempts=F("attempts") + 1,
        sending_at=timezone.now(),
        needs_confirmation=False,
    )


def mark_printed(job: PrintJob, *, output: str = "", by: Any = None) -> bool:
    """The printer took the whole job (or the PDF is stored)."""
    with transaction.atomic():
        done = _transition(
            job,
            {JobStatus.SENDING},
            JobStatus.PRINTED,
            finished_at=timezone.now(),
            needs_confirmation=False,
            last_error="",
            output=output,
        )
        if done:
            _audit("print.printed", job, by=by, copies=job.copies)
    return done


def mark_failed(job: PrintJob, error: str, *, reason: str = "error") -> bool:
    """Give up: the error is shown to the clerk, who may retry or cancel."""
    with transaction.atomic():
        done = _transition(
            job,
            {JobStatus.SENDING},
            JobStatus.FAILED,
            finished_at=timezone.now(),
            last_error=error[:500],
        )
        if done:
            _audit("print.failed", job, result="error", reason=reason)
    return done


def requeue(job: PrintJob, error: str) -> bool:
    """The printer could not be reached and nothing was sent: back to `queued` for the
    task's next attempt."""
    with transaction.atomic():
        done = _transition(job, {JobStatus.SENDING}, JobStatus.QUEUED, last_error=error[:500])
        if done:
            _audit("print.attempt_failed", job, result="error", reason="unreachable")
    return done


def flag_interrupted(job: PrintJob, error: str) -> bool:
    """A job stopped while it was being sent (worker crash, connection dropped mid-job):
    the slip may or may not have come out, and the printer cannot say. The job stays
    `sending`, flagged for a clerk; it is never printed again automatically."""
    with transaction.atomic():
        done = _transition(
            job,
            {JobStatus.SENDING},
            JobStatus.SENDING,
            flagged=False,
            needs_confirmation=True,
            last_error=error[:500],
        )
        if done:
            _audit("print.interrupted", job, result="error")
    return done


def retry(job: PrintJob, *, by: Any) -> PrintJob:
    """Queue a failed job again. Refuses any other status."""
    with transaction.atomic():
        if not _transition(job, {JobStatus.FAILED}, JobStatus.QUEUED, finished_at=None):
            raise PrintError("not_failed", _("Only a failed job can be retried."))
        _audit("print.retry", job, by=by)
        enqueue(job)
    job.refresh_from_db()
    return job


def cancel(job: PrintJob, *, by: Any) -> PrintJob:
    """Cancel a job that is queued, failed, or flagged after an interruption."""
    with transaction.atomic():
        done = _transition(
            job,
            {JobStatus.QUEUED, JobStatus.FAILED},
            JobStatus.CANCELLED,
            finished_at=timezone.now(),
        ) or _transition(
            job,
            {JobStatus.SENDING},
            JobStatus.CANCELLED,
            flagged=True,
            finished_at=timezone.now(),
            needs_confirmation=False,
        )
        if not done:
            raise PrintError(
                "not_cancellable",
                _("Only a queued, failed or interrupted job can be cancelled."),
            )
        _audit("print.cancel", job, by=by)
    job.refresh_from_db()
    return job


def confirm_printed(job: PrintJob, *, by: Any) -> PrintJob:
    """The clerk saw the slip of an interrupted job: it counts as printed."""
    with transaction.atomic():
        done = _transition(
            job,
            {JobStatus.SENDING},
            JobStatus.PRINTED,
            flagged=True,
            needs_confirmation=False,
            finished_at=timezone.now(),
        )
        if not done:
            raise PrintError(
                "not_flagged", _("Only a job waiting for confirmation can be confirmed.")
            )
        _audit("print.confirm_printed", job, by=by)
    job.refresh_from_db()
    return job


def print_again(job: PrintJob, *, by: Any) -> PrintJob:
    """The clerk found no slip for an interrupted job: queue it again."""
    with transaction.atomic():
        done = _transition(
            job, {JobStatus.SENDING}, JobStatus.QUEUED, flagged=True, needs_confirmation=False
        )
        if not done:
            raise PrintError(
                "not_flagged", _("Only a job waiting for confirmation can be printed again.")
            )
        _audit("print.print_again", job, by=by)
        enqueue(job)
    job.refresh_from_db()
    return job


def open_pdf(job: PrintJob, *, by: Any, ip: str | None = None) -> Path:
    """The stored PDF of a printed job, for staff of the job's institution (a province
    admin: any) who may view print jobs; writes the `print.download` audit row.
    Refuses with NotAllowed('not_found') outside the institution (existence is not
    revealed either) and PrintError('no_output') for a job without a stored PDF."""
    access.require_perm(by, "printing.view_printjob")
    institution = access.staff_institution(by)
    if institution is False or (
        institution is not None and job.printer.institution_id != institution.pk
    ):
        raise NotAllowed("not_found")
    if job.status != JobStatus.PRINTED or not job.output:
        raise PrintError("no_output", _("This job has no PDF to download."))
    try:
        path = output.open_output(job.output)
    except FileNotFoundError:
        raise PrintError("no_output", _("This job has no PDF to download.")) from None
    if not path.is_file():
        raise PrintError("no_output", _("This job has no PDF to download."))
    _audit("print.download", job, by=by, ip=ip)
    return path


def describe(job: PrintJob) -> str:
    """A one-line state for lists: what the clerk should know or do."""
    if job.needs_confirmation:
        return gettext("Interrupted: check the printer, then confirm or print again.")
    return str(job.get_status_display())


def flag_stale(printer: Printer, *, older_than_seconds: int) -> int:
    """Flag this printer's jobs that have been `sending` for longer than any attempt can
    last: their worker died and no broker will redeliver them (the embedded transport
    does not). Returns how many were flagged."""
    cutoff = timezone.now() - datetime.timedelta(seconds=older_than_seconds)
    flagged = 0
    stale = PrintJob.objects.filter(
        printer=printer, status=JobStatus.SENDING, needs_confirmation=False, sending_at__lt=cutoff
    ).select_related("printer__institution")
    for job in stale:
        flagged += flag_interrupted(
            job, gettext("The print worker stopped while sending this job.")
        )
    return flagged


def record_delivery(job: PrintJob, *, attempt: int, kid: str) -> None:
    """The platform stage published a signed delivery of `job` to its site."""
    with transaction.atomic():
        _audit("print.delivered", job, attempt=attempt, kid=kid)


def apply_report(report: dict, *, sender: str | None = None) -> str:
    """Apply a print site's report on one delivery through the state machine above.

    `sender`: the broker-validated user that published the report (RabbitMQ user_id);
    on RabbitMQ it must be the site user of the job's institution. Refused (audited as
    `print.report_refused`): a report naming another institution than the job's, or
    sent by another site. A report for an older attempt is `stale`; a report applied
    before changes nothing (`duplicate`), because every transition is conditional.
    Returns "applied", "duplicate", "stale", "unknown" or "refused"."""
    try:
        job_pk, attempt = int(report["job"]), int(report["attempt"])
        outcome, code = str(report["outcome"]), str(report["institution"])
        reason, error = str(report.get("reason") or ""), str(report.get("error") or "")
    except (KeyError, TypeError, ValueError):
        return "refused"
    job = PrintJob.objects.select_related("printer__institution").filter(pk=job_pk).first()
    if job is None:
        return "unknown"
    institution = job.printer.institution
    expected = queue.site_user(institution.code) if queue.site_users_enforced() else None
    if code != institution.code or (expected is not None and sender != expected):
        with transaction.atomic():
            _audit(
                "print.report_refused",
                job,
                by=f"site:{sender or code}"[:80],
                result="refused",
                claimed=code[:20],
            )
        return "refused"
    if job.attempts != attempt or outcome not in delivery.OUTCOMES:
        return "stale"
    error = error or reason
    if outcome == delivery.PRINTED:
        done = mark_printed(job, by=f"site:{code}")
    elif outcome == delivery.INTERRUPTED:
        done = flag_interrupted(job, error)
    elif reason == "unreachable" and attempt <= settings.HEALTHCARD_PRINT_MAX_RETRIES:
        with transaction.atomic():
            done = requeue(job, error)
            if done:
                enqueue(job, countdown=queue.backoff(attempt - 1))
    else:
        done = mark_failed(job, error, reason=reason or "site")
    return "applied" if done else "duplicate"
