"""An order's lifecycle through the screens: cancel, hold and release, address change, close.

Customer service acts on the order screens, the warehouse on the packing station and the
dispatch screens; each refusal is shown as a message and leaves the data as it was.
"""

from __future__ import annotations

from sqlalchemy import select

from erp.core.models import User
from erp.extensions import db
from erp.orders.models import CustomerOrder, OrderState
from erp.shipping.models import BatchState, DispatchBatch, Parcel, ParcelState
from erp.shipping.services import dispatch, parcels
from erp.warehouse.models import StockLevel
from erp.warehouse.queries import ledger_problems
from tests.fixtures.core import PASSWORD

O = OrderState  # noqa: E741
P = ParcelState


def page(response) -> str:
    return response.get_data(as_text=True)


def state_of(model, ident):
    db.session.expire_all()
    return db.session.get(model, ident).state


def sign_in(client, login_as, role: str):
    """Sign the client out (if in), then in as a user holding only ``role`` (made once)."""
    client.post("/logout")
    user = db.session.scalar(select(User).where(User.username == role))
    if user is None:
        return login_as(role)
    assert client.post("/login", data={"username": role, "password": PASSWORD}
                       ).status_code == 302
    return user


def on_hand(sku, location) -> int:
    db.session.expire_all()
    level = db.session.get(StockLevel, (sku.id, location.id))
    return level.on_hand if level else 0


def test_cancel_after_packing_through_the_order_screen(client, login_as, outbound_floor):
    floor = outbound_floor
    order, parcel = floor.packed([(floor.tee, 2)])
    sign_in(client, login_as, "customer_service")
    text = page(client.post(f"/orders/{order.id}/cancel", data={"reason": "Changed mind"},
                            follow_redirects=True))
    assert f"Order {order.number} cancelled" in text
    assert state_of(CustomerOrder, order.id) == O.cancelled
    assert state_of(Parcel, parcel.id) == P.voided
    assert (on_hand(floor.tee, floor.bench), on_hand(floor.tee, floor.a01)) == (0, 10)
    assert ledger_problems(db.session) == []
    # the order's page lists the voided parcel
    assert "voided" in page(client.get(f"/orders/{order.id}"))


def test_cancel_after_dispatch_is_refused_on_the_order_screen(client, login_as, outbound_floor):
    floor = outbound_floor
    order, parcel = floor.labelled([(floor.tee, 1)])
    batch = floor.batch()
    dispatch.scan_into_batch(batch, parcel.tracking_number, actor=floor.packer)
    dispatch.close_batch(batch, actor=floor.packer)
    db.session.commit()
    sign_in(client, login_as, "customer_service")
    text = page(client.post(f"/orders/{order.id}/cancel", data={"reason": "Too late"},
                            follow_redirects=True))
    assert "Open an after-sales case for it instead" in text
    assert state_of(CustomerOrder, order.id) == O.shipped
    assert state_of(Parcel, parcel.id) == P.dispatched


def test_hold_blocks_the_dispatch_screens_until_released(client, login_as, outbound_floor):
    floor = outbound_floor
    order, (first, second, third) = floor.split(
        [(floor.tee, 2), (floor.mug, 1)],
        [[("TEE-BLK-M", 1)], [("TEE-BLK-M", 1)], [("MUG-WHT", 1)]])
    parcels.label_parcels([first, second], actor=floor.packer)
    batch = floor.batch()
    dispatch.scan_into_batch(batch, first.tracking_number, actor=floor.packer)
    db.session.commit()
    numbers = (first.tracking_number, second.tracking_number)

    # customer service holds the order
    sign_in(client, login_as, "customer_service")
    text = page(client.post(f"/orders/{order.id}/hold", data={"reason": "Fraud check"},
                            follow_redirects=True))
    assert f"Order {order.number} is on hold." in text

    # the warehouse: label, scan, add-waiting and close are refused, naming the hold
    sign_in(client, login_as, "warehouse")
    label = client.post(f"/shipping/packing/{order.id}/label")
    assert label.status_code == 422
    assert "on hold (Fraud check)" in page(label)
    text = page(client.post(f"/shipping/batches/{batch.id}/scan", data={"code": numbers[1]},
                            follow_redirects=True))
    assert f"Refused: Parcel {second.number} ({numbers[1]}) may not go: order {order.number} " \
           "is on hold (Fraud check)" in text
    text = page(client.post(f"/shipping/batches/{batch.id}/add-waiting", follow_redirects=True))
    assert f"0 labelled parcels added to {batch.number}. Left out, 1: Parcel {second.number}" \
        in text
    assert "on hold (Fraud check)" in text
    text = page(client.post(f"/shipping/batches/{batch.id}/close", follow_redirects=True))
    assert f"Refused: Batch {batch.number} cannot be closed: 1 parcel in it may not go" in text
    assert f"Parcel {first.number} ({numbers[0]}): order {order.number} is on hold " \
           "(Fraud check)" in text
    assert state_of(DispatchBatch, batch.id) == BatchState.open
    assert state_of(Parcel, third.id) == P.packed

    # released: back to packed, and the same screens work
    sign_in(client, login_as, "customer_service")
    text = page(client.post(f"/orders/{order.id}/release", follow_redirects=True))
    assert f"Order {order.number} released; it is packed." in text
    sign_in(client, login_as, "warehouse")
    assert client.post(f"/shipping/packing/{order.id}/label").status_code == 302
    text = page(client.post(f"/shipping/batches/{batch.id}/add-waiting", follow_redirects=True))
    assert f"2 labelled parcels added to {batch.number}." in text
    text = page(client.post(f"/shipping/batches/{batch.id}/close", follow_redirects=True))
    assert f"Batch {batch.number} closed: 3 parcels dispatched (3 units" in text
    assert "1 order shipped." in text
    assert state_of(CustomerOrder, order.id) == O.shipped
    assert ledger_problems(db.session) == []


def test_address_change_after_labelling_asks_for_a_new_label(client, login_as, outbound_floor):
    floor = outbound_floor
    order, parcel = floor.labelled([(floor.tee, 1)])
    old = parcel.tracking_number
    sign_in(client, login_as, "customer_service")
    form = {"ship_name": order.ship_name, "address1": "Neue Strasse 9", "address2": "",
            "city": order.city, "region": "", "postal_code": order.postal_code,
            "country": order.country, "phone": ""}
    text = page(client.post(f"/orders/{order.id}/address", data=form, follow_redirects=True))
    assert f"Shipping address of order {order.number} saved." in text
    assert f"Parcel {parcel.number}: its label {old} is void" in text
    assert "Print a new label." in text
    assert 'class="flash flash-warning"' in text
    assert state_of(Parcel, parcel.id) == P.packed
    assert db.session.get(Parcel, parcel.id).tracking_number is None

    # the warehouse prints the new label from the parcel's page
    sign_in(client, login_as, "warehouse")
    detail = page(client.get(f"/shipping/parcels/{parcel.id}"))
    assert f"/shipping/parcels/{parcel.id}/label" in detail
    text = page(client.post(f"/shipping/parcels/{parcel.id}/label", follow_redirects=True))
    assert f"Parcel {parcel.number} labelled" in text
    db.session.expire_all()
    labelled = db.session.scalars(select(Parcel).where(Parcel.id == parcel.id)).one()
    assert labelled.state == P.labelled
    assert labelled.tracking_number not in (None, old)
