"""Chinese export (9610) customs data of the catalog, and the classification review.

Each category may set the 10-digit Chinese HS code, the customs name (申报品名), the
declaration elements (申报要素, ordered parts stored joined by "|"), the sale unit and the legal
units with their factors (3-digit customs unit codes); a SKU inherits each value from the
nearest category up its path unless it sets its own. A legal unit and its factor go together:
the level that sets the unit also gives the factor (None: from the net weight with 035/036, or
the quantity when the unit is the sale unit).

Classification review: inherited customs values are proposals until a person confirms them per
product. :class:`~erp.catalog.models.ProductCustomsReview` keeps the canonical JSON of every
SKU's effective values when confirmed; a product without one is "unconfirmed", one whose values
differ now is "changed".

The code lists (units, currencies, countries) are settings, one mapping per line, with the
defaults of the customs code sets (shared/reference/china-9610.md §6).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select

from erp.catalog.models import Category, Product, ProductCustomsReview, Sku
from erp.core import audit, settings
from erp.core.errors import ValidationError
from erp.core.i18n import _, _l
from erp.core.locking import lock_rows
from erp.core.models import utcnow
from erp.core.settings import SettingDef, declare
from erp.extensions import db

#: the Chinese customs columns of a category and of a SKU (None: inherit)
CN_FIELDS = ("cn_hs_code", "cn_name", "cn_elements", "cn_sale_unit", "cn_unit1", "cn_factor1",
             "cn_unit2", "cn_factor2")
#: what a person reads for each column
CN_LABELS = {
    "cn_hs_code": _l("Chinese HS code"), "cn_name": _l("Chinese customs name"),
    "cn_elements": _l("Declaration elements"), "cn_sale_unit": _l("Sale unit"),
    "cn_unit1": _l("First legal unit"), "cn_factor1": _l("First unit factor"),
    "cn_unit2": _l("Second legal unit"), "cn_factor2": _l("Second unit factor"),
}
#: the customs values a person confirms in the classification review, per SKU
REVIEW_FIELDS = ("hs_code", "customs_description", "origin_country", "cn_hs_code", "cn_name")
REVIEW_LABELS = {
    "hs_code": _l("HS code"), "customs_description": _l("Customs description"),
    "origin_country": _l("Country of origin"), "cn_hs_code": _l("Chinese HS code"),
    "cn_name": _l("Chinese customs name"),
}
KG, GRAM = "035", "036"
#: the source of a value the SKU sets itself (:attr:`CnCustoms.sources`; not translated, so
#: code can compare it; screens show it translated)
SKU_SOURCE = "SKU"
_IN_CHUNK = 900


# --------------------------------------------------------------------------- settings


class CodeMap(dict):
    """A code list setting: ``{key: value}``, shown one ``key value`` per line."""

    def __str__(self) -> str:
        return "\n".join(f"{k} {v}" for k, v in self.items())


def _code_map(*, key_digits: int | None, value_digits: int | None):
    def parse(value: str) -> CodeMap:
        out = CodeMap()
        for number, line in enumerate(str(value).splitlines(), start=1):
            line = line.strip()
            if not line:
                continue
            parts = line.replace("=", " ").replace(":", " ").split(None, 1)
            if len(parts) != 2:
                raise ValueError(_("line %(line)s: write the code and its value separated by a "
                                   "space, got %(text)s", line=number, text=repr(line)))
            key, val = parts[0].strip().upper(), parts[1].strip()
            if key_digits and not (key.isdigit() and len(key) == key_digits):
                raise ValueError(_("line %(line)s: %(code)s is not a %(digits)s-digit code",
                                   line=number, code=key, digits=key_digits))
            if value_digits and not (val.isdigit() and len(val) == value_digits):
                raise ValueError(_("line %(line)s: %(code)s is not a %(digits)s-digit code",
                                   line=number, code=val, digits=value_digits))
            out[key] = val
        if not out:
            raise ValueError(_("needs at least one line"))
        return out

    return parse


_units = _code_map(key_digits=3, value_digits=None)
_codes = _code_map(key_digits=None, value_digits=3)

DEFAULT_UNITS = ("001 台\n006 套\n007 个\n008 只\n010 张\n011 件\n012 支\n015 条\n016 把\n017 块\n"
                 "018 卷\n019 副\n020 片\n021 组\n022 份\n025 双\n026 对\n030 米\n032 平方米\n"
                 "035 千克\n036 克\n095 升\n096 毫升\n120 箱\n125 包\n136 袋\n140 盒\n142 瓶")
DEFAULT_CURRENCIES = "CNY 142\nHKD 110\nJPY 116\nEUR 300\nGBP 303\nCAD 501\nUSD 502\nAUD 601"
DEFAULT_COUNTRIES = ("CN 142\nHK 110\nJP 116\nKR 133\nGB 303\nDE 304\nFR 305\nIT 307\nNL 309\n"
                     "ES 312\nCA 501\nUS 502\nAU 601")
REVIEW_AT_PACKING = ("warn", "refuse")

declare(
    SettingDef("cn_unit_codes", _l("Chinese customs unit codes"), _units, _units(DEFAULT_UNITS),
               _l("One unit per line: the 3-digit customs code and its name (035 千克). Only "
                  "these codes are accepted as sale and legal units."), multiline=True),
    SettingDef("cn_currency_codes", _l("Chinese customs currency codes"), _codes,
               _codes(DEFAULT_CURRENCIES),
               _l("One currency per line: the ISO code and the 3-digit customs code (CNY 142)."),
               multiline=True),
    SettingDef("cn_country_codes", _l("Chinese customs country codes"), _codes,
               _codes(DEFAULT_COUNTRIES),
               _l("One country per line: the ISO 2-letter code and the 3-digit customs code "
                  "(DE 304)."), multiline=True),
    SettingDef("customs_review_at_packing", _l("Unconfirmed customs data at packing"),
               settings._choice(*REVIEW_AT_PACKING),
               "warn",
               _l("warn: the packing screen names the products whose customs data is not "
                  "confirmed; refuse: such a parcel cannot be packed until they are confirmed "
                  "in Catalog › Customs review.")),
)


def unit_codes() -> dict[str, str]:
    """Return the known customs unit codes and their names (setting ``cn_unit_codes``)."""
    return dict(settings.get("cn_unit_codes"))


def customs_currency(iso: str) -> str | None:
    """Return the customs code of ISO currency ``iso`` ("CNY" -> "142"), or None if unknown."""
    return settings.get("cn_currency_codes").get(str(iso or "").strip().upper())


def customs_country(iso2: str) -> str | None:
    """Return the customs code of ISO country ``iso2`` ("DE" -> "304"), or None if unknown."""
    return settings.get("cn_country_codes").get(str(iso2 or "").strip().upper())


# --------------------------------------------------------------------------- effective values


@dataclass(frozen=True)
class CnCustoms:
    """A SKU's effective Chinese customs data, and where each value comes from."""

    hs_code: str | None
    name: str | None
    elements: tuple[str, ...]
    sale_unit: str | None
    unit1: str | None
    factor1: Decimal | None
    unit2: str | None
    factor2: Decimal | None
    #: field (hs_code, name, elements, sale_unit, unit1, factor1, unit2, factor2) -> "SKU" or
    #: the full name of the category it came from; a field without a value has no entry
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def gmodel(self) -> str:
        """The declaration elements as customs takes them (parts joined by "|")."""
        return "|".join(self.elements)


