"""Inspection services: open lots at receiving, record defects and photos, decide, release, scrap.

A lot waits in the warehouse's QC hold bin (a quarantine-kind bin: not available, never offered
to put-away). Accepted, its goods move to the bin the receipt was posted to, so put-away takes
them as any receipt. Rejected, they move to a quarantine bin with the reference
``inspection:<id>``; a manager may release them as a concession (they then go on like accepted
goods), or they are scrapped, or returned to the supplier (procurement's supplier return reads
the quarantine stock). Each original decision updates the switching state (ISO 2859-1 clause 9)
of the supplier, specification and defect class.
"""

from __future__ import annotations

import mimetypes
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import NamedTuple

from sqlalchemy import insert, select, update
from sqlalchemy.orm import selectinload

from erp.brands.models import DefectClass, SpecificationCheck, SpecificationVersion
from erp.catalog.models import Product, Sku
from erp.core import audit, numbering
from erp.core.errors import DomainError, ValidationError
from erp.core.i18n import _, format_number
from erp.core.locking import lock
from erp.core.models import Sequence as NumberSequence
from erp.core.models import utcnow
from erp.core.states import transition
from erp.extensions import db
from erp.quality import hooks, sampling
from erp.quality.models import (
    INSPECTION_STATES,
    Inspection,
    InspectionDefect,
    InspectionPhoto,
    InspectionPlanLine,
    InspectionState,
    Severity,
    SwitchingPolicy,
    SwitchingState,
)
from erp.warehouse.models import Location, LocationKind, MoveKind, Warehouse
from erp.warehouse.services import MoveSpec, StockError, post_moves
from erp.warehouse.services.ledger import _insert_ignore

I = InspectionState  # noqa: E741 - the enum's short name, as in models
#: the stock-move reference of an inspection's own moves (decision, release, scrap)
INSPECTION_REF = "inspection"
#: the code of the QC hold bin each warehouse gets on first use
HOLD_CODE = "QC-HOLD"
#: where rejected lots go when the warehouse has no quarantine bin of its own
QUARANTINE_CODE = "QUARANTINE"
SCRAP_CODE = "SCRAP"
MAX_PHOTO_BYTES = 5 * 1024 * 1024
PHOTO_TYPES = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"),
               (b"GIF87a", "image/gif"), (b"GIF89a", "image/gif"))
#: the classes every lot is judged on, in the order they are shown
CLASSES = (DefectClass.critical, DefectClass.major, DefectClass.minor)


class InspectionError(DomainError):
    """An inspection rule refused the change."""


# --------------------------------------------------------------------------- bins


def _system_location(warehouse: Warehouse, code: str, kind: LocationKind) -> Location:
    """Return the warehouse's bin ``code`` of ``kind``, made on first use (race-safe).

    :raises InspectionError: if a bin of that code but another kind exists.
    """
    stmt = select(Location).where(Location.warehouse_id == warehouse.id, Location.code == code)
    location = db.session.scalar(stmt)
    if location is None:
        db.session.execute(_insert_ignore(Location.__table__, [{
            "warehouse_id": warehouse.id, "code": code, "kind": kind.value,
            "pick_sequence": 0, "active": True}]))
        location = db.session.scalar(stmt)
        audit.record(location, "location.created", actor=None, changes={
            "warehouse": warehouse.code, "code": [None, code], "kind": [None, kind.value],
            "pick_sequence": [None, 0]})
    if location.kind != kind:
        raise InspectionError(_("Warehouse %(warehouse)s has a bin %(code)s that is not a "
                                "%(kind)s bin; rename that bin to go on.",
                                warehouse=warehouse.code, code=code, kind=kind.value))
    return location


def hold_location(warehouse: Warehouse) -> Location:
    """Return the QC hold bin of ``warehouse``, where lots wait for their inspection."""
    return _system_location(warehouse, HOLD_CODE, LocationKind.quarantine)


def _first_bin(warehouse_id: int, kind: LocationKind, *, besides: str | None = None
               ) -> Location | None:
    stmt = select(Location).where(Location.warehouse_id == warehouse_id, Location.kind == kind,
                                  Location.active.is_(True))
    if besides:
        stmt = stmt.where(Location.code != besides)
    return db.session.scalar(stmt.order_by(Location.pick_sequence, Location.code).limit(1))


