"""Returns in the warehouse: find the case of a parcel, receive its goods, inspect and grade them.

A receipt posts one batch of moves from the virtual customer location into the returns
location, at each SKU's average cost, and moves the case to ``received``. Inspection grades
every received unit once: A goes to a storage bin (restocked for sale), B to quarantine and C
to scrap, each a move out of the returns location; the case is ``inspected`` when nothing is
left ungraded. Unknown items (no SKU) are recorded with a description and never touch stock.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Select, func, or_, select

from erp.aftersales.errors import AfterSalesError
from erp.aftersales.models import (
    CASE_STATES,
    AfterSalesCase,
    CaseLine,
    CaseState,
    Grade,
    ReturnItem,
)
from erp.catalog.models import Sku
from erp.core import audit
from erp.core.errors import ValidationError
from erp.core.i18n import _, _l, format_datetime, format_number
from erp.core.locking import lock
from erp.core.models import User, utcnow
from erp.core.states import transition
from erp.extensions import db
from erp.orders.models import CustomerOrder
from erp.shipping import s10
from erp.warehouse.models import (
    Location,
    LocationKind,
    MoveKind,
    StockLevel,
    StockMove,
    Warehouse,
)
from erp.warehouse.services import MoveSpec, post_moves, routes, virtual_location

S = CaseState
#: the stock-move reference of a returned item (receipt and inspection moves)
RETURN_ITEM_REF = "return_item"
#: the most units one entry may carry (a typo guard, like purchase receiving)
MAX_QUANTITY = 100_000
#: where each grade sends the units
GRADE_KINDS = {Grade.A: LocationKind.storage, Grade.B: LocationKind.quarantine,
               Grade.C: LocationKind.scrap}
GRADE_MOVES = {Grade.A: MoveKind.transfer, Grade.B: MoveKind.transfer, Grade.C: MoveKind.scrap}
GRADE_LABELS = {Grade.A: _l("A · restock"), Grade.B: _l("B · quarantine"),
                Grade.C: _l("C · scrap")}
#: how a sentence names a kind of location ("an active storage bin")
LOCATION_KIND_NAMES = {
    LocationKind.receiving: _l("receiving"), LocationKind.storage: _l("storage"),
    LocationKind.packing: _l("packing"), LocationKind.shipping: _l("shipping"),
    LocationKind.returns: _l("returns"), LocationKind.quarantine: _l("quarantine"),
    LocationKind.scrap: _l("scrap"), LocationKind.supplier: _l("supplier"),
    LocationKind.customer: _l("customer"), LocationKind.adjustment: _l("adjustment"),
}


def _label(state) -> str:
    return CASE_STATES.label(state)


def _kind(kind: LocationKind) -> str:
    return str(LOCATION_KIND_NAMES.get(LocationKind(kind), kind))


def _when_by(at, user_id: int | None) -> dict[str, str]:
    """Return ``when`` and ``user`` of a message saying when and by whom something was done."""
    user = db.session.get(User, user_id) if user_id else None
    return {"user": user.username if user else _("the system"),
            "when": format_datetime(at) if at else _("an unknown date")}


def _type(case: AfterSalesCase) -> str:
    from erp.aftersales.services.cases import type_name
    return type_name(case.case_type)


# ---------------------------------------------------------------------------------------------
# Finding the case


def find_case_for_receipt(text: str) -> AfterSalesCase:
    """Return the case whose RMA number (any case) or return tracking number was scanned.

    The tracking number is compared normalised (no spaces or dashes, upper case).

    :raises ValidationError: if nothing was typed (field ``number``).
    :raises AfterSalesError: if no case matches, or the case is rejected or closed, or it
        expects no goods back (a refund or replacement without return, a lost parcel...).
    """
    value = (text or "").strip()
    if not value:
        raise ValidationError(_("Scan or type the RMA number or the customer's return tracking "
                                "number."), field="number")
    case = db.session.scalar(select(AfterSalesCase).where(
        func.upper(AfterSalesCase.number) == value.upper()))
    if case is None:
        tracking = s10.normalise(value)
        stored = func.upper(func.replace(func.replace(AfterSalesCase.return_tracking, " ", ""),
                                         "-", ""))
        matches = db.session.scalars(select(AfterSalesCase).where(stored == tracking)
                                     .order_by(AfterSalesCase.id.desc())).all()
        # The same tracking number on several cases: the one waiting for goods wins.
        case = next((c for c in matches if c.state == S.awaiting_return),
                    matches[0] if matches else None)
    if case is None:
        raise AfterSalesError(_('No after-sales case has the RMA or return tracking number '
                                '"%(value)s". Check the label, or set the parcel aside and ask '
                                'customer service.', value=value), field="number")
    if case.state in (S.rejected, S.closed):
        raise AfterSalesError(_("%(case)s is %(state)s: its goods are not expected back. Set "
                                "the parcel aside and ask customer service.", case=case.number,
                                state=_label(case.state)), field="number")
    if not case.expects_return:
        raise AfterSalesError(_("%(case)s is a %(type)s case: no goods are expected back. Set "
                                "the parcel aside and ask customer service.", case=case.number,
                                type=_type(case)), field="number")
    return case


def cases_to_receive_query(search: str | None = None) -> Select:
    """Return a select of ``(AfterSalesCase, order number)`` of cases awaiting their return.

    Oldest authorisation first; ``search`` matches the RMA, the order number, the return
    tracking number or the contact name (any case).
    """
    stmt = (select(AfterSalesCase, CustomerOrder.number.label("order_number"))
            .join(CustomerOrder, CustomerOrder.id == AfterSalesCase.order_id)
            .where(AfterSalesCase.state == S.awaiting_return)
            .order_by(AfterSalesCase.opened_at, AfterSalesCase.id))
    text = (search or "").strip()
    if text:
        lower = text.lower()  # wildcards typed in are taken literally
        stmt = stmt.where(or_(
            func.lower(AfterSalesCase.number).contains(lower, autoescape=True),
            func.lower(CustomerOrder.number).contains(lower, autoescape=True),
            func.lower(AfterSalesCase.return_tracking).contains(s10.normalise(text).lower(),
                                                                autoescape=True),
            func.lower(AfterSalesCase.contact_name).contains(lower, autoescape=True)))
    return stmt


def cases_to_inspect() -> list[AfterSalesCase]:
    """Return the cases received and not yet inspected, oldest receipt first."""
    return list(db.session.scalars(select(AfterSalesCase)
                                   .where(AfterSalesCase.state == S.received)
                                   .order_by(AfterSalesCase.received_at, AfterSalesCase.id)))


@dataclass
class ExpectedLine:
    """A case line as the receiving screen shows it."""

    line: CaseLine
    sku: Sku
    expected: int
    received: int


def expected_lines(case: AfterSalesCase) -> list[ExpectedLine]:
    """Return each case line with the units expected back and the units received on it."""
    received: dict[int, int] = defaultdict(int)
    for item in case.items:
        if item.case_line_id is not None and not item.unexpected:
            received[item.case_line_id] += item.quantity
    return [ExpectedLine(line=line, sku=line.sku, expected=line.quantity,
                         received=received[line.id]) for line in case.lines]


def returns_location(warehouse_id: int | None = None) -> Location:
    """Return the first active location of kind returns (of the warehouse, when given).

    :raises AfterSalesError: if the warehouse has none.
    """
    location = _first_location(LocationKind.returns, warehouse_id)
    if location is None and warehouse_id is not None:
        code = db.session.scalar(select(Warehouse.code).where(Warehouse.id == warehouse_id))
        raise AfterSalesError(_("To receive a return in warehouse %(code)s, it must have an "
                                "active returns location: create a bin of kind returns there "
                                "under Warehouse > Locations, or choose another warehouse.",
                                code=code))
    if location is None:
        raise AfterSalesError(_("To receive a return, you must have an active returns "
                                "location: create a bin of kind returns under Warehouse > "
                                "Locations."))
    return location


def _first_location(kind: LocationKind, warehouse_id: int | None = None) -> Location | None:
    stmt = select(Location).where(Location.kind == kind, Location.active.is_(True))
    if warehouse_id is not None:
        stmt = stmt.where(Location.warehouse_id == warehouse_id)
    return db.session.scalar(stmt.order_by(Location.pick_sequence, Location.id).limit(1))


def default_return_warehouse(case: AfterSalesCase) -> Warehouse | None:
    """Return where the case's goods come back to unless someone chose: by the buyer's address.

    The first warehouse of the warehouse route for the order's address (or of every warehouse)
    that has an active returns bin; None when no warehouse has one.
    """
    order = case.order
    for warehouse in routes.warehouses_for(order.country, order.region, order.postal_code):
        if _first_location(LocationKind.returns, warehouse.id) is not None:
            return warehouse
    return None


def receiving_warehouse(case: AfterSalesCase) -> Warehouse | None:
    """Return the warehouse the case's goods come back to (chosen, else the default)."""
    return case.return_warehouse or default_return_warehouse(case)


