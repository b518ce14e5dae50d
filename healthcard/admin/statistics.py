"""The admin's adoption statistics page, its CSV exports and the visit-totals upload.

Thin views: who sees what is healthcard.statistics.scope_for, every figure comes from
healthcard.statistics.report (the roll-ups), charts from healthcard.charts.
"""

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from healthcard import charts, statistics
from healthcard.clientip import client_ip
from healthcard.models import Institution, Level


def statistics_urls(site) -> list:
    """The pages' URLs, added to the admin site's (healthcard.admin_site)."""
    return [
        path("statistics/", site.admin_view(statistics_page(site)), name="statistics"),
        path(
            "statistics/visits/",
            site.admin_view(visits_upload(site)),
            name="statistics_visits",
        ),
    ]


def _scope(request) -> statistics.StatisticsScope:
    scope = statistics.scope_for(request.user)
    if scope is None:
        raise PermissionDenied
    return scope


class FilterForm(forms.Form):
    start = forms.DateField(label=gettext_lazy("From"), required=False)
    end = forms.DateField(label=gettext_lazy("To"), required=False)
    city = forms.ChoiceField(label=gettext_lazy("City/prefecture"), required=False)
    level = forms.ChoiceField(label=gettext_lazy("Level"), required=False)
    institution = forms.ModelChoiceField(
        label=gettext_lazy("Institution"),
        queryset=Institution.objects.none(),
        required=False,
        to_field_name="code",
    )

    def __init__(self, data, scope: statistics.StatisticsScope):
        super().__init__(data)
        institutions = Institution.objects.filter(scope.q()).exclude(level=Level.AUTHORITY)
        self.fields["institution"].queryset = institutions.order_by("city_code", "code")
        cities = sorted(set(institutions.values_list("city_code", flat=True)))
        self.fields["city"].choices = [("", _("All"))] + [
            (c, statistics.city_name(c)) for c in cities
        ]
        self.fields["level"].choices = [("", _("All"))] + [
            (lv.value, lv.label) for lv in Level if lv != Level.AUTHORITY
        ]
        for field in ("start", "end"):
            self.fields[field].widget = forms.DateInput(attrs={"type": "date"})

    def filters(self) -> statistics.Filters:
        default = statistics.Filters.last_days(30)
        data = self.cleaned_data
        return statistics.Filters(
            start=data.get("start") or default.start,
            end=data.get("end") or default.end,
            city=data.get("city") or "",
            level=data.get("level") or "",
            institution=data.get("institution"),
        )


def _filters(request, scope) -> tuple[FilterForm, statistics.Filters]:
    form = FilterForm(request.GET or None, scope)
    filters = statistics.Filters.last_days(30)
    if form.is_bound and form.is_valid():
        try:
            filters = form.filters()
        except statistics.StatisticsError as exc:
            form.add_error(None, exc.message)
    return form, filters


def _csv_response(table: statistics.Table, filters: statistics.Filters) -> HttpResponse:
    response = HttpResponse(
        "\ufeff" + table.csv(),  # the BOM makes spreadsheet programs read UTF-8
        content_type="text/csv; charset=utf-8",
    )
    name = f"statistics-{table.key}-{filters.start}-{filters.end}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _charts(report: statistics.Report) -> dict:
    target = float(statistics.VISIT_SHARE_TARGET)
    share_bars = [
        charts.Bar(label, float(s.value) if s.value is not None else None, str(s), s.note)
        for label, s in report.share_bars
    ]
    readiness = [
        charts.Bar(
            label,
            float(s.value) if s.value is not None else None,
            _("%(share)s · deadline %(day)s") % {"share": s, "day": deadline}
            if deadline
            else str(s),
            s.note,
        )
        for label, s, deadline in report.readiness_bars
    ]
    steps = [charts.Bar(label, n, str(n)) for label, n in report.care_steps]
    return {
        "issuance": charts.line_chart(
            _("Cards issued per day by application channel"),
            _("One line per application channel; the table beside it has the figures."),
            report.day_labels,
            report.issuance_series,
            "c-issuance",
        ),
        "care_steps": charts.bar_chart(
            _("Card uses by care step"),
            _("Uses in the period for each care step."),
            steps,
            "c-steps",
        ),
        "share": charts.bar_chart(
            _("Visit share against the 80 % target"),
            _("Card visits as a share of reported visits; the dashed line is the target."),
            share_bars,
            "c-share",
            maximum=1,
            target=target,
            target_label=_("Target %(p)d%%") % {"p": round(target * 100)},
        ),
        "readiness": charts.bar_chart(
            _("Institutions accepting the card, by level, against the deadlines"),
            _("Share of institutions accepting the card; each bar names its deadline."),
            readiness,
            "c-readiness",
            maximum=1,
            target=1,
            target_label=_("All institutions"),
        ),
    }


