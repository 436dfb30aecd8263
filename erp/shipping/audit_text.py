"""How shipping's audit events read (see :func:`erp.core.audit.register`)."""

from __future__ import annotations

from sqlalchemy import select

from erp.catalog.models import Sku
from erp.core import audit
from erp.core.i18n import _, _l, ngettext
from erp.extensions import db
from erp.shipping.models import (
    DISPATCH_BATCH_STATES,
    PARCEL_STATES,
    TRACKING_STATES,
    WAVE_STATES,
    Parcel,
    PickTask,
    PickWave,
)
from erp.warehouse.models import Location, Warehouse


def _pick_task(ident) -> str | None:
    row = db.session.execute(select(Sku.code, Location.code).select_from(PickTask)
                             .join(Sku, Sku.id == PickTask.sku_id)
                             .join(Location, Location.id == PickTask.location_id)
                             .where(PickTask.id == int(ident))).first()
    return f"{row[0]} @ {row[1]}" if row else None


def _number(model):
    def lookup(ident) -> str | None:
        return db.session.scalar(select(model.number).where(model.id == int(ident)))
    return lookup


audit.entity("carrier", _l("Carrier"))
audit.entity("shipping_service", _l("Shipping service"))
audit.entity("service_rate", _l("Rate"))
audit.entity("tracking_range", _l("Tracking number range"))
audit.entity("box", _l("Box"))
audit.entity("pick_wave", _l("Pick wave"), states=WAVE_STATES)
audit.entity("pick_task", _l("Pick task"), lookup=_pick_task)
audit.entity("parcel", _l("Parcel"), states=PARCEL_STATES)
audit.entity("dispatch_batch", _l("Dispatch batch"), states=DISPATCH_BATCH_STATES)
audit.entity("packing_station", _l("Packing station"))
audit.reference("parcel", _number(Parcel))
audit.reference("pick_wave", _number(PickWave))

audit.fields({
    "carrier": _l("carrier"),
    "service": _l("shipping service"),
    "account_number": _l("account number"),
    "tracking_kind": _l("tracking number format"),
    "customs_docs": _l("customs documents"),
    "max_weight_g": _l("maximum weight (g)"),
    "max_longest_mm": _l("maximum length (mm)"),
    "max_sum_mm": _l("maximum length + girth (mm)"),
    "volumetric_divisor": _l("volumetric divisor"),
    "cutoff": _l("cut-off"),
    "requires_phone": _l("phone required"),
    "zone": _l("zone"),
    "added": _l("added"),
    "removed": _l("removed"),
    "rezoned": _l("moved to another zone"),
    "prefix": _l("prefix"),
    "suffix": _l("suffix"),
    "width": _l("digits"),
    "first_serial": _l("first serial"),
    "last_serial": _l("last serial"),
    "warn_below": _l("warn below"),
    "first": _l("first"),
    "last": _l("last"),
    "tare_g": _l("tare weight (g)"),
    "filters": _l("filters"),
    "orders": _l("orders"),
    "packing_location": _l("packing bench"),
    "picked": _l("picked"),
    "picked_qty": _l("picked quantity"),
    "left_frozen": _l("left in frozen bins"),
    "cycle_count": _l("cycle count"),
    "count_opened": _l("count opened"),
    "order_state": _l("order status"),
    "not_picked": _l("not picked"),
    "dimensions_mm": _l("dimensions (mm)"),
    "box": _l("box"),
    "customs_form": _l("customs form"),
    "ioss": _l("IOSS"),
    "dutiable": _l("dutiable"),
    "sequence": _l("parcel number within the order"),
    "contents": _l("contents"),
    "scan_rows": _l("scans"),
    "parcels": _l("parcels"),
    "orders_shipped": _l("orders shipped"),
    "declared": _l("declared value"),
    "close_on_last_item": _l("closes the parcel at the scan of the last item"),
    "packed_weight_g": _l("packed weight (g)"),
    "expected_g": _l("expected weight (g)"),
    "weighed_g": _l("weighed weight (g)"),
    "difference_g": _l("difference (g)"),
    "allowed_g": _l("tolerance (g)"),
})


def _contents(mapping) -> str:
    if not isinstance(mapping, dict):
        return "—"
    return ", ".join(_("%(qty)s × %(sku)s", qty=audit.show(q), sku=sku)
                     for sku, q in mapping.items()) or "—"


