"""Demo carrier bill: China Post's bill for the demo parcels dispatched, with a few disputes.

Run once (when no carrier bill exists), after the outbound demo dispatched parcels. Every
dispatched China Post parcel is billed at its chargeable weight and quote, except that the
first is billed 300 g heavier (and a band dearer), the second twice, one line names a tracking
number erp does not know, and the last parcel is left out (dispatched, not billed).
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select

from erp.core import excel
from erp.core.services import get_user_by_username
from erp.extensions import db
from erp.shipping.models import Carrier, CarrierBill, Parcel, ParcelState, ShippingService
from erp.shipping.services import bills


def load_demo() -> None:
    """Import the demo bill (once)."""
    if db.session.scalar(select(func.count()).select_from(CarrierBill)):
        return
    carrier = db.session.scalar(select(Carrier).where(Carrier.code == "CNPOST"))
    if carrier is None:
        return
    parcels = list(db.session.scalars(
        select(Parcel).join(ShippingService, ShippingService.id == Parcel.service_id)
        .where(ShippingService.carrier_id == carrier.id,
               Parcel.state == ParcelState.dispatched).order_by(Parcel.id)))
    if len(parcels) < 3:
        return
    currency = parcels[0].quoted_currency or "CNY"
    rows = []
    for i, parcel in enumerate(parcels[:-1]):
        grams = parcel.chargeable_g or parcel.weight_g
        amount = parcel.quoted_cost if parcel.quoted_currency == currency else None
        amount = amount if amount is not None else Decimal("60")
        if i == 0:
            grams, amount = grams + 300, amount + Decimal("25")
        rows.append({"tracking_number": parcel.tracking_number,
                     "weight_kg": Decimal(grams) / 1000, "amount": amount,
                     "currency": currency, "shipped_on": parcel.dispatched_at.date()})
    rows.append({**rows[1], "line_reference": "re-billed"})
    rows.append({"tracking_number": "RR000000000CN", "weight_kg": Decimal("0.250"),
                 "amount": Decimal("38"), "currency": currency})
    rows.append({"tracking_number": parcels[1].tracking_number, "amount": Decimal("3.50"),
                 "currency": currency, "charge": "remote area"})
    days = sorted(p.dispatched_at.date() for p in parcels)
    result = bills.import_bill(
        excel.export_workbook(bills.BILL_SPEC, rows), filename="china-post-bill.xlsx",
        carrier=carrier, reference=f"CP-{days[0]:%Y%m}-001", period_start=days[0],
        period_end=days[-1], dry_run=False, actor=get_user_by_username("manager"),
        savepoint=False)
    if not result.ok:  # a demo never stops the others; say why
        print("demo carrier bill not imported:", "; ".join(map(str, result.errors[:3])))
    db.session.flush()
