from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from healthcard import cards
from healthcard.admin.base import InstitutionScopedAdmin
from healthcard.admin.people import id_search_term, identity_indexes
from healthcard.clientip import client_ip
from healthcard.errors import DomainError
from healthcard.models import Card, CardStatus


class StatusReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=200)


def _status_action(status: str, description: str):
    def action(modeladmin, request, queryset):
        return modeladmin.change_status(request, queryset, status, description)

    action.__name__ = f"make_{status}"
    action.short_description = description
    action.allowed_permissions = ("change_status",)
    return action


@admin.register(Card)
class CardAdmin(InstitutionScopedAdmin):
    list_display = [
        "short_ehc_id",
        "holder",
        "status",
        "channel",
        "institution",
        "issue_seq",
        "issued_at",
    ]
    list_filter = ["status", "channel", "institution", "institution__city_code"]
    change_list_template = "admin/healthcard/id_search_change_list.html"
    id_search_help = _("Exact ID number of the holder, or the card's EHC ID.")
    list_select_related = ["person", "institution"]
    readonly_fields = [
        "person",
        "ehc_id",
        "status",
        "status_reason",
        "issue_seq",
        "seq_issued_at",
        "channel",
        "institution",
        "issued_by",
        "issued_at",
        "updated_at",
    ]
    actions = [
        _status_action(CardStatus.FROZEN, _("Freeze selected cards")),
        _status_action(CardStatus.ACTIVE, _("Unfreeze selected cards")),
        _status_action(CardStatus.CANCELLED, _("Cancel selected cards")),
    ]

    def has_add_permission(self, request):
        return False  # cards are issued through the staff console or the API

    def has_delete_permission(self, request, obj=None):
        return False  # cards are cancelled, never deleted

    def has_change_status_permission(self, request):
        return request.user.has_perm("healthcard.change_card_status")

    @admin.display(description=_("EHC ID"))
    def short_ehc_id(self, obj):
        return f"{obj.ehc_id[:8]}…{obj.ehc_id[-4:]}"

    @admin.display(description=_("holder"))
    def holder(self, obj):
        return obj.person.masked_name

    def get_search_results(self, request, queryset, search_term):
        term = id_search_term(request)  # a POST form: numbers never go into URLs
        if term is None:
            return queryset, False
        term = term.strip()
        if len(term) == 64:
            return queryset.filter(ehc_id=term.upper()), False
        return queryset.filter(person__identity_index__in=identity_indexes(term)), False

    def change_status(self, request, queryset, status, description):
        form = StatusReasonForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            done = 0
            for card in queryset:
                try:
                    cards.set_status(
                        card,
                        status,
                        by=request.user,
                        reason=form.cleaned_data["reason"],
                        ip=client_ip(request),
                    )
                    done += 1
                except DomainError as exc:
                    self.refused(request, exc, card)
            if done:
                self.message_user(
                    request,
                    ngettext("%(n)d card updated.", "%(n)d cards updated.", done) % {"n": done},
                    messages.SUCCESS,
                )
            return None
        return TemplateResponse(
            request,
            "admin/healthcard/card/status_action.html",
            {
                **self.admin_site.each_context(request),
                "title": description,
                "queryset": queryset,
                "form": form,
                "action": request.POST.get("action"),
                "opts": self.model._meta,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            },
        )
