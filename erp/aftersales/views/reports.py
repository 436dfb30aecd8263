"""After-sales screens: reports (being built)."""

from erp.aftersales.views import bp  # noqa: F401