def set_return_warehouse(case: AfterSalesCase, warehouse_id: int | None, *,
                         actor) -> AfterSalesCase:
    """Choose the warehouse the case's goods come back to (None: the default by address).

    :raises AfterSalesError: once the goods are received, or for a warehouse without an
        active returns bin.
    """
    _lock_case(case)
    if CaseState(case.state) not in (S.open, S.awaiting_return):
        raise AfterSalesError(_("To change where the goods of %(case)s come back to, they must "
                                "not be received yet.", case=case.number))
    if warehouse_id is not None:
        returns_location(warehouse_id)  # refuses a warehouse without a returns bin
    before = case.return_warehouse.code if case.return_warehouse else None
    case.return_warehouse_id = warehouse_id
    db.session.flush()
    db.session.expire(case, ["return_warehouse"])
    after = case.return_warehouse.code if case.return_warehouse else None
    if before != after:
        audit.record(case, "aftersales_case.return_warehouse", actor=actor,
                     changes={"return_warehouse": [before, after]})
    return case


# ---------------------------------------------------------------------------------------------
# Receiving


def _lock_case(case: AfterSalesCase) -> None:
    """Lock the case (the owner of what may come back and of its grades), then reload its items.

    Item objects loaded earlier in the transaction would otherwise keep what they held then
    (an item another inspector graded meanwhile would still look ungraded).
    """
    lock(case)
    db.session.scalars(select(ReturnItem).where(ReturnItem.case_id == case.id)
                       .execution_options(populate_existing=True)).all()


