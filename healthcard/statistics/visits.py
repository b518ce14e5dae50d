"""Visit totals institutions report (API, CSV upload): validated, idempotent per
institution and day, every change audited."""

import csv
import datetime
import io
import re
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from healthcard import audit
from healthcard.errors import NotAllowed
from healthcard.models import (
    Institution,
    Terminal,
    VisitTotal,
)
from healthcard.models.statistics import MAX_DAILY_VISITS
from healthcard.statistics.common import FIRST_DAY, StatisticsError, today
from healthcard.statistics.scope import scope_for


@dataclass
class VisitReport:
    total: VisitTotal
    status: str  # 'created', 'updated' or 'unchanged'
    previous: int | None


def check_visit_input(day: Any, visits: Any) -> tuple[datetime.date, int]:
    """The one validation of a reported day and visit count, for the API and the CSV
    upload alike. Refuses (StatisticsError with a field) a day in the future (CST) or
    before FIRST_DAY, and a count that is not a whole number 0..MAX_DAILY_VISITS."""
    if isinstance(day, str):
        try:
            day = datetime.date.fromisoformat(day.strip())
        except ValueError:
            raise StatisticsError(
                "invalid", _("Give the day as YYYY-MM-DD."), field="date"
            ) from None
    if not isinstance(day, datetime.date) or isinstance(day, datetime.datetime):
        raise StatisticsError("invalid", _("Give the day as YYYY-MM-DD."), field="date")
    if day > today():
        raise StatisticsError("invalid", _("The day is in the future."), field="date")
    if day < FIRST_DAY:
        raise StatisticsError(
            "invalid",
            _("Days before %(day)s are not accepted.") % {"day": FIRST_DAY.isoformat()},
            field="date",
        )
    if isinstance(visits, str) and re.fullmatch(r"[+-]?\d{1,12}", visits.strip()):
        visits = int(visits.strip())
    if isinstance(visits, bool) or not isinstance(visits, int):
        raise StatisticsError("invalid", _("Give the visits as a whole number."), field="visits")
    if visits < 0 or visits > MAX_DAILY_VISITS:
        raise StatisticsError(
            "invalid",
            _("The visits must be between 0 and %(max)d.") % {"max": MAX_DAILY_VISITS},
            field="visits",
        )
    return day, visits


def report_visits(
    institution: Institution,
    day: Any,
    visits: Any,
    *,
    by: Any,
    source: str,
    ip: str | None = None,
) -> VisitReport:
    """Record `institution`'s total outpatient visits for `day` (CST). Idempotent per
    institution and day: a repeat with the same number changes nothing; another number
    replaces the old one (the later report stands). Every report that creates or
    changes a figure writes a `visits.report` audit record with the old and new value.
    Refuses bad input (StatisticsError, see check_visit_input) and an actor who may
    not report for the institution (NotAllowed)."""
    day, visits = check_visit_input(day, visits)
    if not may_report_for(by, institution):
        raise NotAllowed("institution_mismatch")
    with transaction.atomic():
        total = VisitTotal.objects.select_for_update().filter(institution=institution, day=day)
        total = total.first()
        previous = total.visits if total is not None else None
        if previous == visits:
            return VisitReport(total, "unchanged", previous)
        if total is None:
            total = VisitTotal(institution=institution, day=day)
        total.visits, total.source = visits, source
        total.reported_by = audit.actor_label(by)
        try:
            with transaction.atomic():
                total.save()
        except IntegrityError:
            if previous is not None:
                raise
            # A concurrent first report of the same day won: this one comes later.
            return report_visits(institution, day, visits, by=by, source=source, ip=ip)
        audit.record(
            "visits.report",
            actor=by,
            obj=total,
            institution=institution,
            ip=ip,
            day=day.isoformat(),
            old=previous,
            new=visits,
            source=source,
        )
    return VisitReport(total, "created" if previous is None else "updated", previous)


def may_report_for(actor: Any, institution: Institution) -> bool:
    """A terminal reports for its own institution; staff for the institutions their
    statistics scope covers; the system (None) for any."""
    if actor is None:
        return True
    if isinstance(actor, Terminal):
        return actor.institution_id == institution.pk
    scope = scope_for(actor)
    return scope is not None and scope.covers(institution)


@dataclass
class CsvRow:
    line: int
    institution: str
    day: str
    visits: str
    status: str  # 'created', 'updated', 'unchanged' or 'error'
    error: str = ""

    @property
    def status_label(self) -> str:
        return {
            "created": _("new"),
            "updated": _("changed"),
            "unchanged": _("unchanged"),
        }.get(self.status, self.error)


@dataclass
class CsvImport:
    rows: list[CsvRow] = field(default_factory=list)
    error: str = ""  # a problem with the file as a whole (nothing imported)

    def count(self, status: str) -> int:
        return sum(1 for row in self.rows if row.status == status)

    @property
    def created(self) -> int:
        return self.count("created")

    @property
    def updated(self) -> int:
        return self.count("updated")

    @property
    def unchanged(self) -> int:
        return self.count("unchanged")

    @property
    def errors(self) -> int:
        return self.count("error")


CSV_COLUMNS = ("institution", "date", "visits")
MAX_CSV_BYTES = 2 * 1024 * 1024


def _decode_csv(data: bytes) -> str:
    """UTF-8 (with or without BOM) or GB18030, what Chinese spreadsheet programs
    save; anything else (UTF-16, binary) is refused rather than guessed at."""
    if b"\x00" in data:
        raise StatisticsError("encoding", _("The file is not UTF-8 or GB18030 text."))
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise StatisticsError("encoding", _("The file is not UTF-8 or GB18030 text."))


def import_visit_csv(data: bytes, *, by: Any, ip: str | None = None) -> CsvImport:
    """Import visit totals from CSV with the header `institution,date,visits` (code,
    YYYY-MM-DD, number). Each row is reported on its own through report_visits, so a
    bad row never blocks the others; the result holds one line per row. A second row
    for the same institution and day in the same file is an error (which one would
    stand?), and so is an institution the user may not report for."""
    report = CsvImport()
    if len(data) > MAX_CSV_BYTES:
        report.error = _("The file is larger than 2 MB.")
        return report
    try:
        text = _decode_csv(data)
    except StatisticsError as exc:
        report.error = str(exc.message)
        return report
    reader = csv.reader(io.StringIO(text))
    header = [h.strip().lower() for h in next(reader, [])]
    if tuple(header[:3]) != CSV_COLUMNS:
        report.error = _("The first line must be: %(header)s") % {"header": ",".join(CSV_COLUMNS)}
        return report
    institutions = {i.code: i for i in Institution.objects.all()}
    seen: dict[tuple[str, str], int] = {}
    for values in reader:
        line = reader.line_num
        if not any(v.strip() for v in values):
            continue
        code, day, visits = [*(v.strip() for v in values[:3]), "", "", ""][:3]
        row = CsvRow(line, code, day, visits, "error")
        report.rows.append(row)
        institution = institutions.get(code)
        if institution is None:
            row.error = _("Unknown institution code.")
            continue
        if (code, day) in seen:
            row.error = _("Same institution and day as line %(line)d.") % {"line": seen[code, day]}
            continue
        seen[code, day] = line
        try:
            outcome = report_visits(institution, day, visits, by=by, source="csv", ip=ip)
        except NotAllowed:
            row.error = _("You may not report visits for this institution.")
        except StatisticsError as exc:
            row.error = str(exc.message)
        else:
            row.status = outcome.status
    return report
