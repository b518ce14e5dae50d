"""Key admin: province administrators see every key's public facts and rotate, retire
or revoke keys through healthcard.keys. Secret material is never shown or editable."""

from django import forms
from django.contrib import admin, messages
from django.template import engines
from django.template.response import TemplateResponse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from healthcard import keys
from healthcard.admin.base import DomainErrorAdmin, staff_institution
from healthcard.errors import DomainError
from healthcard.models import Key, KeyPurpose

# One small confirmation page, kept beside the admin that uses it.
_CONFIRM = engines["django"].from_string(
    """{% extends "admin/base_site.html" %}{% load i18n %}{% block content %}
<form method="post">{% csrf_token %}
  <p>{{ question }}</p>
  <ul>{% for key in queryset %}<li>{{ key }}</li>{% endfor %}</ul>
  {{ form.as_p }}
  {% for key in queryset %}
    <input type="hidden" name="{{ checkbox }}" value="{{ key.pk }}">
  {% endfor %}
  <input type="hidden" name="action" value="{{ action }}">
  <input type="submit" name="apply" value="{% translate 'Confirm' %}">
  <a href="" class="button cancel-link">{% translate "Cancel" %}</a>
</form>{% endblock %}"""
)


class RevokeForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=200)


@admin.register(Key)
class KeyAdmin(DomainErrorAdmin):
    list_display = [
        "kid",
        "purpose",
        "algorithm",
        "state",
        "not_before",
        "not_after",
        "activated_at",
        "retired_at",
        "revoked_at",
    ]
    list_filter = ["purpose", "state", "algorithm"]
    search_fields = ["=kid"]
    # secret_enc is not editable and not listed here: the admin never shows it.
    fields = [
        "kid",
        "purpose",
        "algorithm",
        "state",
        "public_key_hex",
        "not_before",
        "not_after",
        "created_at",
        "activated_at",
        "retired_at",
        "revoked_at",
    ]
    readonly_fields = fields
    actions = ["rotate", "retire", "revoke"]

    def _province_wide(self, request) -> bool:
        return staff_institution(request.user) is None

    def has_module_permission(self, request):
        return self._province_wide(request) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return self._province_wide(request) and super().has_view_permission(request, obj)

    def has_add_permission(self, request):
        return False  # keys are made by rotation, never typed in

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # a deleted key would orphan codes and audit records; revoke it

    def has_manage_keys_permission(self, request):
        return self._province_wide(request) and request.user.has_perm("healthcard.manage_keys")

    @admin.display(description=_("public key"))
    def public_key_hex(self, obj):
        return bytes(obj.public_key).hex() or "—"

    def _report(self, request, done: int) -> None:
        if done:
            self.message_user(
                request, gettext("%(n)d key(s) updated.") % {"n": done}, messages.SUCCESS
            )

    @admin.action(description=_("Rotate: new active key for the selected keys' purposes"))
    def rotate(self, request, queryset):
        for purpose in sorted(set(queryset.values_list("purpose", flat=True))):
            try:
                key = keys.rotate(purpose, actor=request.user)
                self.message_user(
                    request,
                    gettext("New active %(purpose)s key %(kid)s.")
                    % {"purpose": KeyPurpose(purpose).label, "kid": key.kid},
                    messages.SUCCESS,
                )
            except DomainError as exc:
                self.refused(request, exc)

    @admin.action(description=_("Retire selected keys"))
    def retire(self, request, queryset):
        done = 0
        for key in queryset:
            try:
                keys.retire(key, actor=request.user)
                done += 1
            except DomainError as exc:
                self.refused(request, exc, key.kid)
        self._report(request, done)

    @admin.action(description=_("Revoke selected keys (they verify nothing afterwards)"))
    def revoke(self, request, queryset):
        form = RevokeForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            context = {
                **self.admin_site.each_context(request),
                "title": gettext("Revoke keys"),
                "question": gettext(
                    "Codes signed by these keys will stop verifying everywhere. Revoke?"
                ),
                "queryset": queryset,
                "form": form,
                "action": request.POST.get("action"),
                "checkbox": admin.helpers.ACTION_CHECKBOX_NAME,
                "opts": self.model._meta,
            }
            return TemplateResponse(request, _CONFIRM, context)
        done = 0
        for key in queryset:
            try:
                keys.revoke(key, actor=request.user, reason=form.cleaned_data["reason"])
                done += 1
            except DomainError as exc:
                self.refused(request, exc, key.kid)
        self._report(request, done)
        return None


for _action in (KeyAdmin.rotate, KeyAdmin.retire, KeyAdmin.revoke):
    _action.allowed_permissions = ("manage_keys",)
