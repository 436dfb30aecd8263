"""A 9610 world for the batch export tests.

Company settings, SKUs with Chinese customs data, and labelled parcels of paid 9610 orders
whose goods wait at the packing bench.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from erp.core.models import Setting
from erp.extensions import db
from erp.orders.models import OrderState
from erp.shipping.models import CustomsForm, Parcel, ParcelLine, ParcelState
from erp.shipping.services import dispatch
from erp.warehouse import services as warehouse
from erp.warehouse.models import MoveKind

#: the reference's sample codes (china-9610.md §8)
COMPANY = {
    "customs_ebp_code": "4403960S01", "customs_ebp_name": "深圳市样例跨境电商有限公司",
    "customs_ebc_code": "4403960S01", "customs_ebc_name": "深圳市样例跨境电商有限公司",
    "customs_owner_code": "4403960S01", "customs_owner_name": "深圳市样例跨境电商有限公司",
    "customs_agent_code": "4403980B03", "customs_agent_name": "深圳市样例报关有限公司",
    "customs_cop_code": "4403980B03", "customs_cop_name": "深圳市样例报关有限公司",
    "customs_dxp_id": "DXPENT0000054321", "customs_customs_code": "5317",
    "customs_port_code": "5317",
    "customs_logistics_codes": "CNPOST 4403980L02 深圳市样例国际物流有限公司",
    "customs_pay_codes": "PayPal 4403960P04 深圳市样例跨境支付有限公司",
}


@pytest.fixture
def world(shipping_setup, packing_bin, create_sku, create_bin, receive_stock, create_order,
          dummy_admin):
    """The §8 example's goods: a phone case (unit 007, legal kg) and a T-shirt (011, 011+kg)."""
    for key, value in COMPANY.items():
        db.session.add(Setting(key=key, value=value))
    stock_bin = create_bin("A-01-01-01")
    case = create_sku("PC-IP15-BLK", weight_g=40)
    case.cn_hs_code, case.cn_name = "3926909090", "手机保护壳"
    case.cn_elements = "保护手机用|塑料制|无品牌|IP15-BLK"
    case.cn_sale_unit, case.cn_unit1 = "007", "035"
    tee = create_sku("TS-COT-M-WHT", weight_g=180, barcode="6900001234562")
    tee.cn_hs_code, tee.cn_name = "6109100021", "T恤衫"
    tee.cn_elements = "针织|男式|棉100%|无品牌|M码"
    tee.cn_sale_unit, tee.cn_unit1, tee.cn_unit2 = "011", "011", "035"
    for sku in (case, tee):
        receive_stock(sku, stock_bin, 500)
    serials = itertools.count(1)

    class World:
        setup = shipping_setup
        admin = dummy_admin

        def __init__(self):
            self.case, self.tee = case, tee

        def order(self, lines=None, **values):
            """A packed, paid 9610 order: 2 cases at 35.00 and a tee at 89.00 + 41.00."""
            lines = lines or [(case, 2, "35.00"), (tee, 1, "89.00")]
            goods = sum(Decimal(price) * qty for _sku, qty, price in lines)
            values.setdefault("trade_mode", "9610")
            values.setdefault("currency", "CNY")
            values.setdefault("shipping_charge", Decimal("41.00"))
            values.setdefault("payment_provider", "PayPal")
            values.setdefault("payment_transaction", f"PAY{next(serials):09d}")
            values.setdefault("payment_amount", goods + values["shipping_charge"])
            values.setdefault("payment_currency", values["currency"])
            values.setdefault("paid_at", datetime(2026, 6, 1, 2, 25, 1, tzinfo=UTC))
            values.setdefault("shipping_service", shipping_setup["post"].code)
            return create_order(lines, state=OrderState.packed, **values)

        def parcel(self, order=None, *, lines=None, sequence=1, service=None, **values):
            """A labelled parcel of ``order`` (a new §8 order unless given) with its lines."""
            order = order or self.order(**values)
            service = service or shipping_setup["post"]
            chosen = lines if lines is not None else [(line, line.quantity)
                                                      for line in order.lines]
            warehouse.post_moves([warehouse.MoveSpec(
                line.sku_id, stock_bin.id, packing_bin.id, qty, MoveKind.pick,
                ref_type="test", ref_id=1) for line, qty in chosen], actor=None)
            n = next(serials)
            parcel = Parcel(
                number=f"PCL-2026-{n:06d}", order_id=order.id, service_id=service.id,
                sequence=sequence, state=ParcelState.labelled,
                tracking_number=f"RR{n:09d}CN", weight_g=450, length_mm=250, width_mm=180,
                height_mm=50, declared_value=Decimal("159.00"), currency=order.currency,
                customs_form=CustomsForm.cn22)
            for line, qty in chosen:
                sku = case if line.sku_id == case.id else tee
                parcel.lines.append(ParcelLine(
                    order_line_id=line.id, sku_id=line.sku_id, quantity=qty,
                    description="goods", hs_code="392690", origin_country="CN",
                    net_weight_g=(40 if sku is case else 180) * qty,
                    unit_value=line.unit_price))
            db.session.add(parcel)
            db.session.flush()
            return parcel

        def batch(self, *parcels):
            batch = dispatch.open_batch(shipping_setup["post"].carrier, actor=dummy_admin)
            for parcel in parcels:
                parcel.batch_id = batch.id
            db.session.flush()
            return batch

        def close(self, batch):
            return dispatch.close_batch(batch, actor=dummy_admin)

    return World()
