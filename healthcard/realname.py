"""Real-name verification (实名认证): does this name belong to this identity number?

One function, `verify_identity`, asks the verifier chosen by HEALTHCARD_REALNAME_VERIFIER:

- `local` (default): the population register table (PopulationRecord), seeded by the
  `demo` command and filled from a CSV file by `import_population`;
- `http`: the province's population service (request format in docs/portal.md), with
  a timeout of HEALTHCARD_REALNAME_TIMEOUT seconds (5).

It answers VERIFIED, MISMATCH (the register has the number under another name, or does
not have it) or UNAVAILABLE (the service could not be asked: try again later).
"""

import enum
import logging
import unicodedata
from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from healthcard import outbound, pii
from healthcard.identity import IdType, normalise_id_number, normalise_name, validate_identity
from healthcard.models import Person, PopulationRecord

log = logging.getLogger(__name__)


class Outcome(enum.Enum):
    VERIFIED = "verified"
    MISMATCH = "mismatch"
    UNAVAILABLE = "unavailable"


def name_index(name: str) -> str:
    return pii.blind_index(unicodedata.normalize("NFC", name).strip(), "realname")


class LocalRegister:
    def verify(self, name: str, id_type: str, id_number: str) -> Outcome:
        record = PopulationRecord.objects.filter(
            identity_index=Person.identity_index_for(id_type, id_number)
        ).first()
        if record is not None and record.name_index == name_index(name):
            return Outcome.VERIFIED
        return Outcome.MISMATCH


class HttpVerifier:
    """POST {"name", "id_type", "id_number"} as JSON with a bearer token; the service
    answers {"result": "match"} or {"result": "mismatch"}. Anything else, a timeout or
    an error status is UNAVAILABLE (the application waits and is checked again)."""

    def verify(self, name: str, id_type: str, id_number: str) -> Outcome:
        try:
            answer = outbound.post_json(
                settings.HEALTHCARD_REALNAME_URL,
                settings.HEALTHCARD_REALNAME_TOKEN,
                {"name": name, "id_type": id_type, "id_number": id_number},
                timeout=settings.HEALTHCARD_REALNAME_TIMEOUT,
            )
        except (OSError, ValueError) as exc:  # URLError, HTTPError, timeouts, bad JSON
            log.warning("population service unavailable: %s", type(exc).__name__)
            return Outcome.UNAVAILABLE
        result = answer.get("result") if isinstance(answer, dict) else None
        if result == "match":
            return Outcome.VERIFIED
        if result == "mismatch":
            return Outcome.MISMATCH
        log.warning("population service gave an unknown answer")
        return Outcome.UNAVAILABLE


VERIFIERS = {"local": LocalRegister, "http": HttpVerifier}


def verify_identity(name: str, id_type: str, id_number: str) -> Outcome:
    """Ask the configured verifier; never raises for a service problem (UNAVAILABLE)."""
    return VERIFIERS[settings.HEALTHCARD_REALNAME_VERIFIER]().verify(name, id_type, id_number)


def add_to_register(name: str, id_type: str, id_number: str) -> bool:
    """Add or update one register entry after validating it; True when it was new."""
    name = normalise_name(name)
    if id_type == IdType.RESIDENT_ID:
        number = validate_identity(id_type, id_number).id_number
    else:
        # The register lists documents, not sex and birth date: check the number only.
        number = normalise_id_number(id_type, id_number)
        if id_type not in dict(IdType.CHOICES) or not 4 <= len(number) <= 30:
            raise ValidationError({"id_number": ["invalid"]})
    _record, created = PopulationRecord.objects.update_or_create(
        identity_index=Person.identity_index_for(id_type, number),
        defaults={"name_index": name_index(name)},
    )
    return created


def import_register(rows: Iterable[dict]) -> tuple[int, int, list[str]]:
    """Import CSV rows with columns name, id_type, id_number (id_type defaults to 01).
    Returns (created, updated, problems); a bad row is reported by its line and the
    field at fault, never by its content, and does not stop the others."""
    created = updated = 0
    problems: list[str] = []
    with transaction.atomic():
        for line, row in enumerate(rows, start=2):
            try:
                new = add_to_register(
                    row.get("name") or "", row.get("id_type") or "01", row.get("id_number") or ""
                )
            except ValidationError as exc:
                fields = ", ".join(sorted(getattr(exc, "message_dict", {}) or {"name": ""}))
                problems.append(f"line {line}: invalid {fields}")
                continue
            created += new
            updated += not new
    return created, updated, problems
