"""Every refusal of the issue, through the live server: PKCE, redirect URIs, disabled
clients, codes, refresh reuse (in test_protocol), scopes, revoked consent, card status."""

import datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine

from healthcard import cards, signin
from healthcard.models import CardStatus

from .conftest import OTHER_REDIRECT

pytestmark = pytest.mark.django_db(transaction=True)


def error_of(location: str) -> str:
    return parse_qs(urlsplit(location).query)["error"][0]


def test_wrong_pkce_verifier_is_refused(hospital_app, resident_http):
    location, _verifier = hospital_app.code_for(resident_http)
    response = hospital_app.exchange(location, "x" * 64)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_missing_pkce_verifier_is_refused(hospital_app, resident_http):
    location, _verifier = hospital_app.code_for(resident_http)
    response = hospital_app.exchange(location, None)
    assert response.status_code == 400
    assert response.json()["error"] in {"invalid_request", "invalid_grant"}
    assert "access_token" not in response.json()


def test_request_without_code_challenge_is_refused(hospital_app, resident_http):
    url = (
        f"{hospital_app.discovery['authorization_endpoint']}?response_type=code"
        f"&client_id={hospital_app.client_id}&redirect_uri={hospital_app.redirect_uri}"
        "&scope=openid&state=abc"
    )
    response = resident_http.http.get(url, allow_redirects=False)
    assert response.status_code == 302
    assert error_of(response.headers["Location"]) == "invalid_request"


def test_plain_pkce_is_refused(hospital_app, resident_http):
    url = (
        f"{hospital_app.discovery['authorization_endpoint']}?response_type=code"
        f"&client_id={hospital_app.client_id}&redirect_uri={hospital_app.redirect_uri}"
        "&scope=openid&state=abc&code_challenge=" + "a" * 50 + "&code_challenge_method=plain"
    )
    response = resident_http.http.get(url, allow_redirects=False)
    assert response.status_code == 302
    assert error_of(response.headers["Location"]) == "invalid_request"


def test_unregistered_redirect_uri_gets_an_error_page_not_a_redirect(hospital_app, resident_http):
    hospital_app.redirect_uri = "https://app.xiangya.example/callback/evil"
    _oauth, response, *_ = hospital_app.start(resident_http)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "does not work" in response.text


def test_disabled_client_cannot_start_a_sign_in(hospital_app, resident_http, rp, institution_admin):
    signin.change_client(rp.client, enabled=False, by=institution_admin)
    _oauth, response, *_ = hospital_app.start(resident_http)
    assert response.status_code in (400, 401)
    assert "Location" not in response.headers


def test_disabling_a_client_stops_its_tokens(hospital_app, resident_http, rp, institution_admin):
    token, _nonce = hospital_app.sign_in(resident_http, "openid ehc")
    signin.change_client(rp.client, enabled=False, by=institution_admin)
    assert hospital_app.userinfo(token["access_token"]).status_code == 401
    assert hospital_app.refresh(token["refresh_token"]).status_code in (400, 401)


def test_expired_code_is_refused(hospital_app, resident_http, settings):
    location, verifier = hospital_app.code_for(resident_http)
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(
        seconds=settings.HEALTHCARD_OIDC_CODE_SECONDS + 5
    )
    with time_machine.travel(later):
        response = hospital_app.exchange(location, verifier)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_replayed_code_is_refused(hospital_app, resident_http):
    location, verifier = hospital_app.code_for(resident_http)
    assert hospital_app.exchange(location, verifier).status_code == 200
    replay = hospital_app.exchange(location, verifier)
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"


def test_scope_the_client_may_not_ask_for_is_refused(other_app, resident_http):
    _oauth, response, *_ = other_app.start(resident_http, "openid ehc profile")
    assert response.status_code == 302
    assert response.headers["Location"].startswith(OTHER_REDIRECT)
    assert error_of(response.headers["Location"]) == "invalid_scope"


def test_identity_scope_only_for_province_flagged_clients(
    hospital_app, resident_http, rp, province_admin, institution_admin
):
    _oauth, response, *_ = hospital_app.start(resident_http, "openid identity")
    assert error_of(response.headers["Location"]) == "invalid_scope"
    with pytest.raises(signin.SigninError):
        signin.change_client(rp.client, scopes="openid identity", by=institution_admin)
    with pytest.raises(signin.NotAllowed):
        signin.change_client(rp.client, identity_allowed=True, by=institution_admin)
    signin.change_client(
        rp.client, identity_allowed=True, scopes="openid ehc identity", by=province_admin
    )
    token, nonce = hospital_app.sign_in(resident_http, "openid identity")
    claims = hospital_app.verify_id_token(token["id_token"], nonce)
    assert claims["id_type"] == "01"
    assert claims["id_number"] == resident_http.person.id_number
    # The province takes the flag back: the consent with identity is revoked at once.
    signin.change_client(rp.client, identity_allowed=False, by=province_admin)
    assert hospital_app.userinfo(token["access_token"]).status_code == 401


