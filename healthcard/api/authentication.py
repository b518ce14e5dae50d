"""`Authorization: Bearer <token>` for terminals (healthcard.terminals)."""

from django.utils.translation import gettext as _
from rest_framework import authentication, exceptions

from healthcard import terminals
from healthcard.models import Terminal


class TerminalUser:
    """What request.user is for a terminal: authenticated, never staff. Views use
    request.auth, the Terminal itself."""

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    is_superuser = False

    def __init__(self, terminal: Terminal):
        self.terminal = terminal
        self.pk = None

    def __str__(self) -> str:
        return terminal_label(self.terminal)


def terminal_label(terminal: Terminal) -> str:
    return terminal.audit_label


class TerminalAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        # WSGI hands headers over as latin-1 text; anything outside ASCII cannot be one
        # of our tokens (DRF's own helper would raise on it).
        header = str(request.META.get("HTTP_AUTHORIZATION", "")).split()
        if not header or header[0].lower() != self.keyword.lower():
            return None  # no credentials: permissions decide (401 where one is needed)
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                _("The Authorization header must be 'Bearer <token>'.")
            )
        token = header[1]
        if not token.isascii():
            raise exceptions.AuthenticationFailed(_("Unknown or disabled token."))
        terminal = terminals.authenticate(token)
        if terminal is None:
            raise exceptions.AuthenticationFailed(_("Unknown or disabled token."))
        return TerminalUser(terminal), terminal

    def authenticate_header(self, request) -> str:
        # Present so that DRF answers 401 (with this challenge), not 403.
        return f'{self.keyword} realm="api"'
