"""A sample hospital app (relying party) that signs residents in with the electronic
health card: OpenID Connect code flow with PKCE S256, the ID token verified against the
platform's JWKS, the claims shown, sign-out through the platform (RP-initiated logout).

Copy it: everything a hospital's developer needs is in this one file. It uses Authlib
(OAuth2Session) and joserfc, and the standard library's WSGI server so that it has no
web framework to learn. Configuration from the environment:

  EHC_ISSUER         the platform's issuer, e.g. https://ehc.example.gov.cn/o
  EHC_CLIENT_ID      the client ID the institution's admin registered
  EHC_CLIENT_SECRET  its secret (leave empty for a public client: PKCE only)
  APP_URL            where this app is reached, e.g. http://127.0.0.1:8001
  EHC_SCOPE          scopes to ask for (default: openid ehc profile)

Run: python examples/hospital_app/app.py  (./dev run starts it with the demo client).
"""

import html
import json
import os
import secrets
from http import cookies
from urllib.parse import parse_qs, urlencode
from wsgiref.simple_server import make_server

import requests
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet

ISSUER = os.environ.get("EHC_ISSUER", "http://127.0.0.1:8000/o").rstrip("/")
CLIENT_ID = os.environ.get("EHC_CLIENT_ID", "demo-hospital-app")
CLIENT_SECRET = os.environ.get("EHC_CLIENT_SECRET", "")
APP_URL = os.environ.get("APP_URL", "http://127.0.0.1:8001").rstrip("/")
SCOPE = os.environ.get("EHC_SCOPE", "openid ehc profile")
if APP_URL.startswith("http://") or ISSUER.startswith("http://"):
    os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")  # development only

# Sessions in memory, keyed by a random cookie: enough for a sample.
SESSIONS: dict[str, dict] = {}
_metadata: dict = {}


def metadata() -> dict:
    if not _metadata:
        url = f"{ISSUER}/.well-known/openid-configuration"
        _metadata.update(requests.get(url, timeout=10).json())
    return _metadata


def oauth() -> OAuth2Session:
    return OAuth2Session(
        CLIENT_ID,
        CLIENT_SECRET or None,
        scope=SCOPE,
        redirect_uri=f"{APP_URL}/callback",
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic" if CLIENT_SECRET else "none",
    )


def verify(id_token: str, nonce: str) -> dict:
    keys = KeySet.import_key_set(requests.get(metadata()["jwks_uri"], timeout=10).json())
    token = jwt.decode(id_token, keys, algorithms=["RS256"])
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": metadata()["issuer"]},
        aud={"essential": True, "value": CLIENT_ID},
        nonce={"essential": True, "value": nonce},
        exp={"essential": True},
    ).validate(token.claims)
    return token.claims


def page(title: str, body: str) -> bytes:
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title></head><body>"
        f"<h1>{html.escape(title)}</h1>{body}</body></html>"
    ).encode()


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    jar = cookies.SimpleCookie(environ.get("HTTP_COOKIE", ""))
    sid = jar["sid"].value if "sid" in jar and jar["sid"].value in SESSIONS else None
    session = SESSIONS.get(sid, {}) if sid else {}
    headers = [("Content-Type", "text/html; charset=utf-8")]

    def new_session() -> dict:
        nonlocal sid
        sid = secrets.token_urlsafe(24)
        SESSIONS[sid] = {}
        headers.append(("Set-Cookie", f"sid={sid}; HttpOnly; SameSite=Lax; Path=/"))
        return SESSIONS[sid]

    def go(location: str):
        start_response("302 Found", [*headers, ("Location", location)])
        return [b""]

    if path == "/login":  # also the third-party-initiated login URI (?iss=...)
        if query.get("iss") and query["iss"].rstrip("/") != ISSUER:
            start_response("400 Bad Request", headers)
            return [page("登录失败", "<p>未知的身份认证平台。</p>")]
        session = new_session()
        session["verifier"] = secrets.token_urlsafe(48)
        session["nonce"] = secrets.token_urlsafe(16)
        url, state = oauth().create_authorization_url(
            metadata()["authorization_endpoint"],
            code_verifier=session["verifier"],
            nonce=session["nonce"],
        )
        session["state"] = state
        return go(url)

    if path == "/callback":
        if not session or query.get("state") != session.get("state"):
            start_response("400 Bad Request", headers)
            return [page("登录失败", "<p>登录请求已过期，请重新登录。</p>")]
        if "error" in query:
            start_response("200 OK", headers)
            return [page("未登录", f"<p>{html.escape(query['error'])}</p><a href='/'>返回</a>")]
        client = oauth()
        token = client.fetch_token(
            metadata()["token_endpoint"],
            authorization_response=f"{APP_URL}/callback?{environ['QUERY_STRING']}",
            code_verifier=session.pop("verifier"),
        )
        session["claims"] = verify(token["id_token"], session.pop("nonce"))
        session["token"] = token
        return go("/")

    if path == "/refresh" and session.get("token"):
        client = oauth()
        try:
            session["token"] = client.refresh_token(
                metadata()["token_endpoint"], refresh_token=session["token"]["refresh_token"]
            )
            session["refresh"] = "ok"
        except Exception as error:  # shown to the developer
            session["refresh"] = f"refused: {error}"
        return go("/")

    if path == "/logout" and session.get("token"):
        params = {
            "id_token_hint": session["token"]["id_token"],
            "post_logout_redirect_uri": f"{APP_URL}/",
            "client_id": CLIENT_ID,
        }
        SESSIONS.pop(sid, None)
        return go(f"{metadata()['end_session_endpoint']}?{urlencode(params)}")

    start_response("200 OK", headers)
    claims = session.get("claims")
    if not claims:
        return [
            page(
                "示范医院",
                '<p>尚未登录。</p><p><a id="login" href="/login">用电子健康卡登录</a></p>',
            )
        ]
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th>"
        f"<td data-claim='{html.escape(k)}'>{html.escape(str(v))}</td></tr>"
        for k, v in sorted(claims.items())
    )
    refresh = session.get("refresh", "")
    return [
        page(
            "示范医院：已登录",
            f"<table>{rows}</table><p id='refresh-result'>{html.escape(refresh)}</p>"
            "<p><a id='refresh' href='/refresh'>刷新令牌</a> · "
            "<a id='logout' href='/logout'>退出</a></p>"
            f"<pre>{html.escape(json.dumps(claims, ensure_ascii=False, indent=2))}</pre>",
        )
    ]


if __name__ == "__main__":
    host, _, port = APP_URL.split("//", 1)[1].partition(":")
    print(f"Sample hospital app on {APP_URL}/ (issuer {ISSUER}, client {CLIENT_ID})")
    make_server(host, int(port or 80), app).serve_forever()
