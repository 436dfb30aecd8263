"""Category, product and SKU models."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import CheckConstraint, Enum, ForeignKey, Index, Integer, String, Text
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from erp.brands.models import Brand, SpecificationVersion
from erp.core.i18n import _l
from erp.core.models import utcnow
from erp.core.types import Money, ScaledDecimal, UtcDateTime
from erp.extensions import db


class BatteryKind(StrEnum):
    """How a good carries a lithium battery (IATA: UN3481 in or with equipment, UN3480 alone)."""

    none = "none"
    in_equipment = "in_equipment"      # contained in equipment (a phone, a watch)
    with_equipment = "with_equipment"  # packed with equipment (a spare for the device)
    alone = "alone"                    # a battery or power bank on its own


#: what a person reads for each battery kind
BATTERY_KIND_LABELS = {
    BatteryKind.none: _l("no battery"),
    BatteryKind.in_equipment: _l("battery contained in equipment"),
    BatteryKind.with_equipment: _l("battery packed with equipment"),
    BatteryKind.alone: _l("battery alone"),
}

#: the yes/no transport attributes of goods, which postal air services refuse or limit
TRANSPORT_FLAGS = ("liquid", "powder", "magnet", "flammable", "sharp")
#: every transport attribute: the battery kind, then the flags
TRANSPORT_FIELDS = ("battery", *TRANSPORT_FLAGS)
#: what a person reads for each flag
TRANSPORT_FLAG_LABELS = {
    "liquid": _l("liquid"), "powder": _l("powder"), "magnet": _l("magnet"),
    "flammable": _l("flammable (perfume)"), "sharp": _l("sharp"),
}


def _battery_enum() -> Enum:
    return Enum(BatteryKind, native_enum=False, length=20, validate_strings=True)


class Category(db.Model):
    """A node of the category tree.

    ``path`` holds the ids from the root down, e.g. ``/3/17/42/``, so a subtree is one
    ``LIKE '/3/17/%'`` and moving it rewrites that prefix; ``full_name`` caches the names
    (``Apparel / Tops / T-shirts``). Customs defaults apply to everything below unless a nearer
    category or the SKU itself overrides them.
    """

    __tablename__ = "category"
    __table_args__ = (
        CheckConstraint("parent_id IS NULL OR parent_id <> id", name="not_own_parent"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("category.id"), index=True)
    path: Mapped[str] = mapped_column(String(400), index=True, default="/")
    full_name: Mapped[str] = mapped_column(String(1000), default="")
    depth: Mapped[int] = mapped_column(Integer, default=0)
    hs_code: Mapped[str | None] = mapped_column(String(10))
    customs_description: Mapped[str | None] = mapped_column(String(200))
    origin_country: Mapped[str | None] = mapped_column(String(2))
    #: China export (9610) customs data: the 10-digit Chinese HS code, the customs name
    #: (申报品名), the declaration elements (申报要素) as ordered parts joined by "|", the sale
    #: unit and the tariff's legal units (3-digit customs unit codes) with the factor from one
    #: sale unit (None with unit 035: the net weight in kilograms). None inherits, as above.
    cn_hs_code: Mapped[str | None] = mapped_column(String(10))
    cn_name: Mapped[str | None] = mapped_column(String(250))
    cn_elements: Mapped[str | None] = mapped_column(String(250))
    cn_sale_unit: Mapped[str | None] = mapped_column(String(3))
    cn_unit1: Mapped[str | None] = mapped_column(String(3))
    cn_factor1: Mapped[Decimal | None] = mapped_column(ScaledDecimal(6))
    cn_unit2: Mapped[str | None] = mapped_column(String(3))
    cn_factor2: Mapped[Decimal | None] = mapped_column(ScaledDecimal(6))
    #: transport attributes: None inherits the nearest category's value (none / no at the root)
    battery: Mapped[BatteryKind | None] = mapped_column(_battery_enum())
    liquid: Mapped[bool | None] = mapped_column()
    powder: Mapped[bool | None] = mapped_column()
    magnet: Mapped[bool | None] = mapped_column()
    flammable: Mapped[bool | None] = mapped_column()
    sharp: Mapped[bool | None] = mapped_column()
    active: Mapped[bool] = mapped_column(default=True)

    parent: Mapped[Category | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Category]] = relationship(back_populates="parent",
                                                    order_by="Category.name")

    def __repr__(self) -> str:
        return f"<Category {self.code}>"


class Product(db.Model):
    """A style: what the customer sees as one product, sold in one or more SKUs."""

    __tablename__ = "product"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id"), index=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("category.id"), index=True)
    description: Mapped[str | None] = mapped_column(Text)
    spec_version_id: Mapped[int | None] = mapped_column(ForeignKey("specification_version.id"))
    #: made to order by a contract maker after payment (erp.production holds the maker,
    #: production time, standard sizes and measurement template)
    made_to_order: Mapped[bool] = mapped_column(default=False, server_default=sa_false())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    #: any change of the product's own row; the storefront's catalog feed
    #: (``GET /api/v1/products?updated_since=``) also counts its SKUs' ``updated_at``
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=utcnow,
                                                        onupdate=utcnow, index=True)

    brand: Mapped[Brand] = relationship(lazy="joined")
    category: Mapped[Category] = relationship(lazy="joined")
    spec_version: Mapped[SpecificationVersion | None] = relationship()
    skus: Mapped[list[Sku]] = relationship(back_populates="product", order_by="Sku.code")


class SkuStatus(StrEnum):
    """Whether a SKU is sold and bought."""

    active = "active"
    discontinued = "discontinued"


#: what a person reads for each status
SKU_STATUS_LABELS = {SkuStatus.active: _l("active"), SkuStatus.discontinued: _l("discontinued")}


class Sku(db.Model):
    """A variant that is stocked, sold and declared to customs.

    Customs fields left empty fall back to the nearest category default; weights are grams and
    dimensions millimetres (DESIGN, "Money, units, codes").
    """

    __tablename__ = "sku"
    __table_args__ = (
        CheckConstraint("weight_g >= 0", name="weight_not_negative"),
        CheckConstraint("length_mm >= 0 AND width_mm >= 0 AND height_mm >= 0",
                        name="dimensions_not_negative"),
        CheckConstraint("reorder_point >= 0 AND reorder_qty >= 0", name="reorder_not_negative"),
        Index("ix_sku_product_status", "product_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"))
    barcode: Mapped[str | None] = mapped_column(String(32), unique=True)
    barcode_kind: Mapped[str | None] = mapped_column(String(10))
    colour: Mapped[str | None] = mapped_column(String(60))
    size: Mapped[str | None] = mapped_column(String(30))
    weight_g: Mapped[int] = mapped_column(Integer, default=0)
    length_mm: Mapped[int] = mapped_column(Integer, default=0)
    width_mm: Mapped[int] = mapped_column(Integer, default=0)
    height_mm: Mapped[int] = mapped_column(Integer, default=0)
    hs_code: Mapped[str | None] = mapped_column(String(10))
    customs_description: Mapped[str | None] = mapped_column(String(200))
    origin_country: Mapped[str | None] = mapped_column(String(2))
    #: China export (9610) customs data: the 10-digit Chinese HS code, the customs name
    #: (申报品名), the declaration elements (申报要素) as ordered parts joined by "|", the sale
    #: unit and the tariff's legal units (3-digit customs unit codes) with the factor from one
    #: sale unit (None with unit 035: the net weight in kilograms). None inherits the category's.
    cn_hs_code: Mapped[str | None] = mapped_column(String(10))
    cn_name: Mapped[str | None] = mapped_column(String(250))
    cn_elements: Mapped[str | None] = mapped_column(String(250))
    cn_sale_unit: Mapped[str | None] = mapped_column(String(3))
    cn_unit1: Mapped[str | None] = mapped_column(String(3))
    cn_factor1: Mapped[Decimal | None] = mapped_column(ScaledDecimal(6))
    cn_unit2: Mapped[str | None] = mapped_column(String(3))
    cn_factor2: Mapped[Decimal | None] = mapped_column(ScaledDecimal(6))
    #: transport attributes: None inherits the category's (see erp.catalog.transport)
    battery: Mapped[BatteryKind | None] = mapped_column(_battery_enum())
    #: lithium cells in one unit (a shipping service may limit the cells of a parcel); None: 1
    battery_cells: Mapped[int | None] = mapped_column(Integer)
    liquid: Mapped[bool | None] = mapped_column()
    powder: Mapped[bool | None] = mapped_column()
    magnet: Mapped[bool | None] = mapped_column()
    flammable: Mapped[bool | None] = mapped_column()
    sharp: Mapped[bool | None] = mapped_column()
    declared_value: Mapped[Decimal | None] = mapped_column(Money())
    declared_currency: Mapped[str | None] = mapped_column(String(3))
    list_price: Mapped[Decimal | None] = mapped_column(Money())
    list_currency: Mapped[str | None] = mapped_column(String(3))
    avg_cost: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    reorder_point: Mapped[int] = mapped_column(Integer, default=0)
    reorder_qty: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[SkuStatus] = mapped_column(
        Enum(SkuStatus, native_enum=False, length=20, validate_strings=True),
        default=SkuStatus.active, index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)

    product: Mapped[Product] = relationship(back_populates="skus")

    def __repr__(self) -> str:
        return f"<Sku {self.code}>"


class ProductCustomsReview(db.Model):
    """A person's confirmation of a product's customs data (classification review).

    Inherited customs values are proposals until confirmed. ``snapshot`` is the canonical JSON
    of every SKU's effective customs values (destination HS, description, origin, Chinese HS and
    name) when confirmed; a product whose values differ from it now is "changed since
    confirmation" and back on the review list.
    """

    __tablename__ = "product_customs_review"

    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"), primary_key=True)
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    confirmed_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    snapshot: Mapped[str] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(String(500))
