"""What shipping adds to the order screens, API, intake and lifecycle (:mod:`erp.orders.hooks`)."""

from __future__ import annotations

from collections.abc import Sequence

from flask import current_app, render_template
from markupsafe import Markup
from sqlalchemy import Select, or_, select

from erp.extensions import db
from erp.orders import hooks
from erp.shipping import s10
from erp.shipping.models import (
    CUSTOMS_FORM_LABELS,
    PARCEL_STATES,
    TRACKING_STATES,
    Parcel,
    ParcelState,
    ShippingService,
)
from erp.shipping.services import lifecycle
from erp.shipping.services.carriers import intake_problems


def service_choices() -> list[tuple[str, str]]:
    """Return ``[(code, name)]`` of the active shipping services, by code."""
    return [(code, name) for code, name in db.session.execute(
        select(ShippingService.code, ShippingService.name)
        .where(ShippingService.active.is_(True)).order_by(ShippingService.code))]


def order_ids_by_parcel(text: str) -> Select | None:
    """Return the ids of orders whose parcel has this tracking or parcel number."""
    number = s10.normalise(text)
    if len(number) < 6:
        return None
    return select(Parcel.order_id).where(or_(Parcel.tracking_number == number,
                                             Parcel.number == text.strip().upper()))


def tracking_numbers(order_ids: Sequence[int]) -> dict[int, list[str]]:
    """Return the tracking numbers of the orders' parcels that are not voided."""
    found: dict[int, list[str]] = {}
    ids = list(order_ids)
    for start in range(0, len(ids), 500):
        rows = db.session.execute(
            select(Parcel.order_id, Parcel.tracking_number)
            .where(Parcel.order_id.in_(ids[start:start + 500]),
                   Parcel.tracking_number.is_not(None), Parcel.state != ParcelState.voided)
            .order_by(Parcel.order_id, Parcel.sequence, Parcel.id))
        for order_id, number in rows:
            found.setdefault(order_id, []).append(number)
    return found


def parcels_panel(order) -> Markup:
    """Return the order page's section listing its parcels (a merged order: its primary's)."""
    owner = order.merged_into_id or order.id
    parcels = db.session.scalars(select(Parcel).where(Parcel.order_id == owner)
                                 .order_by(Parcel.sequence, Parcel.id)).all()
    from erp.shipping.services.tracking_events import events_of

    events = events_of([p.id for p in parcels if p.state == ParcelState.dispatched])
    return Markup(render_template("shipping/order_parcels.html", parcels=parcels,
                                  view_functions=current_app.view_functions,
                                  machine=PARCEL_STATES, customs_forms=CUSTOMS_FORM_LABELS,
                                  tracking_machine=TRACKING_STATES, tracking_events=events))


hooks.order_id_searches.append(order_ids_by_parcel)
hooks.tracking_numbers.append(tracking_numbers)
hooks.order_panels.append(parcels_panel)
hooks.service_choices.append(service_choices)
hooks.intake_checks.append(intake_problems)

# the order's lifecycle reaches its parcels (erp.shipping.services.lifecycle)
hooks.order_cancelling.connect(lifecycle.cancel_order_parcels)
hooks.order_shipping_changed.connect(lifecycle.void_labels_on_change)
hooks.order_fulfilment_state.connect(lifecycle.fulfilment_state)
