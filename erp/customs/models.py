"""The customs ledger: each dispatched 9610 parcel's declaration list (CEB603), as issued.

Rows are written once, when the parcel's batch closes, and never changed: a later change to
the catalog or the order does not rewrite what was declared (like the stock ledger). Codes are
the customs' numeric ones (currency 142, country 304, unit 035); amounts are in the declared
currency and weights in kilograms.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from erp.catalog.models import Sku
from erp.core.models import utcnow
from erp.core.types import Money, ScaledDecimal, UtcDateTime
from erp.extensions import db
from erp.orders.models import CustomerOrder
from erp.shipping.models import DispatchBatch, Parcel


def Qty() -> ScaledDecimal:  # noqa: N802 - reads like a type in column declarations
    """Return the type of declared quantities and weights: N19,5."""
    return ScaledDecimal(5)


class CustomsDeclaration(db.Model):
    """The head of one parcel's declaration list (InventoryHead) as issued at dispatch."""

    __tablename__ = "customs_declaration"
    __table_args__ = (
        Index("ix_customs_declaration_period", "period", "trade_mode"),
        CheckConstraint("pack_no > 0", name="pack_no_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    parcel_id: Mapped[int] = mapped_column(ForeignKey("parcel.id"), unique=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("dispatch_batch.id"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("customer_order.id"), index=True)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    #: the month of export (ieDate's, in the customs' time zone) as YYYY-MM
    period: Mapped[str] = mapped_column(String(7))
    ie_date: Mapped[str] = mapped_column(String(8))           # YYYYMMDD
    cop_no: Mapped[str] = mapped_column(String(30), unique=True)
    order_no: Mapped[str] = mapped_column(String(60))
    ebp_code: Mapped[str] = mapped_column(String(18))
    ebc_code: Mapped[str] = mapped_column(String(18))
    owner_code: Mapped[str] = mapped_column(String(18))
    agent_code: Mapped[str] = mapped_column(String(18))
    logistics_code: Mapped[str] = mapped_column(String(18))
    logistics_no: Mapped[str] = mapped_column(String(32))
    customs_code: Mapped[str] = mapped_column(String(4))
    port_code: Mapped[str] = mapped_column(String(4))
    trade_mode: Mapped[str] = mapped_column(String(4))
    traf_mode: Mapped[str] = mapped_column(String(1))
    country: Mapped[str] = mapped_column(String(3))           # 运抵国, customs code
    currency: Mapped[str] = mapped_column(String(3))          # customs code, e.g. 142
    goods_value: Mapped[Decimal] = mapped_column(Money())
    #: what the buyer paid for shipping (CEB303 freight); ``freight`` is the carrier's (603/505)
    order_freight: Mapped[Decimal] = mapped_column(Money())
    freight: Mapped[Decimal] = mapped_column(Money())
    insured_fee: Mapped[Decimal] = mapped_column(Money())
    payment_amount: Mapped[Decimal] = mapped_column(Money())
    #: the receipt of payment (CEB403) as issued
    pay_code: Mapped[str | None] = mapped_column(String(18))
    pay_name: Mapped[str] = mapped_column(String(100))
    pay_no: Mapped[str | None] = mapped_column(String(60))
    accounting_date: Mapped[str] = mapped_column(String(14))   # YYYYMMDDhhmmss
    #: the waybill (CEB505) as issued
    logistics_name: Mapped[str] = mapped_column(String(100))
    goods_info: Mapped[str] = mapped_column(String(200))
    gross_weight: Mapped[Decimal] = mapped_column(Qty())      # kg
    net_weight: Mapped[Decimal] = mapped_column(Qty())        # kg
    pack_no: Mapped[int] = mapped_column(Integer, default=1)

    parcel: Mapped[Parcel] = relationship()
    batch: Mapped[DispatchBatch] = relationship()
    order: Mapped[CustomerOrder] = relationship()
    lines: Mapped[list[CustomsDeclarationLine]] = relationship(
        back_populates="declaration", order_by="CustomsDeclarationLine.gnum")


class CustomsDeclarationLine(db.Model):
    """One goods line of a declaration list (InventoryList) as issued."""

    __tablename__ = "customs_declaration_line"
    __table_args__ = (
        UniqueConstraint("declaration_id", "gnum"),
        CheckConstraint("qty > 0", name="qty_positive"),
        Index("ix_customs_declaration_line_gcode", "gcode"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    declaration_id: Mapped[int] = mapped_column(ForeignKey("customs_declaration.id"),
                                                index=True)
    gnum: Mapped[int] = mapped_column(Integer)
    sku_id: Mapped[int] = mapped_column(ForeignKey("sku.id"))
    item_no: Mapped[str] = mapped_column(String(20))
    item_name: Mapped[str] = mapped_column(String(250))
    gcode: Mapped[str] = mapped_column(String(10))
    gname: Mapped[str] = mapped_column(String(250))
    gmodel: Mapped[str] = mapped_column(String(250))
    bar_code: Mapped[str] = mapped_column(String(50))
    country: Mapped[str] = mapped_column(String(3))           # 目的国, customs code
    currency: Mapped[str] = mapped_column(String(3))
    qty: Mapped[Decimal] = mapped_column(Qty())
    unit: Mapped[str] = mapped_column(String(3))
    qty1: Mapped[Decimal] = mapped_column(Qty())
    unit1: Mapped[str] = mapped_column(String(3))
    qty2: Mapped[Decimal | None] = mapped_column(Qty())
    unit2: Mapped[str | None] = mapped_column(String(3))
    price: Mapped[Decimal] = mapped_column(Money())
    total_price: Mapped[Decimal] = mapped_column(Money())

    declaration: Mapped[CustomsDeclaration] = relationship(back_populates="lines")
    sku: Mapped[Sku] = relationship()


# --- immutability ---------------------------------------------------------------------------
# On PostgreSQL a trigger refuses UPDATE and DELETE of ledger rows (the declarations are kept as
# issued). Installed by the migration 7c3e9a1d2b40 and, for schemas built with create_all()
# (tests), here. The tests' table cleanup runs with session_replication_role=replica, which
# skips triggers.

LEDGER_GUARD_FUNCTION = """
CREATE OR REPLACE FUNCTION erp_customs_ledger_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the customs ledger (%) is never changed: rows are kept as issued',
    TG_TABLE_NAME USING ERRCODE = 'integrity_constraint_violation';
END
$$
"""
#: the triggers calling :data:`LEDGER_GUARD_FUNCTION`, per table
LEDGER_GUARD_TRIGGERS = {
    table: [f"CREATE TRIGGER {table}_guard BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION erp_customs_ledger_guard()",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION erp_customs_ledger_guard()"]
    for table in ("customs_declaration", "customs_declaration_line")}


def _guard_on_create(model) -> None:
    from sqlalchemy import DDL, event

    table = model.__table__
    event.listen(table, "after_create", DDL(LEDGER_GUARD_FUNCTION.replace("%", "%%"))
                 .execute_if(dialect="postgresql"))
    for statement in LEDGER_GUARD_TRIGGERS[table.name]:
        event.listen(table, "after_create", DDL(statement).execute_if(dialect="postgresql"))


_guard_on_create(CustomsDeclaration)
_guard_on_create(CustomsDeclarationLine)
