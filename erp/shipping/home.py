"""Shipping on the home page: parcels to hand over before today's cut-off, tracking ranges.

"Today's cut-off" is the hand-over time of each parcel's service, in the warehouse's local
time (as on the day board): a parcel counts while its service's cut-off is still ahead.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, func, select

from erp.core import dashboard
from erp.core.dashboard import Card, Context
from erp.core.i18n import _l
from erp.core.models import Role
from erp.shipping.models import PARCEL_STATES, Parcel, ShippingService
from erp.shipping.services import tracking

DISPATCH, RANGES = "shipping.to_dispatch", "shipping.ranges_low"
EXCEPTIONS = "shipping.tracking_exceptions"


def local_time(now: datetime) -> str:
    """Return ``now`` as ``HH:MM`` in the server's local time (cut-offs are written so)."""
    return now.astimezone().strftime("%H:%M")


def before_cutoff_condition(time_of_day):
    """Return the condition: the parcel's service cut-off is later than ``HH:MM`` today.

    The query must join ``ShippingService`` on the parcel's service.
    """
    return ShippingService.cutoff > time_of_day


#: the open parcels (packed or labelled) whose service's cut-off is after ``:time_of_day``
TO_DISPATCH = (select(func.count()).select_from(Parcel)
               .join(ShippingService, ShippingService.id == Parcel.service_id)
               .where(Parcel.state.in_(sorted(PARCEL_STATES.groups["open"])),
                      before_cutoff_condition(bindparam("time_of_day"))))


#: the open parcels whose service's cut-off is still ahead today, read with the other
#: domains' counts in one query
dashboard.scalar_source({DISPATCH: TO_DISPATCH.scalar_subquery()},
                        params=lambda ctx: {"time_of_day": local_time(ctx.now)})


@dashboard.source([RANGES])
def range_figures(keys: frozenset[str], ctx: Context) -> dict[str, int]:
    """Count the tracking-number ranges running low."""
    return {RANGES: tracking.count_ranges_running_low()}


@dashboard.source([EXCEPTIONS])
def exception_figures(keys: frozenset[str], ctx: Context) -> dict[str, int]:
    """Count the dispatched parcels the carrier reported in exception."""
    from erp.shipping.services.tracking_queries import exception_count

    return {EXCEPTIONS: exception_count()}


EXCEPTIONS_CARD = (_l("Parcels in tracking exception"), "shipping.exceptions", EXCEPTIONS,
                   "shipping.exception_queue",
                   _l("The carrier reported a problem: contact the consumer or the carrier"))

RANGES_CARD = (_l("Tracking ranges running low"), "shipping.manage", RANGES,
               "shipping.carrier_list", _l("Load a new range of tracking numbers from the carrier"))

dashboard.register(
    Card(_l("Parcels to dispatch before today's cut-off"), "shipping.work", DISPATCH,
         "shipping.parcel_list", _l("Packed or labelled; close their batch before the cut-off"),
         args=(("state", "open"), ("cutoff", "today")), section=Role.warehouse, position=40),
    Card(*RANGES_CARD, section=Role.warehouse, position=60),
    Card(*EXCEPTIONS_CARD, section=Role.customer_service, position=40),
    # the admin's overview, as before the role sections
    Card(*RANGES_CARD),
)
