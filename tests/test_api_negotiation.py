"""healthcard.api.negotiation chooses exactly the renderer and media type DRF's own
negotiation chooses, and refuses what it refuses."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer, StaticHTMLRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from healthcard.api.negotiation import FirstRendererNegotiation

RENDERER_LISTS = [
    [JSONRenderer],
    [JSONRenderer, BrowsableAPIRenderer],
    [BrowsableAPIRenderer, JSONRenderer],
    [StaticHTMLRenderer],
]
ACCEPTS = [
    None,
    "*/*",
    "application/json",
    "text/html",
    "application/json; indent=4",
    "application/*",
    "text/html, */*;q=0.8",
    "application/xml",
    "application/json, text/html",
    "",
    " */*",
    "APPLICATION/JSON",
]
QUERIES = ["", "format=json", "format=api", "format=xml", "other=1"]


def _choose(negotiation, accept, query, renderer_classes, suffix):
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    request = Request(APIRequestFactory().get(f"/api/v1/health?{query}", **headers))
    renderers = [cls() for cls in renderer_classes]
    try:
        renderer, media_type = negotiation().select_renderer(request, renderers, suffix)
    except Exception as exc:  # NotAcceptable; Http404 for an unknown format
        return type(exc).__name__
    return type(renderer).__name__, renderers.index(renderer), media_type


@pytest.mark.parametrize("renderer_classes", RENDERER_LISTS, ids=lambda r: r[0].__name__)
@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("accept", ACCEPTS)
@pytest.mark.parametrize("suffix", [None, "json"])
def test_same_choice_as_drf(accept, query, renderer_classes, suffix):
    ours = _choose(FirstRendererNegotiation, accept, query, renderer_classes, suffix)
    assert ours == _choose(DefaultContentNegotiation, accept, query, renderer_classes, suffix)


_TOKENS = st.sampled_from(
    ["*/*", "application/json", "text/html", "application/*", "text/*", "q=0.5", "indent=2"]
)


@settings(max_examples=300, deadline=None)
@given(
    accept=st.one_of(
        st.none(),
        st.lists(_TOKENS, max_size=4).map(", ".join),
        st.lists(_TOKENS, max_size=4).map(";".join),
        st.text(max_size=40),
    ),
    renderer_classes=st.sampled_from(RENDERER_LISTS),
    query=st.sampled_from(QUERIES),
)
def test_same_choice_as_drf_for_any_header(accept, renderer_classes, query):
    ours = _choose(FirstRendererNegotiation, accept, query, renderer_classes, None)
    assert ours == _choose(DefaultContentNegotiation, accept, query, renderer_classes, None)


@pytest.mark.django_db
def test_api_refuses_what_it_cannot_render_in_json(client):
    response = client.get("/api/v1/health", HTTP_ACCEPT="text/html")
    assert response.status_code == 406
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "not_acceptable"
    answered = client.get("/api/v1/health", HTTP_ACCEPT="application/json")
    assert answered.status_code == 200
    assert answered["Content-Type"] == "application/json"