def quarantine_location(warehouse: Warehouse) -> Location:
    """Return the quarantine bin rejected lots go to: the warehouse's first, else one made."""
    return (_first_bin(warehouse.id, LocationKind.quarantine, besides=HOLD_CODE)
            or _system_location(warehouse, QUARANTINE_CODE, LocationKind.quarantine))


def scrap_location(warehouse: Warehouse) -> Location:
    """Return the scrap bin of ``warehouse``: its first, else one made."""
    return (_first_bin(warehouse.id, LocationKind.scrap)
            or _system_location(warehouse, SCRAP_CODE, LocationKind.scrap))


# --------------------------------------------------------------------------- opening lots


def inspected_versions(sku_ids) -> dict[int, SpecificationVersion]:
    """Return, per SKU id, the specification version whose plan its goods are inspected by.

    The version is the SKU's product's. Only SKUs whose version is approved, names a level and
    has checks are in the result.
    """
    rows = db.session.execute(
        select(Sku.id, Product.spec_version_id).join(Product, Product.id == Sku.product_id)
        .where(Sku.id.in_(sorted(set(sku_ids))), Product.spec_version_id.is_not(None))).all()
    if not rows:
        return {}
    versions = {v.id: v for v in db.session.scalars(
        select(SpecificationVersion)
        .where(SpecificationVersion.id.in_({version_id for _sku, version_id in rows}))
        .options(selectinload(SpecificationVersion.checks),
                 selectinload(SpecificationVersion.specification)))}
    return {sku_id: versions[version_id] for sku_id, version_id in rows
            if versions[version_id].has_inspection_plan}


def plan_aqls(version: SpecificationVersion) -> dict[DefectClass, Decimal | None]:
    """Return the AQL of each class the version's plan judges (None: the "0" plan).

    Critical is always judged ("0" unless an AQL is set); major and minor when the version sets
    their AQL or has checks of that class (then "0" without an AQL).
    """
    classes = {DefectClass(c.defect_class) for c in version.checks}
    aqls = {DefectClass.critical: version.aql_critical, DefectClass.major: version.aql_major,
            DefectClass.minor: version.aql_minor}
    return {cls: aqls[cls] for cls in CLASSES
            if cls == DefectClass.critical or aqls[cls] is not None or cls in classes}


@dataclass(frozen=True)
class LotSpec:
    """A lot to open: what arrived on one receipt line of a SKU with an inspection plan."""

    ref_type: str
    ref_id: int
    reference: str
    supplier_id: int | None
    supplier_name: str | None
    sku_id: int
    version: SpecificationVersion
    warehouse: Warehouse
    release_location_id: int
    lot_size: int


def _switching(supplier_id, specification_ids) -> dict[tuple[int, str], SwitchingState]:
    if supplier_id is None or not specification_ids:
        return {}
    rows = db.session.scalars(select(SwitchingState).where(
        SwitchingState.supplier_id == supplier_id,
        SwitchingState.specification_id.in_(sorted(specification_ids))))
    return {(row.specification_id, DefectClass(row.defect_class)): row for row in rows}


def check_not_discontinued(supplier_id: int | None, supplier_name: str | None,
                           version: SpecificationVersion,
                           states: Mapping[tuple[int, str], SwitchingState] | None = None
                           ) -> None:
    """Refuse a lot of a supplier whose inspection under this specification is discontinued.

    :raises InspectionError: naming the supplier, the specification and the class.
    """
    if states is None:
        states = _switching(supplier_id, {version.specification_id})
    for cls in CLASSES:
        row = states.get((version.specification_id, cls))
        if row is not None and row.discontinued:
            raise InspectionError(_(
                'Goods of specification "%(spec)s" from supplier "%(supplier)s" cannot be '
                "received: inspection is discontinued after five lots not accepted on "
                "tightened inspection (%(class)s defects). A manager must resume it once the "
                "supplier has acted.", spec=version.specification.number,
                supplier=supplier_name or supplier_id, **{"class": cls.value}))


class OpenedLot(NamedTuple):
    """A lot just opened: what the caller needs to post its goods and name it."""

    id: int
    number: str
    hold_location_id: int


def _numbers(prefix: str, count: int) -> list[str]:
    """Draw ``count`` consecutive document numbers in two statements, not ``count``.

    The first draw locks the sequence row (and creates it in a new year); the rest of the block
    is taken under that lock, so the numbers are gap-free and never drawn twice.
    """
    year = utcnow().year
    name = f"{prefix}-{year}"
    first = numbering.next_value(name)
    if count > 1:
        table = NumberSequence.__table__
        db.session.execute(update(table).where(table.c.name == name)
                           .values(last_value=table.c.last_value + (count - 1)))
    return [f"{prefix}-{year}-{value:06d}" for value in range(first, first + count)]


