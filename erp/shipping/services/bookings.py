"""Bookings with carriers' APIs: a parcel's tracking number and label from the carrier.

A parcel whose service's carrier uses the http adapter (:func:`erp.shipping.carriers.registry.
uses_api`) gets its label by booking it with the carrier (:func:`book`), not from a range.
Its booking is kept in ``parcel_label``: the carrier's number, its own id and its label PDF,
which the label PDFs print instead of erp's own label.

Nothing is half booked:

- the booking is sent with an idempotency key: the parcel number (``PCL-...``), or
  ``PCL-...-<n>`` for the n-th booking of a parcel whose label was voided. A retry after a
  lost answer (the adapter retries time-outs and 5xx itself; a second click retries the whole
  labelling) gets the same booking back from the carrier;
- nothing is written to the parcel before every booking of the call came back; the caller's
  transaction commits the bookings with the parcels' new state, or none of them.

A booking made at the carrier whose transaction then rolls back (another parcel of the same
labelling was refused) stays at the carrier, unused; labelling again sends the same key and
gets that booking back, so it is never booked twice.

The carrier is called while the parcels and their orders are locked (labelling checks them
first): a second labelling of the same parcels waits for the first and then finds them
labelled. The adapter's time-out and retries bound how long that is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select

from erp.core.i18n import _
from erp.core.models import utcnow
from erp.extensions import db
from erp.shipping.carriers.base import (
    Booking,
    CarrierRefused,
    CarrierUnavailable,
    ShipmentLine,
    ShipmentRequest,
)
from erp.shipping.carriers.registry import adapter_for, uses_api
from erp.shipping.errors import ShippingError
from erp.shipping.models import Carrier, Parcel, ParcelLabel


class CarrierRefusedError(ShippingError):
    """The carrier refused a booking or a cancel; the message carries its own reason."""


class CarrierUnavailableError(ShippingError):
    """The carrier could not be reached or failed: nothing changed, try again."""


def books_with_api(parcel: Parcel) -> bool:
    """Return whether the parcel's label comes from its carrier's API."""
    return uses_api(parcel.service.carrier)


@dataclass(frozen=True)
class Booked:
    """A booking made for a parcel, not yet written."""

    parcel: Parcel
    attempt: int
    key: str
    booking: Booking


def _attempts(parcel_ids: list[int]) -> dict[int, int]:
    if not parcel_ids:
        return {}
    return dict(db.session.execute(
        select(ParcelLabel.parcel_id, func.max(ParcelLabel.attempt))
        .where(ParcelLabel.parcel_id.in_(parcel_ids)).group_by(ParcelLabel.parcel_id)).all())


def shipment_request(parcel: Parcel, *, key: str) -> ShipmentRequest:
    """Return what a booking of ``parcel`` sends (its order's address, its customs lines)."""
    order = parcel.order
    service = parcel.service
    return ShipmentRequest(
        reference=parcel.number, idempotency_key=key,
        service_code=service.carrier_service_code or service.code,
        recipient={"name": order.ship_name, "address1": order.address1,
                   "address2": order.address2, "city": order.city, "region": order.region,
                   "postal_code": order.postal_code, "country": order.country,
                   "phone": order.phone, "email": order.email},
        weight_g=parcel.weight_g, length_mm=parcel.length_mm, width_mm=parcel.width_mm,
        height_mm=parcel.height_mm, currency=parcel.currency,
        declared_value=parcel.declared_value, ioss_number=parcel.ioss_number,
        lines=tuple(ShipmentLine(description=ln.description, quantity=ln.quantity,
                                 unit_value=ln.unit_value, hs_code=ln.hs_code,
                                 origin_country=ln.origin_country,
                                 net_weight_g=ln.net_weight_g, sku=ln.sku.code)
                    for ln in parcel.lines))


def _refused(carrier: Carrier, parcel: Parcel, err: CarrierRefused) -> CarrierRefusedError:
    return CarrierRefusedError(_(
        "%(carrier)s refused to book parcel %(parcel)s: %(reason)s. Correct the order's "
        "address or choose another service, then label it again.", carrier=carrier.name,
        parcel=parcel.number, reason=err.reason))


def _unavailable(carrier: Carrier, parcel: Parcel, err: CarrierUnavailable
                 ) -> CarrierUnavailableError:
    return CarrierUnavailableError(_(
        "%(carrier)s is unavailable (%(detail)s): parcel %(parcel)s was not labelled. Try "
        "again in a moment.", carrier=carrier.name, detail=str(err), parcel=parcel.number))


def book(parcels: Iterable[Parcel], *, actor) -> list[Booked]:
    """Book each parcel with its carrier's API; return the bookings, written nowhere yet.

    The caller locked the parcels and checked them; it writes the bookings with
    :func:`record` once every one came back.

    :raises CarrierRefusedError: with the carrier's reason, for the first parcel refused.
    :raises CarrierUnavailableError: when a carrier stays unreachable after its retries.
    """
    parcels = list(parcels)
    attempts = _attempts([p.id for p in parcels])
    adapters: dict[int, object] = {}
    out: list[Booked] = []
    for parcel in parcels:
        carrier = parcel.service.carrier
        if carrier.id not in adapters:
            adapters[carrier.id] = adapter_for(carrier, actor=actor)
        attempt = attempts.get(parcel.id, 0) + 1
        key = parcel.number if attempt == 1 else f"{parcel.number}-{attempt}"
        try:
            booking = adapters[carrier.id].book(shipment_request(parcel, key=key))
        except CarrierRefused as err:
            raise _refused(carrier, parcel, err) from None
        except CarrierUnavailable as err:
            raise _unavailable(carrier, parcel, err) from None
        out.append(Booked(parcel, attempt, key, booking))
    return out


def record(booked: Iterable[Booked]) -> None:
    """Keep the bookings (number, the carrier's id, label) beside their parcels."""
    now = utcnow()
    for item in booked:
        db.session.add(ParcelLabel(
            parcel_id=item.parcel.id, attempt=item.attempt, idempotency_key=item.key,
            tracking_number=item.booking.tracking_number,
            carrier_reference=item.booking.carrier_reference, pdf=item.booking.label_pdf,
            booked_at=now))
    db.session.flush()


def live_label(parcel: Parcel) -> ParcelLabel | None:
    """Return the parcel's booking not cancelled, or None."""
    return db.session.scalar(select(ParcelLabel).where(
        ParcelLabel.parcel_id == parcel.id, ParcelLabel.cancelled_at.is_(None))
        .order_by(ParcelLabel.attempt.desc()).limit(1))


def cancel(parcel: Parcel, *, actor) -> dict:
    """Cancel the parcel's live booking with its carrier (before voiding its label).

    The caller locked the parcel. A parcel without a booking (postal) needs nothing.

    :returns: what the audit event of the void may keep (the cancelled booking), or ``{}``.
    :raises CarrierRefusedError: when the carrier refuses (e.g. it collected the parcel
        already), with its reason: the parcel is then not voided.
    :raises CarrierUnavailableError: when the carrier cannot be reached: try again.
    """
    label = live_label(parcel)
    if label is None:
        return {}
    carrier = parcel.service.carrier
    booking = Booking(tracking_number=label.tracking_number, label_pdf=None,
                      carrier_reference=label.carrier_reference)
    try:
        adapter_for(carrier, actor=actor).cancel(booking)
    except CarrierRefused as err:
        raise CarrierRefusedError(_(
            "%(carrier)s refused to cancel the booking of parcel %(parcel)s (%(tracking)s): "
            "%(reason)s. The parcel stays as it is.", carrier=carrier.name,
            parcel=parcel.number, tracking=label.tracking_number, reason=err.reason)) from None
    except CarrierUnavailable as err:
        raise CarrierUnavailableError(_(
            "%(carrier)s is unavailable (%(detail)s): the booking of parcel %(parcel)s was not "
            "cancelled and the parcel stays as it is. Try again in a moment.",
            carrier=carrier.name, detail=str(err), parcel=parcel.number)) from None
    label.cancelled_at = utcnow()
    db.session.flush()
    return {"carrier_booking_cancelled": label.carrier_reference or label.tracking_number}
