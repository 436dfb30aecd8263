"""The customs ledger: written at batch close, as issued, once."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from erp.core.models import AuditEvent
from erp.customs.models import CustomsDeclaration, CustomsDeclarationLine
from erp.extensions import db


def test_close_writes_one_declaration_per_parcel_with_its_lines(world):
    parcel = world.parcel()
    batch = world.batch(parcel)
    world.close(batch)
    decl = db.session.scalars(select(CustomsDeclaration)).one()
    assert decl.parcel_id == parcel.id
    assert decl.batch_id == batch.id
    assert decl.cop_no == parcel.number
    assert decl.trade_mode == "9610"
    assert decl.currency == "142"
    assert decl.country == "304"
    assert decl.logistics_code == "4403980L02"
    assert decl.logistics_no == parcel.tracking_number
    assert decl.goods_value == Decimal("159.00")
    assert decl.order_freight == Decimal("41.00")
    assert decl.payment_amount == Decimal("200.00")
    assert decl.gross_weight == Decimal("0.45")
    assert decl.net_weight == Decimal("0.26")
    assert decl.pay_code == "4403960P04"
    assert decl.pay_name == "深圳市样例跨境支付有限公司"
    assert decl.accounting_date == "20260601102501"   # Beijing time
    assert len(decl.period) == 7
    assert decl.ie_date.startswith(decl.period.replace("-", ""))
    case, tee = decl.lines
    assert [case.gnum, tee.gnum] == [1, 2]
    assert (case.gcode, case.unit, case.qty, case.unit1, case.qty1, case.qty2) == (
        "3926909090", "007", Decimal(2), "035", Decimal("0.08"), None)
    assert case.bar_code == "无"
    assert case.total_price == Decimal("70.00")
    assert (tee.unit1, tee.qty1, tee.unit2, tee.qty2) == ("011", Decimal(1), "035",
                                                          Decimal("0.18"))
    assert tee.bar_code == "6900001234562"
    assert tee.gmodel == "针织|男式|棉100%|无品牌|M码"
    assert sum(line.total_price for line in decl.lines) == decl.goods_value
    event = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "customs.issued")).one()
    assert event.changes["declarations"] == 1
    assert event.changes["lines"] == 2


def test_catalog_change_after_dispatch_leaves_the_declared_line(world):
    batch = world.batch(world.parcel())
    world.close(batch)
    db.session.commit()
    world.tee.cn_hs_code, world.tee.cn_name = "6109909090", "其他T恤"
    world.tee.cn_unit2 = None
    db.session.commit()
    db.session.expire_all()
    line = db.session.scalars(select(CustomsDeclarationLine)
                              .where(CustomsDeclarationLine.gnum == 2)).one()
    assert (line.gcode, line.gname, line.unit2) == ("6109100021", "T恤衫", "035")


def test_non_9610_parcels_are_ignored(world):
    plain = world.parcel(trade_mode=None)
    batch = world.batch(plain, world.parcel())
    world.close(batch)
    assert db.session.scalar(select(func.count()).select_from(CustomsDeclaration)) == 1


def test_batch_without_9610_parcels_writes_nothing(world):
    batch = world.batch(world.parcel(trade_mode=None, payment_amount=None))
    world.close(batch)
    assert db.session.scalar(select(func.count()).select_from(CustomsDeclaration)) == 0
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "customs.issued")) == 0


def test_multi_parcel_order_freight_and_payment_once(world):
    order = world.order()
    case_line, tee_line = order.lines
    first = world.parcel(order, lines=[(case_line, 2)], sequence=1)
    second = world.parcel(order, lines=[(tee_line, 1)], sequence=2)
    world.close(world.batch(first, second))
    a, b = db.session.scalars(select(CustomsDeclaration).order_by(CustomsDeclaration.cop_no))
    assert (a.goods_value, b.goods_value) == (Decimal("70.00"), Decimal("89.00"))
    assert (a.order_freight, b.order_freight) == (Decimal("41.00"), Decimal(0))
    assert a.payment_amount + b.payment_amount == Decimal("200.00")
    assert [line.gnum for line in b.lines] == [1]


@pytest.mark.postgres
def test_postgresql_refuses_to_change_the_ledger(world):
    world.close(world.batch(world.parcel()))
    db.session.commit()
    for statement in ("UPDATE customs_declaration_line SET gcode = '0000000000'",
                      "DELETE FROM customs_declaration_line",
                      "UPDATE customs_declaration SET goods_value = 1"):
        with pytest.raises(DBAPIError, match="never changed"):
            db.session.execute(text(statement))
        db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(CustomsDeclarationLine)) == 2
