"""After-sales screens: refunds (being built)."""

from erp.aftersales.views import bp  # noqa: F401
