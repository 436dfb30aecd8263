"""Receiving screens, made for a scanner: find the order, scan what arrived, post the receipt."""

from __future__ import annotations

from dataclasses import dataclass

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from erp.core.errors import DomainError, ValidationError
from erp.core.i18n import _, format_number, ngettext
from erp.core.permissions import has_permission, permission_required
from erp.core.settings import base_currency
from erp.core.viewhelpers import get_or_404
from erp.extensions import db
from erp.procurement import landed_cost_queries, queries, services
from erp.procurement.forms import ReasonForm, ReceiveForm, ReceivingLookupForm
from erp.procurement.models import (
    LANDED_COST_STATES,
    PURCHASE_ORDER_STATES,
    RECEIPT_STATES,
    PurchaseOrder,
    Receipt,
)
from erp.procurement.views import bp
from erp.quality.models import INSPECTION_STATES
from erp.quality.queries import outcomes_for
from erp.warehouse import services as warehouse_services

RECEIVABLE_LIST_LIMIT = 50


@bp.get("/receiving")
@permission_required("procurement.receive")
def receiving_start():
    """Scan or type a purchase order number, or pick one of the orders to receive."""
    form = ReceivingLookupForm(request.args)
    number = (form.number.data or "").strip()
    if number and form.validate():
        po = queries.purchase_order_by_number(number)
        if po is None:
            form.number.errors = [_('No purchase order has the number "%(number)s".',
                                    number=number)]
        elif not services.can_receive(po):
            form.number.errors = [
                _('To receive purchase order "%(number)s", you must have it ordered; it is '
                  '"%(state)s".', number=po.number,
                  state=PURCHASE_ORDER_STATES.label(po.state))]
        else:
            return redirect(url_for(".receive_purchase_order", po_id=po.id))
    filters = queries.PurchaseOrderFilters(state="receivable")
    receivable = db.session.execute(queries.purchase_order_list_query(filters)
                                    .limit(RECEIVABLE_LIST_LIMIT)).all()
    recent = db.session.execute(queries.recent_receipts_query()).all()
    return render_template("procurement/receiving_start.html", form=form,
                           receivable=receivable, recent=recent, machine=PURCHASE_ORDER_STATES,
                           receipt_states=RECEIPT_STATES, limit=RECEIVABLE_LIST_LIMIT)


@dataclass
class _Line:
    """One order line as the receiving screen shows it."""

    id: int
    sku_code: str
    barcode: str | None
    supplier_code: str | None
    product_name: str
    variant: str
    quantity: int
    received: int
    cancelled: int
    remaining: int
    receivable: int  # what may still arrive, tolerance included
    entered: int | None = None
    error: str | None = None


def _lines(po: PurchaseOrder, tolerance) -> list[_Line]:
    rows = db.session.execute(queries.purchase_order_line_rows(po.id)).all()
    return [_Line(id=r.PurchaseOrderLine.id, sku_code=r.sku_code, barcode=r.barcode,
                  supplier_code=r.PurchaseOrderLine.supplier_code,
                  product_name=r.product_name,
                  variant=" / ".join(v for v in (r.colour, r.size) if v),
                  quantity=r.PurchaseOrderLine.quantity,
                  received=r.PurchaseOrderLine.received_qty,
                  cancelled=r.PurchaseOrderLine.cancelled_qty,
                  remaining=r.PurchaseOrderLine.remaining_qty,
                  receivable=max(0, services.receivable_limit(r.PurchaseOrderLine, tolerance)
                                 - r.PurchaseOrderLine.received_qty))
            for r in rows]


def _read_quantities(lines: list[_Line]) -> bool:
    """Put the posted ``qty-<line id>`` values on the lines; return whether all were valid."""
    ok = True
    for line in lines:
        raw = (request.form.get(f"qty-{line.id}") or "").strip()
        if not raw:
            continue
        try:
            line.entered = int(raw)
        except ValueError:
            line.error = _('"%(value)s" is not a whole number.', value=raw)
            ok = False
            continue
        if line.entered < 0:
            line.error = _("Enter zero or more.")
            ok = False
    return ok


def _scan(lines: list[_Line], text: str) -> _Line:
    """Add 1 to the line of the scanned SKU: the first with room left, else the first one.

    :raises ValidationError: if no SKU matches, or the order has no line for it.
    """
    sku = warehouse_services.find_sku(text, field="scan")
    mine = [line for line in lines if line.sku_code == sku.code]
    if not mine:
        raise ValidationError(_('SKU "%(sku)s" is not on this purchase order; set it aside and '
                                "tell purchasing.", sku=sku.code), field="scan")
    line = next((ln for ln in mine if (ln.entered or 0) < ln.receivable), mine[0])
    line.entered = (line.entered or 0) + 1
    return line


