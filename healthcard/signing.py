"""The signature algorithms live in ehccode.signing (the Django-free code library).
This name stays only for healthcard.keys until it imports ehccode directly."""

from ehccode.signing import get

__all__ = ["get"]
