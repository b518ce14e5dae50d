"""Error pages and error reports that never show a secret.

Django hides settings, request headers and cookies whose *names* match
API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE. That misses HEALTHCARD_KEK, which
a DEBUG page then showed (the setting, and the environment variable in request.META
under runserver), passwords inside URLs (DATABASE_URL, CELERY_BROKER_URL, CACHE_URL),
and secrets held by local variables of a failing frame or quoted in an exception
message. So, on every technical 500 and 400 page, the DEBUG 404 page, the error e-mail
(AdminEmailHandler) and the log:

- names matching HIDDEN_NAMES are hidden: settings, nested keys (DATABASES' PASSWORD),
  request.META (environment variables included), cookies, and local variables of
  traceback frames;
- passwords in URLs are replaced wherever a URL appears;
- the *values* of every secret found by name in the settings and the environment (in
  every form a page could show: text, bytes repr, base64, hex) and the caller's
  Authorization credential are replaced wherever they appear, in the rendered page, the
  e-mail and log lines included, whatever variable or message carries them.

Settings: DEFAULT_EXCEPTION_REPORTER_FILTER, DEFAULT_EXCEPTION_REPORTER and the LOGGING
formatter in healthcard/settings.py; docs/configuration.md describes the rule.
"""

import base64
import html
import logging
import os
import re
from typing import Any

from django.conf import settings
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

# Django's list, plus the key-encryption keys (HEALTHCARD_KEK and any previous one),
# credentials of gateways (SMS), private keys, DSNs, salts and peppers.
HIDDEN_NAMES = re.compile(
    "API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|KEK|CREDENTIAL|PRIVATE|DSN|SALT|PEPPER",
    flags=re.I,
)
# Names whose values are searched for everywhere else. Not API/AUTH: those name rate
# limits and AUTH_USER_MODEL, which are not secret and would blank harmless values.
_SECRET_VALUE_NAMES = re.compile(
    "TOKEN|KEY|SECRET|PASS|SIGNATURE|KEK|CREDENTIAL|PRIVATE|DSN|SALT|PEPPER", flags=re.I
)
# A value shorter than this is not searched for (an empty or one-letter setting would
# blank half the page); secrets are longer.
_MIN_SECRET_LENGTH = 6
# scheme://user:password@host and ?password=... in any URL-like text.
_URL_PASSWORD = re.compile(
    r"(?P<head>\b[a-z][a-z0-9+.-]*://[^\s:/@]*:)(?P<secret>[^\s/@]+)(?=@)", re.I
)
_QUERY_SECRET = re.compile(
    r"(?P<head>[?&](?:password|passwd|pwd|secret|token|key|access_key)=)(?P<secret>[^&\s#'\"]+)",
    re.I,
)

# PASSWORD_HASHERS and AUTH_PASSWORD_VALIDATORS name classes; those are not secrets.
_IMPORT_PATH = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")

SUBSTITUTE = SafeExceptionReporterFilter.cleansed_substitute


def _forms(value: str | bytes) -> set[str]:
    """Every way a page or log line may spell `value`."""
    if isinstance(value, bytes):
        forms = {
            repr(value)[2:-1],
            base64.b64encode(value).decode(),
            base64.urlsafe_b64encode(value).decode(),
            value.hex(),
            value.hex().upper(),
            value.decode("latin-1"),  # the bytes taken as text somewhere
        }
    else:
        forms = {value, repr(value)[1:-1]}
    forms |= {html.escape(form) for form in forms}
    return {form for form in forms if len(form) >= _MIN_SECRET_LENGTH}


def _url_secrets(text: str) -> set[str]:
    return {m.group("secret") for p in (_URL_PASSWORD, _QUERY_SECRET) for m in p.finditer(text)}


def _collect(name: str, value: Any, out: set[str], secret: bool = False) -> None:
    secret = secret or bool(_SECRET_VALUE_NAMES.search(name))
    if isinstance(value, dict):
        for key, item in value.items():
            _collect(str(key), item, out, secret)
    elif isinstance(value, list | tuple):
        for item in value:
            _collect("", item, out, secret)
    elif isinstance(value, str | bytes):
        if secret and not (isinstance(value, str) and _IMPORT_PATH.fullmatch(value)):
            out.add(value)
        if isinstance(value, str):
            out.update(_url_secrets(value))


