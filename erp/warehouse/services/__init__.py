"""Warehouse services: every change of stock in the system goes through these functions."""

from erp.warehouse.services.adjustments import (
                                                approve_adjustment,
                                                reject_adjustment,
                                                request_adjustment,
)
from erp.warehouse.services.counts import (
                                                COUNT_REF,
                                                CountError,
                                                accept_cycle_count,
                                                add_count_line,
                                                bins_from_text,
                                                cancel_cycle_count,
                                                count_variance,
                                                open_count_for,
                                                open_cycle_count,
                                                record_count,
                                                record_counts,
                                                record_scan,
                                                recount,
                                                skus_from_text,
                                                submit_for_review,
)
from erp.warehouse.services.ledger import (
                                                COSTED_INBOUND,
                                                MoveSpec,
                                                StockError,
                                                drop_reservations,
                                                lock_levels,
                                                moving_average_cost,
                                                post_move,
                                                post_moves,
                                                release,
                                                reservations_for,
                                                reserve,
                                                transfer,
                                                virtual_location,
)
from erp.warehouse.services.locations import (
                                                LocationError,
                                                clean_location_code,
                                                create_location,
                                                create_warehouse,
                                                find_location,
                                                update_location,
                                                update_warehouse,
)
from erp.warehouse.services.lookups import find_bin, find_sku
from erp.warehouse.services.putaway import (
                                                PutawayError,
                                                can_confirm_putaway,
                                                confirm_putaway,
                                                find_putaway_bin,
                                                find_putaway_task,
                                                suggest_bins,
                                                sync_putaway_tasks,
                                                sync_receiving_bins,
)
from erp.warehouse.services.supplies import SUPPLY_KINDS, supply_bins, take_supply

__all__ = [
    "COSTED_INBOUND", "LocationError", "MoveSpec", "StockError", "approve_adjustment",
    "clean_location_code", "create_location", "create_warehouse", "drop_reservations",
    "find_location", "lock_levels", "moving_average_cost", "post_move", "post_moves",
    "reject_adjustment", "release", "request_adjustment", "reservations_for", "reserve",
    "transfer", "update_location", "virtual_location",
    # lookups of what was scanned or typed, and warehouse edits (screens)
    "find_bin", "find_sku", "update_warehouse",
    # cycle counts
    "COUNT_REF", "CountError", "accept_cycle_count", "add_count_line", "bins_from_text",
    "cancel_cycle_count", "count_variance", "open_count_for", "open_cycle_count", "record_count",
    "record_counts", "record_scan", "recount", "skus_from_text", "submit_for_review",
    # packing supplies (boxes and mailers used up by parcels)
    "SUPPLY_KINDS", "supply_bins", "take_supply",
    # put-away
    "PutawayError", "can_confirm_putaway", "confirm_putaway", "find_putaway_bin",
    "find_putaway_task", "suggest_bins", "sync_putaway_tasks", "sync_receiving_bins",
]

from erp.warehouse.services.ledger import ReserveSpec, reserve_many  # noqa: E402 - batched form

__all__ += ["ReserveSpec", "reserve_many"]

from erp.warehouse.services.restock import (  # noqa: E402 - goods back to storage
    RestockResult,
    RestockSpec,
    restock,
    restock_bin,
)

__all__ += ["RestockResult", "RestockSpec", "restock", "restock_bin"]


from erp.warehouse.services.transfers import (  # noqa: E402 - between warehouses
    TransferError,
    TransferLineSpec,
    can_cancel,
    can_pick,
    can_receive,
    can_ship,
    cancel_transfer,
    create_transfer,
    default_receive_bin,
    in_transit_location,
    lines_from_text,
    pick_transfer,
    receive_transfer,
    scan_receipt,
    ship_transfer,
    staging_location,
)

__all__ += ["TransferError", "TransferLineSpec", "can_cancel", "can_pick", "can_receive",
            "can_ship", "cancel_transfer", "create_transfer", "default_receive_bin",
            "in_transit_location", "lines_from_text", "pick_transfer", "receive_transfer",
            "scan_receipt", "ship_transfer", "staging_location"]

import erp.warehouse.events  # noqa: E402,F401 - registers the coalesced stock.changed event
from erp.warehouse.services.valuation import (  # noqa: E402 - value adjustments
                                                SkuRevaluation,
                                                ValueShare,
                                                revalue,
                                                value_adjustments_for,
)

__all__ += ["SkuRevaluation", "ValueShare", "revalue", "value_adjustments_for"]