def open_inspections(lots: Sequence[LotSpec], *, actor) -> dict[int, OpenedLot]:
    """Open one pending inspection lot per spec; return them by ``ref_id``.

    The caller posts the goods into each lot's ``hold_location_id``. The plan of each class
    comes from the version's level and AQLs and the current switching severity of the supplier,
    specification and class; every class is drawn on the largest sample (ISO 2859-1 practice).
    Written in bulk: a 1,000-line receipt opens its lots in a handful of statements.

    :raises InspectionError: if inspection of a supplier and specification is discontinued.
    """
    if not lots:
        return {}
    by_supplier: dict[int | None, set[int]] = defaultdict(set)
    for lot in lots:
        by_supplier[lot.supplier_id].add(lot.version.specification_id)
    states: dict[int | None, dict] = defaultdict(dict)
    for supplier_id, spec_ids in by_supplier.items():
        states[supplier_id] = _switching(supplier_id, spec_ids)
    holds: dict[int, Location] = {}
    now = utcnow()
    actor_id = getattr(actor, "id", None)
    plan_cache: dict[tuple, dict] = {}
    plan_inputs: dict[tuple, tuple] = {}
    numbers = _numbers("QC", len(lots))
    rows, plans_of = [], []
    for lot, number in zip(lots, numbers, strict=True):
        version = lot.version
        if lot.warehouse.id not in holds:
            holds[lot.warehouse.id] = hold_location(lot.warehouse)
        pair = (lot.supplier_id, version.id)
        if pair not in plan_inputs:  # the same for every lot of a supplier and version
            mine = states[lot.supplier_id]
            check_not_discontinued(lot.supplier_id, lot.supplier_name, version, mine)
            aqls = plan_aqls(version)
            severities = {cls: sampling.Severity(
                mine[(version.specification_id, cls)].severity
                if (version.specification_id, cls) in mine else Severity.normal)
                for cls in aqls}
            plan_inputs[pair] = (aqls, severities)
        aqls, severities = plan_inputs[pair]
        key = (lot.lot_size, pair)
        if key not in plan_cache:
            plan_cache[key] = sampling.plans_for_lot(lot.lot_size, version.sampling_level, aqls,
                                                     severities)
        plans = plan_cache[key]
        rows.append({
            "number": number, "state": I.pending, "ref_type": lot.ref_type,
            "ref_id": lot.ref_id, "reference": lot.reference[:80],
            "supplier_id": lot.supplier_id,
            "supplier_name": (lot.supplier_name or None) and lot.supplier_name[:200],
            "sku_id": lot.sku_id, "spec_version_id": version.id,
            "warehouse_id": lot.warehouse.id, "hold_location_id": holds[lot.warehouse.id].id,
            "release_location_id": lot.release_location_id, "lot_size": lot.lot_size,
            "sample_size": sampling.sample_size(plans),
            "standard": next(iter(plans.values())).standard, "level": version.sampling_level,
            "scrapped_qty": 0, "opened_at": now, "opened_by_id": actor_id})
        plans_of.append(plans)
    # Core statements on the tables (the ORM's bulk path would load each row back), and no
    # RETURNING in parameter order, which SQLite can only do row by row: the numbers are
    # unique and consecutive, so one read finds the new ids.
    table = Inspection.__table__
    db.session.execute(insert(table), rows)
    by_number = {}
    for start in range(0, len(numbers), 900):
        by_number.update(db.session.execute(select(table.c.number, table.c.id).where(
            table.c.number.in_(numbers[start:start + 900]))).all())
    ids = [by_number[row["number"]] for row in rows]
    db.session.execute(insert(InspectionPlanLine.__table__), [
        {"inspection_id": inspection_id, "defect_class": cls, "aql": plan.aql,
         "severity": Severity(plan.severity), "code_letter": plan.code_letter,
         "used_letter": plan.used_letter, "table_n": plan.table_n, "n": plan.n, "ac": plan.ac,
         "re": plan.re, "found": None, "passed": None}
        for inspection_id, plans in zip(ids, plans_of, strict=True)
        for cls, plan in plans.items()])
    audit.record_many("inspection", "inspection.opened", [
        (inspection_id, row["number"], {
            "reference": row["reference"], "lot_size": row["lot_size"],
            "sample_size": row["sample_size"], "level": row["level"],
            "hold": holds[row["warehouse_id"]].label})
        for inspection_id, row in zip(ids, rows, strict=True)], actor=actor)
    return {row["ref_id"]: OpenedLot(inspection_id, row["number"], row["hold_location_id"])
            for inspection_id, row in zip(ids, rows, strict=True)}