def _quantity(value, where: str, field: str = "quantity") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValidationError(_("%(where)s: the quantity must be a whole number above zero, "
                                "got %(value)s.", where=where, value=repr(value)), field=field)
    if value > MAX_QUANTITY:
        raise ValidationError(_("%(where)s: the quantity must be at most %(most)s, got "
                                "%(value)s.", where=where, most=format_number(MAX_QUANTITY),
                                value=format_number(value)), field=field)
    return value


def _check_receivable(case: AfterSalesCase) -> None:
    if case.received_at is not None or case.state in (S.received, S.inspected) \
            or (case.state in (S.resolved, S.closed) and case.items):
        first = case.items[0] if case.items else None
        at = case.received_at or (first.received_at if first else None)
        raise AfterSalesError(_("%(case)s was received on %(when)s by %(user)s; a return is "
                                "received once. Set this parcel aside and ask customer "
                                "service.", case=case.number,
                                **_when_by(at, first.received_by_id if first else None)))
    if not case.expects_return:
        raise AfterSalesError(_("%(case)s is a %(type)s case: no goods are expected back.",
                                case=case.number, type=_type(case)))
    if case.state == S.open:
        raise AfterSalesError(_("To receive %(case)s, it must be awaiting return; it is "
                                "%(state)s: ask customer service to authorise the return first.",
                                case=case.number, state=_label(case.state)))
    if case.state != S.awaiting_return:
        raise AfterSalesError(_("To receive %(case)s, it must be awaiting return; it is "
                                "%(state)s: set the parcel aside and ask customer service.",
                                case=case.number, state=_label(case.state)))


