"""Supplier operations: suppliers, and their price lists (supplier items).

A supplier item is one SKU as one supplier sells it: the supplier's own code for it, a unit price
in a currency, a minimum order quantity (MOQ), a pack multiple and a lead time. At most one
supplier is *preferred* for a SKU; marking one preferred un-marks the others.

Every function validates, changes, audits and flushes; none commits.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select

from erp.catalog.models import Sku
from erp.core import audit, settings
from erp.core.codes import normalize_country
from erp.core.errors import DomainError, ValidationError
from erp.core.i18n import _, _l, format_number
from erp.core.models import User, utcnow
from erp.core.money import rate_on, to_decimal, validate_currency
from erp.extensions import db
from erp.procurement.models import Supplier, SupplierItem


class SupplierError(DomainError):
    """A supplier or price-list rule was broken."""


SUPPLIER_CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9._\-]{1,19}$")
PHONE_RE = re.compile(r"^\+?[0-9 ()./\-]{4,40}$")
#: the largest MOQ or pack multiple accepted (the columns are 32-bit integers)
MAX_QUANTITY = 1_000_000_000
MAX_LEAD_TIME_DAYS = 999
#: unit prices are kept to 4 decimal places (DESIGN: unit costs show 4)
PRICE_PLACES = 4
MAX_PRICE = Decimal("1e11")

#: the fields of a supplier that :func:`update_supplier` may change
SUPPLIER_FIELDS = ("code", "name", "contact_name", "email", "phone", "address", "country",
                   "currency", "payment_terms", "lead_time_days", "language")
#: the languages a purchase order can be printed in
SUPPLIER_LANGUAGES = ("en", "zh_Hans_CN")
#: the text fields: (the refusal of a text too long, longest length)
_TEXT_LIMITS = {
    "name": (_l("The supplier's name may have at most %(most)s characters, this has "
                "%(length)s."), 200),
    "contact_name": (_l("The supplier's contact name may have at most %(most)s characters, "
                        "this has %(length)s."), 120),
    "email": (_l("The supplier's email may have at most %(most)s characters, this has "
                 "%(length)s."), 254),
    "phone": (_l("The supplier's phone may have at most %(most)s characters, this has "
                 "%(length)s."), 40),
    "address": (_l("The supplier's address may have at most %(most)s characters, this has "
                   "%(length)s."), 1000),
    "payment_terms": (_l("The supplier's payment terms may have at most %(most)s characters, "
                         "this has %(length)s."), 120)}


# --------------------------------------------------------------------------- cleaning


def clean_supplier_code(value: Any) -> str:
    """Return a supplier code trimmed and upper-cased (``sz-tex`` -> ``SZ-TEX``).

    :raises ValueError: unless it is 2-20 letters, digits, '.', '-' or '_'.
    """
    code = str(value if value is not None else "").strip().upper()
    if not SUPPLIER_CODE_RE.match(code):
        raise ValueError(_("%(code)s is not a supplier code: use 2-20 letters, digits, '.', '-' "
                           "or '_', e.g. SZ-TEX", code=repr(code or _("an empty code"))))
    return code


def _optional_text(value: Any, field: str) -> str | None:
    text = str(value).strip() if value is not None else ""
    if not text:
        return None
    message, limit = _TEXT_LIMITS[field]
    if len(text) > limit:
        raise ValidationError(message % {"most": format_number(limit),
                                         "length": format_number(len(text))}, field=field)
    return text


def _whole_number(value: Any, *, field: str, label: str, minimum: int, maximum: int) -> int:
    """Return ``value`` as an int in ``[minimum, maximum]`` (``"12"`` and ``12.0`` count).

    :param label: what the value is, translated (``_l("The pack multiple")``).
    :raises ValidationError: naming the field.
    """
    values = {"what": label, "least": format_number(minimum), "most": format_number(maximum)}
    if isinstance(value, bool) or value is None or str(value).strip() == "":
        raise ValidationError(_("%(what)s must be a whole number from %(least)s to %(most)s.",
                                **values), field=field)
    try:
        number = Decimal(value) if isinstance(value, int) else to_decimal(value, field=field)
    except ValidationError:
        raise ValidationError(_("%(what)s must be a whole number from %(least)s to %(most)s, "
                                "got %(value)s.", value=repr(value), **values),
                              field=field) from None
    if number != number.to_integral_value() or not minimum <= number <= maximum:
        raise ValidationError(_("%(what)s must be a whole number from %(least)s to %(most)s, "
                                "got %(value)s.", value=value, **values), field=field)
    return int(number)


def _clean_supplier_field(key: str, value: Any) -> Any:
    """Validate one editable supplier field and return it cleaned.

    :raises ValidationError: naming the field.
    """
    if key == "code":
        try:
            return clean_supplier_code(value)
        except ValueError as exc:
            # NOTE: the refusal of a malformed code, made a sentence: its full stop
            raise ValidationError(_("%(error)s.",
                                    error=str(exc)[:1].upper() + str(exc)[1:]),
                                  field="code") from None
    if key == "name":
        name = _optional_text(value, "name")
        if name is None:
            raise ValidationError(_("A supplier needs a name."), field="name")
        return name
    if key == "country":
        try:
            return normalize_country(value)
        except ValueError as exc:
            raise ValidationError(_("Country: %(error)s.", error=str(exc)),
                                  field="country") from None
    if key == "currency":
        try:
            return validate_currency(str(value or ""))
        except ValueError as exc:
            raise ValidationError(_("Currency: %(error)s.", error=str(exc)),
                                  field="currency") from None
    if key == "lead_time_days":
        return _whole_number(value, field="lead_time_days", label=_("The lead time in days"),
                             minimum=0, maximum=MAX_LEAD_TIME_DAYS)
    if key == "language":
        return clean_supplier_language(value)
    text = _optional_text(value, key)
    if key == "email" and text is not None:
        try:
            validate_email(text, check_deliverability=False)
        except EmailNotValidError:
            raise ValidationError(_("%(value)s is not an email address (e.g. "
                                    "sales@supplier.com).", value=repr(text)),
                                  field="email") from None
    if key == "phone" and text is not None and not PHONE_RE.match(text):
        raise ValidationError(_("%(value)s is not a phone number: use digits, spaces, '+', "
                                "'-', '.', '/' and brackets, e.g. +86 755 1234 5678.",
                                value=repr(text)), field="phone")
    return text


def default_supplier_language(country: str | None) -> str:
    """Return the language a new supplier's orders print in: Chinese in China, else English."""
    return "zh_Hans_CN" if (country or "").strip().upper() == "CN" else "en"