def cancel_for_reversal(ref_type: str, ref_ids, *, actor, reason: str) -> dict[int, int]:
    """Cancel the pending lots of reversed receipt lines; return their hold bins by ``ref_id``.

    The caller moves the goods back out of those bins.

    :raises InspectionError: if a lot of those lines is already decided (its goods have moved
        on: undo the decision's consequences first).
    """
    ids = sorted(set(ref_ids))
    if not ids:
        return {}
    found = list(db.session.scalars(
        select(Inspection).where(Inspection.ref_type == ref_type, Inspection.ref_id.in_(ids),
                                 Inspection.state != I.cancelled)
        .order_by(Inspection.id).with_for_update()
        .execution_options(populate_existing=True)))
    holds = {}
    for inspection in found:
        if inspection.state != I.pending:
            raise InspectionError(_(
                'Inspection lot "%(number)s" is already %(state)s, so the receipt cannot be '
                "reversed; only lots still waiting for their inspection can.",
                number=inspection.number, state=INSPECTION_STATES.label(inspection.state)))
        transition(inspection, I.cancelled, machine=INSPECTION_STATES, actor=actor,
                   note=reason)
        holds[inspection.ref_id] = inspection.hold_location_id
    return holds


# --------------------------------------------------------------------------- recording


@dataclass(frozen=True)
class DefectEntry:
    """What an inspector entered for one check: a count, a note, measured values (text)."""

    count: int | None = None
    note: str | None = None
    measurements: str | None = None


def _ensure_pending(inspection: Inspection, action: str) -> None:
    if inspection.state != I.pending:
        raise InspectionError(_('To %(action)s inspection lot "%(number)s", it must be pending; '
                                'it is "%(state)s".', action=action, number=inspection.number,
                                state=INSPECTION_STATES.label(inspection.state)))


def _parse_measurements(text: str | None, check: SpecificationCheck, number: str
                        ) -> tuple[str | None, list[Decimal]]:
    raw = (text or "").replace(",", " ").replace(";", " ").split()
    values = []
    for item in raw:
        try:
            value = Decimal(item)
        except InvalidOperation:
            value = None
        if value is None or not value.is_finite():
            raise ValidationError(_('Inspection lot "%(number)s", check "%(check)s": '
                                    '"%(value)s" is not a number; enter measured values '
                                    "separated by spaces.", number=number,
                                    check=check.description, value=item),
                                  field=f"measurements-{check.id}")
        values.append(value)
    cleaned = " ".join(str(v) for v in values) or None
    if cleaned and len(cleaned) > 500:
        raise ValidationError(_('Inspection lot "%(number)s", check "%(check)s": enter at most '
                                "500 characters of measurements.", number=number,
                                check=check.description), field=f"measurements-{check.id}")
    return cleaned, values


