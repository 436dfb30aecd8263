"""Procurement services: suppliers, purchase orders, receiving and replenishment.

Each area lives in its own module; the public functions are re-exported here.
"""

from erp.procurement.services.claims import (
    ClaimError,
    approve_claim,
    can_approve_claim,
    can_cancel_claim,
    cancel_claim,
    record_supplier_payment,
)
from erp.procurement.services.landed_costs import (
    LANDED_COST_REF,
    ChargeSpec,
    LandedCostError,
    allocate,
    create_landed_cost,
    find_receipts,
    post_landed_cost,
    posted_landed_costs_of,
    reverse_landed_cost,
    split_exactly,
    update_landed_cost,
)
from erp.procurement.services.purchase_orders import (
    APPROVER_ROLES,
    CancelAfterReceiptError,
    PurchaseOrderError,
    add_purchase_order_line,
    approve_purchase_order,
    can_approve,
    can_cancel,
    can_close,
    can_edit_lines,
    can_order,
    can_receive,
    can_send_back,
    can_submit,
    can_update,
    cancel_purchase_order,
    close_purchase_order,
    create_purchase_order,
    lock_purchase_order,
    mark_purchase_order_ordered,
    nearest_valid_quantity,
    purchase_order_totals,
    remove_purchase_order_line,
    send_back_purchase_order,
    submit_purchase_order,
    supplier_item_for,
    update_expected_date,
    update_purchase_order,
    update_purchase_order_line,
)
from erp.procurement.services.receiving import (
    RECEIPT_LINE_REF,
    RECEIVING_KINDS,
    ReceivingError,
    can_reverse,
    check_receiving_location,
    over_receipt_tolerance,
    receivable_limit,
    receive_purchase_order,
    reverse_receipt,
)
from erp.procurement.services.replenishment import (
    ReplenishmentError,
    Suggestion,
    create_draft_orders,
    replenishment_suggestions,
    suggested_quantity,
    suggestion_from_row,
)
from erp.procurement.services.supplier_returns import (
    SUPPLIER_RETURN_LINE_REF,
    ReturnLineSpec,
    SupplierReturnError,
    add_supplier_return_line,
    cancel_supplier_return,
    close_supplier_return,
    create_supplier_return,
    last_paid_price,
    remove_supplier_return_line,
    ship_supplier_return,
    source_quantity_taken,
    suppliers_for_sku,
)
from erp.procurement.services.suppliers import (
    SupplierError,
    clean_supplier_code,
    clean_supplier_item_values,
    clean_unit_price,
    create_supplier,
    get_supplier_by_code,
    get_supplier_item,
    preferred_supplier_item,
    preferred_supplier_items,
    remove_supplier_item,
    set_supplier_active,
    set_supplier_item,
    update_supplier,
)

__all__ = [
    # suppliers and price lists
    "SupplierError", "clean_supplier_code", "clean_supplier_item_values", "clean_unit_price",
    "create_supplier", "get_supplier_by_code", "get_supplier_item", "preferred_supplier_item",
    "preferred_supplier_items", "remove_supplier_item", "set_supplier_active", "set_supplier_item",
    "update_supplier",
    # replenishment
    "ReplenishmentError", "Suggestion", "create_draft_orders", "replenishment_suggestions",
    "suggested_quantity", "suggestion_from_row",
    # purchase orders
    "APPROVER_ROLES", "CancelAfterReceiptError", "PurchaseOrderError", "add_purchase_order_line",
    "approve_purchase_order", "can_approve", "can_cancel", "can_close", "can_edit_lines",
    "can_order", "can_receive", "can_send_back", "can_submit", "can_update",
    "cancel_purchase_order", "close_purchase_order", "create_purchase_order",
    "lock_purchase_order", "mark_purchase_order_ordered", "nearest_valid_quantity",
    "purchase_order_totals", "remove_purchase_order_line", "send_back_purchase_order",
    "submit_purchase_order", "supplier_item_for", "update_expected_date",
    "update_purchase_order", "update_purchase_order_line",
    # receiving
    "RECEIPT_LINE_REF", "RECEIVING_KINDS", "ReceivingError", "can_reverse",
    "check_receiving_location", "over_receipt_tolerance", "receivable_limit",
    "receive_purchase_order", "reverse_receipt",
    # landed cost
    "LANDED_COST_REF", "ChargeSpec", "LandedCostError", "allocate", "create_landed_cost",
    "find_receipts", "post_landed_cost", "posted_landed_costs_of", "reverse_landed_cost",
    "split_exactly", "update_landed_cost",
    # returns to suppliers, claims and payments (can_* of returns: use the module)
    "SUPPLIER_RETURN_LINE_REF", "ReturnLineSpec", "SupplierReturnError",
    "add_supplier_return_line", "cancel_supplier_return", "close_supplier_return",
    "create_supplier_return", "last_paid_price", "remove_supplier_return_line",
    "ship_supplier_return", "source_quantity_taken", "suppliers_for_sku",
    "ClaimError", "approve_claim", "can_approve_claim", "can_cancel_claim", "cancel_claim",
    "record_supplier_payment",
]