def clean_supplier_language(value: Any) -> str:
    """Return a supported order language (``en``, ``zh_Hans_CN``; ``zh``, ``zh-CN`` accepted).

    :raises ValidationError: for any other language.
    """
    text = str(value if value is not None else "").strip()
    folded = text.replace("-", "_").lower()
    if folded in ("en", "english") or folded.startswith("en_"):
        return "en"
    if folded.startswith("zh") or text in ("中文", "简体中文", "Chinese"):
        return "zh_Hans_CN"
    raise ValidationError(_("Language: %(value)s is not a language orders can be printed in: "
                            "use en (English) or zh_Hans_CN (Chinese).",
                            value=repr(text) if text else _("an empty value")),
                          field="language")


def _supplier_values(values: dict[str, Any]) -> dict[str, Any]:
    return {key: _clean_supplier_field(key, value) for key, value in values.items()}


# --------------------------------------------------------------------------- suppliers


def get_supplier_by_code(code: Any) -> Supplier | None:
    """Return the supplier with ``code`` (any case, trimmed) or None."""
    text = str(code if code is not None else "").strip().upper()
    return db.session.scalar(select(Supplier).where(Supplier.code == text)) if text else None


def _ensure_code_free(code: str, supplier: Supplier | None) -> None:
    other = get_supplier_by_code(code)
    if other is not None and other is not supplier:
        if supplier is None:
            message = _('To create supplier "%(code)s", you must choose another code: supplier '
                        "%(other)s already uses it.", code=code, other=other.name)
        else:
            message = _('To rename supplier "%(old)s" to "%(code)s", you must choose another '
                        "code: supplier %(other)s already uses it.", old=supplier.code,
                        code=code, other=other.name)
        raise SupplierError(message, field="code")