def _show_error(form: ReceiveForm, lines: list[_Line], err: DomainError) -> None:
    field = err.field or ""
    by_field = {f"qty-{line.id}": line for line in lines}
    if field in by_field:
        by_field[field].error = str(err)
    elif field in ("location", "bin"):
        form.bin.errors = [*form.bin.errors, str(err)]
    elif field == "scan":
        form.scan.errors = [*form.scan.errors, str(err)]
    elif field == "note":
        form.note.errors = [*form.note.errors, str(err)]
    else:
        flash(str(err), "error")


@bp.route("/receiving/<int:po_id>", methods=["GET", "POST"])
@permission_required("procurement.receive")
def receive_purchase_order(po_id: int):
    """Enter or scan the quantities that arrived on each line, choose the bin, and receive."""
    po = get_or_404(PurchaseOrder, po_id)
    tolerance = services.over_receipt_tolerance()  # once: the lines' limits and the page's
    lines = _lines(po, tolerance)
    default_bin = queries.default_receiving_bin()
    form = ReceiveForm(bin=request.args.get("bin") or (default_bin.label if default_bin else ""))
    status, focus = 200, "scan"
    if form.validate_on_submit():
        valid = _read_quantities(lines)
        if request.form.get("action") == "receive" and valid:
            quantities = {line.id: line.entered for line in lines if line.entered}
            try:
                location = warehouse_services.find_bin(form.bin.data, field="bin")
                receipt = services.receive_purchase_order(po, quantities, location=location,
                                                          actor=current_user,
                                                          note=form.note.data)
            except DomainError as err:
                db.session.rollback()
                _show_error(form, lines, err)
                status = 422
            else:
                # written before the commit, which expires the receipt, the order and the bin
                # (read after it, each would be loaded again)
                units = sum(quantities.values())
                message = ngettext("Receipt %(receipt)s: %(count)s unit of %(number)s received "
                                   "into %(bin)s.",
                                   "Receipt %(receipt)s: %(count)s units of %(number)s received "
                                   "into %(bin)s.", units, receipt=receipt.number,
                                   count=format_number(units), number=po.number,
                                   bin=location.label)
                receipt_id = receipt.id
                db.session.commit()
                flash(message, "success")
                return redirect(url_for(".receipt_detail", receipt_id=receipt_id))
        elif (form.scan.data or "").strip():
            try:
                line = _scan(lines, form.scan.data)
            except DomainError as err:
                _show_error(form, lines, err)
                status = 422
            else:
                form.scan.data = ""
                if line.entered > line.receivable:
                    line.error = _("%(entered)s is more than the %(most)s this line may still "
                                   "receive.", entered=format_number(line.entered),
                                   most=format_number(line.receivable))
        if not valid:
            status = 422
    if form.bin.errors:
        focus = "bin"
    return render_template("procurement/receiving_form.html", po=po, lines=lines, form=form,
                           focus=focus, machine=PURCHASE_ORDER_STATES,
                           receivable=services.can_receive(po),
                           tolerance=tolerance), status


@bp.get("/receipts/<int:receipt_id>")
@permission_required("procurement.view")
def receipt_detail(receipt_id: int):
    """Show a receipt: its order, bin, lines at base-currency cost, and its reversal."""
    receipt = get_or_404(Receipt, receipt_id)
    lines = db.session.execute(queries.receipt_line_rows(receipt.id)).all()
    return render_template(
        "procurement/receiving_receipt.html", receipt=receipt, lines=lines,
        states=RECEIPT_STATES, machine=PURCHASE_ORDER_STATES, base=base_currency(),
        reason_form=ReasonForm(), lot_states=INSPECTION_STATES,
        lots=outcomes_for(services.RECEIPT_LINE_REF, [r.ReceiptLine.id for r in lines]),
        can_reverse=has_permission(current_user, "procurement.receive")
        and services.can_reverse(receipt),
        landed_costs=[lc for _rid, lc in landed_cost_queries.landed_costs_of_receipts(
            [receipt.id])], landed_states=LANDED_COST_STATES)


@bp.post("/receipts/<int:receipt_id>/reverse")
@permission_required("procurement.receive")
def reverse_receipt(receipt_id: int):
    """Reverse a receipt by counter-moves, while its stock is still in the bin."""
    receipt = get_or_404(Receipt, receipt_id)
    form = ReasonForm()
    if not form.validate_on_submit():
        flash(_("The reason is too long."), "error")
        return redirect(url_for(".receipt_detail", receipt_id=receipt.id))
    services.reverse_receipt(receipt, actor=current_user, reason=form.reason.data)
    db.session.commit()
    flash(_("Receipt %(receipt)s reversed; purchase order %(number)s is %(state)s.",
            receipt=receipt.number, number=receipt.order.number,
            state=PURCHASE_ORDER_STATES.label(receipt.order.state)), "success")
    return redirect(url_for(".receipt_detail", receipt_id=receipt.id))
