"""Terminals and their API credentials.

A token looks like `hct_<prefix>_<secret>`: the prefix is public and finds the row,
the whole token is checked against a SHA-256 hash. The secret has 256 bits of
entropy, so a fast hash is enough (a slow password hash would only cost every API
request time) and the token is shown exactly once, when it is made.
"""

import datetime
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from healthcard import audit, sql
from healthcard.models import Institution, Scope, Terminal, TerminalKind

TOKEN_PREFIX = "hct"  # noqa: S105 - a label, not a secret
# last_used_at is a hint for administrators; writing it on every request would turn
# each verification into an extra UPDATE, so it is refreshed at most this often.
LAST_USED_RESOLUTION = datetime.timedelta(minutes=1)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _new_token() -> tuple[str, str]:
    prefix = secrets.token_hex(6)
    return prefix, f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"


def clean_scopes(scopes: Iterable[str]) -> list[str]:
    """Validate and de-duplicate scope names, in Scope order; refuse unknown ones."""
    wanted = {s.strip() for s in scopes if s and s.strip()}
    unknown = wanted - set(Scope.values)
    if unknown:
        raise ValidationError(
            {"scopes": [_("Unknown scope: %(names)s.") % {"names": ", ".join(sorted(unknown))}]}
        )
    return [s for s in Scope.values if s in wanted]


def create_terminal(
    institution: Institution,
    name: str,
    kind: str = TerminalKind.COUNTER,
    scopes: Iterable[str] = (Scope.VERIFY,),
    *,
    by: Any = None,
) -> tuple[Terminal, str]:
    """Create a terminal of `institution` and return it with its token, which is not
    stored anywhere and cannot be shown again. Refuses an inactive institution, an
    empty name, an unknown kind or scope (ValidationError)."""
    name = (name or "").strip()
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = [_("Enter a name for the terminal.")]
    elif len(name) > 100:
        errors["name"] = [_("The name is longer than 100 characters.")]
    if kind not in TerminalKind.values:
        errors["kind"] = [_("Unknown terminal type.")]
    if not institution.is_active:
        errors["institution"] = [_("The institution is not active.")]
    try:
        scope_list = clean_scopes(scopes)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    for _attempt in range(3):
        prefix, token = _new_token()
        terminal = Terminal(
            institution=institution,
            name=name,
            kind=kind,
            scopes=scope_list,
            token_prefix=prefix,
            token_hash=hash_token(token),
            created_by=by if getattr(by, "is_authenticated", False) else None,
        )
        try:
            with transaction.atomic():
                terminal.save()
                audit.record(
                    "terminal.create",
                    actor=by,
                    obj=terminal,
                    institution=institution,
                    kind=kind,
                    scopes=scope_list,
                )
        except IntegrityError:
            continue  # a 48-bit prefix collided: draw another
        return terminal, token
    raise RuntimeError("could not draw a unique token prefix")


def rotate_token(terminal: Terminal, *, by: Any = None) -> str:
    """Replace the terminal's token (the old one stops working at once) and return the
    new one, shown once."""
    prefix, token = _new_token()
    with transaction.atomic():
        terminal.token_prefix = prefix
        terminal.token_hash = hash_token(token)
        terminal.save(update_fields=["token_prefix", "token_hash"])
        audit.record(
            "terminal.rotate_token", actor=by, obj=terminal, institution=terminal.institution
        )
    return token


def authenticate(token: str) -> Terminal | None:
    """The active terminal of an active institution that owns `token`, else None.
    Never raises on malformed input."""
    parts = (token or "").split("_", 2)  # the secret itself may contain "_"
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not parts[1] or len(parts[1]) > 16:
        return None
    terminal = sql.terminal_by_prefix(parts[1])  # every API request: plain SQL
    if terminal is None or not hmac.compare_digest(terminal.token_hash, hash_token(token)):
        return None
    if not terminal.is_active or not terminal.institution.is_active:
        return None
    now = timezone.now()
    if terminal.last_used_at is None or now - terminal.last_used_at > LAST_USED_RESOLUTION:
        Terminal.objects.filter(pk=terminal.pk).update(last_used_at=now)
        terminal.last_used_at = now
    return terminal


def disable(terminal: Terminal, *, by: Any = None) -> Terminal:
    """Disable a terminal: its token is refused from the next request on. Disabling a
    disabled terminal changes nothing and writes no audit row."""
    with transaction.atomic():
        updated = Terminal.objects.filter(pk=terminal.pk, is_active=True).update(
            is_active=False, disabled_at=timezone.now()
        )
        if updated:
            audit.record(
                "terminal.disable", actor=by, obj=terminal, institution=terminal.institution
            )
    terminal.refresh_from_db()
    return terminal
