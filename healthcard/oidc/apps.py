from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OidcConfig(AppConfig):
    name = "healthcard.oidc"
    label = "oidc"
    verbose_name = _("Unified sign-in")
    default_auto_field = "django.db.models.BigAutoField"