def record_defects(inspection: Inspection, entries: Mapping[int, DefectEntry], *,
                   actor) -> int:
    """Record the defects found per check (keyed by check id); return how many checks changed.

    A measurement check with values and no count counts the values outside its tolerance. A
    count may not exceed the sample size.

    :raises InspectionError: if the lot is no longer pending.
    :raises ValidationError: for a check not in the lot's plan, a negative count, a count above
        the sample, a value that is not a number, or a note over 500 characters.
    """
    lock(inspection)
    _ensure_pending(inspection, _("record the defects of"))
    checks = {c.id: c for c in inspection.spec_version.checks}
    existing = {d.check_id: d for d in inspection.defects}
    changed = []
    now = utcnow()
    for check_id in sorted(entries):
        entry = entries[check_id]
        check = checks.get(int(check_id))
        if check is None:
            raise ValidationError(_('Inspection lot "%(number)s" has no check %(check)s in its '
                                    "plan.", number=inspection.number, check=check_id),
                                  field="checks")
        measurements, values = _parse_measurements(entry.measurements, check, inspection.number)
        count = entry.count
        if count is None:
            count = sum(1 for v in values if not check.passes(v)) if values else 0
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValidationError(_('Inspection lot "%(number)s", check "%(check)s": enter a '
                                    "whole count of zero or more; got %(value)s.",
                                    number=inspection.number, check=check.description,
                                    value=count), field=f"count-{check.id}")
        if count > inspection.sample_size:
            raise ValidationError(_('Inspection lot "%(number)s", check "%(check)s": %(count)s '
                                    "defects cannot exceed the sample of %(n)s units.",
                                    number=inspection.number, check=check.description,
                                    count=count, n=inspection.sample_size),
                                  field=f"count-{check.id}")
        note = (entry.note or "").strip() or None
        if note and len(note) > 500:
            raise ValidationError(_('Inspection lot "%(number)s", check "%(check)s": keep the '
                                    "note within 500 characters.", number=inspection.number,
                                    check=check.description), field=f"note-{check.id}")
        row = existing.get(check.id)
        if row is None:
            if not count and not note and not measurements:
                continue  # nothing found and nothing said: no row needed
            row = InspectionDefect(check_id=check.id, sequence=check.sequence,
                                   kind=str(check.kind), defect_class=check.defect_class,
                                   description=check.description)
            inspection.defects.append(row)
        elif (row.count, row.note, row.measurements) == (count, note, measurements):
            continue
        before = row.count
        row.count, row.note, row.measurements = count, note, measurements
        row.recorded_at, row.recorded_by_id = now, getattr(actor, "id", None)
        changed.append({"check": check.description, "count": [before, count]})
    if changed:
        db.session.flush()
        audit.record(inspection, "inspection.defects_recorded", actor=actor,
                     changes={"checks": changed})
    return len(changed)


def _image_mime(data: bytes) -> str | None:
    return next((mime for magic, mime in PHOTO_TYPES if data.startswith(magic)), None)


def add_photo(inspection: Inspection, *, filename: str, data: bytes, actor,
              defect_id: int | None = None) -> InspectionPhoto:
    """Attach a photo (PNG, JPEG or GIF, at most 5 MB) to a lot, or to one of its defects.

    :raises InspectionError: if the lot is cancelled.
    :raises ValidationError: for an empty file, one over 5 MB, or one that is not an image.
    """
    from erp.brands.services import clean_filename

    if inspection.state == I.cancelled:
        raise InspectionError(_('Inspection lot "%(number)s" is cancelled; it takes no photos.',
                                number=inspection.number))
    if not data:
        raise ValidationError(_('To add a photo to inspection lot "%(number)s", you must choose '
                                "a file: the one sent is empty.", number=inspection.number),
                              field="photo")
    if len(data) > MAX_PHOTO_BYTES:
        raise ValidationError(_('To add a photo to inspection lot "%(number)s", you must keep '
                                "it to 5 MB: this one has %(size)s MB.",
                                number=inspection.number,
                                size=format_number(len(data) / 1024 / 1024, 1)), field="photo")
    mime = _image_mime(data)
    if mime is None:
        raise ValidationError(_('To add a photo to inspection lot "%(number)s", you must use a '
                                "PNG, JPEG or GIF image: this file is none of them.",
                                number=inspection.number), field="photo")
    if defect_id is not None and defect_id not in {d.id for d in inspection.defects}:
        defect_id = None
    name = clean_filename(filename or "photo")
    if not mimetypes.guess_type(name)[0]:
        name = f"{name}.{mime.split('/')[1]}"[-200:]
    photo = InspectionPhoto(filename=name, mime=mime, size=len(data), data=data,
                            defect_id=defect_id, uploaded_by_id=getattr(actor, "id", None))
    inspection.photos.append(photo)
    db.session.flush()
    audit.record(inspection, "inspection.photo_added", actor=actor, changes={
        "filename": [None, name], "size": len(data)})
    return photo


# --------------------------------------------------------------------------- deciding


def class_counts(inspection: Inspection) -> dict[DefectClass, int]:
    """Return the defects found per class from the recorded checks."""
    found: dict[DefectClass, int] = {cls: 0 for cls in CLASSES}
    for defect in inspection.defects:
        found[DefectClass(defect.defect_class)] += defect.count
    return found


