"""Django admin, one module per area. Every ModelAdmin that holds institution-owned
objects derives from InstitutionScopedAdmin (healthcard.admin.base)."""

from . import audit, cards, institutions, keys, people, terminals  # noqa: F401
