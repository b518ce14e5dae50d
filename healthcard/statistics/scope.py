"""Who sees which statistics: the province, one 市州, or one institution."""

from dataclasses import dataclass
from typing import Any

from django.db.models import Q
from django.utils.translation import gettext as _

from healthcard.models import (
    Institution,
    Level,
    Role,
)
from healthcard.statistics.common import PROVINCE_CITY_CODE, city_name


@dataclass(frozen=True)
class StatisticsScope:
    """What a user's statistics cover: the province, one 市州, or one institution."""

    kind: str  # 'province', 'city' or 'institution'
    city_code: str = ""
    institution: Institution | None = None

    @property
    def label(self) -> str:
        if self.kind == "province":
            return _("Hunan province")
        if self.kind == "city":
            return city_name(self.city_code)
        return self.institution.name

    def q(self, prefix: str = "") -> Q:
        if self.kind == "city":
            return Q(**{f"{prefix}city_code": self.city_code})
        if self.kind == "institution":
            return Q(**{f"{prefix}pk": self.institution.pk})
        return Q()

    def covers(self, institution: Institution) -> bool:
        if self.kind == "city":
            return institution.city_code == self.city_code
        if self.kind == "institution":
            return institution.pk == self.institution.pk
        return True


def scope_for(user: Any) -> StatisticsScope | None:
    """Province administrators (and superusers) see the province; administrators of a
    市州 health authority their 市州 (of the provincial authority, the province);
    institution administrators their institution; everyone else nothing (None)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    if user.is_superuser:
        return StatisticsScope("province")
    profile = getattr(user, "staff_profile", None)
    if profile is None:
        return None
    if profile.role == Role.PROVINCE_ADMIN:
        return StatisticsScope("province")
    if profile.role != Role.INSTITUTION_ADMIN:
        return None
    institution = profile.institution
    if institution.level == Level.AUTHORITY:
        if institution.city_code == PROVINCE_CITY_CODE:
            return StatisticsScope("province")
        return StatisticsScope("city", city_code=institution.city_code)
    return StatisticsScope("institution", institution=institution)