def decide_inspection(inspection: Inspection, *, actor, note: str | None = None) -> Inspection:
    """Accept or reject the lot by its plans: every class must find at most its Ac.

    Accepted, the goods move from the hold bin to the receipt's bin (put-away takes them);
    rejected, to a quarantine bin with the reference ``inspection:<id>``. The switching state of
    each class is updated from this original decision. An accepted lot's goods are announced to
    :data:`erp.quality.hooks.lot_released` (e.g. production reserves them to the order line
    they were made for). A repeated decision acts once.

    :raises InvalidTransition: if the lot is already decided or cancelled.
    :raises ValidationError: for a note over 500 characters.
    :raises StockError: if the goods are no longer all in the hold bin.
    """
    text = (note or "").strip() or None
    if text and len(text) > 500:
        raise ValidationError(_("A decision note must be at most 500 characters."),
                              field="note")
    lock(inspection)
    INSPECTION_STATES.check(inspection, I.accepted)
    found = class_counts(inspection)
    results = {}
    for plan in inspection.plans:
        plan.found = found[DefectClass(plan.defect_class)]
        plan.passed = plan.found <= plan.ac
        results[plan.defect_class] = plan.passed
    accepted = all(results.values())
    now = utcnow()
    if accepted:
        target = inspection.release_location
    else:
        target = quarantine_location(inspection.warehouse)
        inspection.quarantine_location_id = target.id
    post_moves([MoveSpec(inspection.sku_id, inspection.hold_location_id, target.id,
                         inspection.lot_size, MoveKind.transfer, ref_type=INSPECTION_REF,
                         ref_id=inspection.id,
                         note=f"{inspection.number} {'accepted' if accepted else 'rejected'}")],
               actor=actor, at=now)
    inspection.decided_at, inspection.decided_by_id = now, getattr(actor, "id", None)
    if text:
        inspection.note = text
    transition(inspection, I.accepted if accepted else I.rejected, machine=INSPECTION_STATES,
               actor=actor, note=text, changes={
                   "found": {str(p.defect_class): [p.found, p.ac, p.re] for p in inspection.plans},
                   "bin": target.label})
    _update_switching(inspection, actor=actor)
    db.session.flush()
    if accepted:
        hooks.send_lot_released(inspection, target.id, inspection.lot_size, actor=actor)
    return inspection


def _policy(supplier_id: int, specification_id: int) -> SwitchingPolicy | None:
    return db.session.scalar(select(SwitchingPolicy).where(
        SwitchingPolicy.supplier_id == supplier_id,
        SwitchingPolicy.specification_id == specification_id))


def _to_state(row: SwitchingState | None) -> sampling.SwitchState:
    if row is None:
        return sampling.initial_state()
    return sampling.SwitchState(
        severity=sampling.Severity(row.severity), score=row.score,
        recent=tuple(ch == "1" for ch in row.recent),
        rejected_on_tightened=row.rejected_on_tightened,
        accepted_in_a_row=row.accepted_in_a_row, discontinued=row.discontinued)


def _store_state(row: SwitchingState, state: sampling.SwitchState) -> None:
    row.severity = Severity(state.severity)
    row.score = state.score
    row.recent = "".join("1" if ok else "0" for ok in state.recent)[-20:]
    row.rejected_on_tightened = state.rejected_on_tightened
    row.accepted_in_a_row = state.accepted_in_a_row
    row.discontinued = state.discontinued
    row.updated_at = utcnow()


def _update_switching(inspection: Inspection, *, actor) -> None:
    """Advance the switching state of each class after the lot's original decision."""
    if inspection.supplier_id is None:
        return
    spec_id = inspection.spec_version.specification_id
    rows = {DefectClass(r.defect_class): r for r in db.session.scalars(
        select(SwitchingState).where(SwitchingState.supplier_id == inspection.supplier_id,
                                     SwitchingState.specification_id == spec_id)
        .with_for_update().execution_options(populate_existing=True))}
    policy = _policy(inspection.supplier_id, spec_id)
    reduced = bool(policy and policy.reduced_allowed)
    changes = {}
    for line in inspection.plans:
        cls = DefectClass(line.defect_class)
        row = rows.get(cls)
        before = _to_state(row)
        plan = _plan_of(line)
        after = sampling.next_state(before, accepted=bool(line.passed), found=line.found or 0,
                                    plan=plan, reduced_allowed=reduced)
        if row is None:
            row = SwitchingState(supplier_id=inspection.supplier_id, specification_id=spec_id,
                                 defect_class=cls)
            db.session.add(row)
        _store_state(row, after)
        if (before.severity, before.discontinued) != (after.severity, after.discontinued):
            changes[cls.value] = [_severity_text(before), _severity_text(after)]
    db.session.flush()
    if changes:
        audit.record(inspection, "inspection.switched", actor=actor, changes={
            "supplier": inspection.supplier_name or inspection.supplier_id,
            "specification": inspection.spec_version.specification.number,
            "severity": changes})


