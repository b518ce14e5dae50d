from django.urls import path

from portal.staff import auth, reports, views

app_name = "staff"

urlpatterns = [
    path("", views.home, name="home"),
    path("sign-in/", auth.sign_in, name="login"),
    path("enrol/", auth.enrol, name="enrol"),
    path("sign-out/", auth.sign_out, name="logout"),
    path("search/", views.search, name="search"),
    path("register/", views.register, name="register"),
    path("people/<int:pk>/", views.person, name="person"),
    path("people/<int:pk>/print/", views.print_card, name="print"),
    path("people/<int:pk>/replace/", views.replace, name="replace"),
    path("people/<int:pk>/status/", views.change_status, name="status"),
    path("people/<int:pk>/contact/", views.change_contact, name="contact"),
    path("people/<int:pk>/reveal/", views.reveal, name="reveal"),
    path("jobs/<int:pk>/", views.job_row, name="job"),
    path("jobs/<int:pk>/pdf/", views.job_pdf, name="job_pdf"),
    path("jobs/<int:pk>/<slug:action>/", views.job_action, name="job_action"),
    path("today/", reports.today, name="today"),
    path("activity/", reports.activity, name="activity"),
]
