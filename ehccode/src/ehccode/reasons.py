"""Why a code is refused: the stable reason codes of docs/qr-format.md section 7."""

from __future__ import annotations

from typing import Any


def gettext_noop(message: str) -> str:
    """Marks a message for translation without translating it (the name is the one
    xgettext and Django's makemessages look for): the platform translates these through
    its catalogue; a terminal shows them as they are or maps the reason code itself."""
    return message


class Reason:
    """Why a code was refused. The values are stable API strings (docs/qr-format.md)."""

    MALFORMED = "malformed"
    UNSUPPORTED_VERSION = "unsupported_version"
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"
    KEY_REVOKED = "key_revoked"
    KEY_RETIRED = "key_retired"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    SUPERSEDED = "superseded"
    CARD_FROZEN = "card_frozen"
    CARD_CANCELLED = "card_cancelled"
    UNKNOWN_CARD = "unknown_card"

    # English; the platform's catalogue holds the Chinese.
    MESSAGES = {
        MALFORMED: gettext_noop("This is not a health card code, or it is damaged."),
        UNSUPPORTED_VERSION: gettext_noop(
            "This code uses a format version this system does not support."
        ),
        UNKNOWN_KEY: gettext_noop("The code was signed with a key this system does not know."),
        BAD_SIGNATURE: gettext_noop(
            "The code's signature does not match: it was altered or forged."
        ),
        KEY_REVOKED: gettext_noop("The key that signed this code has been revoked."),
        KEY_RETIRED: gettext_noop("The code was signed with a key after that key was retired."),
        EXPIRED: gettext_noop("The code has expired."),
        NOT_YET_VALID: gettext_noop("The code is not valid yet; check the terminal's clock."),
        SUPERSEDED: gettext_noop("The card was replaced: this code belongs to an earlier issue."),
        CARD_FROZEN: gettext_noop("The card is frozen."),
        CARD_CANCELLED: gettext_noop("The card has been cancelled."),
        UNKNOWN_CARD: gettext_noop("No such card."),
    }
    VALID_MESSAGE = gettext_noop("Valid code.")
    ALL = tuple(MESSAGES)


class Rejected(Exception):
    """A code failed a check. Carries what was parsed so far (ehc_id, kind, kid)."""

    def __init__(self, reason: str, **parsed: Any):
        super().__init__(reason)
        self.reason = reason
        self.parsed = parsed
