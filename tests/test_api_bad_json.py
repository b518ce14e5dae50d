"""Bodies that used to crash the API (issue 8, hole 6): JSON nested very deeply
(RecursionError) and lone surrogates that an error message then echoed
(UnicodeEncodeError). Every endpoint that takes a body answers 400 in the usual error
shape, and never repeats the bad text."""

import json

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from healthcard.api.parsers import MAX_DEPTH

BODY_METHODS = ("post", "put", "patch")


def _api_patterns(patterns=None, prefix=""):
    """(route, view class) for every API view in the URL conf."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _api_patterns(entry.url_patterns, route)
        elif isinstance(entry, URLPattern) and hasattr(entry.callback, "view_class"):
            yield route, entry.callback.view_class


def body_endpoints():
    """(method, route) of every API endpoint that accepts a request body."""
    found = [
        (method, route)
        for route, view in _api_patterns()
        if route.startswith("api/") and "schema" not in route
        for method in BODY_METHODS
        if hasattr(view, method)
    ]
    assert len(found) >= 5, found  # verify, usage-events, cards, cards/batch, links
    return found


ENDPOINTS = body_endpoints()


@pytest.fixture
def send(terminal, card):
    def send(method, route, raw: bytes):
        path = "/" + route.replace("<str:ehc_id>", card.ehc_id).replace(
            "<str:kind>", "local_patient"
        )
        response = getattr(terminal.client, method)(path, raw, content_type="application/json")
        assert response["Content-Type"] == "application/json"
        return response, raw

    return send


def deep(depth: int) -> bytes:
    return ('{"a":' + "[" * depth + "]" * depth + "}").encode()


# Every field name the API reads, so the bad text lands where messages used to echo it.
FIELDS = [
    "code",
    "institution",
    "department",
    "care_step",
    "channel",
    "fee_type",
    "name",
    "id_type",
    "id_number",
    "phone",
    "address",
    "number",
    "uuid",
    "ref",
    "occurred_at",
]


def surrogates() -> bytes:
    item = {field: "\\ud800" for field in FIELDS}
    body = {**item, "events": [item], "items": [item], "\\udfff": "x"}
    # json.dumps would escape the backslashes; the escapes must reach the parser as is.
    return json.dumps(body).replace("\\\\u", "\\u").encode()


@pytest.mark.parametrize(("method", "route"), ENDPOINTS)
@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 100_000])
def test_deeply_nested_json_is_a_400_on_every_endpoint(send, method, route, depth):
    response, _ = send(method, route, deep(depth))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "too_deep"
    assert str(MAX_DEPTH) in error["message"]


@pytest.mark.parametrize(("method", "route"), ENDPOINTS)
def test_lone_surrogate_is_a_400_that_does_not_echo_it(send, method, route):
    response, _ = send(method, route, surrogates())
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_text"
    assert b"\\ud800" not in response.content.lower()
    assert "\ud800" not in response.content.decode("utf-8", "surrogatepass")


@pytest.mark.parametrize(("method", "route"), ENDPOINTS)
def test_raw_surrogate_bytes_are_malformed_json(send, method, route):
    # A surrogate encoded as UTF-8 bytes is not UTF-8 at all.
    response, _ = send(method, route, b'{"name": "\xed\xa0\x80"}')
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"


def test_nesting_up_to_the_limit_still_parses(terminal):
    # Deep but allowed: the body reaches validation (400 invalid), not a parse error.
    response = terminal.client.post(
        "/api/v1/codes/verify", deep(MAX_DEPTH - 1), content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


def test_many_brackets_side_by_side_are_not_nesting(terminal):
    body = ('{"code": "x", "a": [' + ",".join(["[]"] * (3 * MAX_DEPTH)) + "]}").encode()
    response = terminal.client.post("/api/v1/codes/verify", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"  # validation, not too_deep


@pytest.mark.parametrize(
    ("charset", "body"),
    [
        ("utf-7", b'{"code": "+2AA-"}'),  # UTF-7 spells a lone surrogate without an escape
        ("utf-16", '{"code": "\\ud800"}'.encode("utf-16")),
    ],
)
def test_a_lone_surrogate_in_another_charset_is_refused_too(terminal, charset, body):
    response = terminal.client.post(
        "/api/v1/codes/verify", body, content_type=f"application/json; charset={charset}"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_text"


def test_a_body_that_is_not_text_in_its_charset_is_malformed(terminal):
    response = terminal.client.post(
        "/api/v1/codes/verify", b'{"code": "\xff"}', content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"


def test_valid_escapes_and_astral_characters_are_accepted(terminal):
    # A proper surrogate pair (𠮷, U+20BB7) is one character, not a lone surrogate.
    body = b'{"name": "\\ud842\\udfb7\\u5c0f\\u660e", "id_type": "01", "id_number": "x"}'
    response = terminal.client.post("/api/v1/cards", body, content_type="application/json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert "id_number" in error["fields"]
    assert "name" not in error["fields"]
