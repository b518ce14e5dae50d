from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.utils.translation import gettext_lazy as _

from healthcard.admin.base import (
    InstitutionScopedAdmin,
    limit_institution_field,
    staff_institution,
)
from healthcard.clientip import client_ip
from healthcard.models import Institution, Role, StaffProfile
from healthcard.roles import assign_role


@admin.register(Institution)
class InstitutionAdmin(InstitutionScopedAdmin):
    institution_path = "id"
    list_display = ["code", "name", "level", "city_code", "county_code", "parent", "is_active"]
    list_filter = ["level", "city_code", "is_active"]
    search_fields = ["=code", "name"]
    autocomplete_fields = ["parent"]


class StaffProfileInline(admin.StackedInline):
    """Institution and role of a staff user. Who may grant what: an institution
    administrator staffs only their own institution and cannot make province
    administrators; province administrators and superusers can do both."""

    model = StaffProfile
    can_delete = False
    min_num = 1
    extra = 0

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        limit_institution_field(db_field, request, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_choice_field(self, db_field, request, **kwargs):
        if db_field.name == "role" and staff_institution(request.user) is not None:
            kwargs["choices"] = [c for c in Role.choices if c[0] != Role.PROVINCE_ADMIN]
        return super().formfield_for_choice_field(db_field, request, **kwargs)


User = get_user_model()
admin.site.unregister(User) if admin.site.is_registered(User) else None


@admin.register(User)
class StaffUserAdmin(InstitutionScopedAdmin, UserAdmin):
    """Staff accounts. Only superusers see superuser flags, groups and raw
    permissions; everyone else manages accounts through the role, which decides the
    group (healthcard.roles.assign_role)."""

    institution_path = "staff_profile__institution"
    inlines = [StaffProfileInline]
    list_display = ["username", "staff_institution", "staff_role", "is_staff", "is_active"]
    list_filter = ["is_staff", "is_active", "staff_profile__role", "staff_profile__institution"]
    limited_fieldsets = (
        (None, {"fields": ("username", "password")}),
        (_("Personal info"), {"fields": ("first_name", "last_name", "email")}),
        (_("Status"), {"fields": ("is_active", "last_login", "date_joined")}),
    )

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if not request.user.is_superuser:
            qs = qs.exclude(is_superuser=True)
        return qs

    def get_fieldsets(self, request, obj=None):
        if obj is not None and not request.user.is_superuser:
            return self.limited_fieldsets
        return super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request, obj=None):
        if request.user.is_superuser:
            return super().get_readonly_fields(request, obj)
        return ["last_login", "date_joined"]

    def get_inline_instances(self, request, obj=None):
        # A superuser account needs no staff profile.
        if obj is not None and obj.is_superuser:
            return []
        return super().get_inline_instances(request, obj)

    def save_related(self, request, form, formsets, change):
        # The staff profile is not saved by its inline: assign_role writes it, sets the
        # group, checks who may grant what and audits (healthcard.roles).
        form.save_m2m()
        for formset in formsets:
            if formset.model is not StaffProfile:
                self.save_formset(request, form, formset, change=change)
                continue
            # What the admin's change message reads (formset.save() would set them).
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
            for inline in formset.forms:
                data = getattr(inline, "cleaned_data", None)
                if not (data and data.get("institution") and data.get("role")):
                    continue
                new = inline.instance.pk is None
                profile = assign_role(
                    form.instance,
                    data["institution"],
                    data["role"],
                    by=request.user,
                    ip=client_ip(request),
                )
                if new:
                    formset.new_objects.append(profile)
                elif inline.has_changed():
                    formset.changed_objects.append((profile, inline.changed_data))

    @admin.display(description=StaffProfile._meta.get_field("institution").verbose_name)
    def staff_institution(self, obj):
        profile = getattr(obj, "staff_profile", None)
        return profile.institution.code if profile else ""

    @admin.display(description=StaffProfile._meta.get_field("role").verbose_name)
    def staff_role(self, obj):
        profile = getattr(obj, "staff_profile", None)
        return profile.get_role_display() if profile else ""
