"""``erp check-customs``: one declaration per dispatched 9610 parcel and a summary that adds up."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import IntegrityError

from bench.customs_month_data import insert_ledger
from erp.customs.check import check_customs
from erp.customs.models import CustomsDeclaration, CustomsDeclarationLine
from erp.extensions import db
from erp.shipping.models import Parcel


def _clean(n=3):
    made = insert_ledger([{"lines": [{}, {"gcode": "4202220090", "qty2": None,
                                           "unit2": None}]}] * n, tag="K")
    # a parcel of an order that is not 9610 needs no declaration
    insert_ledger([{"order_trade_mode": None, "declare": False}], tag="G")
    db.session.commit()
    return made


def _ledger_write(statement):
    """Run a write on the ledger as a repair would have to (past any append-only trigger)."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("SET LOCAL session_replication_role = replica"))
    db.session.execute(statement)
    db.session.commit()


def test_a_clean_ledger_passes(app, runner):
    _clean()
    report = check_customs()
    assert report.ok, report.problems
    assert (report.declarations, report.lines, report.periods) == (3, 6, 1)
    result = runner.invoke(args=["check-customs"])
    assert result.exit_code == 0, result.output
    assert "Customs ledger ok: 3 declaration(s), 6 line(s), 1 month(s)" in result.output


def test_an_empty_ledger_passes(app, runner):
    result = runner.invoke(args=["check-customs"])
    assert result.exit_code == 0, result.output


def test_a_removed_line_is_found(app, runner):
    made = _clean()
    first = db.session.scalar(select(CustomsDeclaration).order_by(CustomsDeclaration.id))
    cop_no, parcel = first.cop_no, made["parcel_numbers"][0]
    _ledger_write(delete(CustomsDeclarationLine).where(
        CustomsDeclarationLine.declaration_id == first.id, CustomsDeclarationLine.gnum == 1))
    problems = check_customs().problems
    assert problems == [
        f"Declaration {cop_no} (parcel {parcel}): its 1 line(s) are numbered 2 to 2, not 1 to 1.",
        f"Declaration {cop_no} (parcel {parcel}): goods value 200.0000 is not the sum of its "
        "lines, 100.0000."]
    result = runner.invoke(args=["check-customs"])
    assert result.exit_code == 1
    assert cop_no in result.output
    assert "2 customs ledger problem(s)." in result.output


def test_a_declaration_without_lines_is_found(app):
    _clean(1)
    ident = db.session.scalar(select(CustomsDeclaration.id))
    _ledger_write(delete(CustomsDeclarationLine))
    problems = check_customs().problems
    cop_no = db.session.get(CustomsDeclaration, ident).cop_no
    assert problems == [f"Declaration {cop_no} (parcel PK0000000) has no lines."]


def test_a_dispatched_9610_parcel_without_declaration_is_found(app, runner):
    _clean(2)
    made = insert_ledger([{"declare": False}], tag="M")
    db.session.commit()
    parcel = made["parcel_numbers"][0]
    assert check_customs().problems == [
        f"Parcel {parcel} (order O{parcel[1:]}) was dispatched under 9610 but has no customs "
        "declaration."]
    result = runner.invoke(args=["check-customs"])
    assert result.exit_code == 1
    assert parcel in result.output


def test_a_declaration_of_a_parcel_not_dispatched_is_found(app):
    _clean(1)
    _ledger_write(update(Parcel).where(Parcel.number == "PK0000000").values(state="labelled"))
    assert check_customs().problems == [
        "Declaration CNK0000000 is for parcel PK0000000, which is labelled, not dispatched."]


def test_a_goods_value_that_is_not_its_lines_is_found(app):
    _clean(1)
    _ledger_write(update(CustomsDeclaration).values(goods_value=Decimal("199.99")))
    assert check_customs().problems == [
        "Declaration CNK0000000 (parcel PK0000000): goods value 199.9900 is not the sum of its "
        "lines, 200.0000."]


def test_a_second_declaration_for_a_parcel_is_impossible(app):
    _clean(1)
    first = db.session.scalar(select(CustomsDeclaration))
    values = {c.key: getattr(first, c.key) for c in CustomsDeclaration.__table__.columns
              if c.key != "id"}
    second = CustomsDeclaration.__table__.insert().values({**values, "cop_no": "CNK-SECOND"})
    with pytest.raises(IntegrityError):
        db.session.execute(second)
    db.session.rollback()
    line = db.session.scalar(select(CustomsDeclarationLine))
    same_gnum = CustomsDeclarationLine.__table__.insert().values(
        {c.key: getattr(line, c.key) for c in CustomsDeclarationLine.__table__.columns
         if c.key != "id"})
    with pytest.raises(IntegrityError):  # nor two lines with one number
        db.session.execute(same_gnum)
    db.session.rollback()
    assert check_customs().ok
