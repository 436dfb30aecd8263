"""Errors raised by the shipping domain."""

from erp.core.errors import DomainError


class ShippingError(DomainError):
    """A shipping rule refused an operation; the message tells the warehouse user what to do."""
