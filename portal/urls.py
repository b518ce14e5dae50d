from django.urls import include, path

from portal import apps_views, views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    # The resident side (portal/resident/).
    path("", include("portal.resident.urls")),
    path("staff/", include("portal.staff.urls")),
    # Unified sign-in (issue 12): granted apps and the services directory.
    path("me/apps/", apps_views.granted_apps, name="signin_apps"),
    path("me/apps/<str:ref>/revoke/", apps_views.revoke_app, name="signin_revoke"),
    path("services/", apps_views.directory, name="services"),
]
