"""Read-side query builders for brands and specifications (views, Excel exports, dashboard)."""

from __future__ import annotations

from sqlalchemy import Select, exists, func, or_, select
from sqlalchemy.orm import joinedload, selectinload

from erp.brands.models import (
    Brand,
    BrandKind,
    Specification,
    SpecificationState,
    SpecificationVersion,
)
from erp.brands.revision_flags import flagged_condition
from erp.extensions import db


def brand_list_query(q: str | None = None, kind: str | None = None,
                     active: bool | None = None) -> Select:
    """Return brands whose code or name contains ``q``, of a kind and active flag, by code."""
    stmt = select(Brand).order_by(Brand.code)
    if q and q.strip():
        text = q.strip()
        stmt = stmt.where(or_(Brand.code.contains(text.upper(), autoescape=True),
                              func.lower(Brand.name).contains(text.lower(), autoescape=True)))
    if kind:
        stmt = stmt.where(Brand.kind == BrandKind(kind))
    if active is not None:
        stmt = stmt.where(Brand.active.is_(active))
    return stmt


def specification_list_query(brand_id: int | None = None, state: str | None = None,
                             q: str | None = None, flagged: bool = False) -> Select:
    """Return specifications, newest number first, with their brand and versions loaded.

    :param state: keep specifications that have a version in this state (``draft``: awaiting
        approval; ``approved``: one is in force; ``retired``: one was withdrawn).
    :param q: text in the number or in the title of any version.
    :param flagged: keep specifications with a version flagged for revision (an open flag).
    """
    stmt = (select(Specification)
            .options(joinedload(Specification.brand), selectinload(Specification.versions))
            .order_by(Specification.number.desc()))
    if brand_id:
        stmt = stmt.where(Specification.brand_id == brand_id)
    if state:
        stmt = stmt.where(exists().where(
            SpecificationVersion.specification_id == Specification.id,
            SpecificationVersion.state == SpecificationState(state)))
    if flagged:
        stmt = stmt.where(flagged_condition(Specification.id))
    if q and q.strip():
        text = q.strip().lower()
        stmt = stmt.where(or_(
            func.lower(Specification.number).contains(text, autoescape=True),
            exists().where(SpecificationVersion.specification_id == Specification.id,
                           func.lower(SpecificationVersion.title).contains(text, autoescape=True))))
    return stmt


def draft_version_count() -> int:
    """Return how many specification versions are drafts awaiting approval."""
    return db.session.scalar(select(func.count()).select_from(SpecificationVersion).where(
        SpecificationVersion.state == SpecificationState.draft)) or 0