def receive_return(case: AfterSalesCase,
                   items: Sequence[tuple[int | None, int | None, str | None, int]], *,
                   actor) -> list[ReturnItem]:
    """Record the goods that came back for ``case`` and post them into the returns location.

    ``items`` are ``(case_line_id, sku_id, description, qty)``: a case line; a SKU (matched
    to the case's lines, what does not fit is unexpected); or a description of an unknown item.
    Units above a line's quantity and SKUs not on the case are recorded as unexpected items.
    All or nothing: one batch of moves (customer -> returns, at the SKU's average cost); the
    case becomes ``received``.

    :raises AfterSalesError: if the case is not awaiting return (a second receipt names when
        and by whom the first was made), or no returns location exists.
    :raises ValidationError: for a quantity that is not a positive whole number, a line of
        another case, an unknown SKU, an item with neither SKU nor description, or no units.
    """
    _lock_case(case)
    _check_receivable(case)
    lines = {line.id: line for line in case.lines}
    per_line: dict[int, int] = defaultdict(int)
    per_sku: dict[int, int] = defaultdict(int)  # SKUs given without a line
    unknown: list[tuple[str, int]] = []
    for n, entry in enumerate(items, start=1):
        try:
            line_id, sku_id, description, qty = entry
        except (TypeError, ValueError):
            raise ValidationError(_("Item %(n)s must be (case line, SKU, description, "
                                    "quantity); got %(entry)s.", n=n, entry=repr(entry)),
                                  field="items") from None
        where = _("To receive %(case)s, item %(n)s", case=case.number, n=n)
        qty = _quantity(qty, where)
        if line_id is not None:
            if line_id not in lines:
                raise ValidationError(_("%(where)s: line %(line)s is not a line of %(case)s.",
                                        where=where, line=line_id, case=case.number),
                                      field="items")
            per_line[line_id] += qty
        elif sku_id is not None:
            per_sku[int(sku_id)] += qty
        else:
            text = (description or "").strip()
            if not text:
                raise ValidationError(_("%(where)s: give the SKU, or describe the unknown "
                                        "item.", where=where), field="description")
            if len(text) > 200:
                raise ValidationError(_("%(where)s: the description must be at most 200 "
                                        "characters.", where=where), field="description")
            unknown.append((text, qty))
    if not per_line and not per_sku and not unknown:
        raise ValidationError(_("To receive %(case)s, enter at least one unit.",
                                case=case.number), field="items")
    skus = {sku.id: sku for sku in db.session.scalars(
        select(Sku).where(Sku.id.in_(set(per_sku) | {ln.sku_id for ln in lines.values()})))}
    missing = sorted(set(per_sku) - set(skus))
    if missing:
        raise ValidationError(_("To receive %(case)s: SKU id %(id)s does not exist.",
                                case=case.number, id=missing[0]), field="sku")
    # SKUs scanned without a line fill the case's lines of that SKU first.
    for sku_id, qty in per_sku.items():
        for line in lines.values():
            if line.sku_id == sku_id and qty:
                room = max(0, line.quantity - per_line.get(line.id, 0))
                take = min(room, qty)
                if take:
                    per_line[line.id] += take
                    qty -= take
        per_sku[sku_id] = qty
    now = utcnow()
    actor_id = getattr(actor, "id", None)
    common = {"received_by_id": actor_id, "received_at": now}
    created: list[ReturnItem] = []
    extra: dict[int, int] = defaultdict(int)
    for line_id in sorted(per_line):
        line, qty = lines[line_id], per_line[line_id]
        expected = min(qty, line.quantity)
        if expected:
            created.append(ReturnItem(case_line_id=line.id, sku_id=line.sku_id,
                                      quantity=expected, unexpected=False, **common))
        if qty > line.quantity:
            extra[line.sku_id] += qty - line.quantity
    for sku_id, qty in per_sku.items():
        if qty:
            extra[sku_id] += qty
    for sku_id in sorted(extra):
        created.append(ReturnItem(sku_id=sku_id, quantity=extra[sku_id], unexpected=True,
                                  **common))
    for text, qty in unknown:
        created.append(ReturnItem(description=text, quantity=qty, unexpected=True, **common))
    case.items.extend(created)
    db.session.flush()
    stocked = [item for item in created if item.sku_id is not None]
    if stocked:
        warehouse = receiving_warehouse(case)
        location = returns_location(warehouse.id if warehouse else None)
        if case.return_warehouse_id is None and warehouse is not None:
            case.return_warehouse_id = warehouse.id
        customer = virtual_location(LocationKind.customer)
        post_moves([MoveSpec(item.sku_id, customer.id, location.id, item.quantity,
                             MoveKind.return_receipt, unit_cost=skus[item.sku_id].avg_cost,
                             ref_type=RETURN_ITEM_REF, ref_id=item.id,
                             note=f"{case.number} return") for item in stocked],
                   actor=actor, at=now)
    transition(case, S.received, machine=CASE_STATES, actor=actor, changes={
        "received": [_describe(item, skus) for item in created]})
    case.received_at = now
    db.session.flush()
    return created