#: column -> CnCustoms field
_SHORT = {"cn_hs_code": "hs_code", "cn_name": "name", "cn_elements": "elements",
          "cn_sale_unit": "sale_unit", "cn_unit1": "unit1", "cn_factor1": "factor1",
          "cn_unit2": "unit2", "cn_factor2": "factor2"}
#: the columns taken one by one; a unit and its factor are taken together
_SINGLE = ("cn_hs_code", "cn_name", "cn_elements", "cn_sale_unit")
_PAIRS = (("cn_unit1", "cn_factor1"), ("cn_unit2", "cn_factor2"))


def _merge(inherited: Mapping[str, tuple[Any, str]], row: Any, source: str
           ) -> dict[str, tuple[Any, str]]:
    """Return ``inherited`` with the values ``row`` sets itself, each with ``source``."""
    out = dict(inherited)
    for key in _SINGLE:
        value = getattr(row, key)
        if value not in (None, ""):
            out[key] = (value, source)
    for unit, factor in _PAIRS:
        value = getattr(row, unit)
        if value not in (None, ""):
            out[unit] = (value, source)
            out[factor] = (getattr(row, factor), source)
    return out


def category_cn_defaults() -> dict[int, dict[str, tuple[Any, str]]]:
    """Return, for every category, each Chinese customs column's nearest value and its source."""
    rows = db.session.execute(
        select(Category.id, Category.parent_id, Category.full_name,
               *(getattr(Category, key) for key in CN_FIELDS))
        .order_by(Category.depth)).all()
    result: dict[int, dict[str, tuple[Any, str]]] = {}
    for row in rows:  # parents first
        result[row.id] = _merge(result.get(row.parent_id, {}), row, row.full_name)
    return result


