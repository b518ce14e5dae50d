from django.contrib import admin
from django.db.models import Q

from healthcard.admin.base import InstitutionScopedAdmin
from healthcard.models import AuditRecord


@admin.register(AuditRecord)
class AuditRecordAdmin(InstitutionScopedAdmin):
    """Read-only: the audit log is appended to by domain code only."""

    list_display = ["at", "actor", "action", "object_type", "object_id", "institution", "result"]
    list_filter = ["action", "result", "institution"]
    search_fields = ["=object_id", "=actor"]
    date_hierarchy = "at"

    def scope_filter(self, institution) -> Q:
        return Q(institution=institution.code)  # records keep the code, not a key

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
