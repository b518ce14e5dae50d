from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext_lazy as _
from django_otp.admin import OTPAdminSite

from healthcard import staffauth


class StaffLoginForm(AdminAuthenticationForm):
    """User name, password and the 6-digit code on one page, checked by
    healthcard.staffauth (lockout per name and per IP, one message for any failure).
    A staff user without a device is sent to the console's enrolment step."""

    otp_token = forms.CharField(
        label=_("6-digit code"),
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )
    error_messages = {**AdminAuthenticationForm.error_messages, "invalid_login": staffauth.FAILED}

    def clean(self):
        data = self.cleaned_data
        try:
            checked = staffauth.check_credentials(
                self.request, data.get("username"), data.get("password"), data.get("otp_token")
            )
        except staffauth.SignInFailed:
            raise ValidationError(staffauth.FAILED, code="invalid_login") from None
        if checked.device is None:
            staffauth.start_enrolment(self.request, checked.user)
            raise ValidationError(staffauth.FAILED, code="enrol")
        checked.user.otp_device = checked.device  # django-otp marks the session at login
        self.user_cache = checked.user
        return data


class HealthcardAdminSite(OTPAdminSite):
    """The admin requires a verified second factor (TOTP) for every staff login."""

    login_form = StaffLoginForm
    site_header = _("Hunan electronic health card platform")
    site_title = _("Electronic health card administration")
    index_title = _("Administration")

    def login(self, request, extra_context=None):
        if request.method == "POST":
            request.session.pop(staffauth.ENROL_SESSION_KEY, None)
        response = super().login(request, extra_context)
        if (
            request.method == "POST"
            and request.user.is_authenticated
            and response.status_code == 302
        ):
            staffauth.record_sign_in(request, request.user)
        if request.method == "POST" and staffauth.enrolling_user(request) is not None:
            # Right password, no authenticator yet: enrol first, then come back.
            target = reverse("portal:staff:enrol")
            after = request.POST.get("next") or reverse("admin:index")
            if url_has_allowed_host_and_scheme(after, allowed_hosts={request.get_host()}):
                target += "?" + urlencode({"next": after})
            return redirect(target)
        return response

    def get_urls(self):
        from healthcard.admin.statistics import statistics_urls

        return statistics_urls(self) + super().get_urls()
