"""People in the admin: masked everywhere, full identity only through reveal_person.

Registration, changes and family links go through healthcard.people; the admin only
collects the input. A person's page shows masked name, ID number and phone to every
user; "Show full identity" asks for a reason and shows the fields once, audited. The
list is searched by exact ID number through a POST form, so the number never appears
in a URL (and with it in access logs and browser history).
"""

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache

from healthcard import people
from healthcard.admin.base import InstitutionScopedAdmin, staff_institution
from healthcard.clientip import client_ip
from healthcard.errors import DomainError
from healthcard.identity import IdType, normalise_id_number
from healthcard.models import Guardianship, Person
from healthcard.people import PersonData, clean_person_data


def _add_domain_errors(form: forms.Form, exc: ValidationError) -> None:
    for field, messages in exc.message_dict.items():
        if field in form.errors:
            continue  # the field's own error says it better ("Enter a name." would not)
        for message in messages:
            form.add_error(field if field in form.fields else None, message)


class PersonAddForm(forms.ModelForm):
    """Registration at the admin: the same validation as every other channel
    (healthcard.people.clean_person_data); PersonAdmin.save_model registers."""

    id_number = forms.CharField(label=_("ID number"), max_length=40)
    phone = forms.CharField(label=_("mobile phone"), max_length=20, required=False)
    address = forms.CharField(label=_("address"), max_length=200, required=False)

    class Meta:
        model = Person
        fields = ["name", "id_type", "sex", "birth_date", "nation"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["sex"].required = False
        self.fields["birth_date"].required = False

    def clean(self):
        data = super().clean()
        try:
            cleaned = clean_person_data(
                PersonData(
                    name=data.get("name") or "",
                    id_type=data.get("id_type") or "",
                    id_number=data.get("id_number") or "",
                    sex=data.get("sex") or None,
                    birth_date=data.get("birth_date"),
                    nation=data.get("nation") or "",
                    phone=data.get("phone") or "",
                    address=data.get("address") or "",
                )
            )
        except ValidationError as exc:
            _add_domain_errors(self, exc)
            return data
        if people.find_person(cleaned.id_type, cleaned.id_number) is not None:
            self.add_error(
                "id_number", _("A person with this identity document is already registered.")
            )
        self.person_data = cleaned
        return data


class PersonChangeForm(forms.ModelForm):
    """What may change (healthcard.people.CHANGEABLE), without showing what is on
    file: a new phone or address replaces the old one, an empty field keeps it."""

    phone = forms.CharField(
        label=_("new mobile phone"),
        max_length=20,
        required=False,
        help_text=_("Leave empty to keep the number on file."),
    )
    remove_phone = forms.BooleanField(label=_("remove the phone number on file"), required=False)
    address = forms.CharField(
        label=_("new address"),
        max_length=200,
        required=False,
        help_text=_("Leave empty to keep the address on file."),
    )
    remove_address = forms.BooleanField(label=_("remove the address on file"), required=False)

    class Meta:
        model = Person
        fields = ["nation"]

    def clean(self):
        data = super().clean()
        changes = {}
        if "nation" in self.changed_data:
            changes["nation"] = data.get("nation") or ""
        for field in ("phone", "address"):
            if data.get(f"remove_{field}"):
                changes[field] = ""
            elif data.get(field):
                changes[field] = data[field]
        try:
            people.clean_changes(changes)
        except ValidationError as exc:
            _add_domain_errors(self, exc)
        self.person_changes = changes
        return data


class RevealForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=200,
        help_text=_("Why you need the full identity; recorded in the audit log."),
    )


