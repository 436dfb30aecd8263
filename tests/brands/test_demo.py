"""The brands demo data: three private brands, trademarks, specifications; loads once."""

from __future__ import annotations

from sqlalchemy import func, select

from erp.brands.demo import load_demo
from erp.brands.models import Brand, BrandKind, Specification, SpecificationState, Trademark
from erp.extensions import db


def counts() -> tuple[int, int, int]:
    return tuple(db.session.scalar(select(func.count()).select_from(model))
                 for model in (Brand, Trademark, Specification))


def test_load_demo_creates_brands_and_is_idempotent(app, create_user):
    create_user("manager", roles=("manager",))
    load_demo()
    db.session.commit()
    brands = {b.code: b for b in db.session.scalars(select(Brand))}
    assert set(brands) == {"LUMA", "NORDPEAK", "KIBO"}
    assert all(b.kind == BrandKind.private and b.active for b in brands.values())
    assert {t.country for t in brands["LUMA"].trademarks} == {"CN", "US", "DE"}
    assert all(1 <= len(b.specifications) <= 2 for b in brands.values())
    duvet = brands["LUMA"].specifications[0]
    assert [v.state for v in duvet.versions] == [SpecificationState.approved,
                                                 SpecificationState.draft]
    assert duvet.current.approved_by.username == "manager"
    assert duvet.latest.tolerances != duvet.current.tolerances
    before = counts()
    load_demo()
    db.session.commit()
    assert counts() == before
