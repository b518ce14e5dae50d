"""One error shape for every API response that is not a success:
`{"error": {"code": CODE, "message": TEXT, ...}}` with a stable machine-readable code.
"""

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from healthcard.errors import DomainError


class ApiError(exceptions.APIException):
    """A refusal with its own status, code and message; `extra` joins the error body."""

    def __init__(self, status_code: int, code: str, message: str, **extra: Any):
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.code = code
        self.message = str(message)
        self.extra = extra


class BodyTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "body_too_large"
    default_detail = gettext_lazy("The request body is larger than 1 MB.")


class NotAnObject(exceptions.ParseError):
    default_code = "not_an_object"
    default_detail = gettext_lazy("The request body must be a JSON object.")


# Codes for DRF's own exceptions, so clients never have to parse messages.
_CODES: dict[type[exceptions.APIException], str] = {
    exceptions.ParseError: "malformed_json",
    exceptions.AuthenticationFailed: "invalid_token",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.PermissionDenied: "forbidden",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
}


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": str(message), **extra}}


def _code_for(exc: exceptions.APIException) -> str:
    for klass in type(exc).__mro__:
        if klass in _CODES:
            # Our own subclasses (NotAnObject) keep their default_code.
            if klass is not type(exc) and exc.default_code != klass.default_code:
                return exc.default_code
            return _CODES[klass]
    return getattr(exc, "default_code", "error")


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF exception handler: every API error as error_body(). A refused domain
    operation (healthcard.errors.DomainError) answers with its own status and code,
    here and nowhere else. Unexpected exceptions are left to Django (logged, 500)
    rather than hidden."""
    if isinstance(exc, DomainError):
        exc = domain_api_error(exc)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        exc = BodyTooLarge()
    elif isinstance(exc, DjangoValidationError):
        # The domain's identity and number rules, field by field.
        exc = ApiError(
            400,
            "invalid",
            _("Some fields are missing or invalid."),
            fields=django_validation_fields(exc),
        )
    if not isinstance(exc, exceptions.APIException):
        return None

    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None) is not None:
        headers["Retry-After"] = str(max(1, int(exc.wait + 0.999)))

    if isinstance(exc, ApiError):
        body = error_body(exc.code, exc.message, **exc.extra)
    elif isinstance(exc, exceptions.ValidationError):
        body = error_body(
            "invalid", _("Some fields are missing or invalid."), fields=_fields(exc.detail)
        )
    elif isinstance(exc, exceptions.Throttled):
        body = error_body(
            "throttled", _("Too many requests; retry after %(s)s seconds.")
            % {"s": headers.get("Retry-After", "1")},
        )  # fmt: skip
    else:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.default_detail)
        body = error_body(_code_for(exc), detail)
    set_rollback()
    return Response(body, status=exc.status_code, headers=headers)


def domain_api_error(exc: DomainError) -> ApiError:
    """The API's answer to a refused domain operation: its status (NotAllowed
    'not_found' is 404), its code and message, and its safe details."""
    return ApiError(exc.http_status, exc.code, exc.message, **exc.details)


def _fields(detail: Any) -> dict[str, Any]:
    """Validation errors as {field: [messages]}, errors of the body as a whole under
    'non_field_errors'."""
    if isinstance(detail, dict):
        return {key: _messages(value) for key, value in detail.items()}
    return {"non_field_errors": _messages(detail)}


def _messages(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _messages(v) for key, v in value.items()}
    if isinstance(value, list):
        if all(isinstance(v, str) for v in value):
            return [str(v) for v in value]
        return [_messages(v) for v in value]
    return [str(value)]


def django_validation_fields(exc: Any) -> dict[str, list[str]]:
    """A Django ValidationError from the domain as {field: [messages]}."""
    if hasattr(exc, "message_dict"):
        return {key: [str(m) for m in msgs] for key, msgs in exc.message_dict.items()}
    return {"non_field_errors": [str(m) for m in exc.messages]}
