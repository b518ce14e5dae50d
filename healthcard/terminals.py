"""Terminals and their API credentials.

A token looks like `hct_<prefix>_<secret>`: the prefix is public and finds the row,
the whole token is checked against a SHA-256 hash. The secret has 256 bits of
entropy, so a fast hash is enough (a slow password hash would only cost every API
request time) and the token is shown exactly once, when it is made.

Every API request authenticates, and terminals change rarely: each process keeps the
terminals it has seen, by prefix, through healthcard.versioned. Any change to a
terminal or an institution (saved or deleted anywhere, or disabled here) bumps the
version, so a disabled terminal, a rotated token or a withdrawn scope stops working at
once in the process that made the change, within `versioned` check_seconds (1 s) on
every other node, and within its max age (5 s) even without the shared cache.
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

from healthcard import access, audit, sql
from healthcard.errors import NotAllowed
from healthcard.models import Institution, Scope, Terminal, TerminalKind
from healthcard.versioned import Versioned

TOKEN_PREFIX = "hct"  # noqa: S105 - a label, not a secret
# last_used_at is a hint for administrators; writing it on every request would turn
# each verification into an extra UPDATE, so it is refreshed at most this often.
LAST_USED_RESOLUTION = datetime.timedelta(minutes=1)
# Terminals seen by this process, by token prefix, with their institution. Only rows
# that exist get in (an unknown prefix is looked up every time), up to KNOWN_LIMIT.
_known: Versioned[dict[str, Terminal]] = Versioned("healthcard:terminals-version", dict)
KNOWN_LIMIT = 10_000


def terminals_changed(**kwargs) -> None:
    """Receiver of post_save and post_delete for Terminal and Institution
    (healthcard.apps): every process sees the change within a few seconds."""
    _known.changed()


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


def _clean_fields(name: Any, kind: Any, errors: dict[str, list[str]]) -> str:
    name = (name or "").strip()
    if not name:
        errors["name"] = [_("Enter a name for the terminal.")]
    elif len(name) > 100:
        errors["name"] = [_("The name is longer than 100 characters.")]
    if kind not in TerminalKind.values:
        errors["kind"] = [_("Unknown terminal type.")]
    return name


def _require_manager(
    by: Any, institution: Institution, perm: str = "healthcard.change_terminal"
) -> None:
    """Staff need `perm` and the terminal's institution within their own (outside it
    the terminal is not found). Commands and the platform (no staff user) may."""
    if not access.is_staff_user(by):
        return
    access.require_perm(by, perm)
    scope = access.staff_institution(by)
    if scope is not None and (scope is False or scope.pk != institution.pk):
        raise NotAllowed("not_found")


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
    empty name, an unknown kind or scope (ValidationError), and staff without
    `healthcard.add_terminal` or of another institution (NotAllowed)."""
    _require_manager(by, institution, "healthcard.add_terminal")
    errors: dict[str, list[str]] = {}
    name = _clean_fields(name, kind, errors)
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


def change_terminal(
    terminal: Terminal,
    *,
    name: str,
    kind: str,
    scopes: Iterable[str],
    by: Any = None,
    ip: str | None = None,
) -> tuple[Terminal, list[str]]:
    """Change a terminal's name, type and scopes (its institution and token never
    change here). Returns (terminal, names of the fields that changed) and writes a
    `terminal.change` audit record when anything did. Refuses an empty name, an unknown
    type or scope (ValidationError) and staff without `healthcard.change_terminal` or
    outside the terminal's institution (NotAllowed)."""
    errors: dict[str, list[str]] = {}
    name = _clean_fields(name, kind, errors)
    try:
        scope_list = clean_scopes(scopes)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    values = {"name": name, "kind": kind, "scopes": scope_list}
    with transaction.atomic():
        # Fresh from the database: an admin form has already changed the instance.
        current = Terminal.objects.select_for_update().select_related("institution")
        current = current.get(pk=terminal.pk)
        _require_manager(by, current.institution)
        changed = [field for field, value in values.items() if getattr(current, field) != value]
        if not changed:
            return current, []
        for field in changed:
            setattr(current, field, values[field])
        current.save(update_fields=changed)
        audit.record(
            "terminal.change",
            actor=by,
            obj=current,
            institution=current.institution,
            ip=ip,
            kind=current.kind,
            scopes=current.scopes,
        )
    return current, changed


def rotate_token(terminal: Terminal, *, by: Any = None) -> str:
    """Replace the terminal's token and return the new one, shown once. The old one
    stops working at once on this node, within seconds on the others (see the module
    docstring). Staff: as change_terminal."""
    _require_manager(by, terminal.institution)
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
    known = _known.current()
    terminal = known.get(parts[1])
    if terminal is None:
        terminal = sql.terminal_by_prefix(parts[1])
        if terminal is None:
            return None
        if len(known) >= KNOWN_LIMIT:
            known.clear()
        known[parts[1]] = terminal
    if not hmac.compare_digest(terminal.token_hash, hash_token(token)):
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
    disabled terminal changes nothing and writes no audit row. Staff: as
    change_terminal."""
    _require_manager(by, terminal.institution)
    with transaction.atomic():
        updated = Terminal.objects.filter(pk=terminal.pk, is_active=True).update(
            is_active=False, disabled_at=timezone.now()
        )
        if updated:
            _known.changed()
            audit.record(
                "terminal.disable", actor=by, obj=terminal, institution=terminal.institution
            )
    terminal.refresh_from_db()
    return terminal