def _wave_created(e: audit.Event) -> str:
    return _("Pick wave %(ref)s created: %(orders)s, %(units)s, packed at %(bench)s.",
             ref=e.ref, orders=ngettext("%(num)d order", "%(num)d orders",
                                        int(e.raw("orders") or 0)),
             units=ngettext("%(num)d unit", "%(num)d units", int(e.raw("units") or 0)),
             bench=e["packing_location"])


def _wave_done(e: audit.Event) -> str:
    return _("Pick wave %(ref)s done: %(picked)s picked, %(short)s short.", ref=e.ref,
             picked=ngettext("%(num)d unit", "%(num)d units", int(e.raw("picked") or 0)),
             short=ngettext("%(num)d unit", "%(num)d units", int(e.raw("short") or 0)))


def _wave_picked_all(e: audit.Event) -> str:
    return _("Pick wave %(ref)s: every task confirmed picked at once (%(tasks)s, %(units)s).",
             ref=e.ref, tasks=ngettext("%(num)d task", "%(num)d tasks",
                                       int(e.raw("tasks") or 0)),
             units=ngettext("%(num)d unit", "%(num)d units", int(e.raw("units") or 0)))


def _task_picked(e: audit.Event) -> str:
    if e.has("sku"):
        return _("Picked %(qty)s × %(sku)s from %(bin)s for order %(order)s (wave %(wave)s).",
                 qty=e["picked_qty"], sku=e["sku"], bin=e["bin"], order=e["order"],
                 wave=e["wave"])
    return _("Pick task %(ref)s in wave %(wave)s picked: %(units)s.", ref=e.ref,
             wave=e["wave"], units=ngettext("%(num)d unit", "%(num)d units",
                                            int(e.raw("picked_qty") or 0)))


def _task_short(e: audit.Event) -> str:
    return _("Picking %(sku)s from %(bin)s for order %(order)s (wave %(wave)s): %(short)s "
             "missing; cycle count %(count)s checks the bin.", sku=e["sku"], bin=e["bin"],
             order=e["order"], wave=e["wave"], short=e["short"], count=e["cycle_count"])


def _parcel_packed(e: audit.Event) -> str:
    return _("Parcel %(ref)s packed for order %(order)s: %(contents)s, %(weight)s g, "
             "%(service)s.", ref=e.ref, order=e["order"],
             contents=_contents(e.raw("contents")), weight=e["weight_g"], service=e["service"])


def _label_voided(e: audit.Event) -> str:
    return e.with_note(_("Label %(tracking)s of parcel %(ref)s voided; the parcel waits for a "
                         "new label.", tracking=e.before("tracking_number"), ref=e.ref),
                       key="reason")


def _tracking(e: audit.Event) -> str:
    old, new = e.raw_before("tracking_status"), e.raw("tracking_status")
    values = {"ref": e.ref, "new": TRACKING_STATES.label(new) if new else "",
              "event": e.raw("event") or ""}
    if e.raw("received_back"):
        return _("Parcel %(ref)s received back at the warehouse: %(new)s.", **values)
    if old:
        return _("Parcel %(ref)s: the carrier reports %(new)s (was %(old)s; event %(event)s).",
                 old=TRACKING_STATES.label(old), **values)
    return _("Parcel %(ref)s: the carrier reports %(new)s (event %(event)s).", **values)


def _zones_set(e: audit.Event) -> str:
    def count(key):
        value = e.raw(key)
        return len(value) if isinstance(value, (dict, list)) else 0
    return _("Zones of shipping service %(ref)s changed: %(added)s added, %(removed)s "
             "removed, %(rezoned)s moved to another zone.", ref=e.ref,
             added=audit.show(count("added")), removed=audit.show(count("removed")),
             rezoned=audit.show(count("rezoned")))


def _batch_closed(e: audit.Event) -> str:
    return _("Dispatch batch %(ref)s closed and handed over: %(parcels)s, %(orders)s shipped.",
             ref=e.ref, parcels=ngettext("%(num)d parcel", "%(num)d parcels",
                                         int(e.raw("parcels") or 0)),
             orders=ngettext("%(num)d order", "%(num)d orders",
                             int(e.raw("orders_shipped") or 0)))


