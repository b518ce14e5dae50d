"""Django's browser middleware, not run for the terminal API.

Everything under /api/ authenticates by terminal token (or not at all) and answers in
JSON; none of it reads a session, a signed-in user, a CSRF cookie or a flash message.
Sessions, CSRF, sign-in, OTP and messages are therefore the subclasses below, which
pass a terminal API request straight on: a terminal's request costs no session store,
no message storage and no lazy user (docs/performance.md), and no browser rule can
answer it in HTML. (CSRF did, before: a POST to an unknown API address got Django's
HTML "403 CSRF verification failed" instead of the API's JSON 404.) Security headers,
CSP, the language of the messages (Accept-Language) and the JSON 503 while the
database is away still apply to the API.

Subclasses, not wrappers, so that Django's and the admin's checks for these
middleware (which accept subclasses) still hold, and each keeps its upstream
behaviour, async mode included, for every other address.
"""

from django.contrib.auth.middleware import AuthenticationMiddleware as _Authentication
from django.contrib.messages.middleware import MessageMiddleware as _Message
from django.contrib.sessions.middleware import SessionMiddleware as _Session
from django.middleware.csrf import CsrfViewMiddleware as _Csrf
from django_otp.middleware import OTPMiddleware as _OTP

TERMINAL_API_PREFIX = "/api/"


def is_terminal_api(request) -> bool:
    """Whether `request` is for the terminal API (its path below the script prefix)."""
    return request.path_info.startswith(TERMINAL_API_PREFIX)


class BrowserOnly:
    """Mixed in before a middleware class: the terminal API's requests skip it."""

    def __call__(self, request):
        if is_terminal_api(request):
            return self.get_response(request)  # a coroutine in async mode, as super()'s
        return super().__call__(request)


class SessionMiddleware(BrowserOnly, _Session):
    pass


class CsrfViewMiddleware(BrowserOnly, _Csrf):
    # The one of these with a view hook, which Django calls apart from __call__.
    def process_view(self, request, callback, callback_args, callback_kwargs):
        if is_terminal_api(request):
            return None
        return super().process_view(request, callback, callback_args, callback_kwargs)


class AuthenticationMiddleware(BrowserOnly, _Authentication):
    pass


class OTPMiddleware(BrowserOnly, _OTP):
    pass


class MessageMiddleware(BrowserOnly, _Message):
    pass
