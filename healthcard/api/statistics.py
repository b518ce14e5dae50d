"""Visit totals: an institution's HIS reports its outpatient visits per day (scope
`report`), the denominator of the card's visit share. See docs/api.md."""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from healthcard import statistics
from healthcard.api.errors import ApiError
from healthcard.api.serializers import ErrorSerializer, InstitutionCheckMixin
from healthcard.api.views import ApiView
from healthcard.models import Scope
from healthcard.models.statistics import MAX_DAILY_VISITS


class VisitTotalSerializer(InstitutionCheckMixin):
    date = serializers.DateField(help_text=gettext_lazy("The day (China Standard Time)."))
    visits = serializers.IntegerField(
        min_value=0,
        max_value=MAX_DAILY_VISITS,
        help_text=gettext_lazy("Total outpatient visits that day."),
    )


class VisitTotalResponseSerializer(serializers.Serializer):
    institution = serializers.CharField()
    date = serializers.DateField()
    visits = serializers.IntegerField()
    status = serializers.CharField(help_text=gettext_lazy("'created', 'updated' or 'unchanged'."))
    previous = serializers.IntegerField(allow_null=True)


class VisitTotalsView(ApiView):
    """Report the day's total outpatient visits (scope `report`). Idempotent per
    institution and day: the same number again changes nothing (200 unchanged),
    another number replaces the old one (200 updated, audited)."""

    required_scope = Scope.REPORT

    @extend_schema(
        summary="Report an institution's outpatient visits for a day",
        request=VisitTotalSerializer,
        responses={
            201: VisitTotalResponseSerializer,
            200: VisitTotalResponseSerializer,
            **{code: OpenApiResponse(ErrorSerializer) for code in (400, 401, 403, 413, 415, 429)},
        },
        tags=["usage"],
    )
    def post(self, request):
        data = self.validated(VisitTotalSerializer)
        institution = self.terminal.institution
        try:
            outcome = statistics.report_visits(
                institution,
                data["date"],
                data["visits"],
                by=self.terminal,
                source="api",
                ip=self.client_ip(),
            )
        except statistics.StatisticsError as exc:
            raise ApiError(
                400,
                "invalid",
                _("Some fields are missing or invalid."),
                fields={exc.details.get("field", "non_field_errors"): [str(exc.message)]},
            ) from None
        total = outcome.total
        return Response(
            {
                "institution": institution.code,
                "date": total.day.isoformat(),
                "visits": total.visits,
                "status": outcome.status,
                "previous": outcome.previous,
            },
            status=status.HTTP_201_CREATED if outcome.status == "created" else status.HTTP_200_OK,
        )
