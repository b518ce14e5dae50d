from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from healthcard.admin.base import InstitutionScopedAdmin
from healthcard.models import Institution, StaffProfile


@admin.register(Institution)
class InstitutionAdmin(InstitutionScopedAdmin):
    institution_path = "id"
    list_display = ["code", "name", "level", "city_code", "county_code", "parent", "is_active"]
    list_filter = ["level", "city_code", "is_active"]
    search_fields = ["=code", "name"]
    autocomplete_fields = ["parent"]


class StaffProfileInline(admin.StackedInline):
    model = StaffProfile
    can_delete = False
    extra = 0


User = get_user_model()
admin.site.unregister(User) if admin.site.is_registered(User) else None


@admin.register(User)
class StaffUserAdmin(InstitutionScopedAdmin, UserAdmin):
    institution_path = "staff_profile__institution"
    inlines = [StaffProfileInline]
    list_display = ["username", "staff_institution", "staff_role", "is_staff", "is_active"]
    list_filter = ["is_staff", "is_active", "staff_profile__role", "staff_profile__institution"]

    @admin.display(description=StaffProfile._meta.get_field("institution").verbose_name)
    def staff_institution(self, obj):
        profile = getattr(obj, "staff_profile", None)
        return profile.institution.code if profile else ""

    @admin.display(description=StaffProfile._meta.get_field("role").verbose_name)
    def staff_role(self, obj):
        profile = getattr(obj, "staff_profile", None)
        return profile.get_role_display() if profile else ""