def _severity_text(state) -> str:
    return "discontinued" if state.discontinued else str(state.severity)


def _plan_of(line: InspectionPlanLine) -> sampling.Plan:
    """Return the sampling plan a stored plan line was drawn from (for the switching score)."""
    return sampling.Plan(
        standard=line.inspection.standard, level=line.inspection.level, aql=line.aql,
        severity=sampling.Severity(line.severity), lot_size=line.inspection.lot_size,
        code_letter=line.code_letter, used_letter=line.used_letter, table_n=line.table_n,
        n=line.n, ac=line.ac, re=line.re)


def _clean_reason(reason: str | None, number: str, action: str) -> str:
    text = (reason or "").strip()
    if not text:
        raise ValidationError(_('To %(action)s inspection lot "%(number)s", you must give a '
                                "reason.", action=action, number=number), field="reason")
    if len(text) > 1000:
        raise ValidationError(_('To %(action)s inspection lot "%(number)s", you must keep the '
                                "reason within 1,000 characters.", action=action,
                                number=number), field="reason")
    return text


def remaining_in_quarantine(inspection: Inspection) -> int:
    """Return the units of a rejected lot not yet scrapped.

    Some may have gone back to the supplier since; the ledger refuses to move what is not there.
    """
    return inspection.lot_size - inspection.scrapped_qty


def release_inspection(inspection: Inspection, *, actor, reason: str) -> Inspection:
    """Release a rejected lot as a concession: its goods go on like an accepted lot's.

    The units still in quarantine move to the receipt's bin and are announced to
    :data:`erp.quality.hooks.lot_released`. The switching state is not touched: the original
    decision stands for it.

    :raises InvalidTransition: unless the lot is rejected.
    :raises ValidationError: without a reason.
    :raises InspectionError: when nothing of the lot is left to release.
    :raises StockError: when the quarantine bin no longer holds those units.
    """
    text = _clean_reason(reason, inspection.number, _("release"))
    lock(inspection)
    INSPECTION_STATES.check(inspection, I.released)
    quantity = remaining_in_quarantine(inspection)
    if quantity <= 0:
        raise InspectionError(_('Inspection lot "%(number)s" has nothing left to release: all '
                                "of it was scrapped.", number=inspection.number))
    try:
        post_moves([MoveSpec(inspection.sku_id, inspection.quarantine_location_id,
                             inspection.release_location_id, quantity, MoveKind.transfer,
                             ref_type=INSPECTION_REF, ref_id=inspection.id,
                             note=f"{inspection.number} concession: {text}"[:500])],
                   actor=actor)
    except StockError as err:
        raise InspectionError(_('To release inspection lot "%(number)s", its %(qty)s units must '
                                "still be in quarantine: %(reason)s", number=inspection.number,
                                qty=quantity, reason=str(err))) from None
    inspection.released_at, inspection.released_by_id = utcnow(), getattr(actor, "id", None)
    inspection.release_reason = text
    transition(inspection, I.released, machine=INSPECTION_STATES, actor=actor, note=text,
               changes={"quantity": quantity, "bin": inspection.release_location.label})
    db.session.flush()
    hooks.send_lot_released(inspection, inspection.release_location_id, quantity, actor=actor)
    return inspection


