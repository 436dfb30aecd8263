"""Demo data of the 9610 export: the company's sample codes, one closed 9610 batch, one gap.

After the outbound demo: two labelled parcels waiting in an open batch are made 9610 (their
orders paid, their SKUs given Chinese customs data where the catalog has none) and handed over
in a batch of their own, so its page shows the declarations and the downloads; one more waiting
order is made 9610 without its payment, so the open batch's page lists the gaps.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from erp.catalog import cn_customs
from erp.catalog.models import Sku
from erp.core.errors import DomainError
from erp.core.models import Setting
from erp.core.services import get_user_by_username
from erp.extensions import db
from erp.shipping.models import BatchState, DispatchBatch, Parcel, ParcelLine, ParcelState
from erp.shipping.services import dispatch

#: the reference's sample codes (shared/reference/china-9610.md §8)
SAMPLE_SETTINGS = {
    "customs_ebp_code": "4403960S01", "customs_ebp_name": "深圳市样例跨境电商有限公司",
    "customs_ebc_code": "4403960S01", "customs_ebc_name": "深圳市样例跨境电商有限公司",
    "customs_owner_code": "4403960S01", "customs_owner_name": "深圳市样例跨境电商有限公司",
    "customs_agent_code": "4403980B03", "customs_agent_name": "深圳市样例报关有限公司",
    "customs_cop_code": "4403980B03", "customs_cop_name": "深圳市样例报关有限公司",
    "customs_dxp_id": "DXPENT0000054321", "customs_customs_code": "5317",
    "customs_port_code": "5317",
    "customs_pay_codes": "PayPal 4403960P04 深圳市样例跨境支付有限公司",
}
CARRIER_CODES = ("4403980L02", "4403980L03", "4403980L04", "4403980L05")


def _settings(carriers) -> None:
    stored = set(db.session.scalars(select(Setting.key)))
    lines = [f"{code} {CARRIER_CODES[i % len(CARRIER_CODES)]} 深圳市样例国际物流有限公司"
             for i, code in enumerate(sorted(carriers))]
    for key, value in {**SAMPLE_SETTINGS, "customs_logistics_codes": "\n".join(lines)}.items():
        if key not in stored:
            db.session.add(Setting(key=key, value=value))
    db.session.flush()


def load_settings() -> None:
    """Store the sample company codes and a customs code for every carrier (once).

    Called before the demo's orders ship: the outbound demo closes batches holding 9610
    parcels, which the gate refuses while these are empty.
    """
    from erp.shipping.models import Carrier
    _settings(set(db.session.scalars(select(Carrier.code))))


def _fill_cn_customs(sku_ids) -> None:
    """Give SKUs without effective Chinese customs data illustrative SKU-level values."""
    effective = cn_customs.effective_cn_customs(sku_ids)
    for sku in db.session.scalars(select(Sku).where(Sku.id.in_(sku_ids))):
        data = effective.get(sku.id)
        if data and data.hs_code and data.name and data.elements and data.unit1:
            continue
        hs6 = (sku.hs_code or "610910")[:6].ljust(6, "0")
        sku.cn_hs_code, sku.cn_name = f"{hs6}0000", "样品商品"
        sku.cn_elements = f"无品牌|{sku.code}"
        sku.cn_sale_unit, sku.cn_unit1 = "011", "035"
    db.session.flush()


def _make_9610(order, *, paid: bool) -> None:
    order.trade_mode = "9610"
    if not paid:  # the storefront's payment never reached erp: the gate names the gaps
        order.payment_provider = order.payment_transaction = order.payment_amount = None
        order.payment_currency = order.paid_at = None
    else:
        order.payment_provider = "PayPal"
        order.payment_transaction = f"PAY-{order.number}"
        order.payment_amount = order.goods_total + order.shipping_charge
        order.payment_currency = order.currency
        order.paid_at = order.placed_at + timedelta(minutes=3)


def load_demo() -> None:
    """Show a closed 9610 batch with its export, and an open batch with gaps (once)."""
    if db.session.scalar(select(func.count()).select_from(DispatchBatch).where(
            DispatchBatch.note == "9610 export collection")):
        return
    waiting = db.session.scalars(
        select(Parcel).join(DispatchBatch, DispatchBatch.id == Parcel.batch_id)
        .where(DispatchBatch.state == BatchState.open, Parcel.state == ParcelState.labelled)
        .order_by(Parcel.id)).all()
    singles = [p for p in waiting
               if cn_customs.customs_country(p.order.country)
               and cn_customs.customs_currency(p.order.currency)
               and db.session.scalar(select(func.count()).select_from(Parcel).where(
                   Parcel.order_id == p.order_id, Parcel.state != ParcelState.voided)) == 1]
    if len(singles) < 3:
        return
    _settings({p.service.carrier.code for p in singles})
    chosen, gap = singles[:2], singles[2]
    _fill_cn_customs({line.sku_id for p in chosen for line in db.session.scalars(
        select(ParcelLine).where(ParcelLine.parcel_id == p.id))})
    for parcel in chosen:
        _make_9610(parcel.order, paid=True)
    _make_9610(gap.order, paid=False)
    actor = get_user_by_username("warehouse")
    by_carrier: dict[int, list[Parcel]] = {}
    for parcel in chosen:
        by_carrier.setdefault(parcel.service.carrier_id, []).append(parcel)
    for parcels in by_carrier.values():
        try:
            with db.session.begin_nested():
                for parcel in parcels:
                    dispatch.remove_from_batch(parcel.batch, parcel, actor=actor)
                batch = dispatch.open_batch(parcels[0].service.carrier, actor=actor,
                                            note="9610 export collection")
                dispatch.add_parcels(batch, parcels, actor=actor)
                dispatch.close_batch(batch, actor=actor)
        except DomainError:
            continue  # the demo catalog lacks something the gate needs: left open
    db.session.flush()
