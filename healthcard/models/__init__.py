"""The core domain's models, one module per area; domain logic lives beside them in
healthcard/<area>.py (cards.py, keys.py, audit.py ...)."""

from .audit import AuditChainHead, AuditRecord
from .cards import Card, CardStatus, Channel
from .institutions import Institution, Level, Role, StaffProfile
from .keys import DataKey, DataKeyPurpose, DataKeyState, Key, KeyPurpose, KeyState
from .links import CardLink, LinkKind
from .people import Guardianship, Person, Relation
from .revocations import RevocationCounter, RevocationEntry, RevocationKind
from .selfservice import (
    Application,
    ApplicationRelation,
    ApplicationStatus,
    OutboxMessage,
    PopulationRecord,
    SmsSend,
)
from .statistics import DailyInstitutionUse, DailyIssuance, DailyUsage, VisitTotal
from .terminals import Scope, Terminal, TerminalKind
from .usage import CareStep, FeeType, UsageEvent

__all__ = [
    "Application",
    "ApplicationRelation",
    "ApplicationStatus",
    "AuditChainHead",
    "AuditRecord",
    "Card",
    "CardLink",
    "CardStatus",
    "CareStep",
    "Channel",
    "DailyInstitutionUse",
    "DailyIssuance",
    "DailyUsage",
    "DataKey",
    "DataKeyPurpose",
    "DataKeyState",
    "FeeType",
    "Guardianship",
    "Institution",
    "Key",
    "KeyPurpose",
    "KeyState",
    "Level",
    "LinkKind",
    "OutboxMessage",
    "Person",
    "PopulationRecord",
    "Relation",
    "RevocationCounter",
    "RevocationEntry",
    "RevocationKind",
    "Role",
    "Scope",
    "SmsSend",
    "StaffProfile",
    "Terminal",
    "TerminalKind",
    "UsageEvent",
    "VisitTotal",
]
