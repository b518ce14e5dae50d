from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.db.models.signals import post_delete, post_migrate, post_save
from django.utils.translation import gettext_lazy as _


class HealthcardConfig(AppConfig):
    default = True
    name = "healthcard"
    verbose_name = _("Electronic health card")

    def ready(self) -> None:
        from healthcard.models import Institution, Terminal
        from healthcard.roles import sync_role_groups
        from healthcard.terminals import terminals_changed

        # Permissions exist only after migrate, so role groups are synced then.
        post_migrate.connect(sync_role_groups, dispatch_uid="healthcard.sync_role_groups")
        # Each process caches the terminals it authenticates (healthcard.terminals).
        for name, signal in (("save", post_save), ("delete", post_delete)):
            for model in (Terminal, Institution):
                uid = f"healthcard.terminals_changed.{name}.{model.__name__}"
                signal.connect(terminals_changed, sender=model, dispatch_uid=uid)


class HealthcardAdminConfig(admin_apps.AdminConfig):
    default = False
    default_site = "healthcard.admin_site.HealthcardAdminSite"
