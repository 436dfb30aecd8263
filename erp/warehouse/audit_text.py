"""How the warehouse's audit events read (see :func:`erp.core.audit.register`).

A stock posting's event holds only counts and the reference of its first move; its sentence
reads the moves themselves ("Received 30 × KB-BAG-NAV-8L into SZ1/RCV-01 on RCV-2026-000013").
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import aliased

from erp.catalog.models import Sku
from erp.core import audit
from erp.core.i18n import _, _l, ngettext
from erp.extensions import db
from erp.warehouse.models import (
    ADJUSTMENT_STATES,
    CYCLE_COUNT_STATES,
    PUTAWAY_STATES,
    TRANSFER_REF,
    TRANSFER_STATES,
    CycleCount,
    Location,
    StockAdjustment,
    StockMove,
    TransferOrder,
    Warehouse,
    putaway_number,
)

audit.entity("warehouse", _l("Warehouse"))
audit.entity("location", _l("Bin"))
audit.entity("stock_move", _l("Stock move"))
audit.entity("reservation", _l("Reservation"))
audit.entity("stock_adjustment", _l("Stock adjustment"), states=ADJUSTMENT_STATES)
audit.entity("cycle_count", _l("Cycle count"), states=CYCLE_COUNT_STATES)

audit.fields({
    "pick_sequence": _l("pick sequence"),
    "counted_qty": _l("counted quantity"),
    "expected_qty": _l("expected quantity"),
    "suggested_location_id": _l("suggested bin"),
    "from_location_id": _l("from bin"),
    "left": _l("left to put away"),
    "put_away": _l("put away"),
    "moves": _l("moves"),
    "variance_units": _l("variance (units)"),
    "variance_value": _l("variance value"),
    "lines_with_variance": _l("lines with a variance"),
    "recount": _l("lines to count again"),
    "on_hand_changed": _l("on hand changed meanwhile"),
    "bins": _l("bins"),
    "skus": _l("SKUs"),
    "chosen_bins": _l("bins chosen"),
    "chosen_skus": _l("SKUs chosen"),
    "tasks": _l("tasks"),
    "ref": _l("for"),
    "in_transit": _l("in transit"),
    "picked": _l("picked"),
    "received": _l("received"),
    "short": _l("short"),
    "discrepancies": _l("discrepancies"),
    "cartons": _l("cartons"),
    "carrier": _l("carrier"),
})

audit.known_texts([_l("the stock left the receiving bin by another move")])


def _number(model):
    def lookup(ident) -> str | None:
        return db.session.scalar(select(model.number).where(model.id == int(ident)))
    return lookup


audit.reference("cycle_count", _number(CycleCount))
audit.reference("stock_adjustment", _number(StockAdjustment))
audit.reference("putaway_task", lambda ident: putaway_number(ident))
audit.reference("demo", lambda ident: str(_("demo data")))
audit.reference(TRANSFER_REF, _number(TransferOrder))
audit.entity("transfer_order", _l("Transfer"), states=TRANSFER_STATES,
             lookup=_number(TransferOrder))
audit.entity("putaway_task", _l("Put-away task"), states=PUTAWAY_STATES,
             lookup=lambda ident: putaway_number(int(ident)))

#: how many moves of one posting a sentence names before "and N more"
_NAMED_MOVES = 5

_MOVE_SENTENCES = {
    "receipt": _l("Received %(what)s into %(to)s on %(ref)s."),
    "receipt_reversal": _l("Receipt %(ref)s reversed: %(what)s taken back out of %(from)s."),
    "transfer": _l("Moved %(what)s from %(from)s to %(to)s."),
    "adjustment": _l("Stock adjustment %(ref)s: %(what)s moved from %(from)s to %(to)s."),
    "count": _l("Cycle count %(ref)s corrected stock: %(what)s moved from %(from)s to "
                "%(to)s."),
    "pick": _l("Picked %(what)s from %(from)s to %(to)s for pick wave %(ref)s."),
    "ship": _l("Shipped %(what)s from %(from)s with parcel %(ref)s."),
    "return_receipt": _l("Returned goods received: %(what)s into %(to)s for case %(ref)s."),
    "scrap": _l("Scrapped %(what)s from %(from)s to %(to)s."),
    "opening": _l("Opening stock: %(what)s into %(to)s."),
}


def _moves(e: audit.Event) -> list:
    first, last = e.raw("first_move_id"), e.raw("last_move_id")
    if first is None:
        return []
    src, dst = aliased(Location), aliased(Location)
    src_wh, dst_wh = aliased(Warehouse), aliased(Warehouse)
    anchor = db.session.get(StockMove, int(first))
    if anchor is None:
        return []
    stmt = (select(StockMove.quantity, Sku.code, src.code, src_wh.code, dst.code, dst_wh.code)
            .join(Sku, Sku.id == StockMove.sku_id)
            .join(src, src.id == StockMove.from_location_id)
            .outerjoin(src_wh, src_wh.id == src.warehouse_id)
            .join(dst, dst.id == StockMove.to_location_id)
            .outerjoin(dst_wh, dst_wh.id == dst.warehouse_id)
            .where(StockMove.id.between(int(first), int(last or first)),
                   StockMove.kind == anchor.kind, StockMove.at == anchor.at)
            .order_by(StockMove.id).limit(_NAMED_MOVES))
    return list(db.session.execute(stmt))


def _bin(code: str, warehouse: str | None) -> str:
    return f"{warehouse}/{code}" if warehouse else code


def _distinct(values) -> str:
    seen = []
    for value in values:
        if value not in seen:
            seen.append(value)
    return ", ".join(seen) or "—"


def _stock_move_posted(e: audit.Event) -> str:
    rows = _moves(e)
    count = int(e.raw("moves") or len(rows) or 0)
    if rows:
        what = ", ".join(_("%(qty)s × %(sku)s", qty=audit.show(q), sku=sku)
                         for q, sku, *_rest in rows)
        if count > len(rows):
            what = _("%(list)s and %(more)s", list=what, more=ngettext(
                "%(num)d more move", "%(num)d more moves", count - len(rows)))
        source = _distinct(_bin(r[2], r[3]) for r in rows)
        target = _distinct(_bin(r[4], r[5]) for r in rows)
    else:
        what = ngettext("%(num)d unit", "%(num)d units", int(e.raw("quantity") or 0))
        source = target = "—"
    ref = e["ref"] if e.has("ref") else "—"
    template = _MOVE_SENTENCES.get(str(e.raw("kind")))
    if template is None:
        return _("Stock moved: %(what)s from %(from)s to %(to)s.", what=what, **{
            "from": source, "to": target})
    return str(template) % {"what": what, "from": source, "to": target, "ref": ref}


def _reservation_created(e: audit.Event) -> str:
    return _("Reserved %(qty)s × %(sku)s in %(bin)s for %(ref)s.", qty=e["quantity"],
             sku=e["sku"], bin=e["bin"], ref=e["ref"] if e.has("ref") else "—")


def _reservation_released(e: audit.Event) -> str:
    before, after = e.raw_before("quantity") or 0, e.raw("quantity") or 0
    return ngettext("Released %(num)d reserved unit held for %(ref)s.",
                    "Released %(num)d reserved units held for %(ref)s.",
                    int(before) - int(after), ref=e["ref"] if e.has("ref") else "—")


def _count_opened(e: audit.Event) -> str:
    return e.with_note(_("Cycle count %(ref)s opened in warehouse %(warehouse)s: %(lines)s.",
                         ref=e.ref, warehouse=e["warehouse"], lines=ngettext(
                             "%(num)d line to count", "%(num)d lines to count",
                             int(e.raw("lines") or 0))))


def _count_review(e: audit.Event) -> str:
    return _("Cycle count %(ref)s submitted for review: %(variances)s.", ref=e.ref,
             variances=ngettext("%(num)d line with a variance", "%(num)d lines with a variance",
                                int(e.raw("lines_with_variance") or 0)))


def _count_reopened(e: audit.Event) -> str:
    return e.with_note(_("Cycle count %(ref)s sent back for counting again: %(lines)s.",
                         ref=e.ref, lines=ngettext("%(num)d line", "%(num)d lines",
                                                   int(e.raw("recount") or 0))))


def _count_accepted(e: audit.Event) -> str:
    return ngettext("Cycle count %(ref)s accepted: stock corrected by %(num)d unit (value "
                    "%(value)s).", "Cycle count %(ref)s accepted: stock corrected by %(num)d "
                    "units (value %(value)s).", abs(int(e.raw("variance_units") or 0)),
                    ref=e.ref, value=e["variance_value"] if e.has("variance_value") else "—")


def _putaway_created(e: audit.Event) -> str:
    tasks = e.raw("tasks") or []
    if len(tasks) == 1 and isinstance(tasks[0], dict):
        task = tasks[0]
        return _("Put-away task %(task)s opened for %(qty)s × %(sku)s.",
                 task=putaway_number(int(task.get("task") or 0)),
                 qty=audit.show(task.get("quantity")), sku=audit.show(task.get("sku")))
    listed = ", ".join(_("%(qty)s × %(sku)s", qty=audit.show(t.get("quantity")),
                         sku=audit.show(t.get("sku")))
                       for t in tasks[:_NAMED_MOVES] if isinstance(t, dict))
    return ngettext("%(num)d put-away task opened (%(tasks)s).",
                    "%(num)d put-away tasks opened (%(tasks)s).", len(tasks), tasks=listed)


def _units(count) -> str:
    return ngettext("%(num)d unit", "%(num)d units", int(count or 0))


def _putaway_done(e: audit.Event) -> str:
    if e.has("put_away"):
        return _("Put-away task %(ref)s finished: %(units)s put away in %(bin)s.", ref=e.ref,
                 units=_units(e.raw("put_away")), bin=e["bin"])
    return e.with_note(_("Put-away task %(ref)s finished.", ref=e.ref))


def _put_away(e: audit.Event) -> str:
    return _("Put-away task %(ref)s: %(units)s put away in %(bin)s, %(left)s left.", ref=e.ref,
             units=_units(e.raw("put_away")), bin=e["bin"], left=_units(e.raw("left")))


def _transfer_created(e: audit.Event) -> str:
    return ngettext("Transfer %(ref)s drafted from %(from)s to %(to)s: %(num)d unit.",
                    "Transfer %(ref)s drafted from %(from)s to %(to)s: %(num)d units.",
                    int(e.raw("quantity") or 0), ref=e.ref, to=e["to"],
                    **{"from": e["from"]})


def _transfer_picked(e: audit.Event) -> str:
    return ngettext("Transfer %(ref)s picked: %(num)d unit into %(bin)s.",
                    "Transfer %(ref)s picked: %(num)d units into %(bin)s.",
                    int(e.raw("picked") or 0), ref=e.ref, bin=e["bin"])


def _transfer_shipped(e: audit.Event) -> str:
    return ngettext("Transfer %(ref)s shipped: %(num)d unit in transit (%(bin)s).",
                    "Transfer %(ref)s shipped: %(num)d units in transit (%(bin)s).",
                    int(e.raw("in_transit") or 0), ref=e.ref, bin=e["bin"])


def _transfer_received(e: audit.Event) -> str:
    text = ngettext("Transfer %(ref)s received: %(num)d unit into %(bin)s.",
                    "Transfer %(ref)s received: %(num)d units into %(bin)s.",
                    int(e.raw("received") or 0), ref=e.ref, bin=e["bin"])
    short = e.raw("discrepancies") or {}
    if isinstance(short, dict) and short:
        listed = ", ".join(_("%(qty)s × %(sku)s (%(reason)s)", qty=audit.show(v.get("short")),
                             sku=sku, reason=audit.show(v.get("reason")))
                           for sku, v in short.items() if isinstance(v, dict))
        text = _("%(text)s Short: %(list)s.", text=text, list=listed)
    return text


#: why stock was adjusted (the values of AdjustmentReason)
_ADJUSTMENT_REASONS = {
    "damaged": _l("damaged"),
    "lost": _l("lost"),
    "found": _l("found"),
    "expired": _l("expired"),
    "sample": _l("sample"),
    "data_correction": _l("data correction"),
    "other": _l("other"),
}


def _adjustment_requested(e: audit.Event) -> str:
    reason = e.raw("reason")
    return _("Stock adjustment %(ref)s requested: %(qty)s × %(sku)s in %(bin)s (%(reason)s).",
             ref=e.ref, qty=e["quantity"], sku=e["sku"], bin=e["bin"],
             reason=str(_ADJUSTMENT_REASONS.get(reason, reason or "—")))


audit.entity("warehouse_route", _l("Warehouse route"))
audit.fields({"area": _l("area"), "warehouses": _l("warehouses"), "position": _l("position")})

audit.register_many({
    "warehouse_route.created": _l("Warehouse route to %(country)s, area %(area)s, created: "
                                  "%(warehouses)s."),
    "warehouse_route.updated": audit.with_changes(_l("Warehouse route updated: %(changes)s.")),
    "warehouse_route.moved": audit.with_changes(_l("Warehouse route moved: %(changes)s.")),
    "warehouse_route.deleted": audit.with_changes(_l("Warehouse route deleted: %(changes)s.")),
    "warehouse.created": _l("Warehouse %(ref)s \"%(name)s\" created."),
    "warehouse.updated": audit.with_changes(_l("Warehouse %(ref)s updated: %(changes)s.")),
    "location.created": _l("Bin %(code)s created in warehouse %(warehouse)s."),
    "location.updated": audit.with_changes(_l("Bin %(ref)s updated: %(changes)s.")),
    "stock_move.posted": _stock_move_posted,
    "reservation.created": _reservation_created,
    "reservation.released": _reservation_released,
    "stock_adjustment.requested": _adjustment_requested,
    "stock_adjustment.approved": _l("Stock adjustment %(ref)s approved."),
    "stock_adjustment.rejected": _l("Stock adjustment %(ref)s rejected."),
    "cycle_count.opened": _count_opened,
    "cycle_count.line_added": _l("Cycle count %(ref)s: %(sku)s in %(bin)s added, counted "
                                 "%(counted_qty)s."),
    "cycle_count.scanned": _l("Cycle count %(ref)s: scanned %(qty)s × %(sku)s in %(bin)s "
                              "(counted %(counted_qty)s)."),
    "cycle_count.line_counted": _l("Cycle count %(ref)s: %(sku)s in %(bin)s counted "
                                   "%(counted_qty)s."),
    "cycle_count.review": _count_review,
    "cycle_count.open": _count_reopened,
    "cycle_count.accepted": _count_accepted,
    "cycle_count.cancelled": _l("Cycle count %(ref)s cancelled."),
    "putaway_task.created": _putaway_created,
    "putaway_task.updated": audit.with_changes(_l("Put-away task %(ref)s updated: "
                                                  "%(changes)s.")),
    "putaway_task.put_away": _put_away,
    "putaway_task.done": _putaway_done,
    "putaway_task.cancelled": _l("Put-away task %(ref)s cancelled."),
    "transfer_order.created": _transfer_created,
    "transfer_order.picked": _transfer_picked,
    "transfer_order.shipped": _transfer_shipped,
    "transfer_order.received": _transfer_received,
    "transfer_order.cancelled": lambda e: e.with_note(_("Transfer %(ref)s cancelled.",
                                                         ref=e.ref)),
})

audit.entity("value_adjustment", _l("Value adjustment"))
audit.known_texts([_l("revaluation"), _l("variance")])
audit.fields({"cost_before": _l("cost before"), "cost_after": _l("cost after")})
audit.register_many({
    "value_adjustment.posted": _l("Value adjustment (%(kind)s) of %(amount)s on %(sku)s over "
                                  "%(quantity)s units, for %(ref)s."),
})