def _build(values: Mapping[str, tuple[Any, str]]) -> CnCustoms:
    def value(key: str) -> Any:
        return values[key][0] if key in values else None

    elements = value("cn_elements")
    sources = {_SHORT[key]: source for key, (val, source) in values.items()
               if val not in (None, "")}
    return CnCustoms(hs_code=value("cn_hs_code"), name=value("cn_name"),
                     elements=tuple(elements.split("|")) if elements else (),
                     sale_unit=value("cn_sale_unit"), unit1=value("cn_unit1"),
                     factor1=value("cn_factor1"), unit2=value("cn_unit2"),
                     factor2=value("cn_factor2"), sources=sources)


def effective_cn_customs(sku_ids: Iterable[int]) -> dict[int, CnCustoms]:
    """Return the effective Chinese customs data of each SKU in ``sku_ids`` (unknown ids left out).

    One query for the category tree and one per 900 SKUs, whatever the number of SKUs.
    """
    ids = sorted({int(i) for i in sku_ids})
    if not ids:
        return {}
    defaults = category_cn_defaults()
    sku_label = SKU_SOURCE
    out = {}
    columns = (Sku.id, Product.category_id, *(getattr(Sku, key) for key in CN_FIELDS))
    for start in range(0, len(ids), _IN_CHUNK):
        for row in db.session.execute(select(*columns).join(Product, Sku.product_id == Product.id)
                                      .where(Sku.id.in_(ids[start:start + _IN_CHUNK]))):
            out[row.id] = _build(_merge(defaults.get(row.category_id, {}), row, sku_label))
    return out


def legal_quantity(unit: str, factor: Decimal | None, sale_unit: str | None,
                   quantity: Decimal, net_weight_g: int) -> Decimal | None:
    """Return a line's quantity in legal ``unit``, or None when it cannot be known.

    The unit is the sale unit: the quantity. A factor: quantity × factor. Kilograms (035) without
    a factor: the line's net weight in kg; grams (036): in g. Otherwise None (the gate names it).
    """
    if not unit:
        return None
    quantity = Decimal(quantity)
    if sale_unit and unit == sale_unit:
        return quantity
    if factor is not None:
        return quantity * Decimal(factor)
    if unit == KG:
        return Decimal(int(net_weight_g or 0)) / 1000
    if unit == GRAM:
        return Decimal(int(net_weight_g or 0))
    return None


# --------------------------------------------------------------------------- validation


def clean_cn_customs(values: Mapping[str, Any], *, units: Mapping[str, str] | None = None
                     ) -> dict[str, Any]:
    """Validate and normalise the Chinese customs columns present in ``values``.

    Empty means None (inherit). Used by the category and SKU services and the Excel import.

    :param units: the known unit codes (default: the setting), passed by bulk callers.
    :raises ValidationError: naming the field and why.
    """
    out: dict[str, Any] = {}
    if "cn_hs_code" in values:
        raw = _text(values["cn_hs_code"])
        if raw is not None:
            digits = raw.replace(".", "").replace(" ", "")
            if not (digits.isdigit() and len(digits) == 10):
                raise ValidationError(_("The Chinese HS code must be exactly 10 digits, got "
                                        "%(value)s.", value=repr(raw)), field="cn_hs_code")
            raw = digits
        out["cn_hs_code"] = raw
    if "cn_name" in values:
        name = _text(values["cn_name"])
        if name and len(name) > 250:
            raise ValidationError(_("The Chinese customs name may have at most 250 characters, "
                                    "this has %(length)s.", length=len(name)), field="cn_name")
        out["cn_name"] = name
    if "cn_elements" in values:
        out["cn_elements"] = _elements(values["cn_elements"])
    for key in ("cn_sale_unit", "cn_unit1", "cn_unit2"):
        if key in values:
            code = _text(values[key])
            if code is not None:
                known = units if units is not None else unit_codes()
                if code.isdigit() and len(code) < 3:
                    code = code.zfill(3)  # Excel drops leading zeros: 11 -> 011
                if code not in known:
                    raise ValidationError(_("%(what)s: %(code)s is not a known customs unit code "
                                            "(setting cn_unit_codes, e.g. 011 件, 035 千克).",
                                            what=CN_LABELS[key], code=repr(code)), field=key)
            out[key] = code
    for key in ("cn_factor1", "cn_factor2"):
        if key in values:
            out[key] = _factor(values[key], key)
    for unit, factor in (("cn_unit1", "cn_factor1"), ("cn_unit2", "cn_factor2")):
        if out.get(factor) is not None and unit in values and out.get(unit) is None:
            raise ValidationError(_("%(factor)s needs its unit: set %(unit)s too, or leave the "
                                    "factor empty.", factor=CN_LABELS[factor],
                                    unit=CN_LABELS[unit]), field=factor)
    return out


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _factor(value: Any, key: str) -> Decimal | None:
    if value is None or str(value).strip() == "":
        return None
    try:
        dec = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValidationError(_("%(what)s must be a number, got %(value)s.", what=CN_LABELS[key],
                                value=repr(value)), field=key) from None
    if not dec.is_finite() or dec <= 0 or dec >= Decimal("1e9"):
        raise ValidationError(_("%(what)s must be more than 0, got %(value)s.",
                                what=CN_LABELS[key], value=value), field=key)
    if dec != dec.quantize(Decimal("0.000001")):
        raise ValidationError(_("%(what)s may have at most 6 decimals, got %(value)s.",
                                what=CN_LABELS[key], value=value), field=key)
    return dec.quantize(Decimal("0.000001"))


