from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class HealthcardConfig(AppConfig):
    default = True
    name = "healthcard"
    verbose_name = _("Electronic health card")

    def ready(self) -> None:
        from healthcard.roles import sync_role_groups

        # Permissions exist only after migrate, so role groups are synced then.
        post_migrate.connect(sync_role_groups, dispatch_uid="healthcard.sync_role_groups")


class HealthcardAdminConfig(admin_apps.AdminConfig):
    default = False
    default_site = "healthcard.admin_site.HealthcardAdminSite"
