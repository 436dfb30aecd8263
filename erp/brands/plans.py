"""Inspection plans of specification versions: the ISO 2859-1 level, AQLs and checks.

A plan is part of a version's content: only a draft's plan may change, a new version copies it,
and approving a version checks that its plan is complete (every class that has checks has an
AQL, except critical: no AQL means "0", nothing critical accepted). Receiving inspects goods
made to an approved version whose plan names a level and holds checks (``quality``).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from erp.brands.models import (
    CHECK_KIND_LABELS,
    DEFECT_CLASS_LABELS,
    CheckKind,
    DefectClass,
    SpecificationCheck,
    SpecificationVersion,
)
from erp.brands.services import SpecificationError, _ensure_editable
from erp.core import audit
from erp.core.errors import ValidationError
from erp.core.i18n import _, _l
from erp.core.models import User
from erp.extensions import db

#: the inspection levels a plan may name (ISO 2859-1 Table 1's columns)
LEVELS = ("S-1", "S-2", "S-3", "S-4", "I", "II", "III")
#: the AQLs a plan may name (the columns of ISO 2859-1's single sampling tables, up to 10)
AQLS = tuple(Decimal(a) for a in ("0.010", "0.015", "0.025", "0.040", "0.065", "0.10", "0.15",
                                  "0.25", "0.40", "0.65", "1.0", "1.5", "2.5", "4.0", "6.5", "10"))
#: usual consumer-goods defaults (reference §9): level II, critical "0", major 2.5, minor 4.0
DEFAULT_LEVEL, DEFAULT_MAJOR, DEFAULT_MINOR = "II", Decimal("2.5"), Decimal("4.0")

PLAN_LABELS = {"sampling_level": _l("Inspection level (ISO 2859-1)"),
               "aql_critical": _l("AQL critical"), "aql_major": _l("AQL major"),
               "aql_minor": _l("AQL minor")}
CHECK_LABELS = {"kind": _l("Kind"), "defect_class": _l("Defect class"),
                "description": _l("Check"), "method": _l("Method"), "nominal": _l("Nominal"),
                "tolerance_minus": _l("Tolerance −"), "tolerance_plus": _l("Tolerance +"),
                "unit": _l("Unit"), "sequence": _l("Order")}
_TEXT_LIMITS = {"description": 300, "method": 300, "unit": 16}


def _field_error(field: str, message: str, ref: str) -> ValidationError:
    return ValidationError(_("%(ref)s, %(field)s: %(reason)s", ref=ref,
                             field=(PLAN_LABELS | CHECK_LABELS)[field], reason=message),
                           field=field)


def clean_aql(value: Any, field: str, ref: str) -> Decimal | None:
    """Return the AQL of the tables equal to ``value`` (None for empty)."""
    if value is None or str(value).strip() == "":
        return None
    try:
        number = Decimal(str(value).strip().replace(",", "."))
    except (InvalidOperation, ValueError):
        raise _field_error(field, _("“%(value)s” is not a number.", value=value), ref) from None
    for aql in AQLS:
        if aql == number:
            return aql
    raise _field_error(field, _("%(value)s is not an AQL of the ISO 2859-1 tables; use one of "
                                "%(aqls)s.", value=value,
                                aqls=", ".join(str(a) for a in AQLS)), ref)


def aql_text(value: Decimal | None) -> str:
    """Return an AQL as the tables write it (``2.5``, ``0.010``, ``10``), or "" for none."""
    if value is None:
        return ""
    return next((str(aql) for aql in AQLS if aql == value), f"{value.normalize():f}")


def clean_level(value: Any, ref: str) -> str | None:
    """Return the inspection level (None for empty: no inspection at receiving)."""
    if value is None or str(value).strip() == "":
        return None
    level = str(value).strip().upper()
    if level not in LEVELS:
        raise _field_error("sampling_level", _("“%(value)s” is not an inspection level; use "
                                               "one of %(levels)s.", value=value,
                                               levels=", ".join(LEVELS)), ref)
    return level


def set_plan(version: SpecificationVersion, values: Mapping[str, Any], *,
             actor: User | None) -> SpecificationVersion:
    """Set a draft version's inspection level and AQLs (only what differs is audited).

    :raises SpecificationError: if the version is not a draft.
    :raises ValidationError: naming the field, for an unknown level or AQL.
    """
    _ensure_editable(version, "edit")
    ref = version.label
    clean = {"sampling_level": clean_level(values.get("sampling_level"), ref)}
    for field in ("aql_critical", "aql_major", "aql_minor"):
        clean[field] = clean_aql(values.get(field), field, ref)
    changes = audit.diff(version, clean)
    if changes:
        for key, value in clean.items():
            setattr(version, key, value)
        audit.record(version, "specification_version.plan_set", actor=actor, changes={
            **changes, "specification": version.specification.number,
            "version": version.version})
        db.session.flush()
    return version


def _decimal(value: Any, field: str, ref: str) -> Decimal | None:
    if value is None or str(value).strip() == "":
        return None
    try:
        number = Decimal(str(value).strip().replace(",", "."))
    except (InvalidOperation, ValueError):
        raise _field_error(field, _("“%(value)s” is not a number.", value=value), ref) from None
    if not number.is_finite() or abs(number) >= Decimal("1e8"):
        raise _field_error(field, _("%(value)s is out of range.", value=value), ref)
    return number.quantize(Decimal("0.0001"))


def _check_values(values: Mapping[str, Any], ref: str) -> dict[str, Any]:
    try:
        kind = CheckKind(str(values.get("kind") or ""))
    except ValueError:
        raise _field_error("kind", _("choose one of %(kinds)s.", kinds=", ".join(
            str(label) for label in CHECK_KIND_LABELS.values())), ref) from None
    try:
        defect_class = DefectClass(str(values.get("defect_class") or ""))
    except ValueError:
        raise _field_error("defect_class", _("choose critical, major or minor."), ref) from None
    clean: dict[str, Any] = {"kind": kind, "defect_class": defect_class}
    for field, limit in _TEXT_LIMITS.items():
        text = str(values.get(field) or "").strip() or None
        if text and len(text) > limit:
            raise _field_error(field, _("at most %(n)s characters.", n=limit), ref)
        clean[field] = text
    if not clean["description"]:
        raise _field_error("description", _("say what to check."), ref)
    for field in ("nominal", "tolerance_minus", "tolerance_plus"):
        clean[field] = _decimal(values.get(field), field, ref)
    for field in ("tolerance_minus", "tolerance_plus"):
        if clean[field] is not None and clean[field] < 0:
            raise _field_error(field, _("a tolerance is not negative."), ref)
    if kind == CheckKind.measurement:
        for field in ("nominal", "tolerance_minus", "tolerance_plus", "unit"):
            if clean[field] is None:
                raise _field_error(field, _("a measurement needs a nominal value, both "
                                            "tolerances and a unit."), ref)
    else:
        clean.update(nominal=None, tolerance_minus=None, tolerance_plus=None)
    sequence = values.get("sequence")
    try:
        clean["sequence"] = int(sequence) if sequence not in (None, "") else None
    except (TypeError, ValueError):
        raise _field_error("sequence", _("“%(value)s” is not a whole number.",
                                         value=sequence), ref) from None
    if clean["sequence"] is not None and not 0 <= clean["sequence"] <= 9999:
        raise _field_error("sequence", _("between 0 and 9999."), ref)
    return clean


def _event(check: SpecificationCheck, version: SpecificationVersion) -> dict[str, Any]:
    return {"specification": version.specification.number, "version": version.version,
            "check": check.description}


def add_check(version: SpecificationVersion, values: Mapping[str, Any], *,
              actor: User | None) -> SpecificationCheck:
    """Add a check to a draft version's plan (at the end unless an order is given)."""
    _ensure_editable(version, "edit")
    clean = _check_values(values, version.label)
    if clean["sequence"] is None:
        clean["sequence"] = max((c.sequence for c in version.checks), default=0) + 10
    check = SpecificationCheck(**clean)
    version.checks.append(check)
    db.session.flush()
    audit.record(check, "specification_check.added", actor=actor, changes={
        **_event(check, version), "defect_class": check.defect_class.value,
        "kind": check.kind.value})
    return check