def create_supplier(*, code: str, name: str, country: str, currency: str, actor: User | None,
                    contact_name: str | None = None, email: str | None = None,
                    phone: str | None = None, address: str | None = None,
                    payment_terms: str | None = None, lead_time_days: int = 14,
                    language: str | None = None) -> Supplier:
    """Create an active supplier; its code is stored upper-case, its country as ISO alpha-2.

    Without a ``language`` its purchase orders print in Chinese (with the English) for a
    supplier in China, else in English.

    :raises ValidationError: for a malformed code, a missing name, an unknown country or
        currency, a bad email or phone, text too long, or a lead time outside 0-999 days.
    :raises SupplierError: if another supplier has the code.
    """
    values = _supplier_values({
        "code": code, "name": name, "contact_name": contact_name, "email": email,
        "phone": phone, "address": address, "country": country, "currency": currency,
        "payment_terms": payment_terms, "lead_time_days": lead_time_days})
    values["language"] = (clean_supplier_language(language) if language
                          else default_supplier_language(values["country"]))
    _ensure_code_free(values["code"], None)
    supplier = Supplier(**values, active=True)
    db.session.add(supplier)
    db.session.flush()
    audit.record(supplier, "supplier.created", actor=actor, changes={
        key: [None, value] for key, value in {**values, "active": True}.items()
        if value is not None})
    return supplier


def update_supplier(supplier: Supplier, *, actor: User | None, **fields: Any) -> Supplier:
    """Change the given fields of a supplier (only what differs is changed and audited).

    ``fields`` are any of :data:`SUPPLIER_FIELDS`; a field not given keeps its value, and an
    empty optional one (``None`` or ``""``) clears it. An empty ``language`` chooses it by the
    country (:func:`default_supplier_language`). The supplier items keep their own
    currency when the supplier's changes.

    :raises TypeError: for a field that is not a supplier field (``active`` has its own
        service, :func:`set_supplier_active`).
    :raises ValidationError: for a bad value, naming the field.
    :raises SupplierError: if another supplier has the new code.
    """
    unknown = set(fields) - set(SUPPLIER_FIELDS)
    if unknown:
        raise TypeError(f"update_supplier() got fields it cannot change: {sorted(unknown)}")
    automatic = "language" in fields and not str(fields["language"] or "").strip()
    values = _supplier_values({k: v for k, v in fields.items()
                               if not (automatic and k == "language")})
    if automatic:  # no choice: by the (new) country
        values["language"] = default_supplier_language(values.get("country", supplier.country))
    if "code" in values:
        _ensure_code_free(values["code"], supplier)
    changes = audit.diff(supplier, values)
    if changes:
        for key in changes:
            setattr(supplier, key, values[key])
        audit.record(supplier, "supplier.updated", actor=actor, changes=changes)
        db.session.flush()
    return supplier


def set_supplier_active(supplier: Supplier, active: bool, *, actor: User | None) -> Supplier:
    """Reactivate or deactivate a supplier.

    An inactive supplier keeps its price list and history but is never proposed by
    :func:`preferred_supplier_item`; its preferred flags are kept, so reactivating it restores
    them.
    """
    active = bool(active)
    if supplier.active != active:
        supplier.active = active
        audit.record(supplier, "supplier.reactivated" if active else "supplier.deactivated",
                     actor=actor, changes={"active": [not active, active]})
        db.session.flush()
    return supplier


# --------------------------------------------------------------------------- supplier items


