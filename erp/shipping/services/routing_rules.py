"""Shipping rule versions: drafts edited rule by rule, activation, roll back, and simulation.

A version's rules are edited only while it is a draft. Activating a draft retires the active
version; rolling back retires the active version and reactivates the one retired last. Both lock
the version rows (and a partial unique index allows one active version), so two activations at
once act once: the second finds the version already active and is refused.

:func:`simulate` routes the orders placed in the last 30 days (not cancelled) with a draft, in
memory, and compares with the service each order has: how many would change and the cost
difference in the base currency.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, select

from erp.core import audit
from erp.core.errors import ValidationError
from erp.core.i18n import _
from erp.core.locking import lock
from erp.core.models import utcnow
from erp.core.money import validate_currency
from erp.core.states import transition
from erp.extensions import db
from erp.orders.models import CustomerOrder, OrderState, ServiceClass
from erp.shipping.errors import ShippingError
from erp.shipping.models import GoodsAttribute, ShippingService
from erp.shipping.routing_models import (
    RULE_VERSION_STATES,
    Rule,
    RuleService,
    RuleVersion,
    RuleVersionState,
)
from erp.shipping.services.carriers import clean_country
from erp.shipping.services.routing import (
    RuleSet,
    load_services,
    shipments_by_id,
    split_list,
)

V = RuleVersionState
MAX_WEIGHT = 1_000_000
#: the fields of a rule, as forms, the workbook and :func:`clean_rule` name them
RULE_FIELDS = ("name", "countries", "regions", "postcode_prefixes", "min_weight_g",
               "max_weight_g", "min_value", "max_value", "value_currency", "goods_required",
               "goods_excluded", "service_class", "sku_codes", "brand_codes", "services")
SIMULATION_DAYS = 30


# --------------------------------------------------------------------------- versions


def _next_number() -> int:
    return (db.session.scalar(select(func.max(RuleVersion.number))) or 0) + 1


def create_version(*, actor, note: str | None = None) -> RuleVersion:
    """Create an empty draft version."""
    version = RuleVersion(number=_next_number(), state=V.draft, note=(note or "").strip()[:200]
                          or None, created_by_id=getattr(actor, "id", None))
    db.session.add(version)
    db.session.flush()
    audit.record(version, "rule_version.created", actor=actor,
                 changes={"state": [None, V.draft.value]})
    return version


def copy_version(source: RuleVersion, *, actor, note: str | None = None) -> RuleVersion:
    """Create a draft holding a copy of ``source``'s rules (usually the active version)."""
    version = RuleVersion(number=_next_number(), state=V.draft, copied_from_id=source.id,
                          note=(note or "").strip()[:200] or
                          _("Copy of %(version)s", version=source.code),
                          created_by_id=getattr(actor, "id", None))
    for rule in source.rules:
        copy = Rule(position=rule.position, **{f: getattr(rule, f) for f in RULE_FIELDS
                                               if f != "services"})
        copy.services = [RuleService(service_id=link.service_id, position=link.position)
                         for link in rule.services]
        version.rules.append(copy)
    db.session.add(version)
    db.session.flush()
    audit.record(version, "rule_version.copied", actor=actor,
                 changes={"state": [None, V.draft.value], "copied_from": source.code,
                          "rules": len(version.rules)})
    return version


def _check_draft(version: RuleVersion) -> None:
    if version.state != V.draft:
        raise ShippingError(_('To change the rules of version %(version)s, it must be a draft; it '
                              'is "%(state)s". Copy it into a new draft instead.',
                              version=version.code,
                              state=RULE_VERSION_STATES.label(version.state)))


def activate_version(version: RuleVersion, *, actor) -> RuleVersion:
    """Activate a draft; the active version (if any) is retired.

    :raises InvalidTransition: when the version is not a draft (e.g. activated just now).
    :raises ShippingError: when the draft has no rule, or a rule has no service.
    """
    lock(version)
    RULE_VERSION_STATES.check(version, V.active)
    if not version.rules:
        raise ShippingError(_("To activate version %(version)s, it must have at least one rule.",
                              version=version.code))
    for rule in version.rules:
        if not rule.services:
            raise ShippingError(_('To activate version %(version)s, rule "%(rule)s" must allow '
                                  "at least one service.", version=version.code, rule=rule.name))
    current = db.session.scalars(select(RuleVersion).where(RuleVersion.state == V.active)
                                 .with_for_update()).all()
    now = utcnow()
    for old in current:
        transition(old, V.retired, machine=RULE_VERSION_STATES, actor=actor,
                   note=_("replaced by %(version)s", version=version.code))
        old.retired_at = now
    db.session.flush()  # one active version at a time (the partial unique index)
    transition(version, V.active, machine=RULE_VERSION_STATES, actor=actor)
    version.activated_at, version.activated_by_id = now, getattr(actor, "id", None)
    version.retired_at = None
    db.session.flush()
    return version


