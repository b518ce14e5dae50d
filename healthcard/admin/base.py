from django.contrib import admin
from django.db.models import Q
from django.http import Http404
from django.utils.translation import gettext as _

from healthcard.models import Institution, Role


def staff_institution(user):
    """The institution a staff user is limited to, or None for province-wide access."""
    if user.is_superuser:
        return None
    profile = getattr(user, "staff_profile", None)
    if profile is None:
        return False  # staff without a profile see nothing
    if profile.role == Role.PROVINCE_ADMIN:
        return None
    return profile.institution


def limit_institution_field(db_field, request, kwargs: dict) -> None:
    """New objects can only be made for the user's own institution: narrow the choices
    of an `institution` foreign key accordingly."""
    if db_field.name != "institution":
        return
    institution = staff_institution(request.user)
    if institution is False:
        kwargs["queryset"] = Institution.objects.none()
    elif institution is not None:
        kwargs["queryset"] = Institution.objects.filter(pk=institution.pk)


class InstitutionScopedAdmin(admin.ModelAdmin):
    """Limits the list and every object view to the user's institution.

    `institution_path` is the ORM path from the model to its owning Institution.
    Objects outside the user's institution are simply not found (404), not forbidden,
    so their existence is not revealed either.
    """

    institution_path = "institution"

    def scope_filter(self, institution) -> Q:
        """Lookup keeping the objects of `institution`."""
        return Q(**{self.institution_path: institution.pk})

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        institution = staff_institution(request.user)
        if institution is None:
            return qs
        if institution is False:
            return qs.none()
        return qs.filter(self.scope_filter(institution)).distinct()

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        limit_institution_field(db_field, request, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_object(self, request, object_id, from_field=None):
        # Django's admin answers a missing object with a redirect and a "does not exist"
        # message; outside the user's institution it is a plain 404, as promised above.
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404(_("Not found."))
        return obj

    def is_province_wide(self, request) -> bool:
        return staff_institution(request.user) is None