def clean_unit_price(value: Any) -> Decimal:
    """Return a unit price as a Decimal of at most 4 places, zero or more.

    :raises ValidationError: naming the ``unit_price`` field.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValidationError(_("A unit price is required (zero or more)."), field="unit_price")
    price = to_decimal(value, field="unit_price")
    if price < 0:
        raise ValidationError(_("The unit price must be zero or more, got %(value)s.",
                                value=value), field="unit_price")
    if price >= MAX_PRICE:
        raise ValidationError(_("The unit price must be less than %(most)s, got %(value)s.",
                                most=format_number(MAX_PRICE, 0), value=value),
                              field="unit_price")
    if price != price.quantize(Decimal(1).scaleb(-PRICE_PLACES)):
        raise ValidationError(_("The unit price may have at most %(places)s decimal places, "
                                "got %(value)s.", places=PRICE_PLACES, value=value),
                              field="unit_price")
    return price.quantize(Decimal(1).scaleb(-PRICE_PLACES))


def clean_supplier_item_values(*, unit_price: Any, currency: Any, supplier_code: Any, moq: Any,
                               pack_multiple: Any, lead_time_days: Any) -> dict[str, Any]:
    """Validate the values of a supplier item and return them cleaned (forms and imports).

    :raises ValidationError: naming the first bad field: ``unit_price``, ``currency``,
        ``supplier_code``, ``moq``, ``pack_multiple`` or ``lead_time_days``.
    """
    out: dict[str, Any] = {"unit_price": clean_unit_price(unit_price)}
    try:
        out["currency"] = validate_currency(str(currency or ""))
    except ValueError as exc:
        raise ValidationError(_("Currency: %(error)s.", error=str(exc)),
                              field="currency") from None
    code = str(supplier_code).strip() if supplier_code is not None else ""
    if len(code) > 60:
        raise ValidationError(_("The supplier's item code may have at most 60 characters, this "
                                "has %(length)s.", length=len(code)), field="supplier_code")
    out["supplier_code"] = code or None
    out["moq"] = _whole_number(moq, field="moq", label=_("The minimum order quantity (MOQ)"),
                               minimum=1, maximum=MAX_QUANTITY)
    out["pack_multiple"] = _whole_number(pack_multiple, field="pack_multiple",
                                         label=_("The pack multiple"), minimum=1,
                                         maximum=MAX_QUANTITY)
    out["lead_time_days"] = None if lead_time_days is None or str(lead_time_days).strip() == "" \
        else _whole_number(lead_time_days, field="lead_time_days",
                           label=_("The lead time in days"), minimum=0,
                           maximum=MAX_LEAD_TIME_DAYS)
    return out


def get_supplier_item(supplier: Supplier, sku: Sku) -> SupplierItem | None:
    """Return the item of ``sku`` in ``supplier``'s price list, or None."""
    return db.session.scalar(select(SupplierItem).where(SupplierItem.supplier_id == supplier.id,
                                                        SupplierItem.sku_id == sku.id))


def _item_context(item: SupplierItem) -> dict[str, Any]:
    """The supplier and SKU codes an audit event of an item carries, to be readable alone."""
    return {"supplier": item.supplier.code, "sku": item.sku.code}


def _unmark_other_preferred(item: SupplierItem, *, actor: User | None) -> None:
    others = db.session.scalars(select(SupplierItem).where(
        SupplierItem.sku_id == item.sku_id, SupplierItem.preferred.is_(True),
        SupplierItem.id != item.id)).all()
    for other in others:
        other.preferred = False
        audit.record(other, "supplier_item.updated", actor=actor, changes={
            **_item_context(other), "preferred": [True, False],
            "reason": f"supplier {item.supplier.code} preferred instead"})


def set_supplier_item(supplier: Supplier, sku: Sku, *, unit_price: Decimal | str,
                      actor: User | None, currency: str | None = None,
                      supplier_code: str | None = None, moq: int = 1, pack_multiple: int = 1,
                      lead_time_days: int | None = None,
                      preferred: bool = False) -> SupplierItem:
    """Create or update ``sku``'s item in ``supplier``'s price list with exactly these values.

    Every value is set as given (an update is not a patch): ``currency=None`` means the
    supplier's currency, ``lead_time_days=None`` the supplier's lead time, and
    ``preferred=False`` un-marks an item that was preferred. Marking the item preferred
    un-marks the other suppliers' items of the SKU. Only the values that differ are audited.

    :raises ValidationError: for a price that is negative, not a number or has more than 4
        decimal places, an unknown currency, an MOQ or pack multiple below 1, a lead time
        outside 0-999 days or a supplier's item code over 60 characters, naming the field.
    :raises SupplierError: to mark preferred an item of an inactive supplier (one already
        preferred may stay so, as deactivating keeps the flag).
    """
    values = clean_supplier_item_values(
        unit_price=unit_price, currency=supplier.currency if currency is None else currency,
        supplier_code=supplier_code, moq=moq, pack_multiple=pack_multiple,
        lead_time_days=lead_time_days)
    values["preferred"] = bool(preferred)
    item = get_supplier_item(supplier, sku)
    if values["preferred"] and not supplier.active and not (item is not None and item.preferred):
        raise SupplierError(_('To make supplier "%(supplier)s" the preferred one for SKU '
                              '"%(sku)s", you must reactivate the supplier first.',
                              supplier=supplier.code, sku=sku.code), field="preferred")
    if item is None:
        item = SupplierItem(supplier=supplier, sku=sku, **values)
        db.session.add(item)
        db.session.flush()
        audit.record(item, "supplier_item.created", actor=actor, changes={
            **_item_context(item),
            **{key: [None, value] for key, value in values.items() if value is not None}})
    else:
        changes = audit.diff(item, values)
        if not changes:
            return item
        for key in changes:
            setattr(item, key, values[key])
        audit.record(item, "supplier_item.updated", actor=actor,
                     changes={**_item_context(item), **changes})
    if item.preferred:
        _unmark_other_preferred(item, actor=actor)
    db.session.flush()
    return item