def previous_version() -> RuleVersion | None:
    """Return the version a roll back would reactivate: the one retired last."""
    return db.session.scalar(select(RuleVersion).where(RuleVersion.state == V.retired)
                             .order_by(RuleVersion.retired_at.desc(), RuleVersion.id.desc())
                             .limit(1))


def roll_back(version: RuleVersion, *, actor) -> RuleVersion:
    """Retire the active ``version`` and reactivate the version retired before it.

    :raises InvalidTransition: when ``version`` is not active (rolled back just now).
    :raises ShippingError: when no version was retired before it.
    """
    lock(version)
    RULE_VERSION_STATES.check(version, V.retired)
    previous = previous_version()
    if previous is None:
        raise ShippingError(_("To roll back version %(version)s, a version must have been active "
                              "before it; none was.", version=version.code))
    lock(previous)
    now = utcnow()
    transition(version, V.retired, machine=RULE_VERSION_STATES, actor=actor,
               note=_("rolled back to %(version)s", version=previous.code))
    version.retired_at = now
    db.session.flush()
    transition(previous, V.active, machine=RULE_VERSION_STATES, actor=actor,
               note=_("rolled back from %(version)s", version=version.code))
    previous.activated_at, previous.activated_by_id = now, getattr(actor, "id", None)
    previous.retired_at = None
    db.session.flush()
    return previous


def discard_version(version: RuleVersion, *, actor) -> RuleVersion:
    """Give up a draft, or a retired version no roll back may return to: kept, as discarded.

    :raises InvalidTransition: when the version is active or discarded already.
    """
    lock(version)
    transition(version, V.discarded, machine=RULE_VERSION_STATES, actor=actor,
               changes={"rules": len(version.rules)})
    db.session.flush()
    return version


# --------------------------------------------------------------------------- rules


def _int(value: Any, *, field: str, label: str) -> int | None:
    text = str(value if value is not None else "").strip()
    if not text:
        return None
    try:
        number = int(float(text)) if "." in text and float(text).is_integer() else int(text)
    except ValueError:
        number = -1
    if not 0 <= number <= MAX_WEIGHT:
        raise ValidationError(_("%(label)s must be a whole number of grams from 0 to %(most)s; "
                                "got %(value)s.", label=label, most=MAX_WEIGHT, value=value),
                              field=field)
    return number


def _money(value: Any, *, field: str, label: str) -> Decimal | None:
    text = str(value if value is not None else "").strip()
    if not text:
        return None
    try:
        amount = Decimal(text)
    except InvalidOperation:
        amount = Decimal(-1)
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(Decimal("0.01")):
        raise ValidationError(_("%(label)s must be an amount of zero or more with at most 2 "
                                "decimal places; got %(value)s.", label=label, value=value),
                              field=field)
    return amount


def _goods(value: Any, *, field: str) -> str | None:
    items = split_list(value, upper=False)
    known = {a.value for a in GoodsAttribute}
    for item in items:
        if item not in known:
            raise ValidationError(_("Unknown goods attribute %(value)s; use one of %(choices)s.",
                                    value=item, choices=", ".join(sorted(known))), field=field)
    return ",".join(dict.fromkeys(items)) or None


def _services(value: Any) -> list[int]:
    codes = split_list(value, upper=False) if isinstance(value, str) else \
        [str(v).strip() for v in (value or ()) if str(v).strip()]
    if not codes:
        raise ValidationError(_("Choose at least one service for the rule."), field="services")
    found = {s.code.upper(): s.id for s in db.session.scalars(
        select(ShippingService).where(func.upper(ShippingService.code).in_(
            [c.upper() for c in codes])))}
    ids = []
    for code in codes:
        if code.upper() not in found:
            raise ValidationError(_('No shipping service has the code "%(code)s".', code=code),
                                  field="services")
        ids.append(found[code.upper()])
    return list(dict.fromkeys(ids))


