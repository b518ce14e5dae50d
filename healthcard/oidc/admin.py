"""Admin for sign-in clients and services, scoped to the staff user's institution.

Creating and changing go through healthcard.signin (checks and audit); the library's
own admin pages for applications and tokens are removed so that nobody edits a
client around those rules."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from oauth2_provider import models as dot

from healthcard import signin
from healthcard.admin.base import InstitutionScopedAdmin
from healthcard.errors import DomainError
from healthcard.oidc.models import SCOPES, Service, SigninClient

for model in (dot.Application, dot.AccessToken, dot.RefreshToken, dot.IDToken, dot.Grant):
    if admin.site.is_registered(model):
        admin.site.unregister(model)


class ClientForm(forms.ModelForm):
    name = forms.CharField(label=_("app name"), max_length=100)
    redirect_uris = forms.CharField(
        label=_("redirect URIs"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One exact https address per line."),
    )
    post_logout_redirect_uris = forms.CharField(
        label=_("after sign-out URIs"), widget=forms.Textarea(attrs={"rows": 2}), required=False
    )
    scopes = forms.MultipleChoiceField(
        label=_("allowed scopes"),
        choices=[(k, f"{k}: {v}") for k, v in SCOPES.items()],
        widget=forms.CheckboxSelectMultiple,
        initial=["openid"],
    )
    confidential = forms.BooleanField(
        label=_("confidential (has a server that keeps a secret)"), required=False, initial=True
    )

    class Meta:
        model = SigninClient
        fields = ["institution", "identity_allowed", "enabled"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:  # fixed once registered
            for name in ("name", "post_logout_redirect_uris", "confidential"):
                self.fields.pop(name, None)


@admin.register(SigninClient)
class SigninClientAdmin(InstitutionScopedAdmin):
    form = ClientForm
    list_display = ["__str__", "institution", "client_id", "allowed_scopes", "enabled"]
    list_filter = ["enabled", "identity_allowed", "institution"]
    search_fields = ["application__name", "=application__client_id"]
    list_select_related = ["institution", "application"]

    def get_fields(self, request, obj=None):
        if obj is None:
            fields = ["institution", "name", "redirect_uris", "post_logout_redirect_uris"]
            fields += ["scopes", "confidential", "identity_allowed"]
        else:
            fields = ["institution", "client_id", "redirect_uris", "scopes"]
            fields += ["identity_allowed", "enabled"]
        return fields

    def get_readonly_fields(self, request, obj=None):
        readonly = ["client_id"] if obj is not None else []
        if obj is not None:
            readonly.append("institution")
        if not signin.is_province(request.user):
            readonly.append("identity_allowed")
        return readonly

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if obj is not None:
            form.base_fields["redirect_uris"].initial = "\n".join(
                obj.application.redirect_uris.split()
            )
            form.base_fields["scopes"].initial = obj.scopes
        return form

    def has_delete_permission(self, request, obj=None):
        return False  # disable instead: consents and audit rows refer to it

    @admin.display(description=_("client ID"))
    def client_id(self, obj):
        return obj.application.client_id

    def save_form(self, request, form, change):
        return form.instance  # saving is the domain's (save_model)

    def save_related(self, request, form, formsets, change):
        pass  # nothing related is edited here

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        try:
            if change:
                changed = {
                    "redirect_uris": data["redirect_uris"],
                    "scopes": data["scopes"],
                    "enabled": data["enabled"],
                }
                if "identity_allowed" in data:
                    changed["identity_allowed"] = data["identity_allowed"]
                signin.change_client(obj, by=request.user, **changed)
                return
            new = signin.register_client(
                data["institution"],
                data["name"],
                redirect_uris=data["redirect_uris"],
                post_logout_redirect_uris=data.get("post_logout_redirect_uris", ""),
                scopes=data["scopes"],
                confidential=data["confidential"],
                identity_allowed=data.get("identity_allowed", False),
                by=request.user,
            )
        except DomainError as error:
            raise ValidationError(error.message) from error
        obj.pk = new.client.pk
        obj.application = new.client.application
        request._signin_secret = new.client_secret

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ValidationError as error:
            self.message_user(request, " ".join(error.messages), messages.ERROR)
            return self._back(request, object_id)

    def _back(self, request, object_id):
        from django.shortcuts import redirect

        if object_id:
            return redirect("admin:oidc_signinclient_change", object_id)
        return redirect("admin:oidc_signinclient_add")

    def response_add(self, request, obj, post_url_continue=None):
        return TemplateResponse(
            request,
            "admin/oidc/signinclient/secret.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Sign-in client"),
                "client": obj,
                "secret": request._signin_secret,
                "discovery": request.build_absolute_uri(
                    reverse("oauth2_provider:oidc-connect-discovery-info")
                ),
                "opts": self.model._meta,
                "change_url": reverse("admin:oidc_signinclient_change", args=[obj.pk]),
            },
        )


class ServiceForm(forms.ModelForm):
    url = forms.URLField(label=_("link"), max_length=300, assume_scheme="https")

    class Meta:
        model = Service
        fields = ["client", "kind", "name", "description", "url", "with_signin", "enabled"]

    def clean(self):
        data = super().clean()
        if data.get("client") and data.get("url"):
            try:
                data["url"] = signin.clean_service_url(data["url"], data["client"])
            except DomainError as error:
                self.add_error("url", error.message)
        return data


@admin.register(Service)
class ServiceAdmin(InstitutionScopedAdmin):
    form = ServiceForm
    list_display = ["name", "institution", "kind", "with_signin", "enabled"]
    list_filter = ["kind", "with_signin", "enabled", "institution"]
    search_fields = ["name"]
    list_select_related = ["institution"]

    def get_readonly_fields(self, request, obj=None):
        return ["client"] if obj is not None else []

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "client":
            institution = signin_institution(request.user)
            qs = SigninClient.objects.select_related("application")
            kwargs["queryset"] = qs if institution is None else qs.filter(institution=institution)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_form(self, request, form, change):
        return form.instance

    def save_related(self, request, form, formsets, change):
        pass

    def save_model(self, request, obj, form, change):
        data = dict(form.cleaned_data)
        client = data.pop("client", None) or obj.client
        if change:
            signin.change_service(obj, by=request.user, **data)
            return
        data.pop("enabled", None)  # a new service is shown
        service = signin.add_service(client, by=request.user, **data)
        obj.pk = service.pk

    def has_delete_permission(self, request, obj=None):
        return False  # hide it instead (shown: off)


def signin_institution(user):
    from healthcard.admin.base import staff_institution

    institution = staff_institution(user)
    return None if institution is None else (institution or -1)
