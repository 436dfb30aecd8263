"""Read-side queries of the catalog, shared by screens, Excel exports and reports."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, func, or_, select

from erp.brands.models import Brand
from erp.catalog.models import Category, Product, Sku, SkuStatus

SKU_SORTS = {
    "code": Sku.code,
    "name": Product.name,
    "brand": Brand.code,
    "category": Category.full_name,
    "weight": Sku.weight_g,
    "price": Sku.list_price,
    "status": Sku.status,
    "updated": Sku.updated_at,
}


@dataclass
class SkuFilters:
    """The SKU list's search, filters and sort."""

    q: str | None = None
    brand_id: int | None = None
    category_id: int | None = None
    status: str | None = None
    sort: str = "code"
    descending: bool = False


def _sku_conditions(f: SkuFilters) -> list:
    """Return the list's filters as conditions on ``sku`` alone (product ones as subqueries).

    So the count needs no join, and the database can start from the products of a brand or
    category and use the ``(product_id, status)`` index instead of scanning every SKU.
    """
    conditions = []
    product_filters = []
    if f.brand_id:
        product_filters.append(Product.brand_id == f.brand_id)
    if f.category_id:
        subtree = select(Category.path).where(Category.id == f.category_id).scalar_subquery()
        product_filters.append(Product.category_id.in_(
            select(Category.id).where(Category.path.like(subtree + "%"))))
    if product_filters:
        conditions.append(Sku.product_id.in_(select(Product.id).where(*product_filters)))
    if f.status:
        conditions.append(Sku.status == SkuStatus(f.status))
    if f.q:
        text = f.q.strip()
        lower = text.lower()  # part of a code or name, any case; wildcards taken literally
        conditions.append(or_(
            Sku.code == text.upper(), Sku.barcode == text,
            func.lower(Sku.code).contains(lower, autoescape=True),
            Sku.product_id.in_(select(Product.id).where(or_(
                func.lower(Product.name).contains(lower, autoescape=True),
                func.lower(Product.code).contains(lower, autoescape=True))))))
    return conditions


def sku_list_query(f: SkuFilters) -> Select:
    """Return SKU rows joined with product, brand and category, filtered and sorted.

    One query whatever the page size: every column the list shows comes from the join.
    """
    stmt = (select(Sku.id, Sku.code, Sku.barcode, Sku.colour, Sku.size, Sku.weight_g,
                   Sku.status, Sku.list_price, Sku.list_currency, Sku.avg_cost, Sku.hs_code,
                   Product.id.label("product_id"), Product.code.label("product_code"),
                   Product.name.label("product_name"), Brand.code.label("brand_code"),
                   Category.id.label("category_id"), Category.full_name.label("category_name"))
            .join(Product, Sku.product_id == Product.id)
            .join(Brand, Product.brand_id == Brand.id)
            .join(Category, Product.category_id == Category.id)
            .where(*_sku_conditions(f)))
    order = SKU_SORTS.get(f.sort, Sku.code)
    stmt = stmt.order_by(order.desc() if f.descending else order.asc(), Sku.id)
    return stmt


def sku_count_query(f: SkuFilters) -> Select:
    """Return the number of SKUs :func:`sku_list_query` lists, counted without its joins."""
    return select(func.count()).select_from(Sku).where(*_sku_conditions(f))


def category_tree_query() -> Select:
    """Return every category in tree order (parents before their children, by full name)."""
    return select(Category).order_by(Category.full_name)


def category_choices() -> Select:
    """Return ``(id, code, full_name)`` of every category for select boxes."""
    return select(Category.id, Category.code, Category.full_name).order_by(Category.full_name)


def product_list_query(q: str | None = None, brand_id: int | None = None,
                       category_id: int | None = None) -> Select:
    """Return products with search and filters, by code."""
    stmt = select(Product).order_by(Product.code)
    if q:
        lower = q.strip().lower()
        stmt = stmt.where(or_(func.lower(Product.code).contains(lower, autoescape=True),
                              func.lower(Product.name).contains(lower, autoescape=True)))
    if brand_id:
        stmt = stmt.where(Product.brand_id == brand_id)
    if category_id:
        subtree = select(Category.path).where(Category.id == category_id).scalar_subquery()
        stmt = stmt.where(Product.category_id.in_(
            select(Category.id).where(Category.path.like(subtree + "%"))))
    return stmt


def sku_counts_by_status() -> Select:
    """Return ``(status, count)`` rows."""
    return select(Sku.status, func.count()).group_by(Sku.status)