def _elements(value: Any) -> str | None:
    if isinstance(value, (list, tuple)):
        parts = [str(p).strip() for p in value]
        if any("|" in p for p in parts):
            raise ValidationError(_('A declaration element may not contain "|" (it separates the '
                                    "elements)."), field="cn_elements")
    else:
        text = _text(value)
        if text is None:
            return None
        parts = [p.strip() for p in text.split("|")]
    if not parts:
        return None
    for number, part in enumerate(parts, start=1):
        if not part:
            raise ValidationError(_("Declaration element %(number)s is empty; write each "
                                    'element between "|" (e.g. 针织|棉|无品牌).', number=number),
                                  field="cn_elements")
    joined = "|".join(parts)
    if len(joined) > 250:
        raise ValidationError(_("The declaration elements may have at most 250 characters "
                                "together, these have %(length)s.", length=len(joined)),
                              field="cn_elements")
    return joined


# --------------------------------------------------------------------------- review


@dataclass(frozen=True)
class ReviewValue:
    """One effective customs value of a SKU, with where it comes from."""

    value: Any
    source: str        # "sku", "category" or "missing"
    source_label: str  # "SKU", the category's full name, or "Not set"


def product_customs_values(product_ids: Iterable[int]) -> dict[int, dict[str, dict[str,
                                                                                  ReviewValue]]]:
    """Return ``{product_id: {sku_code: {field: ReviewValue}}}`` of :data:`REVIEW_FIELDS`.

    Batched: one query for the category tree, one per 900 products for the SKUs.
    """
    ids = sorted({int(i) for i in product_ids})
    if not ids:
        return {}
    defaults = _review_defaults()
    sku_label, missing = str(_("SKU")), str(_("Not set"))
    out: dict[int, dict[str, dict[str, ReviewValue]]] = {}
    columns = (Sku.product_id, Sku.code, Product.category_id,
               *(getattr(Sku, key) for key in REVIEW_FIELDS))
    for start in range(0, len(ids), _IN_CHUNK):
        for row in db.session.execute(
                select(*columns).join(Product, Sku.product_id == Product.id)
                .where(Sku.product_id.in_(ids[start:start + _IN_CHUNK])).order_by(Sku.code)):
            inherited = defaults.get(row.category_id, {})
            values = {}
            for key in REVIEW_FIELDS:
                own = getattr(row, key)
                if own not in (None, ""):
                    values[key] = ReviewValue(own, "sku", sku_label)
                elif key in inherited:
                    values[key] = ReviewValue(inherited[key][0], "category", inherited[key][1])
                else:
                    values[key] = ReviewValue(None, "missing", missing)
            out.setdefault(row.product_id, {})[row.code] = values
    return out


