from django.urls import include, path

from portal import views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    # The resident side (portal/resident/).
    path("", include("portal.resident.urls")),
    path("staff/", include("portal.staff.urls")),
]
