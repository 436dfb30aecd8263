"""After-sales screens: reasons (being built)."""

from erp.aftersales.views import bp  # noqa: F401