def _scans_cleared(e: audit.Event) -> str:
    return ngettext("Order %(ref)s: packing scans cleared (%(num)d unit).",
                    "Order %(ref)s: packing scans cleared (%(num)d units).",
                    int(e.raw("units") or 0), ref=e.ref)


def _range_created(e: audit.Event) -> str:
    pattern = f"{e.raw('prefix') or ''}…{e.raw('suffix') or ''}"
    return _("Tracking number range %(pattern)s of service %(service)s added: serials "
             "%(first)s to %(last)s.", pattern=pattern, service=e["service"],
             first=e.raw("first_serial"), last=e.raw("last_serial"))


def _range_active(active: bool):
    def sentence(e: audit.Event) -> str:
        if active:
            return _("A tracking number range of service %(service)s reactivated.",
                     service=e["service"])
        return _("A tracking number range of service %(service)s deactivated.",
                 service=e["service"])
    return sentence


def _range_drawn(e: audit.Event) -> str:
    return ngettext("%(num)d tracking number of service %(service)s drawn: %(first)s to "
                    "%(last)s.", "%(num)d tracking numbers of service %(service)s drawn: "
                    "%(first)s to %(last)s.", int(e.raw("count") or 0), service=e["service"],
                    first=e["first"], last=e["last"])


def _station_created(e: audit.Event) -> str:
    if e.raw("close_on_last_item"):
        return _('Packing station %(ref)s "%(name)s" created in warehouse %(warehouse)s; it '
                 "closes the parcel and prints the label at the scan of an order's last "
                 "item.", ref=e.ref, name=e["name"], warehouse=e["warehouse"])
    return _('Packing station %(ref)s "%(name)s" created in warehouse %(warehouse)s.',
             ref=e.ref, name=e["name"], warehouse=e["warehouse"])


def _station_updated(e: audit.Event) -> str:
    if not e.has("close_on_last_item"):
        return audit.with_changes(_l("Packing station %(ref)s updated: %(changes)s."))(e)
    if e.raw("close_on_last_item"):
        return _("Packing station %(ref)s now closes the parcel and prints the label at the "
                 "scan of an order's last item.", ref=e.ref)
    return _("Packing station %(ref)s no longer closes the parcel at the scan of the last "
             "item: the packer closes it.", ref=e.ref)


def _sku_packing(e: audit.Event) -> str:
    if e.raw("packed_weight_g"):
        return _("SKU %(ref)s packs alone (single-item lane) in box %(box)s, packed weight "
                 "%(weight)s g.", ref=e.ref, box=e["box"], weight=e["packed_weight_g"])
    return _("SKU %(ref)s packs alone (single-item lane) in box %(box)s, packed weight its own "
             "weight plus the box's tare.", ref=e.ref, box=e["box"])


def _weight_override(e: audit.Event) -> str:
    return _("Order %(ref)s: a weight of %(weighed)s g confirmed at packing, %(difference)s g "
             "off the expected %(expected)s g (%(allowed)s g allowed).", ref=e.ref,
             weighed=e["weighed_g"], difference=e["difference_g"], expected=e["expected_g"],
             allowed=e["allowed_g"])


def _box_shortfall(e: audit.Event) -> str:
    sku_id, warehouse_id = e.raw("sku_id"), e.raw("warehouse_id")
    sku = db.session.scalar(select(Sku.code).where(Sku.id == int(sku_id))) if sku_id else None
    warehouse = db.session.scalar(select(Warehouse.code).where(
        Warehouse.id == int(warehouse_id))) if warehouse_id else None
    return _("Parcel %(ref)s closed in box %(box)s, but no %(sku)s was in stock in warehouse "
             "%(warehouse)s to take: count the boxes and correct the stock.", ref=e.ref,
             box=e["box"], sku=sku or "—", warehouse=warehouse or "—")


