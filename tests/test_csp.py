"""healthcard.csp: the header built once from the settings is what django-csp writes,
and responses with a policy of their own still go through django-csp."""

import pytest
from csp.middleware import CSPMiddleware as Upstream
from django.http import HttpResponse
from django.test import RequestFactory

from healthcard.csp import CSPMiddleware

HEADERS = ("Content-Security-Policy", "Content-Security-Policy-Report-Only")


def respond(middleware_class, path="/portal/", prepare=lambda request, response: None):
    request = RequestFactory().get(path)

    def view(request):
        response = HttpResponse("ok")
        prepare(request, response)
        return response

    response = middleware_class(view)(request)
    return {h: response.get(h) for h in HEADERS}, request


CASES = {
    "plain": lambda request, response: None,
    "own update": lambda request, response: setattr(
        response, "_csp_update", {"form-action": ["https://his.example"]}
    ),
    "own replace": lambda request, response: setattr(
        response, "_csp_replace", {"img-src": ["'self'"]}
    ),
    "nonce used": lambda request, response: str(request.csp_nonce),
    "exempt": lambda request, response: setattr(response, "_csp_exempt", True),
    "header already set": lambda request, response: response.__setitem__(
        "Content-Security-Policy", "default-src 'none'"
    ),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("path", ["/portal/", "/api/v1/health", "/api/docs/"])
def test_headers_are_those_django_csp_writes(case, path):
    ours, _request = respond(CSPMiddleware, path, CASES[case])
    upstream, _request = respond(Upstream, path, CASES[case])
    if case == "nonce used":  # a fresh nonce each time: compare the rest
        ours = {h: v and v.split("'nonce-")[0] for h, v in ours.items()}
        upstream = {h: v and v.split("'nonce-")[0] for h, v in upstream.items()}
    assert ours == upstream
    if path != "/api/docs/" and case not in ("exempt",):
        assert ours["Content-Security-Policy"]


def test_a_changed_setting_changes_the_header(settings):
    before, _request = respond(CSPMiddleware)
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"default-src": ["'none'"]}}
    after, _request = respond(CSPMiddleware)
    assert after["Content-Security-Policy"] == "default-src 'none'" != before[HEADERS[0]]
    settings.CONTENT_SECURITY_POLICY_REPORT_ONLY = {"DIRECTIVES": {"img-src": ["'self'"]}}
    both, _request = respond(CSPMiddleware)
    assert both == respond(Upstream)[0]
    assert "img-src 'self'" in both[HEADERS[1]]


def test_a_nonce_asked_for_after_the_response_is_refused():
    from csp.exceptions import CSPNonceError

    _headers, request = respond(CSPMiddleware)
    with pytest.raises(CSPNonceError):
        str(request.csp_nonce)


@pytest.mark.parametrize("status", [404, 500])
def test_debug_error_pages_are_left_alone_as_django_csp_leaves_them(settings, status):
    settings.DEBUG = True

    def prepare(request, response):
        response.status_code = status

    ours, _request = respond(CSPMiddleware, prepare=prepare)
    assert ours == respond(Upstream, prepare=prepare)[0]
    assert ours["Content-Security-Policy"] is None
    settings.DEBUG = False
    assert respond(CSPMiddleware, prepare=prepare)[0]["Content-Security-Policy"]


@pytest.mark.parametrize("value", [None, 0, True])
def test_an_exempt_attribute_that_is_not_false_exempts_as_in_django_csp(value):
    def prepare(request, response):
        response._csp_exempt = value

    ours, _request = respond(CSPMiddleware, prepare=prepare)
    assert ours == respond(Upstream, prepare=prepare)[0]
    assert ours["Content-Security-Policy"] is None
