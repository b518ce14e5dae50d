"""The API's answer while the database is unreachable: a JSON 503 `unavailable` with
Retry-After, never Django's HTML 500 page. A terminal retries; nothing half-done was
committed, because the failed query's transaction never committed.

A middleware's process_exception sees what the view raised, DRF views included (their
exception handler leaves database errors alone, so they propagate here). Django marks
the broken connection and closes it at the end of the request, so the next request
opens a new one: the service recovers by itself when the database is back
(docs/reliability.md).
"""

import logging

from django.db import InterfaceError, OperationalError
from django.http import JsonResponse
from django.utils.translation import gettext as _

from healthcard.api.errors import error_body
from healthcard.middleware import is_terminal_api

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not is_terminal_api(request):
            return None
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        log.warning("database unavailable: %s %s", request.method, request.path)
        response = JsonResponse(
            error_body("unavailable", _("The service is briefly unavailable; try again shortly.")),
            status=503,
        )
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
