from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("healthcard.api.urls")),
    # Unified sign-in: the OpenID Connect provider (docs/signin.md).
    path("o/", include("healthcard.oidc.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("portal.urls")),
]
