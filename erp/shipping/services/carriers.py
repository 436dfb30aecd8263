"""Carriers and their services: limits, countries served (zones), rate tables and quotes.

A service's limits apply per parcel: the chargeable weight (the greater of the actual weight and
the volumetric weight, L x W x H in cm / divisor, in kg) and the longest side and the sum of the
three sides. Zero means no limit (shared/reference/shipping.md, section 8). Weights are whole
grams and dimensions whole millimetres.

Every function validates, changes, audits and flushes; none commits.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from erp.core import audit
from erp.core.codes import normalize_country
from erp.core.errors import ValidationError
from erp.core.i18n import _, _l, format_number
from erp.core.money import to_decimal, validate_currency
from erp.extensions import db
from erp.orders.hooks import IntakeOrder
from erp.shipping.errors import ShippingError
from erp.shipping.models import (
    Carrier,
    CarrierAdapterKind,
    CarrierKind,
    CustomsDocs,
    ServiceRate,
    ServiceZone,
    ShippingService,
    TrackingKind,
)

CARRIER_CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9._\-]{1,19}$")
SERVICE_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,39}$")
ZONE_RE = re.compile(r"^[A-Z0-9][A-Z0-9._\-]{0,19}$")
CUTOFF_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
#: the largest weight (g) or dimension (mm) a limit may hold
MAX_LIMIT = 10_000_000
MAX_PRICE = Decimal("1e9")

#: the fields of a service that :func:`update_service` may change
SERVICE_FIELDS = ("code", "name", "tracking_kind", "customs_docs", "max_weight_g",
                  "max_longest_mm", "max_sum_mm", "volumetric_divisor", "cutoff",
                  "requires_phone", "lost_after_days", "active", "carrier_service_code")
CARRIER_FIELDS = ("code", "name", "kind", "account_number", "tracking_secret", "active", "adapter",
                  "api_endpoint", "api_token", "api_timeout_s")
API_ENDPOINT_RE = re.compile(r"^https?://[A-Za-z0-9.\-]+(:\d{1,5})?(/[^\s]*)?$")
#: what the audit keeps instead of a carrier's API token
SECRET = "(secret)"
#: a dispatched parcel silent this many days opens a lost-parcel case (a new service's default)
LOST_AFTER_DAYS = {CarrierKind.postal: 10, CarrierKind.express: 5}
#: the shortest tracking webhook secret accepted
MIN_SECRET = 16


# --------------------------------------------------------------------------- cleaning


def _text(value: Any, *, field: str, label: str, limit: int, required: bool = True) -> str | None:
    text = str(value).strip() if value is not None else ""
    if not text:
        if required:
            raise ValidationError(_("%(label)s is required.", label=label), field=field)
        return None
    if len(text) > limit:
        raise ValidationError(_("%(label)s may have at most %(most)s characters, this has "
                                "%(count)s.", label=label, most=limit, count=len(text)),
                              field=field)
    return text


def whole_number_error(label, minimum: int, maximum: int, value: Any = None) -> str:
    """Return "<label> must be a whole number from <minimum> to <maximum>[, got <value>]."."""
    names = {"label": label, "least": format_number(minimum), "most": format_number(maximum)}
    if value is None:
        return _("%(label)s must be a whole number from %(least)s to %(most)s.", **names)
    return _("%(label)s must be a whole number from %(least)s to %(most)s, got %(value)s.",
             value=value, **names)


def _whole(value: Any, *, field: str, label, minimum: int = 0,
           maximum: int = MAX_LIMIT) -> int:
    if isinstance(value, bool) or value is None or str(value).strip() == "":
        raise ValidationError(whole_number_error(label, minimum, maximum), field=field)
    try:
        number = to_decimal(value, field=field)
    except ValidationError:
        raise ValidationError(whole_number_error(label, minimum, maximum, repr(value)),
                              field=field) from None
    if number != number.to_integral_value() or not minimum <= number <= maximum:
        raise ValidationError(whole_number_error(label, minimum, maximum, value), field=field)
    return int(number)


def _enum(enum_cls, value: Any, *, field: str, label):
    try:
        return enum_cls(value.value if hasattr(value, "value") else str(value or "").strip())
    except ValueError:
        allowed = ", ".join(member.value for member in enum_cls)
        raise ValidationError(_("%(label)s must be one of %(allowed)s, got %(value)s.",
                                label=label, allowed=allowed, value=repr(value)),
                              field=field) from None


def clean_carrier_code(value: Any) -> str:
    """Return a carrier code upper-cased; 2-20 letters, digits, '.', '-' or '_'."""
    code = str(value or "").strip().upper()
    if not CARRIER_CODE_RE.match(code):
        raise ValidationError(_("%(code)s is not a carrier code: use 2-20 letters, digits, '.', "
                                "'-' or '_', e.g. CNPOST.",
                                code=repr(code) if code else _("An empty code")), field="code")
    return code


def clean_service_code(value: Any) -> str:
    """Return a service code as given (trimmed): it must match the orders' shipping service.

    :raises ValidationError: unless it is 1-40 letters, digits, '.', '-' or '_'.
    """
    code = str(value or "").strip()
    if not SERVICE_CODE_RE.match(code):
        raise ValidationError(_("%(code)s is not a service code: use 1-40 letters, digits, '.', "
                                "'-' or '_', e.g. POST-REG.",
                                code=repr(code) if code else _("An empty code")), field="code")
    return code


def clean_country(value: Any, *, field: str = "country") -> str:
    """Return an ISO 3166-1 alpha-2 country code (names and alpha-3 codes are accepted)."""
    try:
        return normalize_country(value)
    except ValueError as exc:
        raise ValidationError(_("Country: %(error)s.", error=exc), field=field) from None


def clean_zone(value: Any) -> str:
    """Return a rate zone name upper-cased (1-20 letters, digits, '.', '-' or '_')."""
    zone = str(value or "").strip().upper()
    if not ZONE_RE.match(zone):
        raise ValidationError(_("%(zone)s is not a rate zone: use 1-20 letters, digits, '.', "
                                "'-' or '_', e.g. EU or ZONE-1.",
                                zone=repr(zone) if zone else _("An empty zone")), field="zone")
    return zone


def clean_cutoff(value: Any) -> str:
    """Return a hand-over cut-off time as ``HH:MM`` (24 h); ``9:30`` becomes ``09:30``."""
    text = str(value or "").strip()
    if re.match(r"^\d:[0-5]\d$", text):
        text = f"0{text}"
    if not CUTOFF_RE.match(text):
        raise ValidationError(_("%(time)s is not a cut-off time: use HH:MM on the 24-hour "
                                "clock, e.g. 15:30.",
                                time=repr(text) if text else _("An empty time")),
                              field="cutoff")
    return text


def clean_price(value: Any, *, field: str = "price") -> Decimal:
    """Return a rate price: zero or more, at most 2 decimal places."""
    if value is None or str(value).strip() == "":
        raise ValidationError(_("A price is required (zero or more)."), field=field)
    price = to_decimal(value, field=field)
    if price < 0:
        raise ValidationError(_("The price must be zero or more, got %(value)s.", value=value),
                              field=field)
    if price >= MAX_PRICE:
        raise ValidationError(_("The price must be less than %(most)s.",
                                most=format_number(MAX_PRICE, places=0)), field=field)
    if price != price.quantize(Decimal("0.01")):
        raise ValidationError(_("The price may have at most 2 decimal places, got %(value)s.",
                                value=value), field=field)
    return price.quantize(Decimal("0.01"))


def clean_currency(value: Any, *, field: str = "currency") -> str:
    """Return an ISO 4217 currency code."""
    try:
        return validate_currency(str(value or ""))
    except ValueError as exc:
        raise ValidationError(_("Currency: %(error)s.", error=exc), field=field) from None


def _carrier_values(values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key == "code":
            out[key] = clean_carrier_code(value)
        elif key == "name":
            out[key] = _text(value, field="name", label=_("The carrier's name"), limit=120)
        elif key == "kind":
            out[key] = _enum(CarrierKind, value, field="kind", label=_("The carrier kind"))
        elif key == "account_number":
            out[key] = _text(value, field=key, label=_("The account number"), limit=40,
                             required=False)
        elif key == "tracking_secret":
            secret = str(value or "").strip()
            if not secret:
                continue  # empty: the secret stays as it is
            if not MIN_SECRET <= len(secret) <= 128 or any(c.isspace() for c in secret):
                raise ValidationError(_("The tracking secret must be %(least)s to 128 characters "
                                        "without spaces.", least=MIN_SECRET), field=key)
            out[key] = secret
        elif key == "active":
            out[key] = bool(value)
        elif key == "adapter":
            out[key] = _enum(CarrierAdapterKind, value or CarrierAdapterKind.postal, field=key,
                             label=_("The booking adapter"))
        elif key == "api_endpoint":
            text = _text(value, field=key, label=_("The API endpoint"), limit=200,
                         required=False)
            if text and not API_ENDPOINT_RE.match(text):
                raise ValidationError(_("%(url)s is not an API endpoint: give the carrier's "
                                        "base URL, e.g. https://api.carrier.example.",
                                        url=repr(text)), field=key)
            out[key] = text.rstrip("/") if text else None
        elif key == "api_token":
            out[key] = _text(value, field=key, label=_("The API token"), limit=200,
                             required=False)
        elif key == "api_timeout_s":
            out[key] = _whole(value, field=key, label=_("The API time-out (s)"), minimum=1,
                              maximum=120)
    return out


def _check_api(values: dict[str, Any], carrier: Carrier | None = None) -> None:
    """Refuse an API carrier without an endpoint or a token."""
    def current(key):
        return values[key] if key in values else getattr(carrier, key, None)

    if current("adapter") != CarrierAdapterKind.http:
        return
    if not current("api_endpoint"):
        raise ValidationError(_("A carrier booked through its API needs the API endpoint."),
                              field="api_endpoint")
    if not current("api_token"):
        raise ValidationError(_("A carrier booked through its API needs the API token."),
                              field="api_token")


def _hide_token(changes: dict) -> dict:
    if "api_token" in changes:
        before, after = changes["api_token"]
        changes["api_token"] = [SECRET if before else None, SECRET if after else None]
    return changes


def _hide_secrets(changes: dict) -> dict:
    """Keep the API token and the tracking secret out of the audit log."""
    return _hide_secret(_hide_token(changes))


def mask_token(token: str | None) -> str:
    """Return a token as screens show it: its last 4 characters only."""
    if not token:
        return ""
    return f"…{token[-4:]}" if len(token) > 8 else "…"


def _hide_secret(changes: dict) -> dict:
    """Keep the tracking secret out of the audit log: only that it changed."""
    if "tracking_secret" in changes:
        before = changes["tracking_secret"][0]
        changes["tracking_secret"] = [None if before is None else "(secret)", "(new secret)"]
    return changes


#: what a service's limits are called in messages
_SERVICE_LIMITS = {"max_weight_g": _l("The maximum weight (g)"),
                   "max_longest_mm": _l("The longest side limit (mm)"),
                   "max_sum_mm": _l("The limit on the sum of the sides (mm)"),
                   "volumetric_divisor": _l("The volumetric divisor")}


def _service_values(values: dict[str, Any]) -> dict[str, Any]:
    labels = _SERVICE_LIMITS
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key == "code":
            out[key] = clean_service_code(value)
        elif key == "name":
            out[key] = _text(value, field="name", label=_("The service's name"), limit=120)
        elif key == "tracking_kind":
            out[key] = _enum(TrackingKind, value, field=key,
                             label=_("The tracking number kind"))
        elif key == "customs_docs":
            out[key] = _enum(CustomsDocs, value, field=key, label=_("The customs documents"))
        elif key in labels:
            out[key] = _whole(value, field=key, label=labels[key])
        elif key == "cutoff":
            out[key] = clean_cutoff(value)
        elif key == "lost_after_days":
            if value is None or str(value).strip() == "":
                continue  # empty: as it is (a new service: its carrier kind's default)
            out[key] = _whole(value, field=key, label=_("The days without an event before a "
                                                        "parcel is lost"), minimum=1,
                              maximum=365)
        elif key in ("requires_phone", "active"):
            out[key] = bool(value)
        elif key == "carrier_service_code":
            text = str(value or "").strip()
            if text and not SERVICE_CODE_RE.match(text):
                raise ValidationError(_("%(code)s is not a service code: use 1-40 letters, "
                                        "digits, '.', '-' or '_'.", code=repr(text)),
                                      field=key)
            out[key] = text or None
    return out


# --------------------------------------------------------------------------- carriers


def carrier_by_code(code: Any) -> Carrier | None:
    """Return the carrier with ``code`` (any case) or None."""
    text = str(code or "").strip().upper()
    return db.session.scalar(select(Carrier).where(Carrier.code == text)) if text else None


def create_carrier(*, code: str, name: str, kind: CarrierKind | str = CarrierKind.postal,
                   account_number: str | None = None, tracking_secret: str | None = None,
                   adapter: CarrierAdapterKind | str = CarrierAdapterKind.postal,
                   api_endpoint: str | None = None, api_token: str | None = None,
                   api_timeout_s: int = 10, actor) -> Carrier:
    """Create an active carrier.

    ``adapter`` ``http`` books its parcels through its API at ``api_endpoint`` with
    ``api_token`` (both then required), waiting ``api_timeout_s`` seconds per call.

    :raises ValidationError: for a malformed code, a missing name, an unknown kind or adapter,
        a bad endpoint or time-out, or an API carrier without endpoint or token.
    :raises ShippingError: if another carrier has the code.
    """
    values = _carrier_values({"code": code, "name": name, "kind": kind,
                              "account_number": account_number, "adapter": adapter,
                              "api_endpoint": api_endpoint, "api_token": api_token,
                              "api_timeout_s": api_timeout_s,
                              "tracking_secret": tracking_secret})
    _check_api(values)
    if carrier_by_code(values["code"]) is not None:
        raise ShippingError(_('To create carrier "%(code)s", you must choose another code: a '
                              "carrier already uses it.", code=values["code"]), field="code")
    carrier = Carrier(**values, active=True)
    db.session.add(carrier)
    db.session.flush()
    audit.record(carrier, "carrier.created", actor=actor, changes=_hide_secrets({
        key: [None, value] for key, value in values.items() if value is not None}))
    return carrier


def update_carrier(carrier: Carrier, *, actor, **fields: Any) -> Carrier:
    """Change the given fields (:data:`CARRIER_FIELDS`) of a carrier; audit what differs."""
    unknown = set(fields) - set(CARRIER_FIELDS)
    if unknown:
        raise TypeError(f"update_carrier() got fields it cannot change: {sorted(unknown)}")
    values = _carrier_values(fields)
    _check_api(values, carrier)
    if "code" in values:
        other = carrier_by_code(values["code"])
        if other is not None and other is not carrier:
            raise ShippingError(_('To rename carrier "%(old)s" to "%(code)s", you must choose '
                                  "another code: %(other)s already uses it.", old=carrier.code,
                                  code=values["code"], other=other.name), field="code")
    changes = audit.diff(carrier, values)
    if changes:
        for key in changes:
            setattr(carrier, key, values[key])
        audit.record(carrier, "carrier.updated", actor=actor, changes=_hide_secrets(changes))
        db.session.flush()
    return carrier


# --------------------------------------------------------------------------- services


def service_by_code(code: Any) -> ShippingService | None:
    """Return the service with exactly ``code`` (trimmed), active or not, or None."""
    text = str(code or "").strip()
    return db.session.scalar(select(ShippingService).where(ShippingService.code == text)) \
        if text else None


def create_service(carrier: Carrier, *, code: str, name: str,
                   tracking_kind: TrackingKind | str, customs_docs: CustomsDocs | str,
                   max_weight_g: int = 0, max_longest_mm: int = 0, max_sum_mm: int = 0,
                   volumetric_divisor: int = 0, cutoff: str = "15:00",
                   requires_phone: bool = False, carrier_service_code: str | None = None,
                   lost_after_days: int | None = None,
                   actor) -> ShippingService:
    """Create an active service of ``carrier``; limits are >= 0 (0 = no limit).

    :raises ValidationError: for a bad code, name, kind, limit or cut-off (naming the field).
    :raises ShippingError: if another service has the code.
    """
    values = _service_values({
        "code": code, "name": name, "tracking_kind": tracking_kind, "customs_docs": customs_docs,
        "max_weight_g": max_weight_g, "max_longest_mm": max_longest_mm, "max_sum_mm": max_sum_mm,
        "volumetric_divisor": volumetric_divisor, "cutoff": cutoff,
        "requires_phone": requires_phone, "carrier_service_code": carrier_service_code,
        "lost_after_days": lost_after_days})
    values.setdefault("lost_after_days", LOST_AFTER_DAYS[CarrierKind(carrier.kind)])
    if service_by_code(values["code"]) is not None:
        raise ShippingError(_('To create service "%(code)s", you must choose another code: a '
                              "service already uses it.", code=values["code"]), field="code")
    service = ShippingService(carrier=carrier, **values, active=True)
    db.session.add(service)
    db.session.flush()
    audit.record(service, "shipping_service.created", actor=actor, changes={
        "carrier": carrier.code, **{key: [None, value] for key, value in values.items()}})
    return service


def update_service(service: ShippingService, *, actor, **fields: Any) -> ShippingService:
    """Change the given fields (:data:`SERVICE_FIELDS`) of a service; audit what differs.

    :raises ValidationError: for a bad value, naming the field.
    :raises ShippingError: if another service has the new code.
    """
    unknown = set(fields) - set(SERVICE_FIELDS)
    if unknown:
        raise TypeError(f"update_service() got fields it cannot change: {sorted(unknown)}")
    values = _service_values(fields)
    if "code" in values:
        other = service_by_code(values["code"])
        if other is not None and other is not service:
            raise ShippingError(_('To rename service "%(old)s" to "%(code)s", you must choose '
                                  "another code: %(other)s already uses it.", old=service.code,
                                  code=values["code"], other=other.name), field="code")
    changes = audit.diff(service, values)
    if changes:
        for key in changes:
            setattr(service, key, values[key])
        audit.record(service, "shipping_service.updated", actor=actor, changes=changes)
        db.session.flush()
    return service


def set_zones(service: ShippingService, zones: dict[str, str], *, actor) -> ShippingService:
    """Set the countries ``service`` serves: ``{country: rate zone}`` replaces the list.

    Countries may be codes or names; zones are upper-cased. Audited with the countries added,
    removed and re-zoned.

    :raises ValidationError: for an unknown country or a malformed zone.
    """
    wanted: dict[str, str] = {}
    for country, zone in zones.items():
        wanted[clean_country(country)] = clean_zone(zone)
    current = {z.country: z for z in service.zones}
    added = {c: z for c, z in wanted.items() if c not in current}
    removed = sorted(c for c in current if c not in wanted)
    changed = {c: [current[c].zone, z] for c, z in wanted.items()
               if c in current and current[c].zone != z}
    if not (added or removed or changed):
        return service
    for country in removed:
        service.zones.remove(current[country])
    for country, zone in changed.items():
        current[country].zone = zone[1]
    for country, zone in sorted(added.items()):
        service.zones.append(ServiceZone(country=country, zone=zone))
    db.session.flush()
    audit.record(service, "shipping_service.zones_set", actor=actor, changes={
        "added": added, "removed": removed, "rezoned": changed})
    return service


def parse_zone_lines(text: str) -> dict[str, str]:
    """Read ``{country: zone}`` from text lines such as ``DE EU`` or ``US, ZONE-2``.

    :raises ValidationError: naming the line that is not "country zone".
    """
    out: dict[str, str] = {}
    for number, line in enumerate(str(text or "").splitlines(), start=1):
        parts = [p for p in re.split(r"[\s,;:=]+", line.strip()) if p]
        if not parts:
            continue
        if len(parts) != 2:
            raise ValidationError(_('Line %(number)s "%(line)s": write a country and its zone, '
                                    "e.g. DE EU.", number=number, line=line.strip()),
                                  field="zones")
        try:
            country = clean_country(parts[0], field="zones")
            out[country] = clean_zone(parts[1])
        except ValidationError as err:
            raise ValidationError(_("Line %(number)s: %(error)s", number=number, error=str(err)),
                                  field="zones") from None
    return out


def zone_of(service: ShippingService, country: str) -> str | None:
    """Return the rate zone of ``country`` for ``service``, or None if it is not served."""
    code = str(country or "").strip().upper()
    return db.session.scalar(select(ServiceZone.zone).where(
        ServiceZone.service_id == service.id, ServiceZone.country == code))


def service_for_order(order) -> ShippingService:
    """Return the active service the order asks for (``order.shipping_service``).

    :raises ShippingError: naming the order when it asks for no service, an unknown or
        inactive one, or one that does not serve its country.
    """
    code = (order.shipping_service or "").strip()
    if not code:
        raise ShippingError(_("Order %(order)s asks for no shipping service; set its shipping "
                              "service before packing it.", order=order.number))
    service = service_by_code(code)
    if service is None:
        raise ShippingError(_('Order %(order)s asks for shipping service "%(code)s", which does '
                              "not exist; create the service or change the order's service.",
                              order=order.number, code=code))
    if not service.active or not service.carrier.active:
        raise ShippingError(_('Order %(order)s asks for shipping service "%(code)s", which is '
                              "inactive; reactivate it or change the order's service.",
                              order=order.number, code=code))
    if zone_of(service, order.country) is None:
        raise ShippingError(_('Order %(order)s goes to %(country)s, which %(service)s '
                              '("%(code)s") does not serve; add the country to the service or '
                              "change the order's service.", order=order.number,
                              country=order.country, service=service.name, code=code))
    return service


def intake_problems(orders: Sequence[IntakeOrder]) -> dict[int, dict[str, str]]:
    """Say why orders about to be taken in cannot ship with the service they ask for.

    Registered as an intake check (:data:`erp.orders.hooks.intake_checks`), so the API and the
    order sheet refuse what packing would refuse later: a service that does not exist or is
    inactive, that does not serve the order's country, whose weight limit the goods' estimated
    weight (:attr:`IntakeOrder.weight_g`) exceeds, whose longest side or length + width +
    height limit a single item exceeds, or that needs a phone number the order lacks. An order
    asking for no service is left alone: the packing bench chooses one. One query for the
    services and one for their zones, however many orders.

    The messages stay English: the storefront's JSON API returns them to the shop, whatever the
    language of the person signed in here.

    :returns: ``{index in orders: {field path: message}}`` for the orders refused.
    """
    codes = sorted({o.shipping_service for o in orders if o.shipping_service})
    if not codes:
        return {}
    services: dict[str, _IntakeService] = {}
    for start in range(0, len(codes), 500):
        for service in db.session.scalars(
                select(ShippingService).where(ShippingService.code.in_(codes[start:start + 500]))
                .options(joinedload(ShippingService.carrier))):
            services[service.code] = _IntakeService(
                service.id, f'{service.name} ("{service.code}")',
                service.active and service.carrier.active, service.max_weight_g or 0,
                service.max_longest_mm or 0, service.max_sum_mm or 0, service.requires_phone)
    served = set(db.session.execute(
        select(ServiceZone.service_id, ServiceZone.country)
        .where(ServiceZone.service_id.in_([s.id for s in services.values()]))).tuples()) \
        if services else set()
    found: dict[int, dict[str, str]] = {}
    for index, order in enumerate(orders):
        if not order.shipping_service:
            continue
        problems = _intake_problems(order, services.get(order.shipping_service), served)
        if problems:
            found[index] = problems
    return found


@dataclass(frozen=True, slots=True)
class _IntakeService:
    """What the intake check needs of a service, read once per import."""

    id: int
    named: str
    active: bool
    max_weight_g: int
    max_longest_mm: int
    max_sum_mm: int
    requires_phone: bool


def _intake_problems(order: IntakeOrder, service: _IntakeService | None,
                     served: set[tuple[int, str]]) -> dict[str, str]:
    if service is None:
        return {"shipping_service": f'no shipping service has the code '
                                    f'"{order.shipping_service}"; use the code of one of the '
                                    "ERP's services, or none for the packing bench to choose"}
    named = service.named
    if not service.active:
        return {"shipping_service": f"{named} is inactive; choose an active service"}
    problems: dict[str, str] = {}
    if (service.id, order.country) not in served:
        problems["shipping_service"] = (f"{named} does not serve {order.country}; choose a "
                                        "service that does")
    if service.max_weight_g:
        weight = order.weight_g
        if weight > service.max_weight_g:
            problems["lines"] = (f"the goods weigh an estimated {weight:,} g (catalog weight x "
                                 f"quantity); {named} takes at most {service.max_weight_g:,} g "
                                 "a parcel")
    if service.max_longest_mm or service.max_sum_mm:
        for i, line in enumerate(order.lines):
            longest = max(line.length_mm, line.width_mm, line.height_mm)
            total = line.length_mm + line.width_mm + line.height_mm
            if service.max_longest_mm and longest > service.max_longest_mm:
                problems[f"lines[{i}].sku"] = (
                    f"{line.sku_code} is {longest:,} mm long; {named} takes at most "
                    f"{service.max_longest_mm:,} mm on the longest side")
            elif service.max_sum_mm and total > service.max_sum_mm:
                problems[f"lines[{i}].sku"] = (
                    f"{line.sku_code} measures {total:,} mm length + width + height; {named} "
                    f"takes at most {service.max_sum_mm:,} mm")
    if service.requires_phone and not (order.phone or "").strip():
        problems["phone"] = f"is required by {named}"
    return problems


# --------------------------------------------------------------------------- weights and limits


def volumetric_weight_g(service: ShippingService, length_mm: int | None, width_mm: int | None,
                        height_mm: int | None) -> int:
    """Return the volumetric weight in grams (rounded up), or 0 without a divisor or sizes.

    kg = L x W x H (cm) / divisor, so g = L x W x H (mm) / divisor (the 1000s cancel).
    """
    divisor = service.volumetric_divisor or 0
    if divisor <= 0 or not (length_mm and width_mm and height_mm):
        return 0
    volume = int(length_mm) * int(width_mm) * int(height_mm)
    return -(-volume // divisor)


def chargeable_weight_g(service: ShippingService, weight_g: int, length_mm: int | None,
                        width_mm: int | None, height_mm: int | None) -> int:
    """Return the greater of the actual and the volumetric weight, in grams."""
    return max(int(weight_g), volumetric_weight_g(service, length_mm, width_mm, height_mm))


def check_parcel_limits(service: ShippingService, *, weight_g: int, length_mm: int | None,
                        width_mm: int | None, height_mm: int | None) -> None:
    """Refuse a parcel that breaks one of the service's limits (0 = no limit).

    :raises ShippingError: naming the limit and the service, e.g. "The parcel weighs 2,350 g
        (chargeable); Registered air mail takes at most 2,000 g."
    """
    if weight_g is None or int(weight_g) <= 0:
        raise ShippingError(_("Enter the parcel's weight in grams (more than 0)."),
                            field="weight_g")
    chargeable = chargeable_weight_g(service, weight_g, length_mm, width_mm, height_mm)
    if service.max_weight_g and chargeable > service.max_weight_g:
        names = {"weight": format_number(chargeable), "service": service.name,
                 "most": format_number(service.max_weight_g)}
        if chargeable > int(weight_g):
            message = _("The parcel weighs %(weight)s g (chargeable: volumetric; the actual "
                        "weight is %(actual)s g); %(service)s takes at most %(most)s g. Split it "
                        "into parcels or choose another service.",
                        actual=format_number(int(weight_g)), **names)
        else:
            message = _("The parcel weighs %(weight)s g (chargeable); %(service)s takes at most "
                        "%(most)s g. Split it into parcels or choose another service.", **names)
        raise ShippingError(message, field="weight_g")
    sides = [int(s) for s in (length_mm, width_mm, height_mm) if s]
    if not sides:
        return
    if any(s <= 0 for s in sides):
        raise ShippingError(_("Parcel dimensions must be more than 0 mm."), field="length_mm")
    longest = max(sides)
    if service.max_longest_mm and longest > service.max_longest_mm:
        raise ShippingError(_("The parcel's longest side is %(longest)s mm; %(service)s takes at "
                              "most %(most)s mm. Use a smaller box or choose another service.",
                              longest=format_number(longest), service=service.name,
                              most=format_number(service.max_longest_mm)), field="length_mm")
    total = sum(sides)
    if service.max_sum_mm and total > service.max_sum_mm:
        raise ShippingError(_("The parcel's length + width + height is %(total)s mm; "
                              "%(service)s takes at most %(most)s mm. Use a smaller box or "
                              "choose another service.", total=format_number(total),
                              service=service.name, most=format_number(service.max_sum_mm)),
                            field="length_mm")


# --------------------------------------------------------------------------- rates


def set_rate(service: ShippingService, *, zone: str, max_weight_g: int, price: Any,
             currency: str, actor) -> tuple[ServiceRate, str]:
    """Create or update the rate band (zone, up to ``max_weight_g``) of a service.

    Returns the rate and ``"created"``, ``"updated"`` or ``"skipped"`` (unchanged).

    :raises ValidationError: for a bad zone, band (> 0 g), price (>= 0) or currency.
    """
    zone = clean_zone(zone)
    band = _whole(max_weight_g, field="max_weight_g", label=_("The weight band (g)"),
                  minimum=1)
    price = clean_price(price)
    currency = clean_currency(currency)
    rate = db.session.scalar(select(ServiceRate).where(
        ServiceRate.service_id == service.id, ServiceRate.zone == zone,
        ServiceRate.max_weight_g == band))
    context = {"service": service.code, "zone": zone, "max_weight_g": band}
    if rate is None:
        rate = ServiceRate(service_id=service.id, zone=zone, max_weight_g=band, price=price,
                           currency=currency)
        db.session.add(rate)
        db.session.flush()
        audit.record(rate, "service_rate.created", actor=actor, changes={
            **context, "price": [None, price], "currency": [None, currency]})
        db.session.expire(service, ["rates"])
        return rate, "created"
    changes = audit.diff(rate, {"price": price, "currency": currency})
    if not changes:
        return rate, "skipped"
    rate.price, rate.currency = price, currency
    audit.record(rate, "service_rate.updated", actor=actor, changes={**context, **changes})
    db.session.flush()
    return rate, "updated"


def remove_rate(rate: ServiceRate, *, actor) -> None:
    """Delete a rate band."""
    service = rate.service
    audit.record(rate, "service_rate.removed", actor=actor, changes={
        "service": service.code, "zone": rate.zone, "max_weight_g": rate.max_weight_g,
        "price": [rate.price, None], "currency": [rate.currency, None]})
    db.session.delete(rate)
    db.session.flush()
    db.session.expire(service, ["rates"])


def quote(service: ShippingService, country: str, chargeable_g: int) -> tuple[Decimal, str] | None:
    """Return ``(price, currency)`` of the smallest band of the country's zone that fits.

    None when the service does not serve the country, or no band is heavy enough.
    """
    zone = zone_of(service, country)
    if zone is None:
        return None
    row = db.session.execute(
        select(ServiceRate.price, ServiceRate.currency)
        .where(ServiceRate.service_id == service.id, ServiceRate.zone == zone,
               ServiceRate.max_weight_g >= int(chargeable_g))
        .order_by(ServiceRate.max_weight_g).limit(1)).first()
    return (row.price, row.currency) if row is not None else None


Band = tuple[int, Decimal, str]  # max_weight_g, price, currency


def rate_bands(keys: Iterable[tuple[int, str]]) -> dict[tuple[int, str], list[Band]]:
    """Return the rate bands of each ``(service id, zone)``, lightest first, in one query.

    ``{(service_id, zone): [(max_weight_g, price, currency), ...]}``; a key without rates maps
    to an empty list. :func:`quote_from_bands` reads them as :func:`quote` reads the table.
    """
    keys = set(keys)
    bands: dict[tuple[int, str], list[Band]] = {key: [] for key in keys}
    if not keys:
        return bands
    rows = db.session.execute(
        select(ServiceRate.service_id, ServiceRate.zone, ServiceRate.max_weight_g,
               ServiceRate.price, ServiceRate.currency)
        .where(ServiceRate.service_id.in_(sorted({s for s, _z in keys})),
               ServiceRate.zone.in_(sorted({z for _s, z in keys})))
        .order_by(ServiceRate.max_weight_g))
    for row in rows:
        key = (row.service_id, row.zone)
        if key in bands:
            bands[key].append((row.max_weight_g, row.price, row.currency))
    return bands


def quote_from_bands(bands: Sequence[Band], chargeable_g: int) -> tuple[Decimal, str] | None:
    """Return ``(price, currency)`` of the lightest band (sorted) holding ``chargeable_g``."""
    for max_weight_g, price, currency in bands:
        if max_weight_g >= chargeable_g:
            return price, currency
    return None

