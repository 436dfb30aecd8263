"""Order services: intake (validation, creation, API tokens); other areas append theirs."""

from erp.orders.services.intake import (
    NO_POSTAL_CODE_COUNTRIES,
    OrderConflict,
    OrderRejected,
    create_api_token,
    create_order,
    default_trade_mode,
    find_api_token,
    hash_token,
    intake_order,
    notify_paid,
    order_differences,
    resolve_skus,
    review_reason,
    revoke_api_token,
    validate_order_payload,
)

__all__ = ["NO_POSTAL_CODE_COUNTRIES", "OrderConflict", "OrderRejected", "create_api_token",
           "create_order", "default_trade_mode", "find_api_token", "hash_token", "intake_order",
           "notify_paid", "order_differences", "resolve_skus", "review_reason",
           "revoke_api_token", "validate_order_payload"]

from erp.orders.services.allocation import (  # noqa: E402 - appended by the allocation area
    AddressChanges,
    AllocationSummary,
    CancelAfterShipping,
    OrderError,
    address_problems,
    allocate_batch,
    allocate_order,
    allocate_orders,
    allocation_queue,
    can_allocate,
    can_cancel,
    can_edit_address,
    can_hold,
    can_release,
    cancel_order,
    hold_order,
    release_order,
    update_shipping_address,
)

__all__ += ["AddressChanges", "AllocationSummary", "CancelAfterShipping", "OrderError",
            "address_problems", "allocate_batch", "allocate_order", "allocate_orders",
            "allocation_queue",
            "can_allocate", "can_cancel", "can_edit_address",
            "can_hold", "can_release", "cancel_order", "hold_order", "release_order",
            "update_shipping_address"]

from erp.orders.services.fulfilment import (  # noqa: E402 - appended by shipping's needs
    mark_delivered,
    mark_delivered_many,
    mark_packed,
    mark_packed_many,
    mark_packed_rows,
    mark_picking,
    mark_repacking,
    mark_shipped,
    short_picked,
)

__all__ += ["mark_delivered", "mark_delivered_many", "mark_packed", "mark_packed_many",
            "mark_packed_rows", "mark_picking",
            "mark_repacking", "mark_shipped", "short_picked"]

from erp.orders.services.intake import mark_api_token_used  # noqa: E402 - appended by intake

__all__ += ["mark_api_token_used"]

from erp.orders.services.merging import (  # noqa: E402 - appended by merging
    MergeCandidate,
    MergeError,
    can_unmerge,
    merge_candidates,
    merge_group,
    merge_orders,
    unmerge_order,
)

__all__ += ["MergeCandidate", "MergeError", "can_unmerge", "merge_candidates", "merge_group",
            "merge_orders", "unmerge_order"]
