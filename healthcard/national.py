"""The national SM4 constructions live in ehccode.national (the Django-free code
library). This name stays only for healthcard.cards until it imports ehccode directly."""

from ehccode.national import derive_ehc_id

__all__ = ["derive_ehc_id"]