audit.register_many({
    "packing_station.created": _station_created,
    "packing_station.updated": _station_updated,
    "sku.packing_set": _sku_packing,
    "customer_order.weight_override": _weight_override,
    "parcel.box_shortfall": _box_shortfall,
    "parcel.tracking": _tracking,
    "box.created": _l("Box %(ref)s \"%(name)s\" created (%(length_mm)s × %(width_mm)s × "
                      "%(height_mm)s mm)."),
    "box.updated": audit.with_changes(_l("Box %(ref)s updated: %(changes)s.")),
    "carrier.created": _l("Carrier %(ref)s \"%(name)s\" created."),
    "carrier.updated": audit.with_changes(_l("Carrier %(ref)s updated: %(changes)s.")),
    "shipping_service.created": _l("Shipping service %(ref)s \"%(name)s\" of carrier "
                                   "%(carrier)s created."),
    "shipping_service.updated": audit.with_changes(_l("Shipping service %(ref)s updated: "
                                                      "%(changes)s.")),
    "shipping_service.zones_set": _zones_set,
    "service_rate.created": _l("Rate of %(service)s to zone %(zone)s up to %(max_weight_g)s g "
                               "set to %(price)s %(currency)s."),
    "service_rate.updated": audit.with_changes(_l(
        "Rate of %(service)s to zone %(zone)s up to %(max_weight_g)s g changed: "
        "%(changes)s.")),
    "service_rate.removed": _l("Rate of %(service)s to zone %(zone)s up to %(max_weight_g)s g "
                               "removed."),
    "tracking_range.created": _range_created,
    "tracking_range.updated": _l("Tracking number range of service %(service)s: warn below "
                                 "%(warn_below)s (was %(warn_below_before)s)."),
    "tracking_range.reactivated": _range_active(True),
    "tracking_range.deactivated": _range_active(False),
    "tracking_range.drawn": _range_drawn,
    "pick_wave.created": _wave_created,
    "pick_wave.picking": _l("Picking of wave %(ref)s started."),
    "pick_wave.picked_all": _wave_picked_all,
    "pick_wave.done": _wave_done,
    "pick_task.picked": _task_picked,
    "pick_task.part_picked": _task_picked,
    "pick_task.short": _task_short,
    "pick_task.dropped": _l("Pick task for %(sku)s in %(bin)s dropped from wave %(wave)s: "
                            "order %(order)s is now %(order_state)s."),
    "parcel.packed": _parcel_packed,
    "parcel.labelled": _l("Parcel %(ref)s labelled: tracking number %(tracking_number)s."),
    "parcel.dispatched": _l("Parcel %(ref)s dispatched with batch %(batch)s."),
    "parcel.voided": _l("Parcel %(ref)s voided."),
    "parcel.label_voided": _label_voided,
    "parcel.batched": _l("Parcel %(ref)s added to dispatch batch %(batch)s."),
    "parcel.unbatched": _l("Parcel %(ref)s taken out of dispatch batch %(batch)s."),
    "parcel.destination_changed": audit.with_changes(_l(
        "Destination of parcel %(ref)s changed: %(changes)s.")),
    "dispatch_batch.opened": _l("Dispatch batch %(ref)s opened for carrier %(carrier)s."),
    "dispatch_batch.closed": _batch_closed,
    "customer_order.unscanned": _l("Order %(ref)s: a scan of %(quantity)s × %(sku)s taken "
                                   "back at packing."),
    "customer_order.scans_cleared": _scans_cleared,
})

audit.register_many({
    "shipping_service.warehouses": audit.with_changes(_l(
        "Warehouses service %(ref)s ships from changed: %(changes)s.")),
    "shipping_service.goods_limits": audit.with_changes(_l(
        "Goods accepted by service %(ref)s changed: %(changes)s.")),
})


def _bill_reference(ident) -> str | None:
    from erp.shipping.models import CarrierBill

    return db.session.scalar(select(CarrierBill.reference).where(CarrierBill.id == int(ident)))


def _bill_imported(e: audit.Event) -> str:
    return _("Carrier bill %(ref)s of %(carrier)s imported: %(lines)s lines, %(matched)s "
             "matched to parcels, %(duplicates)s billed twice, %(unknown)s unknown; total "
             "%(total)s %(currency)s.", ref=e.ref, carrier=e["carrier"], lines=e["lines"],
             matched=e["matched"], duplicates=e["duplicates"], unknown=e["unknown"],
             total=e["total"], currency=e["currency"])


audit.entity("carrier_bill", _l("Carrier bill"), lookup=_bill_reference)
audit.register("carrier_bill.imported", _bill_imported)