class GuardianshipInline(admin.TabularInline):
    model = Guardianship
    fk_name = "guardian"
    extra = 0
    raw_id_fields = ["dependant"]
    verbose_name = _("family member managed")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "dependant":
            # Only people this user may see: a typed-in raw ID cannot reach another
            # institution's residents.
            kwargs["queryset"] = self.admin_site.get_model_admin(Person).get_queryset(request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


ADD_FIELDS = ["name", "id_type", "id_number", "sex", "birth_date", "nation", "phone", "address"]

#: The person's page shows these instead of the stored values.
MASKED_FIELDS = [
    "masked_name",
    "id_type",
    "masked_id_number",
    "sex",
    "birth_date",
    "masked_phone",
    "address_on_file",
]


@admin.register(Person)
class PersonAdmin(InstitutionScopedAdmin):
    institution_path = "card__institution"

    def scope_filter(self, institution) -> Q:
        # A person registered here but not (yet) given a card belongs here too.
        return super().scope_filter(institution) | Q(registered_by=institution.pk)

    form = PersonChangeForm
    add_form = PersonAddForm
    list_display = [
        "masked_name",
        "id_type",
        "masked_id_number",
        "sex",
        "birth_date",
        "card_status",
    ]
    list_filter = ["id_type", "sex", "card__status", "card__institution"]
    inlines = [GuardianshipInline]
    change_list_template = "admin/healthcard/id_search_change_list.html"
    change_form_template = "admin/healthcard/person/change_form.html"
    id_search_help = _("Exact ID number of any document type.")

    @admin.display(description=_("full name"))
    def masked_name(self, obj):
        return obj.masked_name

    @admin.display(description=_("ID number"))
    def masked_id_number(self, obj):
        return obj.masked_id_number

    @admin.display(description=_("mobile phone"))
    def masked_phone(self, obj):
        return obj.masked_phone or "-"

    @admin.display(description=_("address"))
    def address_on_file(self, obj):
        return _("on file") if obj.address_enc else "-"

    @admin.display(description=_("card"))
    def card_status(self, obj):
        card = getattr(obj, "card", None)
        return card.get_status_display() if card else "-"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("card")

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return list(ADD_FIELDS)
        fields = [*MASKED_FIELDS, "nation", "registered_by", "master_index", "created_at"]
        if self.has_change_permission(request, obj):
            fields += ["phone", "remove_phone", "address", "remove_address"]
        return fields

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        readonly = [*MASKED_FIELDS, "registered_by", "master_index", "created_at"]
        if not self.has_change_permission(request, obj):
            readonly.append("nation")
        return readonly

    def save_model(self, request, obj, form, change):
        if change:
            people.change_person(obj, by=request.user, ip=client_ip(request), **form.person_changes)
            return
        person = people.register_person(
            form.person_data,
            by=request.user,
            institution=staff_institution(request.user) or None,
            ip=client_ip(request),
        )
        # The admin goes on with `obj` (the family links, its log entry, the redirect):
        # make it the person just registered.
        vars(obj).update(vars(person))

    def save_formset(self, request, form, formset, change):
        if formset.model is not Guardianship:
            return super().save_formset(request, form, formset, change)
        by, ip = request.user, client_ip(request)
        guardian = form.instance
        # What the admin's change message reads (formset.save() would set them).
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for inline in formset.deleted_forms:
            if inline.instance.pk is not None:
                people.remove_dependant(inline.instance, by=by, ip=ip)
                formset.deleted_objects.append(inline.instance)
        for inline in formset.forms:
            if inline in formset.deleted_forms or not inline.has_changed():
                continue
            dependant, relation = inline.cleaned_data["dependant"], inline.cleaned_data["relation"]
            if inline.instance.pk is not None:
                before = Guardianship.objects.get(pk=inline.instance.pk)
                if before.dependant_id != dependant.pk:
                    people.remove_dependant(before, by=by, ip=ip)
                    formset.deleted_objects.append(before)
                else:
                    link = people.add_dependant(guardian, dependant, relation, by=by, ip=ip)
                    formset.changed_objects.append((link, inline.changed_data))
                    continue
            formset.new_objects.append(
                people.add_dependant(guardian, dependant, relation, by=by, ip=ip)
            )
        return None

    # Showing the full identity ------------------------------------------------------
    def get_urls(self):
        reveal = self.admin_site.admin_view(self.reveal_view)
        return [
            path("<path:object_id>/reveal/", reveal, name="healthcard_person_reveal"),
            *super().get_urls(),
        ]

    @method_decorator(never_cache)
    def reveal_view(self, request, object_id):
        """GET: the reason form. POST: people.reveal_person (which checks the
        healthcard.reveal_identity permission and audits) and the fields, once."""
        person = self.get_object(request, object_id)
        if not self.has_view_or_change_permission(request, person):
            raise PermissionDenied
        form = RevealForm(request.POST if request.method == "POST" else None)
        identity = None
        if form.is_valid():
            try:
                identity = people.reveal_person(
                    person,
                    by=request.user,
                    via="admin",
                    reason=form.cleaned_data["reason"],
                    ip=client_ip(request),
                )
            except DomainError as exc:
                self.refused(request, exc)
        response = TemplateResponse(
            request,
            "admin/healthcard/person/reveal.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Full identity"),
                "opts": self.model._meta,
                "original": person,
                "form": form,
                "identity": identity,
                "change_url": reverse("admin:healthcard_person_change", args=[person.pk]),
            },
        )
        response["Cache-Control"] = "no-store"
        return response

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["may_reveal"] = obj is not None and request.user.has_perm(people.REVEAL_PERMISSION)
        return super().render_change_form(request, context, add, change, form_url, obj)

    # Searching by ID number without a URL --------------------------------------------
    def get_search_results(self, request, queryset, search_term):
        term = id_search_term(request)
        if term is None:
            return queryset, False
        return queryset.filter(identity_index__in=identity_indexes(term)), False


def id_search_term(request) -> str | None:
    """The number typed into the list's POST search form, or None when not searching."""
    if request.method != "POST" or "id_search" not in request.POST:
        return None
    return request.POST.get("id_number", "")


def identity_indexes(term: str) -> list[str]:
    """Blind indexes of `term` read as an ID number of every type, so an exact number
    finds its person without decrypting anyone; [] when it cannot be an ID number."""
    term = term.strip()
    if len(term) < 4 or " " in term:
        return []
    return [
        Person.identity_index_for(code, normalise_id_number(code, term))
        for code, _label in IdType.CHOICES
    ]