def scrap_inspection(inspection: Inspection, quantity: int, *, actor, reason: str) -> Inspection:
    """Scrap units of a rejected lot: a scrap move out of quarantine, audited.

    :raises InspectionError: unless the lot is rejected, or for more than remains of it.
    :raises ValidationError: for a quantity that is not a whole number above zero, or without
        a reason.
    """
    text = _clean_reason(reason, inspection.number, _("scrap"))
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
        raise ValidationError(_('To scrap units of inspection lot "%(number)s", enter a whole '
                                "quantity above zero; got %(value)s.", number=inspection.number,
                                value=quantity), field="quantity")
    lock(inspection)
    if inspection.state != I.rejected:
        raise InspectionError(_('To scrap goods of inspection lot "%(number)s", it must be '
                                'rejected; it is "%(state)s".', number=inspection.number,
                                state=INSPECTION_STATES.label(inspection.state)))
    left = remaining_in_quarantine(inspection)
    if quantity > left:
        raise InspectionError(_('Inspection lot "%(number)s" has %(left)s units left to scrap; '
                                "cannot scrap %(qty)s.", number=inspection.number, left=left,
                                qty=quantity), field="quantity")
    target = scrap_location(inspection.warehouse)
    try:
        post_moves([MoveSpec(inspection.sku_id, inspection.quarantine_location_id, target.id,
                             quantity, MoveKind.scrap, ref_type=INSPECTION_REF,
                             ref_id=inspection.id,
                             note=f"{inspection.number} scrapped: {text}"[:500])], actor=actor)
    except StockError as err:
        raise InspectionError(_('To scrap %(qty)s units of inspection lot "%(number)s", they '
                                "must still be in quarantine: %(reason)s", qty=quantity,
                                number=inspection.number, reason=str(err))) from None
    inspection.scrapped_qty += quantity
    audit.record(inspection, "inspection.scrapped", actor=actor, changes={
        "quantity": quantity, "bin": target.label, "reason": text,
        "scrapped_qty": [inspection.scrapped_qty - quantity, inspection.scrapped_qty]})
    db.session.flush()
    return inspection


# --------------------------------------------------------------------------- switching


def _lock_policy(supplier_id: int, specification_id: int) -> SwitchingPolicy:
    db.session.execute(_insert_ignore(SwitchingPolicy.__table__, [{
        "supplier_id": supplier_id, "specification_id": specification_id,
        "reduced_allowed": False, "updated_at": utcnow()}]))
    return db.session.scalars(select(SwitchingPolicy).where(
        SwitchingPolicy.supplier_id == supplier_id,
        SwitchingPolicy.specification_id == specification_id)
        .with_for_update().execution_options(populate_existing=True)).one()


def set_reduced_allowed(supplier_id: int, specification_id: int, allowed: bool, *,
                        actor) -> SwitchingPolicy:
    """Allow (or stop allowing) reduced inspection for a supplier and specification.

    Stopping it sends classes on reduced inspection back to normal (ISO 2859-1 9.3.4 d).
    """
    policy = _lock_policy(supplier_id, specification_id)
    if policy.reduced_allowed == bool(allowed):
        return policy
    policy.reduced_allowed = bool(allowed)
    policy.updated_at, policy.updated_by_id = utcnow(), getattr(actor, "id", None)
    if not allowed:
        for row in db.session.scalars(select(SwitchingState).where(
                SwitchingState.supplier_id == supplier_id,
                SwitchingState.specification_id == specification_id,
                SwitchingState.severity == Severity.reduced)):
            _store_state(row, sampling.initial_state())
    db.session.flush()
    audit.record(policy, "inspection_policy.updated", actor=actor, changes={
        "supplier_id": supplier_id, "specification_id": specification_id,
        "reduced_allowed": [not allowed, bool(allowed)]})
    return policy


def resume_inspection(supplier_id: int, specification_id: int, *, actor,
                      note: str | None = None) -> int:
    """Resume a discontinued inspection at tightened (ISO 2859-1 9.4); return classes resumed.

    :raises InspectionError: if no class of that supplier and specification is discontinued.
    """
    _lock_policy(supplier_id, specification_id)
    rows = list(db.session.scalars(select(SwitchingState).where(
        SwitchingState.supplier_id == supplier_id,
        SwitchingState.specification_id == specification_id,
        SwitchingState.discontinued.is_(True)).with_for_update()
        .execution_options(populate_existing=True)))
    if not rows:
        raise InspectionError(_("Inspection of this supplier and specification is not "
                                "discontinued; there is nothing to resume."))
    for row in rows:
        _store_state(row, sampling.resume(_to_state(row)))
    db.session.flush()
    audit.record(rows[0], "inspection_switching.resumed", actor=actor, changes={
        "supplier_id": supplier_id, "specification_id": specification_id,
        "classes": [str(r.defect_class) for r in rows], "note": (note or "").strip() or None})
    return len(rows)


def current_severity(supplier_id: int | None, specification_id: int
                     ) -> dict[DefectClass, tuple[Severity, bool]]:
    """Return each class's current severity and whether it is discontinued (normal if new)."""
    rows = _switching(supplier_id, {specification_id})
    return {cls: ((Severity(rows[(specification_id, cls)].severity),
                   rows[(specification_id, cls)].discontinued)
                  if (specification_id, cls) in rows else (Severity.normal, False))
            for cls in CLASSES}
