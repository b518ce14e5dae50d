from django.contrib import admin

from healthcard.admin.base import staff_institution
from healthcard.models import AuditRecord


@admin.register(AuditRecord)
class AuditRecordAdmin(admin.ModelAdmin):
    """Read-only: the audit log is appended to by domain code only."""

    list_display = ["at", "actor", "action", "object_type", "object_id", "institution", "result"]
    list_filter = ["action", "result", "institution"]
    search_fields = ["=object_id", "=actor"]
    date_hierarchy = "at"

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        institution = staff_institution(request.user)
        if institution is None:
            return qs
        if institution is False:
            return qs.none()
        return qs.filter(institution=institution.code)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
