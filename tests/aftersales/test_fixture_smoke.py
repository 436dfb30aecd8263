"""The after-sales fixtures produce a really shipped order."""

from erp.orders.models import OrderState
from erp.shipping.models import ParcelState
from erp.shipping.queries import shipped_at, shipped_quantities


def test_ship_order_ships(ship_order, customs_stock, reasons, returns_bins):
    tee = customs_stock("TEE-1")
    order = ship_order([(tee, 2, "15.00")])
    assert order.state == OrderState.shipped
    assert order.parcel.state == ParcelState.dispatched
    assert shipped_quantities([order.id]) == {order.lines[0].id: 2}
    assert shipped_at(order.id) is not None
    assert set(reasons) >= {"LOST", "WRONG_SIZE"}
    assert returns_bins["returns"].kind == "returns"
