"""Registering sign-in clients and services: who may, and what is refused."""

import pytest

from healthcard import signin
from healthcard.errors import NotAllowed
from healthcard.models import AuditRecord
from healthcard.oidc.models import ServiceKind

URI = "https://app.xiangya.example/callback"


def register(institution, by, **kwargs):
    values = {"redirect_uris": URI, "scopes": "openid ehc", "confidential": True}
    values.update(kwargs)
    return signin.register_client(institution, "App", by=by, **values)


def test_institution_admin_registers_a_client_and_it_is_audited(hospital, institution_admin):
    new = register(hospital, institution_admin)
    assert new.client_secret
    assert new.client.application.client_secret != new.client_secret  # stored hashed
    assert new.client.scopes == ["openid", "ehc"]
    assert AuditRecord.objects.filter(action="signin.client.register").count() == 1


def test_public_client_has_no_secret(hospital, institution_admin):
    assert register(hospital, institution_admin, confidential=False).client_secret == ""


@pytest.mark.parametrize("who", ["outsider", "clerk", "supervisor"])
def test_others_may_not_register_for_the_hospital(hospital, request, who):
    with pytest.raises(NotAllowed):
        register(hospital, request.getfixturevalue(who))


def test_province_admin_registers_for_any_institution(hospital, province_admin):
    assert register(hospital, province_admin).client.institution == hospital


@pytest.mark.parametrize(
    "uris",
    [
        "http://app.xiangya.example/callback",
        "https://app.xiangya.example/*",
        "https://app.xiangya.example/cb#frag",
        "app.xiangya.example/callback",
        "",
    ],
)
def test_redirect_uris_must_be_exact_https(hospital, institution_admin, uris):
    with pytest.raises(signin.SigninError):
        register(hospital, institution_admin, redirect_uris=uris)


def test_http_redirect_allowed_only_with_debug(hospital, institution_admin, settings):
    settings.DEBUG = True
    new = register(hospital, institution_admin, redirect_uris="http://127.0.0.1:8001/cb")
    assert new.client.application.redirect_uris == "http://127.0.0.1:8001/cb"


def test_scopes_are_checked(hospital, institution_admin, province_admin):
    with pytest.raises(signin.SigninError):
        register(hospital, institution_admin, scopes="ehc")  # no openid
    with pytest.raises(signin.SigninError):
        register(hospital, institution_admin, scopes="openid email")
    with pytest.raises(signin.SigninError):
        register(hospital, institution_admin, scopes="openid identity")
    with pytest.raises(NotAllowed):
        register(hospital, institution_admin, scopes="openid identity", identity_allowed=True)
    new = register(hospital, province_admin, scopes="openid identity", identity_allowed=True)
    assert signin.client_scopes(new.client.application) == ["openid", "identity"]


def test_service_link_must_be_https_on_a_registered_domain(hospital, institution_admin):
    client = register(hospital, institution_admin).client
    with pytest.raises(signin.SigninError):
        signin.add_service(
            client, kind="booking", name="挂号", url="https://evil.example/", by=institution_admin
        )
    with pytest.raises(signin.SigninError):
        signin.add_service(
            client,
            kind="booking",
            name="挂号",
            url="http://app.xiangya.example/booking",
            by=institution_admin,
        )
    service = signin.add_service(
        client,
        kind=ServiceKind.BOOKING,
        name="预约挂号",
        url="https://app.xiangya.example/booking",
        with_signin=True,
        by=institution_admin,
    )
    link = signin.service_link(service, "https://ehc.example/o")
    assert link.startswith("https://app.xiangya.example/booking?iss=https%3A%2F%2Fehc.example%2Fo")


def test_service_of_another_institution_refused(hospital, institution_admin, outsider):
    client = register(hospital, institution_admin).client
    with pytest.raises(NotAllowed):
        signin.add_service(
            client, kind="booking", name="x", url="https://app.xiangya.example/", by=outsider
        )


def test_directory_searches_by_name_and_city(hospital, other_hospital, province_admin):
    a = register(hospital, province_admin).client
    b = register(
        other_hospital, province_admin, redirect_uris="https://app.xiangtan.example/cb"
    ).client
    signin.add_service(
        a, kind="booking", name="预约挂号", url="https://app.xiangya.example/b", by=province_admin
    )
    signin.add_service(
        b, kind="reports", name="检查报告", url="https://app.xiangtan.example/r", by=province_admin
    )
    assert list(signin.directory()) == [other_hospital, hospital] or set(signin.directory()) == {
        hospital,
        other_hospital,
    }
    assert list(signin.directory(query="报告")) == [other_hospital]
    assert list(signin.directory(query="湘雅")) == [hospital]
    assert list(signin.directory(city="430100")) == [hospital]
    assert signin.directory(city="431300") == {}