def clean_rule(values: Mapping[str, Any]) -> dict[str, Any]:
    """Return a rule's values checked and normalised; ``services`` becomes service ids.

    :raises ValidationError: naming the field, for the first value that is not acceptable.
    """
    name = str(values.get("name") or "").strip()
    if not name:
        raise ValidationError(_("Give the rule a name."), field="name")
    if len(name) > 120:
        raise ValidationError(_("The rule's name may have at most 120 characters."),
                              field="name")
    countries = [clean_country(c, field="countries") for c in split_list(values.get("countries"))]
    out: dict[str, Any] = {
        "name": name,
        "countries": ",".join(dict.fromkeys(countries)) or None,
        "regions": ",".join(split_list(values.get("regions"), upper=False)) or None,
        "postcode_prefixes": ",".join(split_list(values.get("postcode_prefixes"))) or None,
        "min_weight_g": _int(values.get("min_weight_g"), field="min_weight_g",
                             label=_("The minimum weight")),
        "max_weight_g": _int(values.get("max_weight_g"), field="max_weight_g",
                             label=_("The maximum weight")),
        "min_value": _money(values.get("min_value"), field="min_value",
                            label=_("The minimum value")),
        "max_value": _money(values.get("max_value"), field="max_value",
                            label=_("The maximum value")),
        "goods_required": _goods(values.get("goods_required"), field="goods_required"),
        "goods_excluded": _goods(values.get("goods_excluded"), field="goods_excluded"),
        "sku_codes": ",".join(split_list(values.get("sku_codes"))) or None,
        "brand_codes": ",".join(split_list(values.get("brand_codes"))) or None,
    }
    if out["min_weight_g"] is not None and out["max_weight_g"] is not None \
            and out["min_weight_g"] > out["max_weight_g"]:
        raise ValidationError(_("The minimum weight is above the maximum weight."),
                              field="max_weight_g")
    if out["min_value"] is not None and out["max_value"] is not None \
            and out["min_value"] > out["max_value"]:
        raise ValidationError(_("The minimum value is above the maximum value."),
                              field="max_value")
    currency = str(values.get("value_currency") or "").strip().upper()
    if currency:
        try:
            currency = validate_currency(currency)
        except ValidationError as err:
            raise ValidationError(str(err), field="value_currency") from None
    elif out["min_value"] is not None or out["max_value"] is not None:
        raise ValidationError(_("Give the currency of the value limits."),
                              field="value_currency")
    out["value_currency"] = currency or None
    service_class = str(values.get("service_class") or "").strip().lower()
    if service_class and service_class not in {c.value for c in ServiceClass}:
        raise ValidationError(_("Unknown service class %(value)s; use one of %(choices)s.",
                                value=service_class,
                                choices=", ".join(c.value for c in ServiceClass)),
                              field="service_class")
    out["service_class"] = ServiceClass(service_class) if service_class else None
    out["services"] = _services(values.get("services"))
    return out


def _apply(rule: Rule, values: dict[str, Any]) -> dict:
    service_ids = values.pop("services")
    changes = audit.diff(rule, values) if rule.id else {}
    for key, value in values.items():
        setattr(rule, key, value)
    before = [link.service_id for link in rule.services]
    if before != service_ids:
        rule.services = [RuleService(service_id=sid, position=i)
                         for i, sid in enumerate(service_ids)]
        changes["services"] = [before, service_ids]
    return changes


def add_rule(version: RuleVersion, values: Mapping[str, Any], *, actor,
             position: int | None = None) -> Rule:
    """Add a rule at the end of a draft version (or at ``position``, from 1).

    :raises ShippingError: when the version is not a draft.
    :raises ValidationError: naming the field, for a value that is not acceptable.
    """
    lock(version)
    _check_draft(version)
    cleaned = clean_rule(values)
    rules = list(version.rules)
    rule = Rule(position=0)
    _apply(rule, cleaned)
    index = len(rules) if position is None else max(0, min(len(rules), position - 1))
    rules.insert(index, rule)
    for i, each in enumerate(rules, start=1):
        each.position = i
    version.rules.append(rule)
    db.session.flush()
    db.session.expire(version, ["rules"])  # read again in position order
    audit.record(rule, "routing_rule.created", actor=actor, changes={
        "version": version.code, "name": rule.name, "position": rule.position})
    return rule


def update_rule(rule: Rule, values: Mapping[str, Any], *, actor) -> Rule:
    """Change a rule of a draft version.

    :raises ShippingError: when the version is not a draft.
    :raises ValidationError: naming the field, for a value that is not acceptable.
    """
    lock(rule.version)
    _check_draft(rule.version)
    changes = _apply(rule, clean_rule(values))
    if changes:
        db.session.flush()
        audit.record(rule, "routing_rule.updated", actor=actor,
                     changes={"version": rule.version.code, **changes})
    return rule


def delete_rule(rule: Rule, *, actor) -> None:
    """Delete a rule of a draft version; the rules after it move up.

    :raises ShippingError: when the version is not a draft.
    """
    version = rule.version
    lock(version)
    _check_draft(version)
    audit.record(rule, "routing_rule.deleted", actor=actor,
                 changes={"version": version.code, "name": rule.name})
    version.rules.remove(rule)
    for i, each in enumerate(version.rules, start=1):
        each.position = i
    db.session.flush()


