"""The completeness gate: a batch with a 9610 parcel missing export data does not close."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from erp.core.models import Setting
from erp.customs.models import CustomsDeclaration
from erp.extensions import db
from erp.shipping.errors import ShippingError
from erp.shipping.models import BatchState


def _set(key, value):
    db.session.merge(Setting(key=key, value=value))


GAPS = [
    ("hs_short", lambda w, o, p: setattr(w.tee, "cn_hs_code", "610910"),
     "SKU TS-COT-M-WHT: Chinese HS code must be 10 digits"),
    ("hs_missing", lambda w, o, p: setattr(w.case, "cn_hs_code", None),
     "SKU PC-IP15-BLK: Chinese HS code must be 10 digits"),
    ("name", lambda w, o, p: setattr(w.tee, "cn_name", None),
     "SKU TS-COT-M-WHT: Chinese customs name missing"),
    ("elements", lambda w, o, p: setattr(w.case, "cn_elements", None),
     "SKU PC-IP15-BLK: declaration elements missing"),
    ("sale_unit", lambda w, o, p: setattr(w.case, "cn_sale_unit", "999"),
     "SKU PC-IP15-BLK: sale unit unknown"),
    ("unit1", lambda w, o, p: setattr(w.tee, "cn_unit1", None),
     "SKU TS-COT-M-WHT: legal unit unknown"),
    ("legal_qty", lambda w, o, p: setattr(w.case, "cn_unit1", "015"),
     "SKU PC-IP15-BLK: legal quantity in unit 015 cannot be computed"),
    ("sku_code", lambda w, o, p: setattr(w.case, "code", "PC-IP15-BLK-EXTRA-LONG"),
     "SKU PC-IP15-BLK-EXTRA-LONG: SKU code longer than 20 characters"),
    ("provider", lambda w, o, p: setattr(o, "payment_provider", None),
     "payment data missing: payment_provider"),
    ("transaction", lambda w, o, p: setattr(o, "payment_transaction", None),
     "payment data missing: payment_transaction"),
    ("amount", lambda w, o, p: setattr(o, "payment_amount", None),
     "payment data missing: payment_amount"),
    ("currency", lambda w, o, p: setattr(o, "payment_currency", None),
     "payment data missing: payment_currency"),
    ("paid_at", lambda w, o, p: setattr(o, "paid_at", None), "payment data missing: paid_at"),
    ("paid_other_currency", lambda w, o, p: setattr(o, "payment_currency", "USD"),
     "payment currency USD differs from the order currency CNY"),
    ("sum", lambda w, o, p: setattr(o, "payment_amount", Decimal("199.00")),
     "goods 159.00 + shipping 41.00 ≠ paid amount 199.00"),
    ("country", lambda w, o, p: setattr(o, "country", "ZZ"),
     "destination country ZZ has no customs code"),
    ("order_currency", lambda w, o, p: (setattr(o, "currency", "XYZ"),
                                        setattr(o, "payment_currency", "XYZ")),
     "currency XYZ has no customs code"),
    ("tracking", lambda w, o, p: setattr(p, "tracking_number", None), "tracking number missing"),
    ("carrier_code", lambda w, o, p: _set("customs_logistics_codes", "OTHER 4403980L02 X"),
     "carrier CNPOST has no customs code"),
    ("company", lambda w, o, p: _set("customs_ebc_code", ""),
     "9610 settings: 9610: seller customs code (ebcCode) is empty"),
    ("port", lambda w, o, p: _set("customs_port_code", ""),
     "9610 settings: 9610: customs office of the exit port (4 digits) is empty"),
]


@pytest.mark.parametrize(("spoil", "expected"), [g[1:] for g in GAPS], ids=[g[0] for g in GAPS])
def test_gate_refuses_each_missing_datum_naming_it(world, spoil, expected):
    parcel = world.parcel()
    order = parcel.order
    batch = world.batch(parcel)
    spoil(world, order, parcel)
    db.session.flush()
    with pytest.raises(ShippingError) as refused:
        world.close(batch)
    message = str(refused.value)
    assert expected in message
    if not expected.startswith("9610 settings"):
        assert f"Parcel {parcel.number}, order {order.number}" in message
    assert batch.state == BatchState.open
    assert db.session.scalar(select(func.count()).select_from(CustomsDeclaration)) == 0


def test_order_with_a_parcel_outside_the_batch_is_refused(world):
    order = world.order()
    case_line, tee_line = order.lines
    inside = world.parcel(order, lines=[(case_line, 2)], sequence=1)
    outside = world.parcel(order, lines=[(tee_line, 1)], sequence=2)
    batch = world.batch(inside)
    with pytest.raises(ShippingError, match=f"parcel {outside.number} of the same 9610 order"):
        world.close(batch)


def test_gate_ignores_parcels_of_other_orders(world):
    plain = world.parcel(trade_mode=None, payment_provider=None, payment_amount=None)
    world.case.cn_hs_code = None
    batch = world.batch(plain)
    world.close(batch)
    assert batch.state == BatchState.closed


def test_batch_page_lists_gaps_of_an_open_batch_and_links_when_closed(world, client, login_as):
    parcel = world.parcel()
    batch = world.batch(parcel)
    world.tee.cn_name = None
    db.session.commit()
    login_as("manager")
    page = client.get(f"/shipping/batches/{batch.id}").get_data(as_text=True)
    assert "The export is incomplete: 1 gap" in page
    assert "Chinese customs name missing" in page
    world.tee.cn_name = "T恤衫"
    db.session.commit()
    world.close(db.session.get(type(batch), batch.id))
    db.session.commit()
    page = client.get(f"/shipping/batches/{batch.id}").get_data(as_text=True)
    assert f"/customs/batches/{batch.id}/export.xlsx" in page
    assert f"/customs/batches/{batch.id}/messages.zip" in page