def secret_values(request=None) -> list[str]:
    """The text forms of every secret to blank, longest first (so that a secret is
    replaced whole before any part of it): values of secret settings and environment
    variables, URL passwords in them, and the request's Authorization credential."""
    found: set[str] = set()
    for name in dir(settings):
        if name.isupper():
            _collect(name, getattr(settings, name, None), found)
    for name, value in os.environ.items():
        _collect(name, value, found)
    authorization = getattr(request, "META", {}).get("HTTP_AUTHORIZATION", "")
    if authorization:
        found.add(authorization)
        found.add(authorization.split(" ", 1)[-1])
    forms = set().union(*(_forms(value) for value in found)) if found else set()
    return sorted(forms, key=len, reverse=True)


def scrub(text: str, secrets: list[str] | None = None) -> str:
    """`text` with URL passwords and every secret value replaced."""
    if secrets is None:
        secrets = secret_values()
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + SUBSTITUTE, text)
    text = _QUERY_SECRET.sub(lambda m: m.group("head") + SUBSTITUTE, text)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, SUBSTITUTE)
    return text


def _holds_secret(value: Any, secrets: list[str]) -> bool:
    if isinstance(value, bytes):
        value = repr(value)
    elif not isinstance(value, str):
        try:
            value = repr(value)
        except Exception:  # a broken __repr__ is shown by Django as such, not ours to judge
            return False
    return any(secret in value for secret in secrets) or bool(
        _URL_PASSWORD.search(value) or _QUERY_SECRET.search(value)
    )


def _scrub_tree(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        return scrub(value, secrets)
    if isinstance(value, bytes):
        return SUBSTITUTE if _holds_secret(value, secrets) else value
    if isinstance(value, dict):
        return {key: _scrub_tree(item, secrets) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_scrub_tree(item, secrets) for item in value)
    return value


class SecretsFilter(SafeExceptionReporterFilter):
    """DEFAULT_EXCEPTION_REPORTER_FILTER: Django's filter (hiding by name) with the
    longer list of names, then every remaining value scrubbed of secret values."""

    hidden_settings = HIDDEN_NAMES

    def get_safe_settings(self):
        return _scrub_tree(super().get_safe_settings(), secret_values())

    def get_safe_request_meta(self, request):
        return _scrub_tree(super().get_safe_request_meta(request), secret_values(request))

    def get_safe_cookies(self, request):
        return _scrub_tree(super().get_safe_cookies(request), secret_values(request))

    def get_traceback_frame_variables(self, request, tb_frame):
        secrets = secret_values(request)
        return [
            (name, SUBSTITUTE)
            if HIDDEN_NAMES.search(name) or _holds_secret(value, secrets)
            else (name, value)
            for name, value in super().get_traceback_frame_variables(request, tb_frame)
        ]


class SecretsReporter(ExceptionReporter):
    """DEFAULT_EXCEPTION_REPORTER: the page and the e-mail text, scrubbed once more as a
    whole, for secrets quoted in exception messages and chained causes."""

    def get_traceback_html(self):
        return scrub(str(super().get_traceback_html()), secret_values(self.request))

    def get_traceback_text(self):
        return scrub(str(super().get_traceback_text()), secret_values(self.request))


class SecretsFormatter(logging.Formatter):
    """Log formatter that scrubs warnings, errors and tracebacks (where exception
    messages end up); plain INFO lines are the platform's own words and go as they are.
    `wrapped`: scrub what another formatter writes (Celery's, in workers)."""

    def __init__(self, *args, wrapped: logging.Formatter | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.wrapped = wrapped

    def format(self, record: logging.LogRecord) -> str:
        line = self.wrapped.format(record) if self.wrapped else super().format(record)
        if record.levelno < logging.WARNING and not record.exc_info:
            return line
        return scrub(line, secret_values(getattr(record, "request", None)))


def scrub_handlers(logger: logging.Logger) -> None:
    """Make every handler of `logger` scrub, keeping its format (for loggers that a
    library sets up itself, such as Celery's worker)."""
    for handler in logger.handlers:
        if not isinstance(handler.formatter, SecretsFormatter):
            handler.setFormatter(SecretsFormatter(wrapped=handler.formatter or logging.Formatter()))
