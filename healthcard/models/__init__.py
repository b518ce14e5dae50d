"""The core domain's models, one module per area; domain logic lives beside them in
healthcard/<area>.py (cards.py, keys.py, audit.py ...)."""

from .audit import AuditChainHead, AuditRecord
from .cards import Card, CardStatus, Channel
from .institutions import Institution, Level, Role, StaffProfile
from .keys import Key, KeyPurpose, KeyState
from .people import Guardianship, Person, Relation

__all__ = [
    "AuditChainHead",
    "AuditRecord",
    "Card",
    "CardStatus",
    "Channel",
    "Guardianship",
    "Institution",
    "Key",
    "KeyPurpose",
    "KeyState",
    "Level",
    "Person",
    "Relation",
    "Role",
    "StaffProfile",
]
