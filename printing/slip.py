"""What a printed slip says, as plain data: the renderers' only input.

Imports no models and reads no settings, so a slip renders anywhere (a site tool, a
test, a process without Django settings). printing.slips builds one from a card.
"""

import datetime
from dataclasses import dataclass, field

TITLE = "电子健康卡"  # the national name of the card, printed as is in every language


@dataclass(frozen=True)
class Slip:
    code: str
    masked_name: str
    ehc_id: str
    institution_name: str
    issued_on: datetime.date
    issue_seq: int
    title: str = TITLE
    labels: dict[str, str] = field(default_factory=dict)
    instruction: str = ""
    is_test: bool = False

    @property
    def ehc_id_groups(self) -> list[str]:
        """The EHC ID in groups of four characters, read aloud or typed without losing
        one's place."""
        return [self.ehc_id[i : i + 4] for i in range(0, len(self.ehc_id), 4)]

    def ehc_id_lines(self, groups_per_line: int = 4) -> list[str]:
        groups = self.ehc_id_groups
        return [
            " ".join(groups[i : i + groups_per_line])
            for i in range(0, len(groups), groups_per_line)
        ]

    @property
    def texts(self) -> list[str]:
        """Every piece of text on the slip (to check fonts and encodings)."""
        return [
            self.title,
            self.masked_name,
            self.ehc_id,
            self.institution_name,
            self.issued_on.isoformat(),
            str(self.issue_seq),
            self.instruction,
            *self.labels.values(),
        ]
