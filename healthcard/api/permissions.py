"""Scopes: each view names the one it needs in `required_scope`."""

from django.utils.translation import gettext as _
from rest_framework import exceptions, permissions

from healthcard.api.errors import ApiError
from healthcard.models import Terminal


class HasScope(permissions.BasePermission):
    """An authenticated terminal holding the view's `required_scope`."""

    def has_permission(self, request, view) -> bool:
        terminal = request.auth
        if not isinstance(terminal, Terminal):
            raise exceptions.NotAuthenticated(_("Send 'Authorization: Bearer <token>'."))
        scope = getattr(view, "required_scope", None)
        if scope and not terminal.has_scope(scope):
            raise ApiError(
                403,
                "missing_scope",
                _("This terminal lacks the '%(scope)s' scope.") % {"scope": scope},
                scope=scope,
            )
        return True