def move_rule(rule: Rule, offset: int, *, actor) -> Rule:
    """Move a rule of a draft ``offset`` places (-1 up, +1 down), within the list.

    :raises ShippingError: when the version is not a draft.
    """
    version = rule.version
    lock(version)
    _check_draft(version)
    rules = list(version.rules)
    index = rules.index(rule)
    target = max(0, min(len(rules) - 1, index + offset))
    if target == index:
        return rule
    rules.insert(target, rules.pop(index))
    for i, each in enumerate(rules, start=1):
        each.position = i
    db.session.flush()
    audit.record(rule, "routing_rule.moved", actor=actor, changes={
        "version": version.code, "position": [index + 1, target + 1]})
    return rule


def replace_rules(version: RuleVersion, rows: list[dict[str, Any]], *, actor) -> int:
    """Replace every rule of a draft by ``rows`` (cleaned by :func:`clean_rule`), in order."""
    lock(version)
    _check_draft(version)
    version.rules.clear()
    db.session.flush()
    for i, values in enumerate(rows, start=1):
        rule = Rule(position=i)
        _apply(rule, dict(values))
        version.rules.append(rule)
    db.session.flush()
    audit.record(version, "rule_version.imported", actor=actor,
                 changes={"rules": len(rows)})
    return len(rows)


# --------------------------------------------------------------------------- simulation


@dataclass
class SimulatedOrder:
    """An order the draft would route elsewhere."""

    order_id: int
    number: str
    current: str | None
    proposed: str
    rule: str | None
    cost_now: Decimal | None
    cost_then: Decimal | None


@dataclass
class Simulation:
    """What a draft would change on the orders of the last :data:`SIMULATION_DAYS` days."""

    version: RuleVersion
    since: Any
    orders: int = 0
    changed: int = 0
    unroutable: int = 0
    cost_now: Decimal = Decimal(0)
    cost_then: Decimal = Decimal(0)
    currency: str = ""
    rows: list[SimulatedOrder] = field(default_factory=list)

    @property
    def difference(self) -> Decimal:
        """Return the cost with the draft minus the cost now (negative: the draft saves)."""
        return self.cost_then - self.cost_now


def simulation_orders(since) -> list[int]:
    """Return the ids of the orders the simulation routes: placed since ``since``, not cancelled."""
    return list(db.session.scalars(select(CustomerOrder.id).where(
        CustomerOrder.placed_at >= since, CustomerOrder.state != OrderState.cancelled)
        .order_by(CustomerOrder.id)))


def simulate(version: RuleVersion, *, now=None, limit_rows: int = 500) -> Simulation:
    """Route the last 30 days' orders with ``version`` in memory and compare with now.

    Each order's cost now is the rate of the service it has (at its catalog weight), its cost
    then the rate of the service the version would choose; orders the version does not route
    (no rule matches, or nothing can carry them) keep their service and cost. Costs are summed
    in the base currency. Nothing is written.
    """
    now = now or utcnow()
    since = now - timedelta(days=SIMULATION_DAYS)
    rules = RuleSet(version, on=now.date())
    sim = Simulation(version, since, currency=rules.base)
    shipments = shipments_by_id(simulation_orders(since))
    current_codes = {s.current for s in shipments if s.current}
    by_code = {sv.code: sv.id for sv in db.session.scalars(
        select(ShippingService).where(ShippingService.code.in_(sorted(current_codes))))} \
        if current_codes else {}
    current_services = load_services(by_code.values())
    for shipment in shipments:
        sim.orders += 1
        now_cost = None
        if shipment.current in by_code:
            entry = rules._check(current_services[by_code[shipment.current]], shipment)
            now_cost = entry.get("_base")
        choice = rules.choose(shipment)
        then_cost = choice.cost_base if choice.service_id is not None else now_cost
        if choice.matched and choice.service_id is None:
            sim.unroutable += 1
        sim.cost_now += now_cost or Decimal(0)
        sim.cost_then += then_cost or Decimal(0)
        if choice.changes:
            sim.changed += 1
            if len(sim.rows) < limit_rows:
                sim.rows.append(SimulatedOrder(shipment.order_id, shipment.number,
                                               shipment.current, choice.service_code,
                                               choice.rule_name, now_cost, then_cost))
    sim.cost_now = sim.cost_now.quantize(Decimal("0.01"))
    sim.cost_then = sim.cost_then.quantize(Decimal("0.01"))
    return sim
