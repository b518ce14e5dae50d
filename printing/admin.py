"""Admin for printers and print jobs, scoped to the staff user's institution.

Actions call printing.jobs; a test page goes through the institution's print queue,
because only the worker at the hospital site can reach its printers."""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from healthcard.admin.base import InstitutionScopedAdmin
from healthcard.errors import DomainError
from printing import jobs
from printing.models import Printer, PrintJob, queue_for


@admin.register(Printer)
class PrinterAdmin(InstitutionScopedAdmin):
    list_display = [
        "name",
        "institution",
        "kind",
        "paper_width",
        "text_mode",
        "is_active",
        "last_test_at",
        "last_test_result",
    ]
    list_filter = ["kind", "is_active", "institution"]
    search_fields = ["name"]
    list_select_related = ["institution"]
    readonly_fields = ["last_test_at", "last_test_result", "created_at"]
    fieldsets = [
        (None, {"fields": ["institution", "name", "kind", "is_active"]}),
        (_("Network printer"), {"fields": ["host", "port", "status_check"]}),
        (
            _("USB, serial or device file"),
            {"fields": ["usb_vendor_id", "usb_product_id", "device", "baudrate"]},
        ),
        (_("ESC/POS slip"), {"fields": ["paper_width", "profile", "text_mode"]}),
        (_("PDF"), {"fields": ["pdf_layout"]}),
        (_("Test page"), {"fields": ["last_test_at", "last_test_result", "created_at"]}),
    ]
    actions = ["send_test_page"]

    @admin.action(description=_("Send a test page"), permissions=["change"])
    def send_test_page(self, request, queryset):
        from printing.tasks import print_test_page

        count = 0
        for printer in queryset.select_related("institution"):
            print_test_page.apply_async(
                (printer.pk, request.user.pk), queue=queue_for(printer.institution.code)
            )
            count += 1
        self.message_user(
            request,
            ngettext(
                "Test page queued for %(n)d printer; the result appears here once the "
                "print worker has sent it.",
                "Test pages queued for %(n)d printers; the results appear here once the "
                "print worker has sent them.",
                count,
            )
            % {"n": count},
            messages.SUCCESS,
        )


def _job_action(function, description: str, done_message: str, permission: str = "change"):
    def action(modeladmin, request, queryset):
        done = 0
        for job in queryset.select_related("printer__institution"):
            try:
                function(job, by=request.user)
                done += 1
            except DomainError as exc:
                modeladmin.refused(request, exc, f"#{job.pk}")
        if done:
            modeladmin.message_user(request, done_message % {"n": done}, messages.SUCCESS)

    action.__name__ = function.__name__
    action.short_description = description
    action.allowed_permissions = (permission,)
    return action


@admin.register(PrintJob)
class PrintJobAdmin(InstitutionScopedAdmin):
    institution_path = "printer__institution"
    list_display = [
        "id",
        "short_ehc_id",
        "holder",
        "printer",
        "copies",
        "status",
        "needs_confirmation",
        "attempts",
        "last_error",
        "created_at",
    ]
    list_filter = ["status", "needs_confirmation", "printer"]
    list_select_related = ["card__person", "printer"]
    search_fields = ["=card__ehc_id", "=idempotency_key"]
    readonly_fields = [
        "card",
        "printer",
        "copies",
        "requested_by",
        "status",
        "needs_confirmation",
        "attempts",
        "last_error",
        "idempotency_key",
        "output",
        "created_at",
        "updated_at",
        "sending_at",
        "finished_at",
    ]
    actions = [
        _job_action(jobs.retry, _("Retry selected failed jobs"), _("%(n)d job(s) queued again.")),
        _job_action(jobs.cancel, _("Cancel selected jobs"), _("%(n)d job(s) cancelled.")),
        _job_action(
            jobs.confirm_printed,
            _("Confirm printed (interrupted jobs whose slip came out)"),
            _("%(n)d job(s) confirmed as printed."),
            permission="print",
        ),
        _job_action(
            jobs.print_again,
            _("Print again (interrupted jobs without a slip)"),
            _("%(n)d job(s) queued again."),
            permission="print",
        ),
    ]

    def has_add_permission(self, request):
        return False  # jobs come from the staff console and the API

    def has_print_permission(self, request):
        # The clerk who prints decides about an interrupted job at the counter.
        return request.user.has_perm("printing.add_printjob")

    def has_delete_permission(self, request, obj=None):
        return False  # the history of what was printed stays

    @admin.display(description=_("EHC ID"))
    def short_ehc_id(self, obj):
        return f"{obj.card.ehc_id[:8]}…{obj.card.ehc_id[-4:]}"

    @admin.display(description=_("holder"))
    def holder(self, obj):
        return obj.card.person.masked_name
