"""Read side of the made-to-order products: the list (screen and Excel export)."""

from __future__ import annotations

from sqlalchemy import Select, func, or_, select

from erp.catalog.models import Product
from erp.core import excel
from erp.core.i18n import _l
from erp.extensions import db
from erp.procurement.models import Supplier
from erp.production.models import MeasurementField, MtoProduct


def mto_product_list_query(q: str | None = None) -> Select:
    """Return rows of made-to-order set-ups: product, maker, time, sizes, template size.

    ``q`` searches the product's code and name and the maker's code and name.
    """
    fields = (select(func.count(MeasurementField.id))
              .where(MeasurementField.product_id == MtoProduct.product_id)
              .scalar_subquery())
    stmt = (select(MtoProduct.product_id, Product.code.label("product_code"),
                   Product.name.label("product_name"), Product.made_to_order,
                   Supplier.code.label("maker_code"), Supplier.name.label("maker_name"),
                   MtoProduct.production_days, MtoProduct.sizes, MtoProduct.made_to_measure,
                   fields.label("field_count"))
            .join(Product, Product.id == MtoProduct.product_id)
            .join(Supplier, Supplier.id == MtoProduct.maker_id)
            .order_by(Product.code))
    if q:
        like = f"%{q.replace('%', '').replace('_', '')}%"
        stmt = stmt.where(or_(Product.code.ilike(like), Product.name.ilike(like),
                              Supplier.code.ilike(like), Supplier.name.ilike(like)))
    return stmt


EXPORT_COLUMNS = (
    excel.Column("product_code", _l("Product code"), width=16),
    excel.Column("product_name", _l("Product"), width=30),
    excel.Column("made_to_order", _l("Made to order"), type="bool", width=10),
    excel.Column("maker_code", _l("Maker code"), width=14),
    excel.Column("maker_name", _l("Maker"), width=24),
    excel.Column("production_days", _l("Production time (business days)"), type="int",
                 width=14),
    excel.Column("sizes", _l("Standard sizes"), width=24),
    excel.Column("made_to_measure", _l("Made to measure"), type="bool", width=10),
    excel.Column("field_count", _l("Measurement fields"), type="int", width=12),
)


def export_mto_products(q: str | None = None) -> bytes:
    """Return the made-to-order set-ups matching ``q`` as an .xlsx workbook."""
    rows = [dict(r._mapping) for r in db.session.execute(mto_product_list_query(q))]
    return excel.export_workbook(EXPORT_COLUMNS, rows, title=_l("Made-to-order products"))
