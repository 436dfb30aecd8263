"""Catalog operations: the category tree, products and SKUs, and their customs data.

Every function validates, changes, audits and flushes; none commits.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import aliased
from sqlalchemy.orm.attributes import set_committed_value

from erp.brands.models import Brand, SpecificationVersion
from erp.catalog.cn_customs import CN_FIELDS, clean_cn_customs
from erp.catalog.models import TRANSPORT_FIELDS, Category, Product, Sku, SkuStatus
from erp.catalog.transport import clean_transport
from erp.core import audit
from erp.core.codes import barcode_kind, normalize_country, normalize_hs_code
from erp.core.errors import DomainError, ValidationError
from erp.core.i18n import _, _l, format_number
from erp.core.money import validate_currency
from erp.extensions import db


class CatalogError(DomainError):
    """A catalog rule was broken."""


CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9._\-/]{0,39}$")
CUSTOMS_FIELDS = ("hs_code", "customs_description", "origin_country")
#: the transport attributes a category sets for the SKUs below it (None: inherit)
CATEGORY_TRANSPORT_FIELDS = TRANSPORT_FIELDS
#: the transport attributes a SKU may override (None: inherit), with its battery's cells
SKU_TRANSPORT_FIELDS = ("battery", "battery_cells", *TRANSPORT_FIELDS[1:])
#: the refusal of a malformed code, by what the code names
_CODE_MESSAGES = {
    "SKU": _l("A SKU code must be 1-40 letters, digits, '.', '-', '_' or '/', got %(value)s."),
    "product": _l("A product code must be 1-40 letters, digits, '.', '-', '_' or '/', got "
                  "%(value)s."),
    "category": _l("A category code must be 1-40 letters, digits, '.', '-', '_' or '/', got "
                   "%(value)s."),
}


def clean_code(value: Any, *, what: str, field: str = "code") -> str:
    """Return an upper-case code of 1-40 letters, digits, dot, dash, slash or underscore.

    :param what: what the code names: ``"SKU"``, ``"product"`` or ``"category"``.
    :raises ValidationError: naming the field.
    """
    text = str(value or "").strip().upper()
    if not CODE_RE.match(text):
        raise ValidationError(_CODE_MESSAGES[what] % {"value": repr(value)}, field=field)
    return text


def _optional(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _clean_customs(values: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    if "hs_code" in values:
        raw = _optional(values["hs_code"])
        try:
            out["hs_code"] = normalize_hs_code(raw) if raw else None
        except ValueError as exc:
            raise ValidationError(_("HS code: %(error)s.", error=str(exc)),
                                  field="hs_code") from None
    if "customs_description" in values:
        desc = _optional(values["customs_description"])
        if desc and not desc.isascii():
            raise ValidationError(_("The customs description must be in English (plain ASCII "
                                    "letters), as carriers print it on CN22/CN23."),
                                  field="customs_description")
        if desc and len(desc) > 200:
            raise ValidationError(_("The customs description may have at most 200 characters."),
                                  field="customs_description")
        out["customs_description"] = desc
    if "origin_country" in values:
        raw = _optional(values["origin_country"])
        try:
            out["origin_country"] = normalize_country(raw) if raw else None
        except ValueError as exc:
            raise ValidationError(_("Origin country: %(error)s.", error=str(exc)),
                                  field="origin_country") from None
    return out


# --- categories -------------------------------------------------------------------------------

def _place(category: Category, parent: Category | None) -> None:
    category.parent = parent
    category.parent_id = parent.id if parent else None
    category.path = f"{parent.path if parent else '/'}{category.id}/"
    category.depth = parent.depth + 1 if parent else 0
    category.full_name = f"{parent.full_name} / {category.name}" if parent else category.name


def _refresh_subtree(category: Category, old_path: str, old_full_name: str) -> None:
    """Rewrite the path, depth and full name of every descendant after a move or rename."""
    descendants = db.session.scalars(
        select(Category).where(Category.path.like(f"{old_path}%"), Category.id != category.id))
    depth_shift = category.depth - (old_path.count("/") - 2)
    for child in descendants:
        child.path = category.path + child.path[len(old_path):]
        child.full_name = category.full_name + child.full_name[len(old_full_name):]
        child.depth += depth_shift


def _clean_category_defaults(values: Mapping[str, Any]) -> dict[str, Any]:
    """Return the customs and transport defaults among ``values``, validated."""
    unknown = (set(values) - set(CUSTOMS_FIELDS) - set(CATEGORY_TRANSPORT_FIELDS)
               - set(CN_FIELDS))
    if unknown:
        raise TypeError(f"unknown category fields: {sorted(unknown)}")
    return {**_clean_customs(values), **clean_transport(values, allow_cells=False),
            **clean_cn_customs(values)}


def create_category(*, code: str, name: str, parent: Category | None = None,
                    actor, **defaults) -> Category:
    """Create a category under ``parent`` (or at the root), with optional defaults.

    ``defaults`` are customs fields (:data:`CUSTOMS_FIELDS`), transport attributes
    (:data:`CATEGORY_TRANSPORT_FIELDS`, None: inherit from the parent) and Chinese customs
    columns (:data:`erp.catalog.cn_customs.CN_FIELDS`, None: inherit).

    :raises ValidationError: for a bad code, name, customs value or transport attribute.
    :raises CatalogError: if the code is taken.
    """
    code = clean_code(code, what="category")
    name = _optional(name)
    if not name:
        raise ValidationError(_("The category name is required."), field="name")
    if db.session.scalar(select(Category.id).where(Category.code == code)) is not None:
        raise CatalogError(_('To create category "%(code)s", you must choose another code: it '
                             "is taken.", code=code), field="code")
    category = Category(code=code, name=name, **_clean_category_defaults(defaults))
    db.session.add(category)
    db.session.flush()
    _place(category, parent)
    db.session.flush()
    audit.record(category, "category.created", actor=actor, changes={
        "code": [None, code], "name": [None, name],
        "parent": [None, parent.code if parent else None],
        **{k: [None, getattr(category, k)] for k in (*CUSTOMS_FIELDS, *CN_FIELDS)
           if getattr(category, k)},
        **{k: [None, getattr(category, k)] for k in CATEGORY_TRANSPORT_FIELDS
           if getattr(category, k) is not None}})
    return category


def update_category(category: Category, *, name: str, actor, **defaults) -> Category:
    """Rename a category and change its defaults (the subtree's full names follow).

    ``defaults`` as for :func:`create_category`; fields left out keep their values.

    :raises ValidationError: for an empty name, a bad customs value or transport attribute.
    """
    name = _optional(name)
    if not name:
        raise ValidationError(_("The category name is required."), field="name")
    values = {"name": name, **_clean_category_defaults(defaults)}
    changes = audit.diff(category, values)
    if not changes:
        return category
    old_path, old_full_name = category.path, category.full_name
    for key, value in values.items():
        setattr(category, key, value)
    if "name" in changes:
        _place(category, category.parent)
        _refresh_subtree(category, old_path, old_full_name)
    audit.record(category, "category.updated", actor=actor, changes=changes)
    db.session.flush()
    return category


def move_category(category: Category, new_parent: Category | None, *, actor) -> Category:
    """Move a category and its whole subtree under ``new_parent`` (None: to the root).

    :raises CatalogError: if the new parent is the category itself or one of its descendants.
    """
    if new_parent is not None and new_parent.path.startswith(category.path):
        raise CatalogError(_('To move category "%(code)s" under "%(parent)s", you must choose a '
                             "parent outside its own subtree.", code=category.code,
                             parent=new_parent.code), field="parent")
    if (new_parent.id if new_parent else None) == category.parent_id:
        return category
    old_parent = category.parent.code if category.parent else None
    old_path, old_full_name = category.path, category.full_name
    _place(category, new_parent)
    _refresh_subtree(category, old_path, old_full_name)
    audit.record(category, "category.moved", actor=actor, changes={
        "parent": [old_parent, new_parent.code if new_parent else None]})
    db.session.flush()
    return category


@dataclass(frozen=True)
class CustomsValue:
    """One effective customs value and where it comes from."""

    value: Any
    source: str          # "sku", "category" or "missing"
    source_label: str    # e.g. "SKU" or "Category APP-TOP (Apparel / Tops)"


def category_customs_defaults() -> dict[int, dict[str, CustomsValue]]:
    """Return, for every category, each customs field's nearest default up the tree."""
    rows = db.session.execute(select(Category.id, Category.parent_id, Category.depth,
                                     Category.code, Category.full_name, Category.hs_code,
                                     Category.customs_description, Category.origin_country)
                              .order_by(Category.depth)).all()
    result: dict[int, dict[str, CustomsValue]] = {}
    for row in rows:  # parents come before children (ordered by depth)
        inherited = dict(result.get(row.parent_id, {}))
        for field in CUSTOMS_FIELDS:
            value = getattr(row, field)
            if value:
                inherited[field] = CustomsValue(value, "category",
                                                _("Category %(code)s (%(name)s)", code=row.code,
                                                  name=row.full_name))
        result[row.id] = inherited
    return result


def inherited_customs(category_id, field: str) -> Any:
    """Return a scalar subquery of a category's nearest default of customs ``field``.

    The value :func:`category_customs_defaults` gives the category (its own, else its nearest
    ancestor's), for ``category_id`` a value or a column: a hot path reads it along with a query
    that runs anyway instead of every category.
    """
    if field not in CUSTOMS_FIELDS:
        raise ValueError(f"{field!r} is not a customs field")
    leaf, up = aliased(Category), aliased(Category)
    value = getattr(up, field)
    return (select(value).select_from(leaf)
            .join(up, leaf.path.like(up.path + "%"))  # the path holds the ids from the root
            .where(leaf.id == category_id, value.is_not(None), value != "")
            .order_by(up.depth.desc()).limit(1).scalar_subquery())


def effective_customs(sku: Sku, defaults: Mapping[int, Mapping[str, CustomsValue]] | None = None
                      ) -> dict[str, CustomsValue]:
    """Return the customs data of ``sku``: its own values, else its category's nearest default."""
    if defaults is None:
        defaults = category_customs_defaults()
    inherited = defaults.get(sku.product.category_id, {})
    out = {}
    for field in CUSTOMS_FIELDS:
        own = getattr(sku, field)
        if own:
            out[field] = CustomsValue(own, "sku", _("SKU"))
        else:
            out[field] = inherited.get(field, CustomsValue(None, "missing", _("Not set")))
    return out


# --- products ---------------------------------------------------------------------------------

def _clean_product(values: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    name = _optional(values.get("name"))
    if not name:
        raise ValidationError(_("The product name is required."), field="name")
    out["name"] = name[:200]
    brand = values.get("brand")
    if not isinstance(brand, Brand):
        raise ValidationError(_("Choose the product's brand."), field="brand")
    out["brand_id"] = brand.id
    category = values.get("category")
    if not isinstance(category, Category):
        raise ValidationError(_("Choose the product's category."), field="category")
    out["category_id"] = category.id
    out["description"] = _optional(values.get("description"))
    spec = values.get("spec_version")
    if spec is not None:
        if not isinstance(spec, SpecificationVersion) or spec.specification.brand_id != brand.id:
            raise ValidationError(_("The specification must belong to the product's brand."),
                                  field="spec_version")
        out["spec_version_id"] = spec.id
    else:
        out["spec_version_id"] = None
    return out


def create_product(*, code: str, actor, **values) -> Product:
    """Create a product (style) with its brand, category and optional specification version.

    :raises ValidationError: for a missing name, brand or category, or a foreign specification.
    :raises CatalogError: if the code is taken.
    """
    code = clean_code(code, what="product")
    cleaned = _clean_product(values)
    if db.session.scalar(select(Product.id).where(Product.code == code)) is not None:
        raise CatalogError(_('To create product "%(code)s", you must choose another code: it '
                             "is taken.", code=code), field="code")
    product = Product(code=code, **cleaned)
    db.session.add(product)
    db.session.flush()
    audit.record(product, "product.created", actor=actor,
                 changes={k: [None, v] for k, v in {"code": code, **cleaned}.items()})
    return product


def update_product(product: Product, *, actor, **values) -> Product:
    """Change a product's name, brand, category, description or specification version.

    :raises ValidationError: as for :func:`create_product`.
    """
    cleaned = _clean_product(values)
    changes = audit.diff(product, cleaned)
    for key, value in cleaned.items():
        setattr(product, key, value)
    if changes:
        audit.record(product, "product.updated", actor=actor, changes=changes)
    db.session.flush()
    db.session.expire(product, ["brand", "category", "spec_version"])
    return product


# --- SKUs -------------------------------------------------------------------------------------

SKU_FIELDS = ("barcode", "colour", "size", "weight_g", "length_mm", "width_mm", "height_mm",
              "hs_code", "customs_description", "origin_country", "declared_value",
              "declared_currency", "list_price", "list_currency", "reorder_point", "reorder_qty",
              "status", *SKU_TRANSPORT_FIELDS, *CN_FIELDS)


#: what each numeric SKU field is, for its messages
_SKU_LABELS = {
    "colour": _l("Colour"), "size": _l("Size"), "weight_g": _l("Weight (g)"),
    "length_mm": _l("Length (mm)"), "width_mm": _l("Width (mm)"), "height_mm": _l("Height (mm)"),
    "reorder_point": _l("Reorder point"), "reorder_qty": _l("Reorder quantity"),
    "declared_value": _l("Declared value"), "list_price": _l("List price"),
    "declared_currency": _l("Declared value currency"), "list_currency": _l("List price currency"),
}


def _whole(value: Any, field: str, maximum: int) -> int:
    if value is None or str(value).strip() == "":
        return 0
    label = _SKU_LABELS[field]
    try:
        dec = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValidationError(_("%(what)s must be a whole number, got %(value)s.", what=label,
                                value=repr(value)), field=field) from None
    if dec != dec.to_integral_value():
        raise ValidationError(_("%(what)s must be a whole number, got %(value)s.", what=label,
                                value=value), field=field)
    if not 0 <= dec <= maximum:
        raise ValidationError(_("%(what)s must be between 0 and %(most)s, got %(value)s.",
                                what=label, most=format_number(maximum), value=value),
                              field=field)
    return int(dec)


def _amount(value: Any, field: str) -> Decimal | None:
    if value is None or str(value).strip() == "":
        return None
    label = _SKU_LABELS[field]
    try:
        dec = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValidationError(_("%(what)s must be a number, got %(value)s.", what=label,
                                value=repr(value)), field=field) from None
    if not dec.is_finite() or dec < 0 or dec >= Decimal("1e11"):
        raise ValidationError(_("%(what)s must be zero or more, got %(value)s.", what=label,
                                value=value), field=field)
    return dec.quantize(Decimal("0.0001"))


def _currency(value: Any, field: str) -> str | None:
    raw = _optional(value)
    if raw is None:
        return None
    try:
        return validate_currency(raw)
    except ValueError as exc:
        raise ValidationError(_("%(what)s: %(error)s.", what=_SKU_LABELS[field],
                                error=str(exc)), field=field) from None


def clean_sku_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """Validate and normalise the SKU fields present in ``values`` (used by forms and imports).

    :raises ValidationError: naming the first bad field and why.
    """
    out: dict[str, Any] = {}
    if "barcode" in values:
        raw = _optional(values["barcode"])
        try:
            out["barcode_kind"] = barcode_kind(raw) if raw else None
        except ValueError as exc:
            raise ValidationError(_("Barcode: %(error)s.", error=str(exc)),
                                  field="barcode") from None
        out["barcode"] = raw
    for field in ("colour", "size"):
        if field in values:
            out[field] = _optional(values[field])
            if out[field] and len(out[field]) > (60 if field == "colour" else 30):
                raise ValidationError(_("%(what)s is too long.", what=_SKU_LABELS[field]),
                                      field=field)
    if "weight_g" in values:
        out["weight_g"] = _whole(values["weight_g"], "weight_g", 100_000)
    for field in ("length_mm", "width_mm", "height_mm"):
        if field in values:
            out[field] = _whole(values[field], field, 5_000)
    for field in ("reorder_point", "reorder_qty"):
        if field in values:
            out[field] = _whole(values[field], field, 10_000_000)
    out.update(_clean_customs(values))
    for amount, ccy in (("declared_value", "declared_currency"), ("list_price", "list_currency")):
        if amount in values:
            out[amount] = _amount(values[amount], amount)
        if ccy in values:
            out[ccy] = _currency(values[ccy], ccy)
        if out.get(amount) is not None and not out.get(ccy, values.get(ccy)):
            raise ValidationError(_("%(what)s needs a currency.", what=_SKU_LABELS[amount]),
                                  field=ccy)
    if "status" in values:
        try:
            out["status"] = SkuStatus(str(values["status"] or "active").strip().lower())
        except ValueError:
            raise ValidationError(_("Status must be active or discontinued."),
                                  field="status") from None
    out.update(clean_transport(values, allow_cells=True))
    out.update(clean_cn_customs(values))
    return out


def _check_unique_barcode(barcode: str | None, sku_id: int | None) -> None:
    if not barcode:
        return
    other = db.session.scalar(select(Sku.code).where(Sku.barcode == barcode,
                                                     Sku.id != (sku_id or 0)))
    if other:
        raise CatalogError(_('To use barcode %(barcode)s, you must first remove it from SKU '
                             '"%(sku)s": a barcode identifies one SKU.', barcode=barcode,
                             sku=other), field="barcode")


def create_sku(*, product: Product, code: str, actor, **values) -> Sku:
    """Create a SKU of ``product``.

    :raises ValidationError: for any bad field.
    :raises CatalogError: if the code or barcode is taken.
    """
    code = clean_code(code, what="SKU")
    cleaned = clean_sku_values(values)
    if db.session.scalar(select(Sku.id).where(Sku.code == code)) is not None:
        raise CatalogError(_('To create SKU "%(code)s", you must choose another code: it is '
                             "taken.", code=code), field="code")
    _check_unique_barcode(cleaned.get("barcode"), None)
    sku = Sku(code=code, product=product, **cleaned)
    db.session.add(sku)
    db.session.flush()
    audit.record(sku, "sku.created", actor=actor, changes={
        k: [None, v] for k, v in {"code": code, "product": product.code, **cleaned}.items()
        if v is False or v not in (None, "", 0)})  # an overriding "no" is worth recording
    return sku


def update_sku(sku: Sku, *, actor, **values) -> Sku:
    """Change a SKU's fields (the average cost is the warehouse's, see :func:`set_sku_cost`).

    :raises ValidationError: for any bad field.
    :raises CatalogError: if the barcode belongs to another SKU.
    """
    if "avg_cost" in values:
        raise CatalogError(_("The cost of a SKU is kept by the warehouse from receipts; it "
                             "cannot be edited."), field="avg_cost")
    cleaned = clean_sku_values(values)
    _check_unique_barcode(cleaned.get("barcode"), sku.id)
    changes = audit.diff(sku, cleaned)
    for key, value in cleaned.items():
        setattr(sku, key, value)
    if changes:
        audit.record(sku, "sku.updated", actor=actor, changes=changes)
    db.session.flush()
    return sku


def set_sku_status(skus: Iterable[Sku], status: str, *, actor) -> int:
    """Set the status of several SKUs (bulk change); return how many changed.

    :raises ValidationError: for an unknown status.
    """
    try:
        target = SkuStatus(status)
    except ValueError:
        raise ValidationError(_("Status must be active or discontinued."),
                              field="status") from None
    changed = 0
    for sku in skus:
        if sku.status != target:
            audit.record(sku, "sku.status_changed", actor=actor,
                         changes={"status": [sku.status, target]})
            sku.status = target
            changed += 1
    db.session.flush()
    return changed


def set_sku_cost(sku_id: int, cost: Decimal, *, actor, reason: str) -> None:
    """Store one SKU's moving-average cost; see :func:`set_sku_costs`.

    :raises ValidationError: for a negative cost.
    """
    set_sku_costs({sku_id: cost}, actor=actor, reason=reason)


def set_sku_costs(costs: Mapping[int, Decimal], *, actor, reason: str) -> int:
    """Store moving-average costs of several SKUs at once (the warehouse, on receipts).

    One select, one executemany UPDATE and one bulk audit insert, whatever the number of SKUs;
    SKU objects already loaded in the session get the new cost too. Returns how many changed.

    :raises ValidationError: for a negative cost.
    """
    costs = {int(k): Decimal(v) for k, v in costs.items()}
    if any(c < 0 for c in costs.values()):
        raise ValidationError(_("A cost cannot be negative."), field="avg_cost")
    if not costs:
        return 0
    old = {sku_id: (cost, code) for sku_id, cost, code in db.session.execute(
        select(Sku.id, Sku.avg_cost, Sku.code).where(Sku.id.in_(list(costs))))}
    changed = {k: c for k, c in costs.items() if k in old and old[k][0] != c}
    if not changed:
        return 0
    table = Sku.__table__
    # A Core UPDATE: the ORM's bulk update would compare every SKU in the session per call.
    db.session.execute(table.update().where(table.c.id == bindparam("sku_id"))
                       .values(avg_cost=bindparam("cost")),
                       [{"sku_id": k, "cost": c} for k, c in changed.items()])
    for obj in db.session.identity_map.values():
        if isinstance(obj, Sku) and obj.id in changed:
            set_committed_value(obj, "avg_cost", changed[obj.id])
    audit.record_many("sku", "sku.cost_changed", [
        (k, old[k][1], {"avg_cost": [old[k][0], c], "reason": reason})
        for k, c in changed.items()], actor=actor)
    return len(changed)

