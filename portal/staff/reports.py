"""The clerk's day and the supervisor's institution view (with CSV export)."""

import csv
import datetime

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _

from healthcard import access
from healthcard.models import AuditRecord, Card
from portal.staff.auth import staff_required
from portal.staff.forms import ActivityFilter
from portal.staff.views import scoped, visible_jobs
from printing.models import JobStatus


def _day_bounds(start: datetime.date, end: datetime.date):
    tz = timezone.get_current_timezone()
    low = datetime.datetime.combine(start, datetime.time.min, tzinfo=tz)
    high = datetime.datetime.combine(end + datetime.timedelta(days=1), datetime.time.min, tzinfo=tz)
    return low, high


def visible_cards(user):
    qs = Card.objects.select_related("person", "issued_by", "institution")
    return scoped(user, qs, lambda institution: Q(institution=institution))


@staff_required(perm="printing.view_printjob")
def today(request):
    """What this clerk did today: cards issued and slips printed."""
    low, high = _day_bounds(timezone.localdate(), timezone.localdate())
    user = request.user
    issued = visible_cards(user).filter(issued_by=user, issued_at__gte=low, issued_at__lt=high)
    printed = visible_jobs(user).filter(requested_by=user, created_at__gte=low, created_at__lt=high)
    context = {
        "issued": issued.order_by("-issued_at"),
        "jobs": printed.order_by("-created_at"),
        "printed_count": printed.filter(status=JobStatus.PRINTED).count(),
    }
    return render(request, "portal/staff/today.html", context)


@staff_required(perm="printing.change_printjob")
def activity(request):
    """The institution's cards and print jobs over a period, filtered; CSV on request."""
    user = request.user
    institution = access.staff_institution(user)
    staff = get_user_model().objects.filter(staff_profile__isnull=False).order_by("username")
    if institution is not None:
        staff = staff.filter(staff_profile__institution=institution)
    form = ActivityFilter(request.GET or None, staff=staff, statuses=JobStatus.choices)
    data = form.cleaned_data if form.is_valid() else {}
    start = data.get("start") or timezone.localdate()
    end = data.get("end") or start
    low, high = _day_bounds(min(start, end), max(start, end))
    issued = visible_cards(user).filter(issued_at__gte=low, issued_at__lt=high)
    printed = visible_jobs(user).filter(created_at__gte=low, created_at__lt=high)
    if data.get("clerk"):
        issued = issued.filter(issued_by=data["clerk"])
        printed = printed.filter(requested_by=data["clerk"])
    if data.get("status"):
        printed = printed.filter(status=data["status"])
    issued = issued.order_by("-issued_at")
    printed = printed.order_by("-created_at")
    if request.GET.get("export") == "csv":
        return _csv(issued, printed, start, end)
    context = {
        "form": form,
        "issued": issued[:200],
        "jobs": printed[:200],
        "trail": _trail(institution, low, high, data.get("clerk")),
        "start": start,
        "end": end,
    }
    return render(request, "portal/staff/activity.html", context)


def _trail(institution, low, high, clerk) -> list[AuditRecord]:
    """The institution's audit records in the period (their details hold no personal
    data), actors shown by user name. A province admin sees every institution's."""
    records = AuditRecord.objects.filter(at__gte=low, at__lt=high)
    if institution is not None:
        records = records.filter(institution=institution.code)
    if clerk is not None:
        records = records.filter(actor=f"user:{clerk.pk}")
    records = list(records.order_by("-at", "-id")[:200])
    ids = {int(r.actor[5:]) for r in records if r.actor.startswith("user:")}
    names = dict(get_user_model().objects.filter(pk__in=ids).values_list("pk", "username"))
    for record in records:
        is_user = record.actor.startswith("user:")
        record.actor_name = (
            names.get(int(record.actor[5:]), record.actor) if is_user else record.actor
        )
    return records


def _csv(issued, printed, start, end) -> HttpResponse:
    """Masked names only, as on the screen."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="counter-{start}-{end}.csv"'
    response.write("\ufeff")  # Excel opens UTF-8 CSV with a BOM correctly
    out = csv.writer(response)
    out.writerow([_("Time"), _("Event"), _("Name"), _("EHC ID"), _("Clerk"), _("Status")])
    local = timezone.localtime
    for card in issued:
        out.writerow(
            [
                f"{local(card.issued_at):%Y-%m-%d %H:%M}",
                _("Card issued"),
                card.person.masked_name,
                card.ehc_id,
                card.issued_by.get_username() if card.issued_by else "",
                card.get_status_display(),
            ]
        )
    for job in printed:
        out.writerow(
            [
                f"{local(job.created_at):%Y-%m-%d %H:%M}",
                _("Slip printed") if job.status == JobStatus.PRINTED else _("Print job"),
                job.card.person.masked_name,
                job.card.ehc_id,
                job.requested_by.get_username() if job.requested_by else "",
                job.get_status_display(),
            ]
        )
    return response