def update_check(check: SpecificationCheck, values: Mapping[str, Any], *,
                 actor: User | None) -> SpecificationCheck:
    """Change a check of a draft version's plan."""
    version = check.version
    _ensure_editable(version, "edit")
    clean = _check_values(values, version.label)
    if clean["sequence"] is None:
        clean["sequence"] = check.sequence
    changes = audit.diff(check, clean)
    if changes:
        for key, value in clean.items():
            setattr(check, key, value)
        db.session.flush()
        audit.record(check, "specification_check.updated", actor=actor,
                     changes={**changes, **_event(check, version)})
    return check


def remove_check(check: SpecificationCheck, *, actor: User | None) -> None:
    """Remove a check from a draft version's plan."""
    version = check.version
    _ensure_editable(version, "edit")
    audit.record(check, "specification_check.removed", actor=actor,
                 changes=_event(check, version))
    version.checks.remove(check)
    db.session.flush()


def copy_plan(source: SpecificationVersion, target: SpecificationVersion) -> None:
    """Copy a version's level, AQLs and checks onto a new version (no audit: the caller's)."""
    for field in SpecificationVersion.PLAN_FIELDS:
        setattr(target, field, getattr(source, field))
    for check in source.checks:
        target.checks.append(SpecificationCheck(
            sequence=check.sequence, kind=check.kind, defect_class=check.defect_class,
            description=check.description, method=check.method, nominal=check.nominal,
            tolerance_minus=check.tolerance_minus, tolerance_plus=check.tolerance_plus,
            unit=check.unit))


def plan_problems(version: SpecificationVersion) -> list[str]:
    """Return why a version's plan is incomplete (empty: complete, or no plan at all)."""
    if version.sampling_level is None:
        if version.checks:
            return [_("%(ref)s has %(n)s checks but no inspection level: choose one, or remove "
                      "the checks to receive its goods without inspection.", ref=version.label,
                      n=len(version.checks))]
        return []
    problems = []
    if not version.checks:
        problems.append(_("%(ref)s names inspection level %(level)s but has no check: add what "
                          "to check, or clear the level.", ref=version.label,
                          level=version.sampling_level))
    classes = {check.defect_class for check in version.checks}
    for cls, field in ((DefectClass.major, "aql_major"), (DefectClass.minor, "aql_minor")):
        if cls in classes and getattr(version, field) is None:
            problems.append(_("%(ref)s has %(class)s checks but no %(field)s.",
                              ref=version.label, **{"class": DEFECT_CLASS_LABELS[cls]},
                              field=PLAN_LABELS[field]))
    return problems


def ensure_plan_complete(version: SpecificationVersion) -> None:
    """Refuse to approve a version whose plan is incomplete (:func:`plan_problems`)."""
    problems = plan_problems(version)
    if problems:
        raise SpecificationError(" ".join(problems))
