"""After-sales screens: returns (being built)."""

from erp.aftersales.views import bp  # noqa: F401
