"""Carrier bills under concurrency: the same bill imported at once is stored once."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from erp.extensions import db
from erp.shipping.errors import ShippingError
from erp.shipping.models import Carrier, CarrierBillLine
from tests.concurrency_helpers import POOL_CONFIG, race
from tests.shipping import test_carrier_bills as _bills

pytestmark = pytest.mark.postgres

customs_sku = _bills.customs_sku
picked_order = _bills.picked_order
shipping_rates = _bills.shipping_rates
packed = _bills.packed
dispatched = _bills.dispatched
sheet, line, kg, run = _bills.sheet, _bills.line, _bills.kg, _bills.run


@pytest.fixture
def app_config():
    return POOL_CONFIG


def test_the_same_bill_imported_at_once_is_stored_once(app, dispatched, people):
    parcels_ = dispatched(2)
    data = sheet([line(p.tracking_number, kg(p.chargeable_g), "4.50") for p in parcels_])
    carrier_id = parcels_[0].service.carrier_id
    db.session.commit()

    def prepare(n):
        carrier = db.session.get(Carrier, carrier_id)

        def call():
            result = run(data, carrier=carrier, reference="SAME")
            if not result.ok:
                raise ShippingError(str(result.errors[0]))
            return result.created
        return call

    outcomes = race(app, prepare)
    assert outcomes.unexpected == []
    assert outcomes.wins == 1
    assert all("imported already" in m for m in outcomes.messages())
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(CarrierBillLine)) == 2
