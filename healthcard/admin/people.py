from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from healthcard import audit, people
from healthcard.admin.base import InstitutionScopedAdmin, staff_institution
from healthcard.identity import IdType, normalise_id_number
from healthcard.models import Guardianship, Person
from healthcard.people import PersonData, clean_person_data


class PersonForm(forms.ModelForm):
    """Identity numbers, phone and address are entered in clear and stored encrypted;
    validation is the same as every other channel's (healthcard.people.clean_person_data)."""

    id_number = forms.CharField(label=_("ID number"), max_length=40, required=False)
    phone = forms.CharField(label=_("mobile phone"), max_length=20, required=False)
    address = forms.CharField(label=_("address"), max_length=200, required=False)

    class Meta:
        model = Person
        fields = ["name", "id_type", "sex", "birth_date", "nation"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "sex" not in self.fields:
            return  # a view-only user's form: every field is shown read-only instead
        self.fields["sex"].required = False
        self.fields["birth_date"].required = False
        if self.instance.pk:
            # The identity defines the EHC ID; it is never edited in place.
            for name in ("id_type", "id_number"):
                self.fields[name].disabled = True
            self.fields["id_number"].initial = self.instance.masked_id_number
            self.fields["phone"].initial = self.instance.phone
            self.fields["address"].initial = self.instance.address
        else:
            self.fields["id_number"].required = True

    def clean(self):
        data = super().clean()
        instance = self.instance
        try:
            cleaned = clean_person_data(
                PersonData(
                    name=data.get("name") or "",
                    id_type=instance.id_type if instance.pk else data.get("id_type") or "",
                    id_number=instance.id_number if instance.pk else data.get("id_number") or "",
                    sex=data.get("sex") or None,
                    birth_date=data.get("birth_date"),
                    nation=data.get("nation") or "",
                    phone=data.get("phone") or "",
                    address=data.get("address") or "",
                )
            )
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                if field in self.errors:
                    continue  # the field's own error says it better ("Enter a name." would not)
                for message in messages:
                    self.add_error(field if field in self.fields else None, message)
            return data
        if not instance.pk:
            index = Person.identity_index_for(cleaned.id_type, cleaned.id_number)
            if Person.objects.filter(identity_index=index).exists():
                self.add_error(
                    "id_number", _("A person with this identity document is already registered.")
                )
        self.person_data = cleaned
        return data

    def save(self, commit=True):
        person = super().save(commit=False)
        data = self.person_data
        person.name, person.sex, person.birth_date = data.name, data.sex, data.birth_date
        if not person.pk:
            person.set_identity(data.id_type, data.id_number)
        person.phone = data.phone
        person.address = data.address
        if commit:
            person.save()
        return person


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


@admin.register(Person)
class PersonAdmin(InstitutionScopedAdmin):
    institution_path = "card__institution"

    def scope_filter(self, institution) -> Q:
        # A person registered here but not (yet) given a card belongs here too.
        return super().scope_filter(institution) | Q(registered_by=institution.pk)

    form = PersonForm
    list_display = [
        "masked_name",
        "id_type",
        "masked_id_number",
        "sex",
        "birth_date",
        "card_status",
    ]
    list_filter = ["id_type", "sex", "card__status", "card__institution"]
    search_fields = ["name"]
    search_help_text = _("Search by exact ID number, or by name.")
    inlines = [GuardianshipInline]
    readonly_fields = ["master_index", "created_at", "updated_at"]

    @admin.display(description=_("full name"))
    def masked_name(self, obj):
        return obj.masked_name

    @admin.display(description=_("ID number"))
    def masked_id_number(self, obj):
        return obj.masked_id_number

    @admin.display(description=_("mobile phone"))
    def masked_phone(self, obj):
        return obj.masked_phone

    @admin.display(description=_("card"))
    def card_status(self, obj):
        card = getattr(obj, "card", None)
        return card.get_status_display() if card else "-"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("card")

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        if obj is not None and not self.has_change_permission(request, obj):
            # The read-only page reads form-only fields straight off the person, which
            # would print the decrypted ID number, phone and address; a view-only user
            # (a clerk) has no identity reveal, so the name is masked as in lists.
            masked = {
                "name": "masked_name",
                "id_number": "masked_id_number",
                "phone": "masked_phone",
            }
            fields = [masked.get(name, name) for name in fields if name != "address"]
        return fields

    def get_search_results(self, request, queryset, search_term):
        indexes = identity_indexes(search_term)
        if indexes:
            return queryset.filter(identity_index__in=indexes), False
        return super().get_search_results(request, queryset, search_term)

    def save_model(self, request, obj, form, change):
        institution = staff_institution(request.user) or None
        if not change:
            obj.registered_by = institution
        super().save_model(request, obj, form, change)
        audit.record(
            "person.change" if change else "person.register",
            actor=request.user,
            obj=obj,
            institution=institution or obj.registered_by,
            ip=request.META.get("REMOTE_ADDR"),
            fields=sorted(form.changed_data),
        )

    def save_formset(self, request, form, formset, change):
        if formset.model is not Guardianship:
            return super().save_formset(request, form, formset, change)
        # A family link decides who may manage whose card, so every change to one is
        # audited; new links go through the same domain function as every channel.
        ip = request.META.get("REMOTE_ADDR")
        links = formset.save(commit=False)
        for link in formset.deleted_objects:
            audit.record(
                "family.remove", actor=request.user, obj=link, ip=ip, relation=link.relation
            )
            link.delete()
        for link in links:
            if link.pk is None:
                people.add_dependant(link.guardian, link.dependant, link.relation, by=request.user)
            else:
                link.save()
                audit.record(
                    "family.change", actor=request.user, obj=link, ip=ip, relation=link.relation
                )


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
