"""The OpenAPI schema at /api/schema/ and schemathesis against it (issue 4).

Schemathesis generates requests from the schema (valid and invalid ones) with a
bounded number of examples per operation and checks that the API never answers
with a 5xx and that every response conforms to the schema: documented status code,
content type and body. Successful responses are also checked for endpoints whose
happy path random data cannot reach (a valid signed code, a real card).
"""

import uuid

import pytest
import schemathesis
from django.contrib.staticfiles import finders
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client, override_settings
from django.utils import timezone
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from rest_framework.test import APIClient
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from healthcard import codes
from tests.conftest import make_id_number

SCHEMA_URL = "/api/schema/?format=json"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _load_schema():
    # Loaded at import (the schema view needs no database), because schemathesis'
    # lazy fixture loader does not work with this pytest version.
    with override_settings(ALLOWED_HOSTS=["testserver"]):  # before the test environment
        loaded = schemathesis.openapi.from_dict(Client().get(SCHEMA_URL).json())
    loaded.app = get_wsgi_application()
    return loaded


schema = _load_schema()


@pytest.fixture(autouse=True)
def keep_test_connection():
    """Calls go through the real WSGI handler, whose request signals close database
    connections; inside a test transaction that would close the test's own (Django's
    test client disconnects the same handler)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


# Requests go to the WSGI app in-process; Host "testserver" is in the test ALLOWED_HOSTS.
BASE_URL = "http://testserver"


@schema.parametrize()
@hypothesis_settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_conforms_to_its_schema(case, terminal, card):
    # Valid and invalid requests alike (schemathesis generates both): never a 5xx,
    # always a documented status with a conforming body. Whether each kind of bad
    # input gets its specific 4xx is asserted in the endpoint tests; schemathesis'
    # negative_data_rejection check is not used because unknown query parameters are
    # ignored on purpose and batches answer per item.
    case.call_and_validate(
        base_url=BASE_URL, headers={"Authorization": f"Bearer {terminal.token}"}, checks=CHECKS
    )


def test_schema_documents_every_endpoint_with_bearer_auth(db):
    body = APIClient().get(SCHEMA_URL).json()
    assert set(body["paths"]) == {
        "/api/v1/health",
        "/api/v1/keys",
        "/api/v1/revocations",
        "/api/v1/codes/verify",
        "/api/v1/usage-events",
        "/api/v1/cards",
        "/api/v1/cards/batch",
        "/api/v1/cards/{ehc_id}/links/{kind}",
        "/api/v1/visit-totals",
    }
    assert body["components"]["securitySchemes"]["terminalToken"]["scheme"] == "bearer"
    verify = body["paths"]["/api/v1/codes/verify"]["post"]
    assert {"200", "400", "401", "403", "413", "415", "422", "429"} <= set(verify["responses"])


def test_schema_still_calls_a_scans_terminal_type_channel(db):
    """Stored as UsageEvent.terminal_kind since migration 0008; terminals send `channel`."""
    schemas = APIClient().get(SCHEMA_URL).json()["components"]["schemas"]
    for name in ("VerifyRequest", "UsageEvent"):
        assert "channel" in schemas[name]["properties"]
        assert "terminal_kind" not in schemas[name]["properties"]


def test_docs_page_loads_its_assets_locally(db):
    page = APIClient().get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower()
    assert APIClient().get("/api/redoc/").status_code == 200
    for asset in ["swagger-ui-dist/swagger-ui-bundle.js", "redoc/bundles/redoc.standalone.js"]:
        assert finders.find(f"drf_spectacular_sidecar/{asset}"), asset


@pytest.fixture
def loaded_schema():
    return schema


def _check(loaded_schema, terminal, path, method, expected, **parts):
    case = loaded_schema[path][method].Case(**parts)
    response = case.call_and_validate(
        base_url=BASE_URL, headers={"Authorization": f"Bearer {terminal.token}"}, checks=CHECKS
    )
    assert response.status_code == expected, response.text


def test_successful_responses_conform_to_the_schema(loaded_schema, terminal, card):
    code = codes.static_code(card)
    _check(loaded_schema, terminal, "/api/v1/health", "GET", 200)
    _check(loaded_schema, terminal, "/api/v1/keys", "GET", 200)
    _check(loaded_schema, terminal, "/api/v1/revocations", "GET", 200, query={"since": "c0"})
    verify = {"code": code, "care_step": "010101"}
    _check(loaded_schema, terminal, "/api/v1/codes/verify", "POST", 200, body=verify)
    # Two signature characters that certainly differ from the real ones.
    altered = "".join("B" if ch == "A" else "A" for ch in code[-2:])
    bad = {"code": code[:-2] + altered, "care_step": "010101"}
    _check(loaded_schema, terminal, "/api/v1/codes/verify", "POST", 422, body=bad)
    scan = {
        "uuid": str(uuid.uuid4()),
        "code": code,
        "scanned_at": timezone.now().isoformat(),
        "care_step": "010101",
    }
    events = {"events": [scan, {**scan, "care_step": "010102"}, {"uuid": "x"}]}
    _check(loaded_schema, terminal, "/api/v1/usage-events", "POST", 200, body=events)
    person = {"name": "赵四", "id_type": "01", "id_number": make_id_number()}
    _check(loaded_schema, terminal, "/api/v1/cards", "POST", 201, body=person)
    _check(loaded_schema, terminal, "/api/v1/cards", "POST", 200, body=person)
    batch = {"people": [person, {"name": "x"}, {**person, "id_number": make_id_number()}]}
    _check(loaded_schema, terminal, "/api/v1/cards/batch", "POST", 200, body=batch)
    link_path = "/api/v1/cards/{ehc_id}/links/{kind}"
    params = {"ehc_id": card.ehc_id, "kind": "local_patient"}
    link = {"path_parameters": params}
    _check(loaded_schema, terminal, link_path, "PUT", 201, body={"number": "A1"}, **link)
    _check(loaded_schema, terminal, link_path, "PUT", 200, body={"number": "A2"}, **link)
    _check(loaded_schema, terminal, link_path, "DELETE", 204, **link)
    _check(loaded_schema, terminal, link_path, "DELETE", 404, **link)
    visits = {"date": "2026-01-05", "visits": 120}
    _check(loaded_schema, terminal, "/api/v1/visit-totals", "POST", 201, body=visits)
    _check(loaded_schema, terminal, "/api/v1/visit-totals", "POST", 200, body=visits)
