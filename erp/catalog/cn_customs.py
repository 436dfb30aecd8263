"""Chinese customs data of SKUs (STUB by customsx, to be replaced by cncat's module at merge).

Implements the names of CONTRACTS.md § cncat simply: a SKU's own cn_* value, else the nearest
category's (walking up the parents). Code tables are small dicts of the reference's §6 codes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select

from erp.catalog.models import Category, Product, Sku
from erp.extensions import db

_FIELDS = ("cn_hs_code", "cn_name", "cn_elements", "cn_sale_unit", "cn_unit1", "cn_factor1",
           "cn_unit2", "cn_factor2")

_UNITS = {"001": "台", "006": "套", "007": "个", "008": "只", "010": "张", "011": "件",
          "012": "支", "015": "条", "016": "把", "017": "块", "018": "卷", "019": "副",
          "020": "片", "021": "组", "022": "份", "025": "双", "026": "对", "030": "米",
          "032": "平方米", "035": "千克", "036": "克", "095": "升", "096": "毫升", "120": "箱",
          "125": "包", "136": "袋", "140": "盒", "142": "瓶"}
_CURRENCIES = {"CNY": "142", "HKD": "110", "JPY": "116", "EUR": "300", "GBP": "303",
               "CAD": "501", "USD": "502", "AUD": "601"}
_COUNTRIES = {"CN": "142", "HK": "110", "JP": "116", "KR": "133", "GB": "303", "DE": "304",
              "FR": "305", "IT": "307", "NL": "309", "ES": "312", "CA": "501", "US": "502",
              "AU": "601"}


@dataclass(frozen=True)
class CnCustoms:
    """A SKU's effective Chinese customs data."""

    hs_code: str | None
    name: str | None
    elements: tuple[str, ...]
    sale_unit: str | None
    unit1: str | None
    factor1: Decimal | None
    unit2: str | None
    factor2: Decimal | None
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def gmodel(self) -> str:
        """Return the declaration elements joined by ``|``."""
        return "|".join(self.elements)


def effective_cn_customs(sku_ids: Iterable[int]) -> dict[int, CnCustoms]:
    """Return each SKU's Chinese customs data, its own values first, then its categories'."""
    ids = sorted(set(sku_ids))
    if not ids:
        return {}
    categories = {c.id: c for c in db.session.scalars(select(Category))}
    out: dict[int, CnCustoms] = {}
    rows = db.session.execute(
        select(Sku, Product.category_id).join(Product, Product.id == Sku.product_id)
        .where(Sku.id.in_(ids))).all()
    for sku, category_id in rows:
        values: dict[str, object] = {}
        sources: dict[str, str] = {}
        for name in _FIELDS:
            value = getattr(sku, name)
            source = "SKU"
            cat = categories.get(category_id)
            while value is None and cat is not None:
                value = getattr(cat, name)
                source = cat.full_name or cat.name
                cat = categories.get(cat.parent_id)
            values[name] = value
            if value is not None:
                sources[name] = source
        elements = tuple(p for p in (values["cn_elements"] or "").split("|") if p)
        out[sku.id] = CnCustoms(values["cn_hs_code"], values["cn_name"], elements,
                                values["cn_sale_unit"], values["cn_unit1"], values["cn_factor1"],
                                values["cn_unit2"], values["cn_factor2"], sources)
    return out


def legal_quantity(unit: str, factor: Decimal | None, sale_unit: str | None,
                   quantity: Decimal, net_weight_g: int) -> Decimal | None:
    """Return the quantity in legal ``unit`` of a line, or None when it cannot be computed."""
    if not unit:
        return None
    if unit == sale_unit:
        return Decimal(quantity)
    if factor is not None:
        return Decimal(quantity) * factor
    if unit == "035":
        return Decimal(net_weight_g) / 1000
    if unit == "036":
        return Decimal(net_weight_g)
    return None


def unit_codes() -> dict[str, str]:
    """Return the known customs unit codes and their names."""
    return dict(_UNITS)


def customs_currency(iso: str) -> str | None:
    """Return the customs currency code of an ISO 4217 code."""
    return _CURRENCIES.get((iso or "").upper())


def customs_country(iso2: str) -> str | None:
    """Return the customs country code of an ISO 3166 alpha-2 code."""
    return _COUNTRIES.get((iso2 or "").upper())


def unreviewed_products(product_ids=None) -> dict[int, str]:
    """Stub: every product counts as confirmed."""
    return {}


def confirm_products(products, *, actor) -> int:
    """Stub: nothing to confirm."""
    return 0
