from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from healthcard.api import schema, statistics, views  # noqa: F401 - schema registers the auth extension

app_name = "api"

urlpatterns = [
    path("v1/health", views.HealthView.as_view(), name="health"),
    path("v1/keys", views.KeysView.as_view(), name="keys"),
    path("v1/revocations", views.RevocationsView.as_view(), name="revocations"),
    path("v1/codes/verify", views.VerifyView.as_view(), name="verify"),
    path("v1/usage-events", views.UsageEventsView.as_view(), name="usage-events"),
    path("v1/cards", views.CardsView.as_view(), name="cards"),
    path("v1/cards/batch", views.CardsBatchView.as_view(), name="cards-batch"),
    path("v1/cards/<str:ehc_id>/links/<str:kind>", views.CardLinkView.as_view(), name="card-link"),
    path("v1/visit-totals", statistics.VisitTotalsView.as_view(), name="visit-totals"),
    path("schema/", SpectacularAPIView.as_view(api_version="1.0.0"), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api:schema"), name="redoc"),
    re_path(r"^.*$", views.not_found),
]
