"""Where PDF print jobs are kept: MEDIA_ROOT/print-jobs/<year>/<month>/<job>-<random>.pdf.

The file name carries no personal data and is not guessable; the staff console will
serve it only to staff of the job's institution (not through MEDIA_URL)."""

import secrets
from pathlib import Path

from django.conf import settings
from django.utils import timezone

ROOT = "print-jobs"


def store_pdf(job_pk: int, data: bytes) -> str:
    """Write the PDF atomically and return its path relative to MEDIA_ROOT."""
    now = timezone.now()
    relative = Path(ROOT) / f"{now:%Y}" / f"{now:%m}" / f"{job_pk}-{secrets.token_hex(8)}.pdf"
    target = Path(settings.MEDIA_ROOT) / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    partial.write_bytes(data)
    partial.replace(target)
    return relative.as_posix()


def open_output(relative: str) -> Path:
    """The absolute path of a stored job output (for the download view)."""
    path = (Path(settings.MEDIA_ROOT) / relative).resolve()
    if Path(settings.MEDIA_ROOT).resolve() / ROOT not in path.parents:
        raise FileNotFoundError(relative)
    return path
