from django.utils.translation import gettext_lazy as _
from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite
from django_otp.plugins.otp_totp.models import TOTPDevice


class StaffLoginForm(OTPAdminAuthenticationForm):
    """Username, password and the 6-digit code on one page.

    django-otp asks the user to pick a device first (on a second round trip) because
    trying every device would count failures against the unused ones. Staff have one
    authenticator: when the user has exactly one confirmed TOTP device and chose none,
    that device is the choice.
    """

    def _chosen_device(self, user):
        device = super()._chosen_device(user)
        if device is None and not self.cleaned_data.get("otp_device"):
            devices = list(TOTPDevice.objects.devices_for_user(user, confirmed=True)[:2])
            if len(devices) == 1:
                device = devices[0]
        return device


class HealthcardAdminSite(OTPAdminSite):
    """The admin requires a verified second factor (TOTP) for every staff login."""

    login_form = StaffLoginForm
    site_header = _("Hunan electronic health card platform")
    site_title = _("Electronic health card administration")
    index_title = _("Administration")

    def get_urls(self):
        from healthcard.admin.statistics import statistics_urls

        return statistics_urls(self) + super().get_urls()
