"""Admin for API terminals, the card uses they report and linked numbers.

A terminal's token is created by healthcard.terminals and shown once on a page of its
own (not in a message, which would sit in the session or a cookie)."""

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from healthcard import terminals
from healthcard.admin.base import InstitutionScopedAdmin
from healthcard.clientip import client_ip
from healthcard.models import CardLink, Scope, Terminal, UsageEvent


class TerminalForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        label=_("scopes"),
        choices=Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )

    class Meta:
        model = Terminal
        fields = ["institution", "name", "kind", "scopes"]


@admin.register(Terminal)
class TerminalAdmin(InstitutionScopedAdmin):
    form = TerminalForm
    list_display = ["name", "institution", "kind", "scope_list", "is_active", "last_used_at"]
    list_filter = ["is_active", "kind", "institution"]
    search_fields = ["name", "=token_prefix"]
    list_select_related = ["institution"]
    actions = ["disable_terminals", "reset_token"]

    def get_readonly_fields(self, request, obj=None):
        fields = ["token_prefix", "is_active", "created_at", "disabled_at", "last_used_at"]
        return ["institution", *fields] if obj is not None else []

    def get_fields(self, request, obj=None):
        fields = ["institution", "name", "kind", "scopes"]
        if obj is not None:
            fields += ["token_prefix", "is_active", "created_at", "disabled_at", "last_used_at"]
        return fields

    def has_delete_permission(self, request, obj=None):
        return False  # usage events refer to terminals: disable them instead

    @admin.display(description=_("scopes"))
    def scope_list(self, obj):
        return ", ".join(obj.scopes)

    def save_model(self, request, obj, form, change):
        if change:
            terminals.change_terminal(
                obj,
                name=form.cleaned_data["name"],
                kind=form.cleaned_data["kind"],
                scopes=form.cleaned_data["scopes"],
                by=request.user,
                ip=client_ip(request),
            )
            return
        terminal, token = terminals.create_terminal(
            form.cleaned_data["institution"],
            form.cleaned_data["name"],
            kind=form.cleaned_data["kind"],
            scopes=form.cleaned_data["scopes"],
            by=request.user,
        )
        obj.pk, obj.token_prefix, obj.token_hash = terminal.pk, terminal.token_prefix, ""
        request._terminal_token = token

    def response_add(self, request, obj, post_url_continue=None):
        return self._token_page(request, obj, request._terminal_token)

    def _token_page(self, request, terminal, token):
        return TemplateResponse(
            request,
            "admin/healthcard/terminal/token.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Terminal token"),
                "terminal": terminal,
                "token": token,
                "opts": self.model._meta,
                "change_url": reverse("admin:healthcard_terminal_change", args=[terminal.pk]),
            },
        )

    @admin.action(description=_("Disable selected terminals"), permissions=["change"])
    def disable_terminals(self, request, queryset):
        count = 0
        for terminal in queryset.filter(is_active=True):
            terminals.disable(terminal, by=request.user)
            count += 1
        self.message_user(
            request,
            ngettext("%(n)d terminal disabled.", "%(n)d terminals disabled.", count) % {"n": count},
            messages.SUCCESS,
        )

    @admin.action(description=_("Reset the token of the selected terminal"), permissions=["change"])
    def reset_token(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(
                request, _("Select exactly one terminal to reset its token."), messages.ERROR
            )
            return None
        terminal = queryset.get()
        return self._token_page(
            request, terminal, terminals.rotate_token(terminal, by=request.user)
        )


@admin.register(UsageEvent)
class UsageEventAdmin(InstitutionScopedAdmin):
    """Read-only: card uses are reported by terminals only."""

    list_display = [
        "scanned_at",
        "institution",
        "terminal",
        "care_step",
        "department",
        "terminal_kind",
        "fee_type",
        "result",
        "offline",
    ]
    list_filter = ["result", "care_step", "offline", "terminal_kind", "institution"]
    list_select_related = ["institution", "terminal", "terminal__institution"]
    date_hierarchy = "scanned_at"
    search_fields = ["=uuid"]
    exclude = ["fingerprint"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(CardLink)
class CardLinkAdmin(InstitutionScopedAdmin):
    """Read-only with masked numbers; terminals link and unlink through the API. An
    institution sees the links it made, so never another hospital's patient numbers."""

    institution_path = "source_institution"
    list_display = ["card", "kind", "masked", "institution", "source_institution", "updated_at"]
    list_filter = ["kind"]
    list_select_related = ["card", "institution", "source_institution"]
    fields = ["card", "kind", "masked", "institution", "source_institution", "updated_at"]
    readonly_fields = fields

    @admin.display(description=_("number"))
    def masked(self, obj):
        return obj.masked_number

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # unlinking goes through the API, which audits it