def _describe(item: ReturnItem, skus: Mapping[int, Sku] | None = None) -> dict:
    sku = (skus or {}).get(item.sku_id) if item.sku_id else None
    code = sku.code if sku else (item.sku.code if item.sku else None)
    out = {"item": item.id, "sku": code, "quantity": item.quantity,
           "unexpected": item.unexpected}
    if item.description:
        out["description"] = item.description
    if item.grade:
        out["grade"] = Grade(item.grade).value
    return out


def item_label(item: ReturnItem) -> str:
    """Return how a message names an item: its SKU code, or its description."""
    if item.sku is not None:
        if item.unexpected:
            return _('SKU "%(sku)s" (unexpected)', sku=item.sku.code)
        return _('SKU "%(sku)s"', sku=item.sku.code)
    return _('unknown item "%(description)s"', description=item.description)


# ---------------------------------------------------------------------------------------------
# Inspection


def default_restock_bin(sku_id: int, warehouse_id: int | None = None) -> Location | None:
    """Return the SKU's first active storage bin holding it, else the first storage bin.

    With ``warehouse_id``, only bins of that warehouse (returned goods stay where they came
    back).
    """
    stmt = (select(Location).join(StockLevel, StockLevel.location_id == Location.id)
            .where(StockLevel.sku_id == sku_id, StockLevel.on_hand > 0,
                   Location.kind == LocationKind.storage, Location.active.is_(True)))
    if warehouse_id is not None:
        stmt = stmt.where(Location.warehouse_id == warehouse_id)
    held = db.session.scalar(stmt.order_by(Location.pick_sequence, Location.id).limit(1))
    return held or _first_location(LocationKind.storage, warehouse_id)


def _received_from(item: ReturnItem) -> int | None:
    """Return the location the item's receipt move went into."""
    return db.session.scalar(select(StockMove.to_location_id).where(
        StockMove.ref_type == RETURN_ITEM_REF, StockMove.ref_id == item.id,
        StockMove.kind == MoveKind.return_receipt).order_by(StockMove.id).limit(1))


