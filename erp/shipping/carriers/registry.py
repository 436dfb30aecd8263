"""Which adapter serves a carrier, and the postal adapter.

``adapter_for(carrier)`` reads the carrier's configuration (``Carrier.adapter``):

- ``postal``: :class:`PostalAdapter`. Tracking numbers come from the ranges loaded for the
  service (:func:`erp.shipping.services.tracking.draw_numbers`), erp prints its own label
  (``Booking.label_pdf`` is None), cancelling is a no-op (the number is never drawn again)
  and tracking is imported or pushed, so :meth:`PostalAdapter.track` returns nothing.
- ``http``: :class:`erp.shipping.carriers.http.HttpCarrierAdapter` on the carrier's
  ``api_endpoint``, ``api_token`` and ``api_timeout_s``.

Labelling draws postal numbers a whole service at a time (one locked draw for a wave), so it
calls :func:`draw_numbers` itself; the postal adapter is the same path one parcel at a time,
for callers that go through the interface.
"""

from __future__ import annotations

from sqlalchemy import or_, select

from erp.extensions import db
from erp.shipping.carriers.base import (
    Booking,
    CarrierAdapter,
    CarrierRefused,
    ShipmentRequest,
    TrackingEvent,
)
from erp.shipping.carriers.http import HttpCarrierAdapter
from erp.shipping.models import Carrier, CarrierAdapterKind, ShippingService


class PostalAdapter:
    """Numbers from the loaded ranges and erp's own label (see the module's documentation)."""

    def __init__(self, carrier: Carrier, *, actor=None):
        self.carrier = carrier
        self.actor = actor

    def book(self, request: ShipmentRequest) -> Booking:
        """Draw the service's next tracking number; erp prints the label."""
        from erp.shipping.errors import ShippingError
        from erp.shipping.services.tracking import draw_numbers

        service = db.session.scalar(select(ShippingService).where(
            ShippingService.carrier_id == self.carrier.id,
            or_(ShippingService.code == request.service_code,
                ShippingService.carrier_service_code == request.service_code))
            .order_by(ShippingService.id).limit(1))
        if service is None:
            raise CarrierRefused(f"{self.carrier.code} has no service {request.service_code}",
                                 code="service_unavailable", field="service")
        try:
            number = draw_numbers(service, 1, actor=self.actor)[0]
        except ShippingError as err:
            raise CarrierRefused(str(err), code="no_numbers_left") from None
        return Booking(tracking_number=number, label_pdf=None, carrier_reference=None)

    def cancel(self, booking: Booking) -> None:
        """Nothing to tell the post: a drawn number is never used again."""

    def track(self, tracking_numbers: list[str]) -> list[TrackingEvent]:
        """Postal tracking comes by import or webhook: nothing to fetch."""
        return []


def uses_api(carrier: Carrier) -> bool:
    """Return whether the carrier books through its API (the http adapter)."""
    return CarrierAdapterKind(carrier.adapter) == CarrierAdapterKind.http


def adapter_for(carrier: Carrier, *, actor=None) -> CarrierAdapter:
    """Return the adapter that serves ``carrier`` (configured on the carrier)."""
    if uses_api(carrier):
        return HttpCarrierAdapter(carrier.api_endpoint or "", carrier.api_token,
                                  timeout_s=carrier.api_timeout_s or 10, name=carrier.code)
    return PostalAdapter(carrier, actor=actor)


__all__ = ["PostalAdapter", "adapter_for", "uses_api"]
