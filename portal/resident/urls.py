from django.urls import path

from portal.resident import signin, views

urlpatterns = [
    path("signin/", signin.signin, name="signin"),
    path("signin/code/", signin.signin_code, name="signin_code"),
    path("signin/resend/", signin.signin_resend, name="signin_resend"),
    path("signout/", signin.signout, name="signout"),
    path("elder/", signin.elder_toggle, name="elder_toggle"),
    path("me/", views.dashboard, name="dashboard"),
    path("apply/", views.apply, name="apply"),
    path("applications/<str:ref>/", views.application, name="application"),
    path("cards/<str:ref>/", views.card_detail, name="card"),
    path("cards/<str:ref>/show/", views.card_show, name="card_show"),
    path("cards/<str:ref>/code.svg", views.card_code, name="card_code"),
    path("cards/<str:ref>/print/", views.card_static, name="card_static"),
    path("cards/<str:ref>/slip.pdf", views.card_slip, name="card_slip"),
    path("cards/<str:ref>/lost/", views.card_lost, name="card_lost"),
    path("cards/<str:ref>/replace/", views.card_replace, name="card_replace"),
    path("cards/<str:ref>/history/", views.card_history, name="card_history"),
    path("family/<str:ref>/remove/", views.family_remove, name="family_remove"),
    path("dev/outbox/", signin.dev_outbox, name="dev_outbox"),
]
