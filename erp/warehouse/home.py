"""The warehouse on the home page: put-away and counts to do, adjustments and counts to decide."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import func, select, type_coerce

from erp.core import dashboard
from erp.core.dashboard import Card, Figure
from erp.core.i18n import _l, format_number, ngettext
from erp.core.models import Role
from erp.core.types import Money
from erp.warehouse.models import (
    CYCLE_COUNT_STATES,
    AdjustmentState,
    CycleCount,
    CycleCountState,
    PutawayState,
    PutawayTask,
    StockAdjustment,
    StockLevel,
    TransferOrder,
    TransferState,
)

PUTAWAY, COUNTS_OPEN, COUNTS_FROZEN, COUNTS_REVIEW, ADJUSTMENTS, BINS = (
    "warehouse.putaway", "warehouse.counts_open", "warehouse.counts_frozen",
    "warehouse.counts_review", "warehouse.adjustments", "warehouse.bins_with_stock")
IN_TRANSIT = "warehouse.transfers_in_transit"


def _count(model, *conditions):
    return select(func.count()).select_from(model).where(*conditions).scalar_subquery()


def _counts_in(*states: CycleCountState):
    return _count(CycleCount, CycleCount.state.in_(list(states)))


_OPEN_TASK = PutawayTask.state == PutawayState.open
_PENDING = StockAdjustment.state == AdjustmentState.pending
#: one scalar subquery per figure, built once
COLUMNS = {
    PUTAWAY: _count(PutawayTask, _OPEN_TASK),
    "units": select(func.coalesce(func.sum(PutawayTask.quantity - PutawayTask.done_qty), 0))
    .where(_OPEN_TASK).scalar_subquery(),
    COUNTS_OPEN: _counts_in(CycleCountState.open),
    COUNTS_FROZEN: _counts_in(*sorted(CYCLE_COUNT_STATES.groups["frozen"])),
    COUNTS_REVIEW: _counts_in(CycleCountState.review),
    ADJUSTMENTS: _count(StockAdjustment, _PENDING),
    "value": select(type_coerce(func.sum(StockAdjustment.value), Money()))
    .where(_PENDING).scalar_subquery(),
    BINS: select(func.count(func.distinct(StockLevel.location_id)))
    .where(StockLevel.on_hand > 0).scalar_subquery(),
    IN_TRANSIT: _count(TransferOrder, TransferOrder.state == TransferState.shipped),
}


def _needs(keys: frozenset[str]) -> set[str]:
    return ({"units"} if PUTAWAY in keys else set()) | ({"value"} if ADJUSTMENTS in keys
                                                        else set())


def warehouse_figures(keys: frozenset[str], values: Mapping[str, object]) -> dict[str, Figure]:
    """Make the warehouse's figures of their columns (units and value beside two counts)."""
    figures = {key: Figure(int(values[key] or 0)) for key in keys}
    if PUTAWAY in keys:
        figures[PUTAWAY] = Figure(int(values[PUTAWAY] or 0), units=int(values["units"] or 0))
    if ADJUSTMENTS in keys:
        figures[ADJUSTMENTS] = Figure(int(values[ADJUSTMENTS] or 0),
                                      amount=values["value"] or 0)
    return figures


#: read with the other domains' counts, in the home page's one query (a subquery per figure)
dashboard.scalar_source(COLUMNS, figures=[PUTAWAY, COUNTS_OPEN, COUNTS_FROZEN, COUNTS_REVIEW,
                                          ADJUSTMENTS, BINS, IN_TRANSIT],
                        needs=_needs, finish=warehouse_figures)


def _units_waiting(figure: Figure) -> str:
    units = figure.units or 0
    return ngettext("%(units)s unit in receiving bins", "%(units)s units in receiving bins",
                    units, units=format_number(units))


W, M = Role.warehouse, Role.manager
PUTAWAY_TITLE = _l("Put-away tasks open")
PUTAWAY_HINT = _l("Received goods to move into storage bins")
ADJUSTMENTS_TITLE = _l("Adjustments awaiting approval")
ADJUSTMENTS_HINT = _l("Stock adjustments above the value threshold")
REVIEW_TITLE = _l("Cycle counts to review")
REVIEW_HINT = _l("Accept the variances or send lines back for recount")
REVIEW_ARGS = (("state", CycleCountState.review.value),)

dashboard.register(
    Card(PUTAWAY_TITLE, "warehouse.move", PUTAWAY, "warehouse.put_away_stock", PUTAWAY_HINT,
         section=W, detail=_units_waiting, position=10),
    Card(_l("Cycle counts to count"), "warehouse.move", COUNTS_OPEN,
         "warehouse.cycle_count_list", _l("Their stock is frozen until they are decided"),
         args=(("state", CycleCountState.open.value),), section=W, position=50),
    Card(_l("Transfers in transit"), "warehouse.transfer", IN_TRANSIT,
         "warehouse.transfer_order_list", _l("Goods on their way between warehouses; receive "
                                             "them when they arrive"),
         args=(("state", TransferState.shipped.value),), section=W, position=60),
    Card(ADJUSTMENTS_TITLE, "warehouse.approve", ADJUSTMENTS, "warehouse.pending_adjustments",
         ADJUSTMENTS_HINT, section=M, amount=True, position=30),
    Card(REVIEW_TITLE, "warehouse.approve", COUNTS_REVIEW, "warehouse.cycle_count_list",
         REVIEW_HINT, args=REVIEW_ARGS, section=M, position=40),
    # the admin's overview, as before the role sections
    Card(_l("Cycle counts open"), "warehouse.view", COUNTS_FROZEN, "warehouse.cycle_count_list",
         _l("Their stock is frozen until they are decided")),
    Card(REVIEW_TITLE, "warehouse.approve", COUNTS_REVIEW, "warehouse.cycle_count_list",
         REVIEW_HINT, args=REVIEW_ARGS),
    Card(PUTAWAY_TITLE, "warehouse.move", PUTAWAY, "warehouse.put_away_stock", PUTAWAY_HINT,
         detail=_units_waiting),
    Card(ADJUSTMENTS_TITLE, "warehouse.approve", ADJUSTMENTS, "warehouse.pending_adjustments",
         ADJUSTMENTS_HINT),
    Card(_l("Bins with stock"), "warehouse.move", BINS, "warehouse.stock_list",
         _l("Stock by bin; transfer and adjust")),
)
