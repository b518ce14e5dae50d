"""Unified sign-in: what a hospital app asks the provider for all the time.

    .venv/bin/python bench/bench_signin.py [--seconds 5]

A returning resident's sign-in (authorize with a stored consent -> code, then the token
exchange with PKCE: an RS256 ID token and an audit row), a refresh (rotation, audit row)
and a userinfo call. Single process, single thread, through Django's test client (the
whole middleware stack) on a throw-away in-memory SQLite database; timed in CPU seconds
of this process, so every rate is per core.
"""

import argparse
import base64
import hashlib
import os
import platform
import secrets
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ.pop("DATABASE_URL", None)

import django

django.setup()

from cpu import rate, throwaway_database  # noqa: E402 (bench/cpu.py, beside this script)
from django.test import Client  # noqa: E402

REDIRECT = "https://app.example/callback"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5)
    args = parser.parse_args()
    with throwaway_database():
        from django.contrib.auth import get_user_model

        from healthcard import cards, people, signin
        from healthcard.models import Channel, Institution, Level, OutboxMessage
        from portal.models import SmsDevice

        hospital = Institution.objects.create(
            code="430100000001", name="湘雅医院", level=Level.TERTIARY, city_code="430100"
        )
        root = get_user_model().objects.create_superuser("root")
        new = signin.register_client(
            hospital, "App", redirect_uris=REDIRECT, scopes="openid ehc profile",
            confidential=True, by=root,
        )  # fmt: skip
        client_id, secret = new.client.application.client_id, new.client_secret
        auth = "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        person = people.register_person(
            people.PersonData(name="王建国", id_type="01", id_number="430103196004065154")
        )
        cards.issue_card(person, channel=Channel.COUNTER, institution=hospital)
        browser = Client()
        browser.post("/signin/", {"phone": "13912345678"})
        code = "".join(ch for ch in OutboxMessage.objects.first().body if ch.isdigit())[:6]
        browser.post("/signin/code/", {"code": code})
        person.user = SmsDevice.objects.get().user
        person.save()
        signin.grant_consent(
            person.user, new.client.application, person, ["openid", "ehc", "profile"]
        )
        app = Client()
        state = {}

        def sign_in():
            verifier = secrets.token_urlsafe(48)
            challenge = (
                base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
                .rstrip(b"=")
                .decode()
            )
            query = {
                "response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT,
                "scope": "openid ehc profile", "state": "s", "nonce": "n",
                "code_challenge": challenge, "code_challenge_method": "S256",
            }  # fmt: skip
            response = browser.get("/o/authorize/?" + urlencode(query))
            assert response.status_code == 302, response.status_code
            code = parse_qs(urlsplit(response["Location"]).query)["code"][0]
            token = app.post(
                "/o/token/",
                {"grant_type": "authorization_code", "code": code,
                 "redirect_uri": REDIRECT, "code_verifier": verifier},
                HTTP_AUTHORIZATION=auth,
            )  # fmt: skip
            assert token.status_code == 200, token.content
            state["token"] = token.json()

        def refresh():
            token = app.post(
                "/o/token/",
                {"grant_type": "refresh_token", "refresh_token": state["token"]["refresh_token"]},
                HTTP_AUTHORIZATION=auth,
            )
            assert token.status_code == 200, token.content
            state["token"] = token.json()

        def userinfo():
            bearer = "Bearer " + state["token"]["access_token"]
            assert app.get("/o/userinfo/", HTTP_AUTHORIZATION=bearer).status_code == 200

        print(f"python {platform.python_version()}, {platform.machine()}")
        print(f"returning sign-in (authorize + token): {rate(sign_in, args.seconds):8.0f} /CPU s")
        print(f"refresh (rotation):                    {rate(refresh, args.seconds):8.0f} /CPU s")
        print(f"userinfo:                              {rate(userinfo, args.seconds):8.0f} /CPU s")


if __name__ == "__main__":
    main()
