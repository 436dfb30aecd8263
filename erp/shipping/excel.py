"""Shipping sheets on the core Excel framework: rate tables and service zones.

Two imports, each all or nothing through :func:`erp.core.excel.run_import` (dry run, errors by
row and column, template download):

- **Rates**: one row per service code, zone, weight band (the largest chargeable weight in
  grams the price covers), price and currency. A (service, zone, band) the table has is updated,
  a new one added; bands not in the file are kept (remove them on the service's page). The zone
  must already have countries for the service (in the database or the zones import first).
- **Zones**: one row per service code and destination country (ISO code or name) with its rate
  zone. A country the service serves is re-zoned, a new one added; countries not in the file
  are kept (remove them on the service's page).

Both go through the services' own rules (:mod:`erp.shipping.services.carriers`), and an exported
sheet imports again unchanged. The column headers stay English whatever the reader's language, so
a sheet exported by one person imports for another; the errors found in a file are in the
reader's language.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from erp.core import excel
from erp.core.errors import DomainError
from erp.core.i18n import _, _l, format_number
from erp.core.money import validate_currency
from erp.extensions import db
from erp.shipping.models import ServiceRate, ServiceZone, ShippingService
from erp.shipping.services import carriers


def _rule(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Return a cell validator applying a service rule (its message without the full stop)."""

    def validate(value: Any) -> Any:
        try:
            return check(value)
        except DomainError as err:
            raise ValueError(str(err).rstrip(".。")) from None

    return validate


def _band(value: int) -> int:
    if not 1 <= value <= carriers.MAX_LIMIT:
        raise ValueError(_("must be a whole number of grams from 1 to %(most)s, got %(value)s",
                           most=format_number(carriers.MAX_LIMIT), value=value))
    return value


def _price(value: Decimal) -> Decimal:
    if value < 0:
        raise ValueError(_("must be zero or more, got %(value)s", value=value))
    return _rule(carriers.clean_price)(value)


_SERVICE_COLUMN = excel.Column(
    "service_code", _l("Service code"), required=True, width=18,
    validator=_rule(carriers.clean_service_code),
    help=_l("The code of an existing shipping service, e.g. POST-REG (as orders request it)."))

RATE_SPEC = excel.Spec(
    name="shipping-rates",
    title=_l("Shipping rates"),
    columns=(
        _SERVICE_COLUMN,
        excel.Column("zone", _l("Zone"), required=True, width=12,
                     validator=_rule(carriers.clean_zone),
                     help=_l("The rate zone, e.g. EU or ZONE-2; the service must have countries "
                          "in it (import the zones first).")),
        excel.Column("max_weight_g", _l("Max weight (g)"), type="int", required=True, width=14,
                     validator=_band,
                     help=_l("The weight band: the price covers a chargeable weight up to this "
                          "many grams (above the previous band).")),
        excel.Column("price", _l("Price"), type="decimal", decimals=2, required=True,
                     validator=_price, help=_l("The price of one parcel in this band; zero or "
                                            "more, at most 2 decimal places.")),
        excel.Column("currency", _l("Currency"), required=True, width=10,
                     validator=validate_currency, help=_l("ISO 4217 code, e.g. CNY or USD.")),
    ),
)

ZONE_SPEC = excel.Spec(
    name="shipping-zones",
    title=_l("Shipping zones"),
    columns=(
        _SERVICE_COLUMN,
        excel.Column("country", _l("Country"), required=True, width=10,
                     validator=_rule(carriers.clean_country),
                     help=_l("A destination country the service serves: ISO code (DE) or name.")),
        excel.Column("zone", _l("Zone"), required=True, width=12,
                     validator=_rule(carriers.clean_zone),
                     help=_l("The rate zone of the country for this service, e.g. EU.")),
    ),
)
_RATE_HEADERS = {column.key: column.header for column in RATE_SPEC.columns}
_ZONE_HEADERS = {column.key: column.header for column in ZONE_SPEC.columns}


# --------------------------------------------------------------------------- exports


def export_rates(service_id: int | None = None) -> bytes:
    """Return the rate tables (of one service with ``service_id``) as a workbook."""
    stmt = (select(ShippingService.code.label("service_code"), ServiceRate.zone,
                   ServiceRate.max_weight_g, ServiceRate.price, ServiceRate.currency)
            .join(ShippingService, ServiceRate.service_id == ShippingService.id)
            .order_by(ShippingService.code, ServiceRate.zone, ServiceRate.max_weight_g))
    if service_id:
        stmt = stmt.where(ShippingService.id == service_id)
    return excel.export_workbook(RATE_SPEC, (row._asdict() for row in db.session.execute(stmt)))