def _target(case: AfterSalesCase, item: ReturnItem, grade: Grade,
            location_id: int | None, cache: dict) -> Location | None:
    kind = GRADE_KINDS[grade]
    name = item_label(item)
    if location_id is not None:
        location = db.session.get(Location, location_id)
        if location is None:
            raise ValidationError(_("To grade %(item)s of %(case)s %(grade)s: location id %(id)s "
                                    "does not exist.", item=name, case=case.number,
                                    grade=grade.value, id=location_id), field="bin")
        if location.kind != kind or not location.active:
            values = {"item": name, "case": case.number, "grade": grade.value,
                      "kind": _kind(kind), "bin": location.label}
            if not location.active:
                message = _("To grade %(item)s of %(case)s %(grade)s, you must choose an active "
                            "%(kind)s bin; %(bin)s is inactive.", **values)
            else:
                message = _("To grade %(item)s of %(case)s %(grade)s, you must choose an active "
                            "%(kind)s bin; %(bin)s is a %(other)s bin.",
                            other=_kind(location.kind), **values)
            raise ValidationError(message, field="bin")
        return location
    warehouse_id = case.return_warehouse_id
    if grade == Grade.A:
        location = default_restock_bin(item.sku_id, warehouse_id)
    else:
        if kind not in cache:
            cache[kind] = _first_location(kind, warehouse_id)
        location = cache[kind]
    if location is None:
        raise AfterSalesError(_("To grade %(item)s of %(case)s %(grade)s, you must have an "
                                "active %(kind)s location: create one under Warehouse > "
                                "Locations.", item=name, case=case.number, grade=grade.value,
                                kind=_kind(kind)))
    return location


