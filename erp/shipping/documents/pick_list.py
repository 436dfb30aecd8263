"""The pick list of a wave (A4): tasks in the bins' pick sequence, with Code 128 barcodes.

One PDF per wave: every task with its bin and SKU barcodes, the quantity, the order and its
tote (slot); then the totals per SKU and the totes of the wave. It stays in the warehouse, so it
is printed in the language of the person printing it (the request's locale).
"""

from __future__ import annotations

from collections import defaultdict

from reportlab.lib.units import mm
from reportlab.platypus import Spacer
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from erp.catalog.models import Sku
from erp.core import settings as core_settings
from erp.core.i18n import _, _l, ngettext
from erp.core.pdf import Barcode128, Text, a4_document, data_table
from erp.extensions import db
from erp.shipping.models import PickTask, PickWave, PickWaveOrder
from erp.shipping.services.waves import filters_from_json, slots_by_order

_STATE_MARK = {"open": "", "picked": _l("picked"), "short": _l("short")}


def _sku_name(sku: Sku) -> str:
    extra = " ".join(part for part in (sku.colour, sku.size) if part)
    name = sku.product.name if sku.product else ""
    return f"{name} {extra}".strip()


def pick_list_pdf(wave: PickWave) -> bytes:
    """Return the wave's pick list as A4 PDF bytes, sorted by the bins' pick sequence."""
    tasks = list(db.session.scalars(
        select(PickTask).where(PickTask.wave_id == wave.id)
        .order_by(PickTask.sequence, PickTask.id)
        .options(joinedload(PickTask.location), joinedload(PickTask.order),
                 joinedload(PickTask.sku).joinedload(Sku.product))))
    slots = list(db.session.scalars(
        select(PickWaveOrder).where(PickWaveOrder.wave_id == wave.id)
        .order_by(PickWaveOrder.slot).options(selectinload(PickWaveOrder.order))))
    slot_of = slots_by_order(wave)  # merged orders share their primary's tote
    tasks.sort(key=lambda t: (t.sequence, t.location.code, t.sku.code, slot_of.get(t.order_id, 0),
                              t.id))

    rows: list[list] = [["#", _("Bin"), _("SKU"), _("Item"), _("Qty"), _("Tote"), _("Order"),
                         _("Done")]]
    totals: dict[int, list] = {}
    bins_of: dict[int, set[str]] = defaultdict(set)
    units_of: dict[int, int] = defaultdict(int)
    for n, task in enumerate(tasks, start=1):
        rows.append([
            str(n), Barcode128(task.location.code, width=40 * mm, height=9 * mm),
            Barcode128(task.sku.code, width=44 * mm, height=9 * mm),
            _sku_name(task.sku), str(task.quantity),
            str(slot_of.get(task.order_id, "")), task.order.number,
            str(_STATE_MARK.get(task.state.value, "")),
        ])
        entry = totals.setdefault(task.sku_id, [task.sku, 0])
        entry[1] += task.quantity
        bins_of[task.sku_id].add(task.location.code)
        units_of[task.order_id] += task.quantity

    filters = filters_from_json(wave.filters)
    units = sum(t.quantity for t in tasks)
    subtitle = _("%(orders)s, %(picks)s, %(units)s to packing location %(location)s. "
                 "Filters: %(filters)s.",
                 orders=ngettext("%(num)d order", "%(num)d orders", len(slots)),
                 picks=ngettext("%(num)d pick", "%(num)d picks", len(tasks)),
                 units=ngettext("%(num)d unit", "%(num)d units", units),
                 location=wave.packing_location.code, filters=filters.describe())
    story: list = [
        Barcode128(wave.number, width=70 * mm, height=12 * mm), Spacer(1, 3 * mm),
        data_table(rows, widths=[8 * mm, 44 * mm, 48 * mm, 30 * mm, 10 * mm, 10 * mm,
                                 18 * mm, 12 * mm], align_right=(0, 4, 5), valign="MIDDLE"),
        Spacer(1, 6 * mm), Text(_("Totals per SKU"), 10, bold=True), Spacer(1, 2 * mm),
        data_table([[_("SKU"), _("Item"), _("Bins"), _("Qty")]] + [
            [sku.code, _sku_name(sku), ", ".join(sorted(bins_of[sku.id])), str(qty)]
            for sku, qty in sorted(totals.values(), key=lambda e: e[0].code)]
            + [[_("Total"), "", "", str(units)]],
            widths=[44 * mm, 66 * mm, 55 * mm, 15 * mm], align_right=(3,)),
        Spacer(1, 6 * mm), Text(_("Totes"), 10, bold=True), Spacer(1, 2 * mm),
        data_table([[_("Tote"), _("Order"), _("Ship to"), _("Service"), _("Units")]] + [
            [str(s.slot), s.order.number, f"{s.order.city}, {s.order.country}",
             s.order.shipping_service or "", str(units_of[s.order_id])]
            for s in slots], widths=[15 * mm, 40 * mm, 70 * mm, 35 * mm, 20 * mm],
            align_right=(0, 4)),
    ]
    return a4_document(story, title=_("Pick list %(number)s", number=wave.number),
                       company=core_settings.get("company_name"), subtitle=subtitle)


__all__ = ["pick_list_pdf"]
