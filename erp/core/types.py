"""Column types shared by every domain.

SQLite stores ``Numeric`` as a float, so amounts would drift there. :class:`ScaledDecimal` keeps a
``Decimal`` as an integer of 10^-scale units on both databases, so values round-trip exactly and
SQL sums stay exact (``func.sum(col)`` keeps the column type, so it comes back as a Decimal).
"""

from __future__ import annotations

from datetime import UTC
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from sqlalchemy import BigInteger, DateTime
from sqlalchemy.types import TypeDecorator


class ScaledDecimal(TypeDecorator):
    """A ``Decimal`` stored as a big integer of ``10**-scale`` units."""

    impl = BigInteger
    cache_ok = True

    def __init__(self, scale: int = 4):
        super().__init__()
        self.scale = scale
        self._quantum = Decimal(1).scaleb(-scale)
        self._factor = 10 ** scale

    def process_bind_param(self, value, dialect):
        """Convert a Decimal (or int/str) to its integer representation."""
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("Money and quantities must be Decimal, never float.")
        try:
            dec = Decimal(value).quantize(self._quantum, rounding=ROUND_HALF_UP)
        except InvalidOperation:
            raise TypeError(f"Not a decimal value: {value!r}") from None
        return int(dec.scaleb(self.scale))

    def process_result_value(self, value, dialect):
        """Convert the stored integer back to a Decimal of ``scale`` places."""
        if value is None:
            return None
        return (Decimal(int(value)).scaleb(-self.scale)).quantize(self._quantum)

    def process_literal_param(self, value, dialect):
        """Render literals the same way as bound parameters."""
        return str(self.process_bind_param(value, dialect))


def Money() -> ScaledDecimal:  # noqa: N802 - reads like a type in column declarations
    """Return the money column type: 4 decimal places (amounts show 2, unit costs 4)."""
    return ScaledDecimal(4)


def Rate() -> ScaledDecimal:  # noqa: N802
    """Return the exchange-rate column type: 8 decimal places."""
    return ScaledDecimal(8)


class UtcDateTime(TypeDecorator):
    """A timestamp stored as naive UTC and returned as an aware UTC datetime on both databases.

    SQLite has no time zones, so ``DateTime(timezone=True)`` would come back naive there and
    compare wrongly with aware values; this type makes both databases behave alike.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        """Store aware datetimes converted to naive UTC; refuse naive ones."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise TypeError("Timestamps must be timezone-aware (use erp.core.models.utcnow()).")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        """Return the stored naive UTC value as an aware datetime."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC)
