"""The after-sales error family."""

from erp.core.errors import DomainError


class AfterSalesError(DomainError):
    """An after-sales rule was broken (quantity above what shipped, a double receipt...)."""
