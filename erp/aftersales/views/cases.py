"""After-sales screens: cases (being built)."""

from erp.aftersales.views import bp  # noqa: F401
