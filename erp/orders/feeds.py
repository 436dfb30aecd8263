"""The storefront's pull feeds: orders changed since a time, and the catalog it publishes.

Read-only query builders for ``GET /api/v1/orders`` and ``GET /api/v1/products``
(:mod:`erp.orders.api_feeds`). Both page by a keyset ``(changed at, id)``, so a page costs the
same wherever it is, and its cursor is opaque to the client (:func:`encode_cursor`).

The catalog lives below orders (catalog ◄ warehouse ◄ orders), which is why its feed is
assembled here: orders may read both the catalog and the warehouse's availability.

A timestamp is drawn when a row is written, not when it commits, so a change made by a long
transaction can commit with a time earlier than a row the reader already passed. These feeds
are for catching up and for reconciliation; the gap-free record of what changed is the event
feed (``GET /api/v1/events``), paged by a number given after commit.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import and_, case, func, or_, select, type_coerce
from sqlalchemy.orm import selectinload

from erp.catalog.models import Category, Product, Sku, SkuStatus
from erp.core.types import UtcDateTime
from erp.extensions import db
from erp.orders.models import CustomerOrder, CustomerOrderLine
from erp.warehouse.queries import stock_availability_query


class BadParameter(ValueError):
    """A query parameter that cannot be read; ``name`` is the parameter."""

    def __init__(self, name: str, message: str):
        super().__init__(message)
        self.name = name
        self.message = message


@dataclass(frozen=True)
class Cursor:
    """A position in a keyset-paged feed: after ``(changed_at, id)``."""

    changed_at: datetime
    id: int


def encode_cursor(changed_at: datetime, ident: int) -> str:
    """Return the opaque text of a cursor (URL-safe)."""
    raw = f"{changed_at.astimezone(UTC).isoformat()}|{ident}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str, name: str) -> Cursor:
    """Read a cursor given back by the client.

    :raises BadParameter: if it is not one this API gave.
    """
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        stamp, _, ident = raw.partition("|")
        changed_at = datetime.fromisoformat(stamp)
        number = int(ident)
        if changed_at.tzinfo is None or not 0 <= number < 2**63:
            raise ValueError(raw)
        return Cursor(changed_at.astimezone(UTC), number)
    except (ValueError, OverflowError, UnicodeDecodeError, binascii.Error):
        raise BadParameter(name, f"{name} must be a cursor this API returned "
                                 "(next_cursor).") from None


def parse_time(text: str, name: str) -> datetime:
    """Read an ISO 8601 time; without an offset it is UTC.

    :raises BadParameter: if it is not ISO 8601.
    """
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise BadParameter(name, f"{name} must be an ISO 8601 time, e.g. "
                                 "2026-12-01T00:00:00Z.") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00, before the first year
        raise BadParameter(name, f"{name} is out of range.") from None


def _after(column, ident_column, cursor: Cursor | None):
    if cursor is None:
        return None
    return or_(column > cursor.changed_at,
               and_(column == cursor.changed_at, ident_column > cursor.id))


# --------------------------------------------------------------------------- orders

def changed_orders(*, since: datetime | None, after: Cursor | None, limit: int
                   ) -> list[CustomerOrder]:
    """Return up to ``limit`` orders changed at or after ``since``, after the cursor.

    In ``(updated_at, id)`` order, with their lines and SKUs loaded in two queries.
    """
    stmt = select(CustomerOrder)
    if since is not None:
        stmt = stmt.where(CustomerOrder.updated_at >= since)
    keyset = _after(CustomerOrder.updated_at, CustomerOrder.id, after)
    if keyset is not None:
        stmt = stmt.where(keyset)
    stmt = (stmt.order_by(CustomerOrder.updated_at, CustomerOrder.id).limit(limit)
            .options(selectinload(CustomerOrder.lines).selectinload(CustomerOrderLine.sku)))
    return list(db.session.scalars(stmt))


# --------------------------------------------------------------------------- products

def _sku_changes():
    return (select(Sku.product_id, func.max(Sku.updated_at).label("sku_changed"))
            .group_by(Sku.product_id).subquery("sku_changes"))


def product_changed_at(changes):
    """Return the expression of when a product last changed: its row or any of its SKUs."""
    return type_coerce(case((changes.c.sku_changed > Product.updated_at, changes.c.sku_changed),
                            else_=Product.updated_at), UtcDateTime())


def changed_products(*, since: datetime | None, after: Cursor | None, limit: int
                     ) -> list[tuple[Product, datetime]]:
    """Return up to ``limit`` ``(product, changed at)`` changed at or after ``since``.

    A product changes when its row does or when one of its SKUs does; in ``(changed at, id)``
    order, after the cursor.
    """
    changes = _sku_changes()
    changed_at = product_changed_at(changes)
    stmt = (select(Product, changed_at.label("changed_at"))
            .outerjoin(changes, changes.c.product_id == Product.id))
    if since is not None:
        stmt = stmt.where(changed_at >= since)
    keyset = _after(changed_at, Product.id, after)
    if keyset is not None:
        stmt = stmt.where(keyset)
    stmt = (stmt.order_by(changed_at, Product.id).limit(limit)
            .options(selectinload(Product.skus)))
    return [(row[0], row[1]) for row in db.session.execute(stmt)]


def _category_names(products: Sequence[Product]) -> dict[int, list[str]]:
    """Return each category's path of names from the root, for the products' categories."""
    wanted: set[int] = set()
    for product in products:
        wanted.update(int(part) for part in product.category.path.strip("/").split("/")
                      if part)
        wanted.add(product.category_id)
    names = dict(db.session.execute(select(Category.id, Category.name)
                                    .where(Category.id.in_(wanted))).all()) if wanted else {}
    paths: dict[int, list[str]] = {}
    for product in products:
        ids = [int(part) for part in product.category.path.strip("/").split("/") if part]
        if not ids or ids[-1] != product.category_id:
            ids.append(product.category_id)
        paths[product.category_id] = [names[i] for i in ids if i in names]
    return paths


def _availability(sku_ids: list[int]) -> dict[int, int]:
    if not sku_ids:
        return {}
    return {row.sku_id: max(int(row.available), 0)
            for row in db.session.execute(stock_availability_query(sku_ids))}


def product_active(product: Product) -> bool:
    """Return whether the storefront should show the product: a SKU of it is sold."""
    return (any(sku.status == SkuStatus.active for sku in product.skus)
            and product.brand.active and product.category.active)


def products_json(rows: Sequence[tuple[Product, datetime]]) -> list[dict]:
    """Return the catalog feed's items for ``(product, changed at)`` rows.

    Inactive products and SKUs are listed with ``"active": false`` (so the storefront can
    unpublish them), never left out: leaving them out would look like "nothing changed".
    """
    products = [product for product, _changed in rows]
    paths = _category_names(products)
    available = _availability([sku.id for product in products for sku in product.skus])
    items = []
    for product, changed_at in rows:
        active = product_active(product)
        items.append({
            "code": product.code, "name": product.name, "description": product.description,
            "active": active,
            "brand": {"code": product.brand.code, "name": product.brand.name},
            "category": {"code": product.category.code,
                         "path": paths.get(product.category_id, [])},
            "updated_at": changed_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "skus": [_sku_json(sku, active, available.get(sku.id, 0)) for sku in product.skus],
        })
    return items


def ean13(sku: Sku) -> str | None:
    """Return the SKU's GTIN as 13 digits (a UPC-A gets its leading zero), or None."""
    if sku.barcode_kind == "ean13":
        return sku.barcode
    if sku.barcode_kind == "upca":
        return f"0{sku.barcode}"
    return None


def _sku_json(sku: Sku, product_active: bool, available: int) -> dict:
    active = product_active and sku.status == SkuStatus.active
    return {
        "code": sku.code, "active": active, "status": sku.status.value,
        "ean": ean13(sku),
        "barcode": sku.barcode, "colour": sku.colour, "size": sku.size,
        "weight_g": int(sku.weight_g or 0),
        "price": str(sku.list_price) if sku.list_price is not None else None,
        "currency": sku.list_currency,
        "available": available if active else 0,
        "in_stock": active and available > 0,
    }
