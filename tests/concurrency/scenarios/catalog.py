"""Catalog operations posted 8 times at once: confirming a product's customs data."""

from __future__ import annotations

from sqlalchemy import func, select

from erp.catalog.models import ProductCustomsReview
from erp.extensions import db
from tests.concurrency.guarded import Scenario, audit_count, guarded


@guarded("catalog.confirm_customs")
def confirm_the_same_product(get) -> Scenario:
    """8 confirmations of one product's customs data: one review row, one audit event."""
    sku = get("create_sku")(hs_code="61091000", customs_description="Cotton T-shirt")
    db.session.commit()
    product = sku.product

    def check(answers):
        db.session.expire_all()
        assert db.session.scalar(select(func.count()).select_from(ProductCustomsReview).where(
            ProductCustomsReview.product_id == product.id)) == 1
        assert audit_count("product.customs_confirmed", of=product) == 1

    return Scenario("purchasing", "/catalog/customs-review/confirm",
                    {"product_ids": str(product.id)}, check)
