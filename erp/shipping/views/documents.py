"""Shipping screens: documents (being built)."""

from erp.shipping.views import bp  # noqa: F401
