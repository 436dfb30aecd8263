"""What the warehouse's states and kinds are called on the screens, in the reader's language.

The state machines keep their English labels (logs and the core's messages read them); the
screens show these lazy translations instead. :class:`ShownStates` wraps a machine so the shared
``badge`` macro and the filters print the reader's word, and :func:`kind_label` names a bin kind,
a move kind or an adjustment reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from erp.core.i18n import _l
from erp.core.states import StateMachine
from erp.warehouse.models import (
    ADJUSTMENT_STATES,
    CYCLE_COUNT_STATES,
    PUTAWAY_STATES,
    TRANSFER_STATES,
    AdjustmentReason,
    AdjustmentState,
    CycleCountState,
    LocationKind,
    MoveKind,
    PutawayState,
    TransferState,
)

CYCLE_COUNT_LABELS = {
    CycleCountState.open: _l("open"),
    CycleCountState.review: _l("review"),
    CycleCountState.accepted: _l("accepted"),
    CycleCountState.cancelled: _l("cancelled"),
}
ADJUSTMENT_LABELS = {
    AdjustmentState.pending: _l("pending"),
    AdjustmentState.approved: _l("approved"),
    AdjustmentState.rejected: _l("rejected"),
}
TRANSFER_LABELS = {
    TransferState.draft: _l("draft"),
    TransferState.picked: _l("picked"),
    TransferState.shipped: _l("in transit"),
    TransferState.received: _l("received"),
    TransferState.cancelled: _l("cancelled"),
}
PUTAWAY_LABELS = {
    PutawayState.open: _l("open"),
    PutawayState.done: _l("done"),
    PutawayState.cancelled: _l("cancelled"),
}
LOCATION_KIND_LABELS = {
    LocationKind.receiving: _l("receiving"),
    LocationKind.storage: _l("storage"),
    LocationKind.packing: _l("packing"),
    LocationKind.shipping: _l("shipping"),
    LocationKind.returns: _l("returns"),
    LocationKind.quarantine: _l("quarantine"),
    LocationKind.scrap: _l("scrap"),
    LocationKind.supplier: _l("supplier"),
    LocationKind.customer: _l("customer"),
    LocationKind.adjustment: _l("adjustment"),
    LocationKind.in_transit: _l("in transit"),
}
MOVE_KIND_LABELS = {
    MoveKind.receipt: _l("receipt"),
    MoveKind.receipt_reversal: _l("receipt reversal"),
    MoveKind.transfer: _l("transfer"),
    MoveKind.adjustment: _l("adjustment"),
    MoveKind.count: _l("count"),
    MoveKind.pick: _l("pick"),
    MoveKind.ship: _l("ship"),
    MoveKind.return_receipt: _l("return receipt"),
    MoveKind.scrap: _l("scrap"),
    MoveKind.opening: _l("opening stock"),
    MoveKind.supplier_return: _l("return to supplier"),
}
REASON_LABELS = {
    AdjustmentReason.damaged: _l("damaged"),
    AdjustmentReason.lost: _l("lost"),
    AdjustmentReason.found: _l("found"),
    AdjustmentReason.expired: _l("expired"),
    AdjustmentReason.sample: _l("sample"),
    AdjustmentReason.data_correction: _l("data correction"),
    AdjustmentReason.other: _l("other"),
}
_KIND_LABELS: dict[type, Mapping] = {
    LocationKind: LOCATION_KIND_LABELS, MoveKind: MOVE_KIND_LABELS,
    AdjustmentReason: REASON_LABELS,
}


def kind_label(value: StrEnum | None) -> str:
    """Return the reader's name of a bin kind, move kind or adjustment reason ("" for None)."""
    if value is None:
        return ""
    labels = _KIND_LABELS.get(type(value))
    if labels is None and isinstance(value, str):  # a stored value, not yet an enum: a bin kind
        labels = {kind.value: label for kind, label in LOCATION_KIND_LABELS.items()}
    label = labels.get(value) if labels is not None else None
    return str(label) if label is not None else str(value).replace("_", " ")


class ShownStates:
    """A state machine as the screens show it: the same table, its labels translated."""

    def __init__(self, machine: StateMachine, labels: Mapping[StrEnum, object]) -> None:
        missing = set(machine.enum) - set(labels)
        if missing:
            raise ValueError(f"{machine.noun}: no label for {sorted(missing)}")
        self.machine = machine
        self.labels = dict(labels)

    def label(self, state: StrEnum | str) -> str:
        """Return the reader's name of a state."""
        return str(self.labels[self.machine.enum(state)])

    def __getattr__(self, name: str):
        return getattr(self.machine, name)


CYCLE_COUNT_SHOWN = ShownStates(CYCLE_COUNT_STATES, CYCLE_COUNT_LABELS)
ADJUSTMENT_SHOWN = ShownStates(ADJUSTMENT_STATES, ADJUSTMENT_LABELS)
PUTAWAY_SHOWN = ShownStates(PUTAWAY_STATES, PUTAWAY_LABELS)
TRANSFER_SHOWN = ShownStates(TRANSFER_STATES, TRANSFER_LABELS)


def count_state_label(state) -> str:
    """Return the reader's name of a cycle count state."""
    return CYCLE_COUNT_SHOWN.label(state)


def putaway_state_label(state) -> str:
    """Return the reader's name of a put-away task state."""
    return PUTAWAY_SHOWN.label(state)


def transfer_state_label(state) -> str:
    """Return the reader's name of a transfer state."""
    return TRANSFER_SHOWN.label(state)
