from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditRecord(models.Model):
    """One entry of the tamper-evident audit log (see docs/audit.md).

    Records form several independent hash chains (`partition`); within a chain `seq`
    counts from 1 and `hash` covers every field plus the previous record's hash. No
    personal data in clear: objects are named by primary key, people never by name.
    """

    partition = models.PositiveSmallIntegerField(editable=False)
    seq = models.PositiveBigIntegerField(editable=False)
    at = models.DateTimeField(_("time"), editable=False, db_index=True)
    actor = models.CharField(_("actor"), max_length=80, editable=False)
    action = models.CharField(_("action"), max_length=40, editable=False, db_index=True)
    object_type = models.CharField(_("object type"), max_length=40, blank=True, editable=False)
    object_id = models.CharField(_("object"), max_length=80, blank=True, editable=False)
    institution = models.CharField(_("institution"), max_length=22, blank=True, editable=False)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True, editable=False)
    result = models.CharField(_("result"), max_length=20, default="ok", editable=False)
    details = models.JSONField(_("details"), default=dict, blank=True, editable=False)
    prev_hash = models.CharField(max_length=64, editable=False)
    hash = models.CharField(max_length=64, editable=False)

    class Meta:
        verbose_name = _("audit record")
        verbose_name_plural = _("audit records")
        ordering = ["-at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["partition", "seq"], name="unique_audit_chain_position")
        ]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action}"


class AuditChainHead(models.Model):
    """The last position of each chain; writers lock one head row, so concurrent
    writers spread over the partitions instead of queueing on a single row."""

    partition = models.PositiveSmallIntegerField(primary_key=True)
    seq = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64, default="0" * 64)

    def __str__(self) -> str:
        return f"chain {self.partition} at {self.seq}"
