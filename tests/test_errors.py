"""One DomainError base, mapped once for the API (healthcard.api.errors)."""

import pytest
from rest_framework.test import APIRequestFactory

from healthcard import cards, codes, keys, links, people, revocations, usage
from healthcard.api.errors import exception_handler
from healthcard.errors import DomainError, NotAllowed
from printing import jobs, slips


@pytest.mark.parametrize(
    "error",
    [
        cards.CardError,
        codes.CodeError,
        links.LinkError,
        jobs.PrintError,
        slips.SlipError,
        keys.KeyManagementError,
        people.PersonError,
        usage.BatchTooLarge,
        revocations.BadCursor,
        NotAllowed,
    ],
)
def test_every_domain_error_derives_from_domain_error(error):
    assert issubclass(error, DomainError)


def _answer(exc):
    request = APIRequestFactory().post("/api/v1/anything")
    return exception_handler(exc, {"request": request, "view": None})


def test_a_domain_error_is_answered_with_its_status_code_and_details():
    response = _answer(cards.CardError("identity_mismatch", "No.", limit=3))
    assert response.status_code == 409
    assert response.data == {"error": {"code": "identity_mismatch", "message": "No.", "limit": 3}}


def test_not_allowed_is_403_and_not_found_is_404():
    assert _answer(NotAllowed()).status_code == 403
    hidden = _answer(NotAllowed("not_found"))
    assert hidden.status_code == 404
    assert hidden.data["error"]["code"] == "not_found"


def test_a_subclass_may_choose_its_status():
    assert _answer(usage.BatchTooLarge(500)).status_code == 413
    assert _answer(revocations.BadCursor("x")).status_code == 400
