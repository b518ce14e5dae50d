"""The institution's admin registers its apps and services in the Django admin."""

import re

import pytest

from healthcard.oidc.models import Service, SigninClient


@pytest.fixture
def admin_client(client, institution_admin, otp_login):
    otp_login(client, institution_admin)
    return client


def add_client(admin_client, hospital, **extra):
    data = {
        "institution": hospital.pk,
        "name": "湘雅掌上医院",
        "redirect_uris": "https://app.xiangya.example/callback",
        "post_logout_redirect_uris": "",
        "scopes": ["openid", "ehc"],
        "confidential": "on",
        "enabled": "on",
    }
    data.update(extra)
    return admin_client.post("/admin/oidc/signinclient/add/", data)


def test_admin_registers_a_client_and_sees_the_secret_once(admin_client, hospital):
    response = add_client(admin_client, hospital)
    assert response.status_code == 200
    client = SigninClient.objects.get()
    assert client.scopes == ["openid", "ehc"]
    assert client.application.client_id in response.content.decode()
    secret = re.search(r'id="client-secret"[^>]*>([^<]+)<', response.content.decode()).group(1)
    assert secret != client.application.client_secret  # only the hash is stored
    page = admin_client.get(f"/admin/oidc/signinclient/{client.pk}/change/")
    assert secret not in page.content.decode()


def test_admin_cannot_register_an_http_redirect(admin_client, hospital):
    add_client(admin_client, hospital, redirect_uris="http://app.xiangya.example/cb")
    assert not SigninClient.objects.exists()


def test_admin_disables_a_client(admin_client, hospital):
    add_client(admin_client, hospital)
    client = SigninClient.objects.get()
    response = admin_client.post(
        f"/admin/oidc/signinclient/{client.pk}/change/",
        {"redirect_uris": "https://app.xiangya.example/callback", "scopes": ["openid"]},
    )
    assert response.status_code == 302
    client.refresh_from_db()
    assert client.enabled is False
    assert client.scopes == ["openid"]


def test_other_institutions_clients_are_not_found(client, outsider, otp_login, hospital, rp):
    otp_login(client, outsider)
    assert client.get("/admin/oidc/signinclient/").status_code in (200, 403)
    response = client.get(f"/admin/oidc/signinclient/{rp.client.pk}/change/")
    assert response.status_code in (403, 404)


def test_admin_adds_a_service_on_its_apps_domain(admin_client, hospital):
    add_client(admin_client, hospital)
    client = SigninClient.objects.get()
    data = {
        "client": client.pk,
        "kind": "booking",
        "name": "预约挂号",
        "description": "",
        "url": "https://evil.example/booking",
        "with_signin": "on",
        "enabled": "on",
    }
    response = admin_client.post("/admin/oidc/service/add/", data)
    assert response.status_code == 200  # the form again, with the error
    assert not Service.objects.exists()
    data["url"] = "https://app.xiangya.example/booking"
    assert admin_client.post("/admin/oidc/service/add/", data).status_code == 302
    assert Service.objects.get().institution == hospital
