"""The carrier adapter interface.

An adapter books a shipment (a tracking number and a label PDF back), cancels a booking and
fetches tracking events. Services in :mod:`erp.shipping.services` call it; nothing else talks to
a carrier. Adapters raise :class:`CarrierRefused` when the carrier said no (a bad postcode, a
service not available: the carrier's own reason is shown at packing) and
:class:`CarrierUnavailable` when it could not be reached or answered 5xx or timed out (the
caller retries; nothing is half booked).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol


class CarrierError(Exception):
    """A carrier call that did not succeed."""


class CarrierRefused(CarrierError):
    """The carrier refused the request; ``reason`` is its own words, ``code`` its code."""

    def __init__(self, reason: str, *, code: str | None = None, field: str | None = None):
        super().__init__(reason)
        self.reason, self.code, self.field = reason, code, field


class CarrierUnavailable(CarrierError):
    """The carrier could not be reached, timed out or failed (5xx): try again later."""


class TrackingStatus(StrEnum):
    """Where a parcel is after dispatch, as erp reads any carrier's event."""

    in_transit = "in_transit"
    out_for_delivery = "out_for_delivery"
    delivered = "delivered"
    exception = "exception"
    returning = "returning"
    returned = "returned"       # back at the sender


@dataclass(frozen=True)
class ShipmentLine:
    """A customs line sent with a booking."""

    description: str
    quantity: int
    unit_value: Decimal
    hs_code: str
    origin_country: str
    net_weight_g: int
    sku: str


@dataclass(frozen=True)
class ShipmentRequest:
    """What a booking sends: the parcel, its addresses and its customs lines.

    ``reference`` is erp's parcel number; a carrier that sees the same reference twice must
    answer with the first booking (the adapter sends it as the idempotency key).
    ``idempotency_key`` overrides that key: a parcel whose label was voided is booked anew
    under ``<reference>-<attempt>``, so the carrier does not answer with the cancelled booking.
    """

    reference: str
    service_code: str
    recipient: dict[str, Any]       # name, address1, address2, city, region, postal_code,
    #                                 country, phone, email
    weight_g: int
    length_mm: int
    width_mm: int
    height_mm: int
    currency: str
    declared_value: Decimal
    lines: tuple[ShipmentLine, ...] = ()
    ioss_number: str | None = None
    idempotency_key: str | None = None

    @property
    def key(self) -> str:
        """Return the idempotency key the booking is sent with."""
        return self.idempotency_key or self.reference


@dataclass(frozen=True)
class Booking:
    """A booked shipment: the carrier's tracking number, its label and its own id."""

    tracking_number: str
    label_pdf: bytes | None        # None: erp prints its own label (the postal path)
    carrier_reference: str | None = None


@dataclass(frozen=True)
class TrackingEvent:
    """One event of a parcel's journey, as a carrier reports it."""

    tracking_number: str
    occurred_at: datetime           # aware, UTC
    status: TrackingStatus
    code: str                       # the carrier's own event code
    description: str
    location: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False)


class CarrierAdapter(Protocol):
    """What every adapter does (see the module's documentation)."""

    def book(self, request: ShipmentRequest) -> Booking:
        """Book ``request``; raise CarrierRefused or CarrierUnavailable."""

    def cancel(self, booking: Booking) -> None:
        """Cancel a booking not yet handed over; raise CarrierRefused or CarrierUnavailable."""

    def track(self, tracking_numbers: list[str]) -> list[TrackingEvent]:
        """Return every event the carrier has for these numbers (old ones included)."""
