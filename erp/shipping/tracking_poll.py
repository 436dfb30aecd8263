"""The periodic tracking poll: ask each carrier that can track about its parcels on the way.

Every :data:`EVERY` seconds, for the dispatched parcels whose tracking status is not final
(delivered, returned), grouped by carrier, the carrier's adapter
(:func:`erp.shipping.carriers.registry.adapter_for`) is asked for their events in batches of
:data:`BATCH` numbers, and what it answers goes through
:func:`erp.shipping.services.tracking_events.ingest` with ``source="poll"``. Each batch is
committed on its own, so one carrier's outage (``CarrierError``) is logged and the others go on.
Without the adapter registry (it ships with the carrier adapters), the poll logs that and does
nothing.
"""

from __future__ import annotations

import logging

from sqlalchemy import or_, select

from erp.core import periodic
from erp.extensions import db
from erp.shipping.models import FINAL_TRACKING, Carrier, Parcel, ParcelState, ShippingService

log = logging.getLogger(__name__)

#: seconds between polls
EVERY = 1800
#: tracking numbers per carrier call
BATCH = 100


def parcels_to_poll() -> dict[int, list[str]]:
    """Return ``{carrier id: tracking numbers}`` of dispatched parcels not yet final."""
    rows = db.session.execute(
        select(ShippingService.carrier_id, Parcel.tracking_number)
        .join(ShippingService, ShippingService.id == Parcel.service_id)
        .where(Parcel.state == ParcelState.dispatched, Parcel.tracking_number.is_not(None),
               or_(Parcel.tracking_status.is_(None),
                   Parcel.tracking_status.not_in(list(FINAL_TRACKING))))
        .order_by(ShippingService.carrier_id, Parcel.id))
    found: dict[int, list[str]] = {}
    for carrier_id, number in rows:
        found.setdefault(carrier_id, []).append(number)
    return found


def poll() -> dict:
    """Poll every carrier whose adapter can track; return counts (see the module's doc)."""
    from erp.shipping.carriers.base import CarrierError
    from erp.shipping.services.tracking_events import ingest

    try:
        from erp.shipping.carriers.registry import adapter_for  # type: ignore[import-not-found]
    except ImportError:
        log.info("Tracking poll skipped: no carrier adapter registry "
                 "(erp.shipping.carriers.registry) is installed.")
        return {"skipped": "no adapter registry"}
    totals = {"carriers": 0, "numbers": 0, "stored": 0, "unknown": 0, "errors": 0}
    for carrier_id, numbers in parcels_to_poll().items():
        carrier = db.session.get(Carrier, carrier_id)
        try:
            adapter = adapter_for(carrier)
        except Exception as err:  # noqa: BLE001 - a carrier without an adapter is not polled
            log.info("Tracking poll: carrier %s has no adapter (%s); not polled.",
                     carrier.code, err)
            adapter = None
        if adapter is None or not callable(getattr(adapter, "track", None)):
            continue
        totals["carriers"] += 1
        for start in range(0, len(numbers), BATCH):
            batch = numbers[start:start + BATCH]
            try:
                summary = ingest(adapter.track(batch), source="poll")
                db.session.commit()
            except CarrierError as err:
                db.session.rollback()
                totals["errors"] += 1
                log.warning("Tracking poll of %s (%s numbers from %s) failed: %s",
                            carrier.code, len(batch), batch[0], err)
                continue
            totals["numbers"] += len(batch)
            totals["stored"] += summary.stored
            totals["unknown"] += summary.unknown
    return totals


periodic.task("tracking.poll", every=EVERY)(poll)