# Sections of the page: (heading, chart, tables beside or below it).
SECTIONS = (
    (gettext_lazy("Issuance"), "issuance", ("issuance_by_day",)),
    (
        None,
        None,
        (
            "issuance_by_city",
            "issuance_by_institution",
            "card_status",
            "issuance_by_institution_day",
        ),
    ),
    (gettext_lazy("Use"), "care_steps", ("use_by_care_step",)),
    (
        None,
        None,
        (
            "use_by_day",
            "use_by_terminal_type",
            "use_by_level",
            "use_by_institution",
            "use_by_day_and_care_step",
            "use_by_day_and_terminal_type",
            "use_by_day_and_level",
            "use_by_institution_day",
        ),
    ),
    (gettext_lazy("Visit share"), "share", ("visit_share_by_city",)),
    (
        None,
        None,
        (
            "visit_share_by_level",
            "below_target",
            "visit_data_problems",
            "visit_share_by_institution",
        ),
    ),
    (gettext_lazy("Acceptance readiness"), "readiness", ("readiness",)),
    (None, None, ("not_accepting",)),
)


def table_body(table: statistics.Table) -> SafeString:
    """The <tbody> rows of a table, escaped: built here rather than in template loops,
    which cost a third of a second for the province's institution tables."""
    rows = []
    for row in table.page_cells:
        head, *rest = row
        cells = "".join(
            format_html('<td class="num">{}</td>', value)
            if number
            else format_html("<td>{}</td>", "" if value is None else value)
            for value, number in rest
        )
        rows.append(format_html('<tr><th scope="row">{}</th>{}</tr>', head[0], mark_safe(cells)))  # noqa: S308 - cells escaped above
    return mark_safe("\n".join(rows))  # noqa: S308 - every row built by format_html


def statistics_page(site):
    def view(request):
        scope = _scope(request)
        form, filters = _filters(request, scope)
        report = statistics.report(scope, filters)
        export = request.GET.get("export")
        if export:
            if export not in report.tables:
                raise Http404
            return _csv_response(report.tables[export], filters)
        query = request.GET.copy()
        query.pop("export", None)
        chart_svgs = _charts(report)
        sections = [
            {
                "heading": heading,
                "chart": chart_svgs[chart] if chart else None,
                "tables": [
                    {
                        "table": report.tables[key],
                        "body": "" if report.tables[key].detail else table_body(report.tables[key]),
                    }
                    for key in keys
                ],
            }
            for heading, chart, keys in SECTIONS
        ]
        return TemplateResponse(
            request,
            "admin/statistics/page.html",
            {
                **site.each_context(request),
                "title": _("Adoption statistics"),
                "scope": scope,
                "form": form,
                "filters": filters,
                "report": report,
                "sections": sections,
                "query": query.urlencode(),
                "target": f"{int(statistics.VISIT_SHARE_TARGET * 100)}%",
                "deadlines": [
                    (Level(level).label, day)
                    for level, day in statistics.ACCEPTANCE_DEADLINES.items()
                ],
                "readiness_days": statistics.READINESS_DAYS,
            },
        )

    return view


class UploadForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("CSV file"),
        help_text=gettext_lazy(
            "First line: institution,date,visits; then one line per institution and day "
            "(code, YYYY-MM-DD, number). UTF-8 or GB18030, at most 2 MB."
        ),
    )


def visits_upload(site):
    def view(request):
        _scope(request)
        result = None
        form = UploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            data = upload.read(statistics.MAX_CSV_BYTES + 1)
            result = statistics.import_visit_csv(data, by=request.user, ip=client_ip(request))
        return TemplateResponse(
            request,
            "admin/statistics/visits_upload.html",
            {
                **site.each_context(request),
                "title": _("Upload visit totals"),
                "form": form,
                "result": result,
            },
        )

    return view