def _review_defaults() -> dict[int, dict[str, tuple[Any, str]]]:
    rows = db.session.execute(
        select(Category.id, Category.parent_id, Category.full_name,
               *(getattr(Category, key) for key in REVIEW_FIELDS))
        .order_by(Category.depth)).all()
    result: dict[int, dict[str, tuple[Any, str]]] = {}
    for row in rows:
        values = dict(result.get(row.parent_id, {}))
        for key in REVIEW_FIELDS:
            if getattr(row, key) not in (None, ""):
                values[key] = (getattr(row, key), row.full_name)
        result[row.id] = values
    return result


def snapshot_of(values: Mapping[str, Mapping[str, ReviewValue]]) -> str:
    """Return the canonical JSON of one product's SKU values (what a confirmation keeps)."""
    return json.dumps({code: {key: v.value for key, v in fields.items()}
                       for code, fields in values.items()},
                      sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def changed_fields(snapshot: str, values: Mapping[str, Mapping[str, ReviewValue]]
                   ) -> dict[str, dict[str, list]]:
    """Return ``{sku_code: {field: [confirmed, now]}}`` of what differs from ``snapshot``."""
    try:
        before = json.loads(snapshot)
    except ValueError:
        before = {}
    out: dict[str, dict[str, list]] = {}
    for code in sorted(set(before) | set(values)):
        old, new = before.get(code, {}), values.get(code, {})
        for key in REVIEW_FIELDS:
            was = old.get(key)
            now = new[key].value if key in new else None
            if was != now:
                out.setdefault(code, {})[key] = [was, now]
    return out


def review_states(product_ids: Iterable[int] | None = None
                  ) -> dict[int, tuple[str, dict[str, dict[str, ReviewValue]], ProductCustomsReview
                                       | None]]:
    """Return ``{product_id: (state, values, review)}`` of products not confirmed as they are.

    ``state`` is "unconfirmed" (never confirmed) or "changed" (values differ from the
    confirmed snapshot). Products without SKUs have nothing to confirm and are left out.
    """
    if product_ids is None:
        ids = list(db.session.scalars(select(Sku.product_id).distinct()))
    else:
        ids = sorted({int(i) for i in product_ids})
    values = product_customs_values(ids)
    reviews: dict[int, ProductCustomsReview] = {}
    keys = sorted(values)
    for start in range(0, len(keys), _IN_CHUNK):
        for review in db.session.scalars(select(ProductCustomsReview).where(
                ProductCustomsReview.product_id.in_(keys[start:start + _IN_CHUNK]))
                .execution_options(populate_existing=True)):  # as committed, after a lock
            reviews[review.product_id] = review
    out = {}
    for product_id, skus in values.items():
        review = reviews.get(product_id)
        if review is None:
            out[product_id] = ("unconfirmed", skus, None)
        elif review.snapshot != snapshot_of(skus):
            out[product_id] = ("changed", skus, review)
    return out


def unreviewed_products(product_ids: Iterable[int] | None = None) -> dict[int, str]:
    """Return ``{product_id: "unconfirmed" | "changed"}`` of products not confirmed as they are.

    All products with SKUs, or those of ``product_ids``.
    """
    return {pid: state for pid, (state, _v, _r) in review_states(product_ids).items()}


def confirm_products(products: Iterable[Product | int], *, actor) -> int:
    """Confirm the customs data of ``products`` as it is now; return how many were confirmed.

    Each product's row is locked first, so two people confirming at once (or a repeated
    submit) confirm it once: a product already confirmed as it is is left alone. Audited as
    ``product.customs_confirmed`` with the values confirmed (and what changed since the last
    confirmation).
    """
    ids = sorted({p if isinstance(p, int) else p.id for p in products})
    if not ids:
        return 0
    locked = lock_rows(Product, ids, Product.code)
    states = review_states(list(locked))
    now = utcnow()
    events = []
    for product_id, (state, values, review) in states.items():
        snapshot = snapshot_of(values)
        changes: dict[str, Any] = {"state": state, "skus": len(values)}
        if review is None:
            db.session.add(ProductCustomsReview(product_id=product_id, snapshot=snapshot,
                                                confirmed_by_id=getattr(actor, "id", None),
                                                confirmed_at=now))
        else:
            changes["changed"] = changed_fields(review.snapshot, values)
            review.snapshot = snapshot
            review.confirmed_at = now
            review.confirmed_by_id = getattr(actor, "id", None)
        events.append((product_id, locked[product_id].code, changes))
    db.session.flush()
    audit.record_many("product", "product.customs_confirmed", events, actor=actor)
    return len(events)
