"""Unified sign-in fixtures: registered clients, a resident signed in over HTTP, and a
relying party driven by Authlib (the library a hospital developer would use)."""

import os
import re
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from django.test import Client
from joserfc import jwt
from joserfc.jwk import KeySet

from healthcard import signin
from portal.models import SmsDevice
from tests.portal.conftest import PHONE, sign_in

# The live server speaks plain HTTP; Authlib refuses that unless told it is a test.
os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")

REDIRECT = "https://app.xiangya.example/callback"
OTHER_REDIRECT = "https://app.xiangtan.example/callback"


@pytest.fixture(autouse=True)
def _fresh_cache():
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def rp(hospital, institution_admin):
    """A confidential client of the hospital allowed openid, ehc, profile and phone."""
    return signin.register_client(
        hospital,
        "湘雅掌上医院",
        redirect_uris=REDIRECT,
        scopes="openid ehc profile phone",
        confidential=True,
        post_logout_redirect_uris="https://app.xiangya.example/bye",
        by=institution_admin,
    )


@pytest.fixture
def other_rp(other_hospital, province_admin):
    """A public (PKCE-only) client of another hospital."""
    return signin.register_client(
        other_hospital,
        "湘潭中心医院",
        redirect_uris=OTHER_REDIRECT,
        scopes="openid ehc",
        confidential=False,
        by=province_admin,
    )


@dataclass
class Resident:
    http: requests.Session
    user: object
    person: object


@pytest.fixture
def resident_http(live_server, card):
    """The holder of `card`, signed in to the portal by SMS, as a requests session."""
    client = Client()
    card.person.phone = PHONE
    card.person.save()
    sign_in(client)
    user = SmsDevice.objects.get(phone_index=card.person.phone_index).user
    card.person.user = user
    card.person.save(update_fields=["user"])
    http = requests.Session()
    http.cookies.set("sessionid", client.cookies["sessionid"].value)
    return Resident(http, user, card.person)


class RelyingParty:
    """A hospital app: Authlib's OAuth2Session with PKCE S256 against the live server."""

    def __init__(self, base: str, new_client: signin.NewClient, redirect_uri: str):
        self.base = base
        self.client_id = new_client.client.application.client_id
        self.secret = new_client.client_secret
        self.redirect_uri = redirect_uri
        self.discovery = requests.get(
            timeout=10, url=f"{base}/o/.well-known/openid-configuration"
        ).json()

    def session(self, scope: str, **kwargs) -> OAuth2Session:
        return OAuth2Session(
            self.client_id,
            self.secret or None,
            scope=scope,
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_basic" if self.secret else "none",
            **kwargs,
        )

    def start(self, resident: Resident, scope="openid", *, verifier=None, **params):
        """GET the authorization URL as the resident; returns (oauth, response, verifier,
        nonce) with redirects not followed."""
        oauth = self.session(scope)
        verifier = verifier or secrets.token_urlsafe(48)
        nonce = secrets.token_urlsafe(16)
        url, _state = oauth.create_authorization_url(
            self.discovery["authorization_endpoint"], code_verifier=verifier, nonce=nonce, **params
        )
        response = resident.http.get(url, allow_redirects=False)
        return oauth, response, verifier, nonce, url

    def consent(self, resident: Resident, url: str, page, *, card_ref=None, allow="yes"):
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        # The CSRF cookie is Secure (production settings); the live server is plain HTTP.
        if "csrftoken" in page.cookies:
            resident.http.cookies.set("csrftoken", page.cookies["csrftoken"])
        ref = card_ref or re.search(r'name="card" value="([^"]+)"', page.text).group(1)
        return resident.http.post(
            url,
            data={"csrfmiddlewaretoken": token, "card": ref, "allow": allow},
            headers={"Referer": url},
            allow_redirects=False,
        )

    def sign_in(self, resident: Resident, scope="openid", *, card_ref=None, **params):
        """The whole flow: authorize, consent if asked, exchange the code. Returns
        (token, nonce)."""
        oauth, response, verifier, nonce, url = self.start(resident, scope, **params)
        if response.status_code == 200:
            response = self.consent(resident, url, response, card_ref=card_ref)
        assert response.status_code == 302, response.text[:500]
        location = response.headers["Location"]
        assert location.startswith(self.redirect_uri), location
        token = oauth.fetch_token(
            self.discovery["token_endpoint"],
            authorization_response=location,
            code_verifier=verifier,
        )
        return token, nonce

    def exchange(self, location: str, verifier: str | None) -> requests.Response:
        """The token request by hand, for the refusals Authlib would not send."""
        code = parse_qs(urlsplit(location).query)["code"][0]
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri}
        if verifier is not None:
            data["code_verifier"] = verifier
        auth = (self.client_id, self.secret) if self.secret else None
        if not self.secret:
            data["client_id"] = self.client_id
        return requests.post(timeout=10, url=self.discovery["token_endpoint"], data=data, auth=auth)

    def code_for(self, resident: Resident, scope="openid", **params) -> tuple[str, str]:
        """(redirect location with the code, verifier), consenting if asked."""
        _oauth, response, verifier, _nonce, url = self.start(resident, scope, **params)
        if response.status_code == 200:
            response = self.consent(resident, url, response)
        assert response.status_code == 302, response.text[:300]
        return response.headers["Location"], verifier

    def verify_id_token(self, id_token: str, nonce: str | None = None) -> dict:
        keyset = KeySet.import_key_set(
            requests.get(timeout=10, url=self.discovery["jwks_uri"]).json()
        )
        decoded = jwt.decode(id_token, keyset, algorithms=["RS256"])
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": self.discovery["issuer"]},
            aud={"essential": True, "value": self.client_id},
            exp={"essential": True},
        ).validate(decoded.claims)
        if nonce:
            assert decoded.claims["nonce"] == nonce
        return decoded.claims

    def userinfo(self, access_token: str) -> requests.Response:
        return requests.get(
            timeout=10,
            url=self.discovery["userinfo_endpoint"],
            headers={"Authorization": f"Bearer {access_token}"},
        )

    def refresh(self, refresh_token: str) -> requests.Response:
        data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        auth = (self.client_id, self.secret) if self.secret else None
        if not self.secret:
            data["client_id"] = self.client_id
        return requests.post(timeout=10, url=self.discovery["token_endpoint"], data=data, auth=auth)


@pytest.fixture
def hospital_app(live_server, rp):
    return RelyingParty(live_server.url, rp, REDIRECT)


@pytest.fixture
def other_app(live_server, other_rp):
    return RelyingParty(live_server.url, other_rp, OTHER_REDIRECT)
