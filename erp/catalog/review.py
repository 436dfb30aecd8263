"""The classification review list: products whose customs data is unconfirmed or changed.

The list and its Excel export read :func:`erp.catalog.cn_customs.review_states` (batched), so
each value is shown with the category it is inherited from, and a changed product with what
changed since it was confirmed. Registered with :mod:`erp.core.exports`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from math import ceil
from typing import Any

from sqlalchemy import func, or_, select

from erp.catalog import cn_customs
from erp.catalog.models import Category, Product
from erp.core import exports
from erp.core.excel import Column, Spec, export_workbook
from erp.core.i18n import _l
from erp.extensions import db

REVIEW_STATES = ("unconfirmed", "changed")
STATE_LABELS = {"unconfirmed": _l("unconfirmed"), "changed": _l("changed since confirmation")}


@dataclass
class ReviewFilters:
    """The review list's filters: a search text (product code or name) and a state."""

    q: str | None = None
    state: str | None = None


@dataclass
class ReviewItem:
    """One product on the review list."""

    product_id: int
    code: str
    name: str
    category: str
    state: str
    #: {sku_code: {field: ReviewValue}}
    skus: dict[str, dict[str, cn_customs.ReviewValue]]
    #: for "changed": {sku_code: {field: [confirmed, now]}}
    changed: dict[str, dict[str, list]] = field(default_factory=dict)
    confirmed_at: Any = None


def review_items(filters: ReviewFilters) -> list[ReviewItem]:
    """Return the products to review matching ``filters``, by product code."""
    stmt = (select(Product.id, Product.code, Product.name, Category.full_name)
            .join(Category, Product.category_id == Category.id).order_by(Product.code))
    if filters.q:
        lower = filters.q.strip().lower()
        stmt = stmt.where(or_(func.lower(Product.code).contains(lower, autoescape=True),
                              func.lower(Product.name).contains(lower, autoescape=True)))
    products = {row.id: row for row in db.session.execute(stmt)}
    states = cn_customs.review_states(list(products))
    items = []
    for product_id, row in products.items():
        if product_id not in states:
            continue
        state, skus, review = states[product_id]
        if filters.state in REVIEW_STATES and state != filters.state:
            continue
        items.append(ReviewItem(
            product_id, row.code, row.name, row.full_name, state, skus,
            cn_customs.changed_fields(review.snapshot, skus) if review else {},
            review.confirmed_at if review else None))
    return items


@dataclass
class ListPage:
    """A page of a list built in Python, shaped like the database pagination for the macro."""

    items: list
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:  # noqa: D102 - as flask_sqlalchemy's Pagination
        return max(1, ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:  # noqa: D102
        return self.page > 1

    @property
    def has_next(self) -> bool:  # noqa: D102
        return self.page < self.pages

    @property
    def prev_num(self) -> int:  # noqa: D102
        return self.page - 1

    @property
    def next_num(self) -> int:  # noqa: D102
        return self.page + 1


def review_page(filters: ReviewFilters, *, page: int, per_page: int) -> ListPage:
    """Return one page of :func:`review_items`."""
    items = review_items(filters)
    page = min(max(1, page), max(1, ceil(len(items) / per_page)))
    return ListPage(items[(page - 1) * per_page:page * per_page], page, per_page, len(items))


def _value_columns() -> Iterator[Column]:
    for key in cn_customs.REVIEW_FIELDS:
        label = cn_customs.REVIEW_LABELS[key]
        yield Column(key, label, width=20)
        yield Column(f"{key}_source", _l("%(field)s: source", field=label), width=24)


REVIEW_SPEC = Spec("customs_review", _l("Customs review"), (
    Column("product_code", _l("Product"), width=18),
    Column("product_name", _l("Name"), width=28),
    Column("category", _l("Category"), width=28),
    Column("state", _l("State"), width=16),
    Column("sku_code", _l("SKU"), width=20),
    *_value_columns(),
    Column("changed", _l("Changed since confirmation"), width=40),
))


def describe_changes(changes: dict[str, list]) -> str:
    """Return "field: before → now; ..." of one SKU's changes."""
    return "; ".join(f"{cn_customs.REVIEW_LABELS[key]}: {old or '—'} → {new or '—'}"
                     for key, (old, new) in changes.items())


def _rows(filters: ReviewFilters) -> Iterator[dict]:
    for item in review_items(filters):
        for sku_code, values in item.skus.items():
            row = {"product_code": item.code, "product_name": item.name,
                   "category": item.category, "state": str(STATE_LABELS[item.state]),
                   "sku_code": sku_code,
                   "changed": describe_changes(item.changed.get(sku_code, {})) or None}
            for key, value in values.items():
                row[key] = value.value
                row[f"{key}_source"] = value.source_label
            yield row


def export_review(filters: ReviewFilters, *, progress=None) -> bytes:
    """Return the review list as a workbook: one row per SKU of each product to review."""
    return export_workbook(REVIEW_SPEC, exports.counted(_rows(filters), progress))


def count_review(filters: ReviewFilters) -> int:
    """Return how many rows the export will have."""
    return sum(len(item.skus) for item in review_items(filters))


LIST_EXPORT = exports.register(exports.ListExport(
    "customs_review", _l("Customs review"), "catalog.view", ReviewFilters,
    count=count_review,
    build=lambda f, *, user, progress: export_review(f, progress=progress),
    filename="customs-review"))
