"""The one base of every refused domain operation.

Domain functions raise a DomainError subclass with a stable `code` (the API's error
code, a test's handle) and a `message` for people. Callers map it once: the API in
healthcard.api.errors.exception_handler, the admin in healthcard.admin.base
(`DomainErrorAdmin`), the portal by showing `message`.
"""

from typing import Any


class DomainError(Exception):
    """A refused operation: `code` is stable, `message` is translated text for people,
    `details` are extra facts safe to show (never personal data)."""

    #: The HTTP status the API answers with unless a subclass says otherwise.
    http_status = 409

    def __init__(self, code: str, message: Any, **details: Any):
        super().__init__(str(message))
        self.code = code
        self.message = message
        self.details = details


class NotAllowed(DomainError):
    """The caller may not do this (missing permission, scope or ownership). With code
    'not_found' the object is outside what the caller may see: answered as if it did
    not exist (404), so that its existence is not revealed either."""

    http_status = 403

    def __init__(self, code: str = "forbidden", message: Any = None, **details: Any):
        from django.utils.translation import gettext

        if message is None:
            not_found = code == "not_found"
            message = gettext("Not found.") if not_found else gettext("You may not do this.")
        super().__init__(code, message, **details)
        if code == "not_found":
            self.http_status = 404
