"""What every admin page shares: the institution scope, the one mapping of domain
refusals to messages, and list filters limited to what the page offers."""

from django.contrib import admin, messages
from django.contrib.admin.exceptions import NotRegistered
from django.contrib.admin.utils import NotRelationField, get_fields_from_path
from django.contrib.admin.views.main import IGNORED_PARAMS
from django.contrib.admin.widgets import url_params_from_lookup_dict
from django.core.exceptions import FieldDoesNotExist
from django.db.models import Q
from django.http import Http404, HttpResponseRedirect
from django.utils.translation import gettext as _

from healthcard.access import staff_institution
from healthcard.errors import DomainError, NotAllowed
from healthcard.models import Institution

__all__ = [
    "DomainErrorAdmin",
    "InstitutionScopedAdmin",
    "ScopedRelatedFilter",
    "ScopedValuesFilter",
    "limit_institution_field",
    "staff_institution",
]


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


class DomainErrorAdmin(admin.ModelAdmin):
    """The admin's one mapping of a refused domain operation (DomainError): a message
    for the user, or a plain 404 for something outside what they may see.

    A refusal raised while saving a form (save_model, save_formset) rolls the whole
    save back (the admin saves in one transaction) and returns to the page."""

    def refused(self, request, exc: DomainError, obj=None) -> None:
        if isinstance(exc, NotAllowed) and exc.code == "not_found":
            raise Http404(_("Not found."))
        text = str(exc.message)
        self.message_user(request, f"{obj}: {text}" if obj is not None else text, messages.ERROR)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as exc:
            self.refused(request, exc)
            return HttpResponseRedirect(request.get_full_path())


class ScopedRelatedFilter(admin.RelatedFieldListFilter):
    """A foreign-key filter that lists only the related objects the user may see: what
    the related model's own institution-scoped admin shows them, else only the objects
    the rows on this page refer to (never another institution's printers, say)."""

    def field_choices(self, field, request, model_admin):
        ordering = self.field_admin_ordering(field, request, model_admin)
        try:
            related_admin = model_admin.admin_site.get_model_admin(field.remote_field.model)
        except NotRegistered:
            related_admin = None
        if isinstance(related_admin, InstitutionScopedAdmin):
            queryset = related_admin.get_queryset(request)
            if ordering:
                queryset = queryset.order_by(*ordering)
            return [(obj.pk, str(obj)) for obj in queryset]
        referred = (
            model_admin.get_queryset(request)
            .distinct()
            .values_list(f"{self.field_path}__pk", flat=True)
        )
        return field.get_choices(
            include_blank=False, limit_choices_to={"pk__in": referred}, ordering=ordering
        )


class ScopedValuesFilter(admin.AllValuesFieldListFilter):
    """A filter on a field of a related model (`institution__city_code`) that lists only
    the values of the rows the user may see (Django's lists every related row's)."""

    def __init__(self, field, request, params, model, model_admin, field_path):
        super().__init__(field, request, params, model, model_admin, field_path)
        self.lookup_choices = (
            model_admin.get_queryset(request)
            .order_by(field_path)
            .values_list(field_path, flat=True)
            .distinct()
        )


class InstitutionScopedAdmin(DomainErrorAdmin):
    """Limits the list and every object view to the user's institution.

    `institution_path` is the ORM path from the model to its owning Institution.
    Objects outside the user's institution are simply not found (404), not forbidden,
    so their existence is not revealed either.

    The list accepts only the filters its sidebar offers (and its date hierarchy): any
    other query-string lookup (`?name__startswith=张`) is refused with 400, so masked
    values cannot be tested by trial. Foreign-key filters list only the user's own
    institution's objects (ScopedRelatedFilter, ScopedValuesFilter).
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

    # List filters -----------------------------------------------------------------
    def get_list_filter(self, request):
        return [self._scoped_filter(item) for item in super().get_list_filter(request)]

    def _scoped_filter(self, item):
        if not isinstance(item, str):
            return item
        try:
            field = get_fields_from_path(self.model, item)[-1]
        except (FieldDoesNotExist, NotRelationField):
            return item
        if field.is_relation and field.many_to_one:
            return (item, ScopedRelatedFilter)
        if "__" in item and not field.is_relation and not field.choices:
            return (item, ScopedValuesFilter)
        return item

    def offered_lookups(self, request) -> set[str]:
        """The query-string parameters this list's filters and date hierarchy use (the
        filters say which: expected_parameters())."""
        offered: set[str] = set()
        if self.date_hierarchy:
            offered |= {f"{self.date_hierarchy}__{part}" for part in ("year", "month", "day")}
        for item in self.get_list_filter(request):
            if isinstance(item, type):  # a SimpleListFilter
                spec = item(request, {}, self.model, self)
            else:
                path, filter_class = item if isinstance(item, tuple) else (item, None)
                field = get_fields_from_path(self.model, path)[-1]
                filter_class = filter_class or admin.FieldListFilter.create
                spec = filter_class(field, request, {}, self.model, self, field_path=path)
            offered |= set(spec.expected_parameters())
        return offered

    def lookup_allowed(self, lookup, value, request):
        for fk_lookup in self.model._meta.related_fkey_lookups:
            # Raw-ID popups of other models' limit_choices_to (Django's own exception).
            if callable(fk_lookup):
                fk_lookup = fk_lookup()
            if (lookup, value) in url_params_from_lookup_dict(fk_lookup).items():
                return True
        if lookup in IGNORED_PARAMS:
            return True
        offered = getattr(request, "_offered_lookups", None)
        if offered is None:  # asked once per parameter: work it out once per request
            offered = request._offered_lookups = self.offered_lookups(request)
        return lookup in offered
