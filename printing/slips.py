"""What a printed card says, built from the card's current state.

`build_slip` is the only place that reads the database for printing; the renderers
take the resulting plain `Slip` (printing.slip, which imports no models). The slip
shows the masked name and the EHC ID, never the ID number; its QR carries the signed
static code, made now, so a slip printed for a card that was frozen, cancelled or
replaced since the job was queued is refused rather than printed with a dead code.
"""

from typing import Any

from django.utils import timezone
from django.utils.translation import gettext

from healthcard import cards, codes
from healthcard.errors import DomainError
from healthcard.models import Card
from printing.slip import TITLE, Slip

__all__ = ["Slip", "SlipError", "build_slip", "sample_slip"]


class SlipError(DomainError):
    """The card cannot be printed now; `reason` (= `code`) is stable, str() explains."""

    def __init__(self, reason: str, message: Any):
        super().__init__(reason, message)

    @property
    def reason(self) -> str:
        return self.code


def _labels() -> dict[str, str]:
    return {
        "name": gettext("Name"),
        "ehc_id": gettext("EHC ID"),
        "institution": gettext("Issued by"),
        "date": gettext("Issued on"),
        "seq": gettext("Issue no."),
    }


def _instruction() -> str:
    return gettext(
        "Show this code at any public hospital or clinic in Hunan. "
        "Report a lost card at any counter."
    )


def build_slip(card: Card) -> Slip:
    """The slip for `card` as it is now. Refuses (SlipError) a card that is not active;
    the code is signed for the card's current issue sequence."""
    card = Card.objects.select_related("person", "institution").get(pk=card.pk)
    try:
        cards.require_active(card)
        code = codes.static_code(card)
    except DomainError as exc:
        raise SlipError(exc.code, exc.message) from exc
    return Slip(
        code=code,
        masked_name=card.person.masked_name,
        ehc_id=card.ehc_id,
        institution_name=card.institution.name,
        issued_on=timezone.localdate(card.seq_issued_at),
        issue_seq=card.issue_seq,
        labels=_labels(),
        instruction=_instruction(),
    )


def sample_slip(institution_name: str) -> Slip:
    """A test page: the layout of a real slip with sample content and a QR that no
    terminal accepts."""
    return Slip(
        code="HEALTHCARD-PRINTER-TEST-PAGE",
        masked_name="张*三",
        ehc_id="0123456789ABCDEF" * 4,
        institution_name=institution_name,
        issued_on=timezone.localdate(),
        issue_seq=1,
        title=TITLE + " " + gettext("(test page)"),
        labels=_labels(),
        instruction=gettext("Test page: if you can read this, the printer works."),
        is_test=True,
    )