def remove_supplier_item(item: SupplierItem, *, actor: User | None) -> None:
    """Remove a SKU from a supplier's price list (purchase orders keep their own prices)."""
    audit.record(item, "supplier_item.removed", actor=actor, changes={
        **_item_context(item), "unit_price": [item.unit_price, None],
        "currency": [item.currency, None], "preferred": [item.preferred, None]})
    supplier = item.supplier
    db.session.delete(item)
    db.session.flush()
    db.session.expire(supplier, ["items"])  # the loaded list would still hold the item


# --------------------------------------------------------------------------- choosing


def preferred_supplier_items(sku_ids: Iterable[int], *,
                             on: date | None = None) -> dict[int, SupplierItem]:
    """Return, for each SKU that an active supplier sells, the supplier item to buy it from.

    The rule, per SKU, among items of **active** suppliers only:

    1. the item marked preferred, if its supplier is active;
    2. otherwise the cheapest item, prices compared in the base currency at the latest
       exchange rates on ``on`` (default today); an item whose currency has no rate yet comes
       after every item that can be compared;
    3. ties go to the shorter lead time (the item's, else its supplier's), then the supplier
       code.

    SKUs no active supplier sells are absent from the result.
    """
    ids = sorted(set(sku_ids))
    if not ids:
        return {}
    on = on or utcnow().date()
    base = settings.base_currency()
    rates: dict[str, Decimal | None] = {}

    def in_base(item: SupplierItem) -> Decimal | None:
        if item.currency not in rates:
            try:
                rates[item.currency] = rate_on(item.currency, on, base=base)
            except DomainError:
                rates[item.currency] = None
        rate = rates[item.currency]
        return None if rate is None else item.unit_price * rate

    best: dict[int, tuple[tuple, SupplierItem]] = {}
    for start in range(0, len(ids), 5000):  # IN-list limits of SQLite and psycopg
        chunk = ids[start:start + 5000]
        rows = db.session.execute(
            select(SupplierItem, Supplier.code, Supplier.lead_time_days)
            .join(Supplier, SupplierItem.supplier_id == Supplier.id)
            .where(SupplierItem.sku_id.in_(chunk), Supplier.active.is_(True))).all()
        for item, supplier_code, supplier_lead in rows:
            price = in_base(item)
            lead = item.lead_time_days if item.lead_time_days is not None else supplier_lead
            key = (not item.preferred, price is None, price or Decimal(0), lead, supplier_code)
            current = best.get(item.sku_id)
            if current is None or key < current[0]:
                best[item.sku_id] = (key, item)
    return {sku_id: item for sku_id, (_, item) in best.items()}


def preferred_supplier_item(sku_id: int, *, on: date | None = None) -> SupplierItem | None:
    """Return the supplier item to buy a SKU from, or None if no active supplier sells it.

    The preferred item of an active supplier, else the cheapest active supplier's item in the
    base currency; see :func:`preferred_supplier_items` for the whole rule.
    """
    return preferred_supplier_items([sku_id], on=on).get(sku_id)