def inspect_return(case: AfterSalesCase,
                   grades: Mapping[int, Sequence[tuple[str, int, int | None]]], *,
                   actor) -> list[ReturnItem]:
    """Grade received items: ``{item id: [(grade, qty, location id or None)]}``.

    Each item given must be graded in full (its units split over grades make extra item rows).
    A goes to the given storage bin (default: :func:`default_restock_bin`), B to quarantine,
    C to scrap, each a move out of the returns location in one batch; an unknown item (no SKU)
    is graded B or C and only recorded. The case becomes ``inspected`` when no item is left
    ungraded. Returns the graded item rows.

    :raises AfterSalesError: if the case is not received, or a destination is missing.
    :raises ValidationError: for an item not of the case or already graded, a bad grade or
        quantity, units graded more or fewer than received, grade A of an unknown item, or a
        bin of the wrong kind.
    """
    _lock_case(case)
    if case.state != S.received:
        if case.state in (S.inspected, S.resolved, S.closed) and case.items:
            graded = next((i for i in case.items if i.inspected_at), None)
            if graded is None:
                raise AfterSalesError(_("%(case)s was inspected; its items are graded once.",
                                        case=case.number))
            raise AfterSalesError(_("%(case)s was inspected on %(when)s by %(user)s; its items "
                                    "are graded once.", case=case.number,
                                    **_when_by(graded.inspected_at, graded.inspected_by_id)))
        raise AfterSalesError(_("To inspect %(case)s, it must be received; it is %(state)s.",
                                case=case.number, state=_label(case.state)))
    if not grades:
        raise ValidationError(_("To inspect %(case)s, grade at least one item.",
                                case=case.number), field="grades")
    items = {item.id: item for item in case.items}
    cache: dict = {}
    plan: list[tuple[ReturnItem, list[tuple[Grade, int, Location | None]]]] = []
    for item_id in sorted(grades):
        item = items.get(int(item_id))
        if item is None:
            raise ValidationError(_("To inspect %(case)s: item %(item)s is not an item of this "
                                    "case.", case=case.number, item=item_id), field="grades")
        name = item_label(item)
        if item.grade is not None:
            raise ValidationError(_("To inspect %(case)s: %(item)s is already graded %(grade)s.",
                                    case=case.number, item=name,
                                    grade=Grade(item.grade).value), field=f"item-{item.id}")
        merged: dict[tuple[Grade, int | None], int] = defaultdict(int)
        for entry in grades[item_id]:
            try:
                raw_grade, qty, location_id = entry
            except (TypeError, ValueError):
                raise ValidationError(_("To inspect %(case)s: each grade of %(item)s must be "
                                        "(grade, quantity, location); got %(entry)s.",
                                        case=case.number, item=name, entry=repr(entry)),
                                      field=f"item-{item.id}") from None
            try:
                grade = Grade(str(raw_grade).strip().upper())
            except ValueError:
                raise ValidationError(_("To inspect %(case)s: %(grade)s is not a grade of "
                                        "%(item)s; use A, B or C.", case=case.number,
                                        grade=repr(raw_grade), item=name),
                                      field=f"item-{item.id}") from None
            qty = _quantity(qty, _("To grade %(item)s of %(case)s %(grade)s", item=name,
                                   case=case.number, grade=grade.value),
                            field=f"item-{item.id}")
            merged[(grade, location_id)] += qty
        total = sum(merged.values())
        if total != item.quantity:
            values = {"case": case.number, "item": name,
                      "received": format_number(item.quantity), "graded": format_number(total)}
            if total > item.quantity:
                message = _("To inspect %(case)s, grade every unit of %(item)s once: "
                            "%(received)s received, %(graded)s graded (more).", **values)
            else:
                message = _("To inspect %(case)s, grade every unit of %(item)s once: "
                            "%(received)s received, %(graded)s graded (fewer).", **values)
            raise ValidationError(message, field=f"item-{item.id}")
        entries = []
        for (grade, location_id), qty in merged.items():
            if item.sku_id is None:
                if grade == Grade.A:
                    raise ValidationError(_("To inspect %(case)s: %(item)s has no SKU and "
                                            "cannot be restocked; grade it B or C.",
                                            case=case.number, item=name),
                                          field=f"item-{item.id}")
                entries.append((grade, qty, None))
            else:
                entries.append((grade, qty, _target(case, item, grade, location_id, cache)))
        plan.append((item, entries))
    now = utcnow()
    actor_id = getattr(actor, "id", None)
    graded: list[tuple[ReturnItem, int | None]] = []  # (row, location its units are in)
    for item, entries in plan:
        source = None
        if item.sku_id is not None:
            source = _received_from(item) or returns_location(case.return_warehouse_id).id
        for n, (grade, qty, location) in enumerate(entries):
            row = item if n == 0 else ReturnItem(
                case_line_id=item.case_line_id, sku_id=item.sku_id,
                description=item.description, unexpected=item.unexpected,
                received_by_id=item.received_by_id, received_at=item.received_at)
            if row is not item:
                case.items.append(row)
            row.quantity = qty
            row.grade = grade
            row.location_id = location.id if location else None
            row.inspected_by_id = actor_id
            row.inspected_at = now
            graded.append((row, source))
    db.session.flush()
    specs = [MoveSpec(row.sku_id, source, row.location_id, row.quantity,
                      GRADE_MOVES[Grade(row.grade)], ref_type=RETURN_ITEM_REF, ref_id=row.id,
                      note=f"{case.number} grade {Grade(row.grade).value}")
             for row, source in graded if row.sku_id is not None and row.location_id]
    post_moves(specs, actor=actor, at=now)
    rows = [row for row, _ in graded]
    summary = [{**_describe(row), "location": row.location.label if row.location else None}
               for row in rows]
    audit.record(case, "aftersales_case.return_inspected", actor=actor,
                 changes={"grades": summary})
    if all(item.grade is not None for item in case.items):
        transition(case, S.inspected, machine=CASE_STATES, actor=actor,
                   changes={"grades": {g.value: sum(r.quantity for r in rows if r.grade == g)
                                       for g in Grade}})
    db.session.flush()
    return rows
