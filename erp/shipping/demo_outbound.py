"""Demo outbound work: some demo orders go through waves, packing, labels and dispatch.

Run once (when no pick wave exists yet), after the carrier demo. It leaves orders in every
outbound state: shipped (a few delivered), packed with labelled parcels waiting in an open
dispatch batch, packed but not labelled, and picking in an open wave, so every screen of the
outbound flow has something to show. Everything goes through the services, as on the floor.
"""

from __future__ import annotations

from sqlalchemy import func, select

from erp.core.errors import DomainError
from erp.core.services import get_user_by_username
from erp.extensions import db
from erp.orders.models import CustomerOrder, OrderState
from erp.shipping.models import Box, Carrier, Parcel, ParcelState, PickWave, PickWaveOrder
from erp.shipping.services import dispatch, packing, parcels, waves

#: how many of the allocated demo orders go out, and where they stop
FIRST_WAVE = 40
SHIPPED_BATCH_SHARE = 2  # one labelled parcel in two goes in the closed batches
DELIVERED = 6
LEFT_PACKED = 4           # packed, not labelled
SECOND_WAVE = 6           # left in picking


def _wave_orders(wave: PickWave) -> list[CustomerOrder]:
    return list(db.session.scalars(
        select(CustomerOrder).join(PickWaveOrder, PickWaveOrder.order_id == CustomerOrder.id)
        .where(PickWaveOrder.wave_id == wave.id).order_by(PickWaveOrder.slot)))


def _demo_tracking(shipped: list[CustomerOrder]) -> None:
    """Give the shipped demo parcels carrier events, through the tracking ingest.

    The first orders are delivered, the next one is in exception, the rest in transit.
    """
    from datetime import timedelta

    from erp.shipping.carriers.base import TrackingEvent, TrackingStatus
    from erp.shipping.services.tracking_events import ingest

    found = []
    for n, order in enumerate(shipped):
        for parcel in db.session.scalars(select(Parcel).where(Parcel.order_id == order.id)):
            if parcel.state != ParcelState.dispatched or not parcel.tracking_number:
                continue
            at = parcel.dispatched_at
            number = parcel.tracking_number
            found.append(TrackingEvent(number, at + timedelta(seconds=1),
                                       TrackingStatus.in_transit, "ACC", "Accepted", "Shenzhen"))
            if n < DELIVERED:
                found.append(TrackingEvent(number, at + timedelta(seconds=2),
                                           TrackingStatus.delivered, "DLV", "Delivered",
                                           order.city))
            elif n == DELIVERED:
                found.append(TrackingEvent(number, at + timedelta(seconds=2),
                                           TrackingStatus.exception, "ADR",
                                           "Address incomplete: house number missing",
                                           order.city))
    ingest(found, source="import")


def load_demo() -> None:
    """Push demo orders through the outbound flow (once)."""
    if db.session.scalar(select(func.count()).select_from(PickWave)):
        return
    if not db.session.scalar(select(func.count()).select_from(Carrier)):
        return
    actor = get_user_by_username("warehouse")
    try:
        wave = waves.build_wave(waves.WaveFilters(max_orders=FIRST_WAVE), actor=actor)
    except DomainError:
        return  # nothing allocated to ship
    waves.pick_all(wave, actor=actor)
    waves.finish_wave(wave, actor=actor)
    box = db.session.scalar(select(Box).where(Box.code == "M")) or db.session.scalar(
        select(Box).order_by(Box.id))
    packed: list[Parcel] = []
    for order in _wave_orders(wave):
        if order.state != OrderState.picking:
            continue
        try:
            with db.session.begin_nested():
                packed.append(packing.pack_order(order, weight_g=None, box=box, actor=actor))
        except DomainError:
            continue  # e.g. a SKU without customs data: the order waits at the bench
    to_label = packed[:-LEFT_PACKED] if len(packed) > LEFT_PACKED else []
    if to_label:
        parcels.label_parcels(to_label, actor=actor)
    # the first half of each carrier's labelled parcels were collected; the rest wait in an
    # open batch
    by_carrier: dict[int, list[Parcel]] = {}
    for parcel in to_label:
        by_carrier.setdefault(parcel.service.carrier_id, []).append(parcel)
    shipped: list[CustomerOrder] = []
    for carrier_id, carrier_parcels in sorted(by_carrier.items()):
        carrier = db.session.get(Carrier, carrier_id)
        cut = max(1, len(carrier_parcels) // SHIPPED_BATCH_SHARE)
        closed = dispatch.open_batch(carrier, actor=actor, note="Morning collection")
        dispatch.add_parcels(closed, carrier_parcels[:cut], actor=actor)
        dispatch.close_batch(closed, actor=actor)
        shipped.extend(p.order for p in carrier_parcels[:cut])
        if carrier_parcels[cut:]:
            waiting = dispatch.open_batch(carrier, actor=actor, note="Afternoon collection")
            dispatch.add_parcels(waiting, carrier_parcels[cut:], actor=actor)
    _demo_tracking(shipped)
    try:
        waves.build_wave(waves.WaveFilters(max_orders=SECOND_WAVE), actor=actor)
    except DomainError:
        pass
    db.session.flush()