def test_revoked_consent_stops_tokens_and_asks_again(hospital_app, resident_http):
    token, _nonce = hospital_app.sign_in(resident_http, "openid ehc")
    consent = signin.granted_apps(resident_http.user)[0]
    signin.revoke_consent(consent, by=resident_http.user)
    assert hospital_app.userinfo(token["access_token"]).status_code == 401
    assert hospital_app.refresh(token["refresh_token"]).status_code == 400
    _oauth, response, *_ = hospital_app.start(resident_http, "openid ehc")
    assert response.status_code == 200  # the consent screen again


def test_code_issued_before_revocation_does_not_exchange(hospital_app, resident_http):
    location, verifier = hospital_app.code_for(resident_http)
    signin.revoke_consent(signin.granted_apps(resident_http.user)[0], by=resident_http.user)
    assert hospital_app.exchange(location, verifier).status_code == 400


@pytest.mark.parametrize(
    ("status", "words"), [(CardStatus.FROZEN, "frozen"), (CardStatus.CANCELLED, "cancelled")]
)
def test_frozen_or_cancelled_card_is_refused_with_a_clear_page(
    hospital_app, resident_http, status, words
):
    card = resident_http.person.card
    cards.set_status(card, status, by=None, reason="test")
    _oauth, response, *_ = hospital_app.start(resident_http, "openid ehc")
    assert response.status_code == 403
    assert f"This card is {words}" in response.text
    assert "Location" not in response.headers


def test_card_frozen_after_sign_in_stops_its_tokens(hospital_app, resident_http):
    token, _nonce = hospital_app.sign_in(resident_http, "openid ehc")
    cards.set_status(resident_http.person.card, CardStatus.FROZEN, by=None, reason="lost")
    assert hospital_app.userinfo(token["access_token"]).status_code == 401
    assert hospital_app.refresh(token["refresh_token"]).status_code == 400
    # An existing consent does not get round the check either.
    _oauth, response, *_ = hospital_app.start(resident_http, "openid ehc")
    assert response.status_code == 403


def test_declining_sends_access_denied(hospital_app, resident_http):
    _oauth, response, _verifier, _nonce, url = hospital_app.start(resident_http)
    answer = hospital_app.consent(resident_http, url, response, allow="no")
    assert answer.status_code == 302
    assert error_of(answer.headers["Location"]) == "access_denied"
    assert signin.granted_apps(resident_http.user) == []


def test_signed_out_resident_is_sent_to_the_sms_sign_in(hospital_app, live_server):
    import requests

    oauth = hospital_app.session("openid")
    url, _state = oauth.create_authorization_url(
        hospital_app.discovery["authorization_endpoint"], code_verifier="v" * 50
    )
    response = requests.get(url, allow_redirects=False, timeout=10)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/signin/?next=")


def test_prompt_none_without_a_sign_in_is_login_required(hospital_app, live_server):
    import requests

    oauth = hospital_app.session("openid")
    url, _state = oauth.create_authorization_url(
        hospital_app.discovery["authorization_endpoint"], code_verifier="v" * 50, prompt="none"
    )
    response = requests.get(url, allow_redirects=False, timeout=10)
    assert response.status_code == 302
    assert response.headers["Location"].startswith(hospital_app.redirect_uri)
    assert error_of(response.headers["Location"]) == "login_required"


def test_prompt_none_without_consent_is_consent_required(hospital_app, resident_http):
    _oauth, response, *_ = hospital_app.start(resident_http, "openid ehc", prompt="none")
    assert response.status_code == 302
    assert error_of(response.headers["Location"]) == "consent_required"


def test_prompt_none_with_consent_signs_in_silently(hospital_app, resident_http):
    hospital_app.sign_in(resident_http, "openid ehc")
    _oauth, response, *_ = hospital_app.start(resident_http, "openid ehc", prompt="none")
    assert response.status_code == 302
    assert "code=" in response.headers["Location"]
