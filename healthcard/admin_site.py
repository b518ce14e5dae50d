from django.utils.translation import gettext_lazy as _
from django_otp.admin import OTPAdminSite


class HealthcardAdminSite(OTPAdminSite):
    """The admin requires a verified second factor (TOTP) for every staff login."""

    site_header = _("Hunan electronic health card platform")
    site_title = _("Electronic health card administration")
    index_title = _("Administration")