def export_zones(service_id: int | None = None) -> bytes:
    """Return the countries served and their zones (of one service) as a workbook."""
    stmt = (select(ShippingService.code.label("service_code"), ServiceZone.country,
                   ServiceZone.zone)
            .join(ShippingService, ServiceZone.service_id == ShippingService.id)
            .order_by(ShippingService.code, ServiceZone.country))
    if service_id:
        stmt = stmt.where(ShippingService.id == service_id)
    return excel.export_workbook(ZONE_SPEC, (row._asdict() for row in db.session.execute(stmt)))


# --------------------------------------------------------------------------- imports


def _unknown_service(code) -> str:
    return _('no shipping service has the code "%(code)s"; create the service first or correct '
             "the code", code=code)


def _services() -> dict[str, ShippingService]:
    return {s.code: s for s in db.session.scalars(select(ShippingService))}


def import_rates(data: bytes, *, filename: str = "shipping-rates.xlsx", dry_run: bool, actor,
                 savepoint: bool = True) -> excel.ImportResult:
    """Check a rate workbook and, unless ``dry_run``, create or update every band in it.

    All or nothing; never commits (with ``savepoint`` the writes run in a savepoint).
    """
    services = _services()
    zones: set[tuple[int, str]] = set(db.session.execute(
        select(ServiceZone.service_id, ServiceZone.zone)).tuples())
    seen: dict[tuple[int, str, int], int] = {}

    def validate_row(row: dict[str, Any]) -> list[excel.CellError]:
        number = row["_row"]
        service = services.get(row["service_code"])
        if service is None:
            return [excel.CellError(number, _RATE_HEADERS["service_code"],
                                    _unknown_service(row["service_code"]))]
        row["_service"] = service
        errors = []
        if (service.id, row["zone"]) not in zones:
            errors.append(excel.CellError(
                number, _RATE_HEADERS["zone"],
                _('%(service)s serves no country in zone "%(zone)s"; import the zones first or '
                  "correct the zone", service=service.code, zone=row["zone"])))
        key = (service.id, row["zone"], row["max_weight_g"])
        first = seen.setdefault(key, number)
        if first != number:
            errors.append(excel.CellError(
                number, _RATE_HEADERS["max_weight_g"],
                _("the band %(band)s g of %(service)s zone %(zone)s is also in row %(row)s",
                  band=format_number(row["max_weight_g"]), service=service.code,
                  zone=row["zone"], row=first)))
        return errors

    def apply(rows: list[dict[str, Any]]) -> dict[str, int]:
        counts = {"created": 0, "updated": 0, "skipped": 0}
        for row in rows:
            try:
                _rate, outcome = carriers.set_rate(
                    row["_service"], zone=row["zone"], max_weight_g=row["max_weight_g"],
                    price=row["price"], currency=row["currency"], actor=actor)
            except DomainError as err:
                raise excel.RowError(str(err), row=row["_row"],
                                     column=_RATE_HEADERS.get(err.field or "", "")) from err
            counts[outcome] += 1
        return counts

    return excel.run_import(data, RATE_SPEC, filename=filename, dry_run=dry_run,
                            validate_row=validate_row, apply=apply,
                            transaction=db.session.begin_nested if savepoint else None)


def import_zones(data: bytes, *, filename: str = "shipping-zones.xlsx", dry_run: bool, actor,
                 savepoint: bool = True) -> excel.ImportResult:
    """Check a zones workbook and, unless ``dry_run``, add or re-zone every country in it.

    All or nothing; never commits.
    """
    services = _services()
    seen: dict[tuple[int, str], int] = {}

    def validate_row(row: dict[str, Any]) -> list[excel.CellError]:
        number = row["_row"]
        service = services.get(row["service_code"])
        if service is None:
            return [excel.CellError(number, _ZONE_HEADERS["service_code"],
                                    _unknown_service(row["service_code"]))]
        row["_service"] = service
        first = seen.setdefault((service.id, row["country"]), number)
        if first != number:
            return [excel.CellError(number, _ZONE_HEADERS["country"],
                                    _("%(country)s of %(service)s is also in row %(row)s",
                                      country=row["country"], service=service.code,
                                      row=first))]
        return []

    def apply(rows: list[dict[str, Any]]) -> dict[str, int]:
        counts = {"created": 0, "updated": 0, "skipped": 0}
        by_service: dict[int, list[dict[str, Any]]] = {}
        for row in rows:
            by_service.setdefault(row["_service"].id, []).append(row)
        for group in by_service.values():
            service = group[0]["_service"]
            current = {z.country: z.zone for z in service.zones}
            wanted = dict(current)
            for row in group:
                before = current.get(row["country"])
                counts["created" if before is None else
                       "skipped" if before == row["zone"] else "updated"] += 1
                wanted[row["country"]] = row["zone"]
            carriers.set_zones(service, wanted, actor=actor)
        return counts

    return excel.run_import(data, ZONE_SPEC, filename=filename, dry_run=dry_run,
                            validate_row=validate_row, apply=apply,
                            transaction=db.session.begin_nested if savepoint else None)
