"""The OpenID Connect provider against a live server, driven by Authlib: discovery,
code + PKCE S256, the ID token verified against the JWKS, userinfo, rotation."""

import pytest
import requests

from healthcard.models import AuditRecord

pytestmark = pytest.mark.django_db(transaction=True)


def test_discovery_says_what_the_provider_supports(hospital_app):
    d = hospital_app.discovery
    assert d["issuer"] == hospital_app.base + "/o"
    assert d["code_challenge_methods_supported"] == ["S256"]
    assert d["subject_types_supported"] == ["pairwise"]
    assert d["id_token_signing_alg_values_supported"] == ["RS256"]
    assert d["response_types_supported"] == ["code"]
    assert d["end_session_endpoint"].endswith("/o/logout/")
    assert {"ehc_id", "name", "id_number"} <= set(d["claims_supported"])


def test_code_flow_with_pkce_gives_a_signed_id_token_and_userinfo(hospital_app, resident_http):
    token, nonce = hospital_app.sign_in(resident_http, "openid ehc profile phone")
    claims = hospital_app.verify_id_token(token["id_token"], nonce)
    person = resident_http.person
    assert claims["ehc_id"] == person.card.ehc_id
    assert claims["name"] == person.name
    assert claims["birthdate"] == person.birth_date.isoformat()
    assert claims["phone_number"] == "+86" + person.phone
    assert claims["phone_number_verified"] is True
    assert "id_number" not in claims  # identity was not asked for (and is not allowed)
    assert claims["sub"] not in {str(person.pk), str(resident_http.user.pk)}
    assert len(claims["sub"]) == 64
    info = hospital_app.userinfo(token["access_token"])
    assert info.status_code == 200
    assert info.json()["sub"] == claims["sub"]
    assert info.json()["ehc_id"] == person.card.ehc_id


def test_each_claim_comes_only_with_its_scope(hospital_app, resident_http):
    token, nonce = hospital_app.sign_in(resident_http, "openid")
    claims = hospital_app.verify_id_token(token["id_token"], nonce)
    assert not {"ehc_id", "name", "gender", "birthdate", "phone_number"} & set(claims)
    assert set(hospital_app.userinfo(token["access_token"]).json()) == {"sub"}


def test_sub_is_pairwise_per_client(hospital_app, other_app, resident_http):
    token, nonce = hospital_app.sign_in(resident_http, "openid ehc")
    other_token, other_nonce = other_app.sign_in(resident_http, "openid ehc")
    ours = hospital_app.verify_id_token(token["id_token"], nonce)
    theirs = other_app.verify_id_token(other_token["id_token"], other_nonce)
    assert ours["sub"] != theirs["sub"]
    assert ours["ehc_id"] == theirs["ehc_id"]  # the card ID they both asked for
    # Same client, same person: the same sub next time.
    again, again_nonce = hospital_app.sign_in(resident_http, "openid ehc")
    assert hospital_app.verify_id_token(again["id_token"], again_nonce)["sub"] == ours["sub"]


def test_consent_is_asked_once_per_scope_set(hospital_app, resident_http):
    hospital_app.sign_in(resident_http, "openid ehc")
    _oauth, response, *_ = hospital_app.start(resident_http, "openid ehc")
    assert response.status_code == 302  # straight back to the app with a code
    assert "code=" in response.headers["Location"]
    _oauth, response, *_ = hospital_app.start(resident_http, "openid ehc profile")
    assert response.status_code == 200  # more facts: asked again
    assert "verified name" in response.text
    # The answer redirects to the app, so only its origin is added to form-action.
    csp = response.headers["Content-Security-Policy"]
    assert "form-action 'self' https://app.xiangya.example" in csp


def test_identity_token_is_audited_and_in_the_holders_history(hospital_app, resident_http):
    token, _nonce = hospital_app.sign_in(resident_http, "openid ehc profile")
    rows = AuditRecord.objects.filter(action="signin.token")
    assert rows.count() == 1
    row = rows.get()
    assert row.object_id == str(resident_http.person.pk)
    assert row.actor == f"user:{resident_http.user.pk}"
    assert row.details["scopes"] == "openid ehc profile"
    assert row.details["on_behalf"] is False
    assert resident_http.person.name not in str(row.details)
    refreshed = hospital_app.refresh(token["refresh_token"])
    assert refreshed.status_code == 200
    assert rows.count() == 2
    from healthcard import selfservice

    card = resident_http.person.card
    entries = selfservice.history(card, by=resident_http.user)
    assert [e.kind for e in entries].count("signin") == 2
    assert entries[0].institution == "湘雅医院"


def test_openid_only_token_writes_no_identity_audit(hospital_app, resident_http):
    hospital_app.sign_in(resident_http, "openid")
    assert not AuditRecord.objects.filter(action="signin.token").exists()


def test_refresh_rotates_and_a_reused_token_revokes_the_family(hospital_app, resident_http):
    token, _nonce = hospital_app.sign_in(resident_http, "openid ehc")
    first = hospital_app.refresh(token["refresh_token"])
    assert first.status_code == 200
    rotated = first.json()
    assert rotated["refresh_token"] != token["refresh_token"]
    assert hospital_app.userinfo(rotated["access_token"]).status_code == 200
    # The old refresh token again (stolen and replayed): refused, and the whole family
    # with it, so the thief's and the app's tokens both stop working.
    replay = hospital_app.refresh(token["refresh_token"])
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    assert hospital_app.refresh(rotated["refresh_token"]).status_code == 400


def test_refresh_token_has_a_finite_lifetime(hospital_app, resident_http, settings):
    import datetime

    import time_machine

    token, _nonce = hospital_app.sign_in(resident_http, "openid")
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(
        seconds=settings.HEALTHCARD_OIDC_ACCESS_SECONDS
        + settings.HEALTHCARD_OIDC_REFRESH_SECONDS
        + 5
    )
    with time_machine.travel(later):
        assert hospital_app.refresh(token["refresh_token"]).status_code == 400


def test_public_client_signs_in_with_pkce_alone(other_app, resident_http):
    assert not other_app.secret
    token, nonce = other_app.sign_in(resident_http, "openid ehc")
    assert other_app.verify_id_token(token["id_token"], nonce)["ehc_id"]


def test_rp_initiated_logout_ends_the_session_and_its_tokens(hospital_app, resident_http):
    token, _nonce = hospital_app.sign_in(resident_http, "openid")
    response = resident_http.http.get(
        hospital_app.discovery["end_session_endpoint"],
        params={
            "id_token_hint": token["id_token"],
            "post_logout_redirect_uri": "https://app.xiangya.example/bye",
            "client_id": hospital_app.client_id,
        },
        allow_redirects=False,
    )
    assert response.status_code == 302, response.text[:300]
    assert response.headers["Location"].startswith("https://app.xiangya.example/bye")
    assert hospital_app.userinfo(token["access_token"]).status_code == 401
    me = resident_http.http.get(hospital_app.base + "/me/", allow_redirects=False)
    assert me.status_code == 302  # signed out of the portal too


def test_jwks_has_no_private_material(hospital_app, resident_http):
    hospital_app.sign_in(resident_http, "openid")
    keys = requests.get(timeout=10, url=hospital_app.discovery["jwks_uri"]).json()["keys"]
    assert len(keys) == 1
    assert set(keys[0]) == {"kty", "n", "e", "kid", "alg", "use"}
