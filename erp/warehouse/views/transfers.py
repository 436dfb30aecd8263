"""Transfers between warehouses: list, new, the transfer page, its actions, scans, labels."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from erp.core import excel
from erp.core.errors import DomainError, ValidationError
from erp.core.i18n import _, format_number, ngettext
from erp.core.permissions import permission_required
from erp.core.viewhelpers import (
    form_errors,
    get_or_404,
    paginate_rows,
    pdf_response,
    xlsx_response,
)
from erp.extensions import db
from erp.warehouse import queries, services
from erp.warehouse.excel import in_language
from erp.warehouse.labels import TRANSFER_SHOWN, transfer_state_label
from erp.warehouse.models import Location, TransferOrder, TransferState, Warehouse
from erp.warehouse.services.transfers import RECEIVE_KINDS
from erp.warehouse.transfer_documents import carton_labels_pdf
from erp.warehouse.transfer_forms import (
    CancelTransferForm,
    NewTransferForm,
    ReceiveScanForm,
    ShipTransferForm,
)
from erp.warehouse.views import bp
from erp.warehouse.views.locations import id_arg


def _warehouses(active_only: bool = False) -> list[Warehouse]:
    stmt = select(Warehouse).order_by(Warehouse.code)
    if active_only:
        stmt = stmt.where(Warehouse.active.is_(True))
    return list(db.session.scalars(stmt))


def transfer_filters() -> queries.TransferFilters:
    """Read the transfer list's search and filters from the query string."""
    state = request.args.get("state") or None
    return queries.TransferFilters(
        q=(request.args.get("q") or "").strip()[:64] or None,
        state=state if state in TransferState.__members__ else None,
        warehouse_id=id_arg("warehouse"))


@bp.get("/transfers")
@permission_required("warehouse.view")
def transfer_order_list():
    """List transfers between warehouses: search number, carrier, reference or SKU; filter."""
    filters = transfer_filters()
    page = paginate_rows(queries.transfer_list_query(filters),
                         per_page=current_app.config["ERP_PAGE_SIZE"])
    return render_template("warehouse/transfer_list.html", page=page, filters=filters,
                           states=TRANSFER_SHOWN, warehouses=_warehouses())


@bp.get("/transfers/export.xlsx")
@permission_required("warehouse.view")
def export_transfer_orders():
    """Download the transfer list with its search and filters as an Excel workbook."""
    rows = db.session.execute(queries.transfer_list_query(transfer_filters()))
    data = excel.export_workbook(
        in_language(excel.Column(key, header, type="auto") for key, header in (
            ("number", _("Transfer")), ("state", _("State")), ("from_code", _("From")),
            ("to_code", _("To")), ("lines", _("Lines")), ("quantity", _("Quantity")),
            ("picked", _("Picked")), ("received", _("Received")), ("cartons", _("Cartons")),
            ("carrier", _("Carrier")), ("reference", _("Reference")),
            ("created_at", _("Created")), ("shipped_at", _("Shipped")),
            ("received_at", _("Received on")))),
        ({**row._mapping, "state": transfer_state_label(row.state)} for row in rows),
        title=_("Warehouse transfers"))
    return xlsx_response(data, "warehouse-transfers")


@bp.route("/transfers/new", methods=["GET", "POST"])
@permission_required("warehouse.transfer")
def create_transfer_order():
    """Draft a transfer: from and to, then one line per SKU (``SKU QTY [BIN]``)."""
    form = NewTransferForm()
    choices = [(str(w.id), f"{w.code} {w.name}") for w in _warehouses(active_only=True)]
    form.from_warehouse_id.choices = form.to_warehouse_id.choices = choices
    if request.method == "GET" and len(choices) > 1 and not form.to_warehouse_id.data:
        form.to_warehouse_id.data = choices[1][0]
    if form.validate_on_submit():
        source = get_or_404(Warehouse, int(form.from_warehouse_id.data))
        target = get_or_404(Warehouse, int(form.to_warehouse_id.data))
        try:
            lines = services.lines_from_text(source, form.lines.data)
            transfer = services.create_transfer(
                source, target, lines, actor=current_user, carrier=form.carrier.data,
                reference=form.reference.data, cartons=form.cartons.data, note=form.note.data)
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("Transfer %(number)s drafted from %(from)s to %(to)s; pick it next.",
                    number=transfer.number, to=target.code, **{"from": source.code}), "success")
            return redirect(url_for(".transfer_order_detail", transfer_id=transfer.id))
    status = 422 if request.method == "POST" else 200
    return render_template("warehouse/transfer_form.html", form=form), status


def _page(transfer: TransferOrder, *, ship_form=None, cancel_form=None, status: int = 200):
    lines = db.session.execute(queries.transfer_lines_query(transfer.id)).all()
    receive_bins = db.session.scalars(
        select(Location).where(Location.warehouse_id == transfer.to_warehouse_id,
                               Location.kind.in_(sorted(RECEIVE_KINDS)),
                               Location.active.is_(True))
        .order_by(Location.kind, Location.pick_sequence, Location.code).limit(200)).all()
    default_bin = services.default_receive_bin(transfer.to_warehouse)
    return render_template(
        "warehouse/transfer_detail.html", transfer=transfer, lines=lines,
        states=TRANSFER_SHOWN, receive_bins=receive_bins, default_bin=default_bin,
        ship_form=ship_form or ShipTransferForm(formdata=None, cartons=transfer.cartons,
                                                carrier=transfer.carrier,
                                                reference=transfer.reference),
        cancel_form=cancel_form or CancelTransferForm(formdata=None),
        tally={}, allowed={"pick": services.can_pick(transfer),
                       "ship": services.can_ship(transfer),
                       "receive": services.can_receive(transfer),
                       "cancel": services.can_cancel(transfer)}), status


@bp.get("/transfers/<int:transfer_id>")
@permission_required("warehouse.view")
def transfer_order_detail(transfer_id: int):
    """Show a transfer: its lines, what was picked and received, and its next actions."""
    return _page(get_or_404(TransferOrder, transfer_id))


def _quantities(prefix: str) -> dict[int, int]:
    """Read ``PREFIX-<line id>`` whole numbers from the form (empty boxes are left out).

    :raises ValidationError: for a box that is not a whole number.
    """
    found = {}
    for key, raw in request.form.items():
        if key.startswith(prefix) and key[len(prefix):].isdigit() and raw.strip():
            try:
                found[int(key[len(prefix):])] = int(raw.strip())
            except ValueError:
                raise ValidationError(_('"%(value)s" is not a whole number.', value=raw),
                                      field="quantity") from None
    return found


def _back(transfer: TransferOrder):
    return redirect(url_for(".transfer_order_detail", transfer_id=transfer.id))


@bp.post("/transfers/<int:transfer_id>/pick")
@permission_required("warehouse.transfer")
def pick_transfer_order(transfer_id: int):
    """Pick the transfer's lines (the quantities typed; a line left empty in full)."""
    transfer = get_or_404(TransferOrder, transfer_id)
    try:
        services.pick_transfer(transfer, _quantities("pick-"), actor=current_user)
    except DomainError as err:
        db.session.rollback()
        flash(str(err), "error")
    else:
        db.session.commit()
        flash(ngettext("Transfer %(number)s picked: %(num)d unit is in %(bin)s, ready to ship.",
                       "Transfer %(number)s picked: %(num)d units are in %(bin)s, ready to "
                       "ship.", transfer.picked_qty, number=transfer.number,
                       bin=services.staging_location(transfer.from_warehouse).label),
              "success")
    return _back(transfer)


@bp.post("/transfers/<int:transfer_id>/ship")
@permission_required("warehouse.transfer")
def ship_transfer_order(transfer_id: int):
    """Ship a picked transfer: its goods go into transit to the destination."""
    transfer = get_or_404(TransferOrder, transfer_id)
    form = ShipTransferForm()
    if not form.validate_on_submit():
        return _page(transfer, ship_form=form, status=422)
    try:
        services.ship_transfer(transfer, cartons=form.cartons.data, carrier=form.carrier.data,
                               reference=form.reference.data, actor=current_user)
    except DomainError as err:
        db.session.rollback()
        flash(str(err), "error")
    else:
        db.session.commit()
        flash(ngettext("Transfer %(number)s shipped in %(num)d carton: its goods are in transit "
                       "to %(to)s.", "Transfer %(number)s shipped in %(num)d cartons: its goods "
                       "are in transit to %(to)s.", transfer.cartons, number=transfer.number,
                       to=transfer.to_warehouse.code), "success")
    return _back(transfer)


@bp.post("/transfers/<int:transfer_id>/receive")
@permission_required("warehouse.transfer")
def receive_transfer_order(transfer_id: int):
    """Receive a shipped transfer: the quantities that arrived, a reason for any shortfall."""
    transfer = get_or_404(TransferOrder, transfer_id)
    try:
        location = None
        if (request.form.get("bin") or "").strip():
            location = services.find_location(request.form["bin"],
                                              warehouse=transfer.to_warehouse)
        reasons = {line_id: text for line_id, text in (
            (int(k[7:]), v) for k, v in request.form.items()
            if k.startswith("reason-") and k[7:].isdigit()) if text.strip()}
        services.receive_transfer(transfer, _quantities("qty-"), location=location,
                                  reasons=reasons, reason=request.form.get("reason"),
                                  actor=current_user)
    except DomainError as err:
        db.session.rollback()
        flash(str(err), "error")
        if request.form.get("from_scan"):
            return redirect(url_for(".scan_transfer_receipt", transfer_id=transfer.id,
                                    tally=request.form.get("tally", "")))
    else:
        db.session.commit()
        short = transfer.picked_qty - transfer.received_qty
        flash(ngettext("Transfer %(number)s received into %(bin)s; %(num)d unit short, recorded "
                       "as a discrepancy.", "Transfer %(number)s received into %(bin)s; %(num)d "
                       "units short, recorded as discrepancies.", short,
                       number=transfer.number, bin=transfer.receive_location.label)
              if short else _("Transfer %(number)s received in full into %(bin)s.",
                              number=transfer.number, bin=transfer.receive_location.label),
              "warning" if short else "success")
    return _back(transfer)


@bp.post("/transfers/<int:transfer_id>/cancel")
@permission_required("warehouse.transfer")
def cancel_transfer_order(transfer_id: int):
    """Cancel a draft transfer; nothing had moved."""
    transfer = get_or_404(TransferOrder, transfer_id)
    form = CancelTransferForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        services.cancel_transfer(transfer, reason=form.reason.data, actor=current_user)
    except DomainError as err:
        db.session.rollback()
        flash(str(err), "error")
    else:
        db.session.commit()
        flash(_("Transfer %(number)s cancelled; nothing moved.", number=transfer.number),
              "success")
    return _back(transfer)


@bp.get("/transfers/<int:transfer_id>/labels.pdf")
@permission_required("warehouse.view")
def transfer_order_labels(transfer_id: int):
    """Print the carton labels: one per carton, with the transfer's barcode."""
    transfer = get_or_404(TransferOrder, transfer_id)
    return pdf_response(carton_labels_pdf(transfer), f"{transfer.number}-cartons")


# --------------------------------------------------------------------------- scanning receipt


def _tally_arg(text: str | None) -> dict[int, int]:
    """Read the tally ``line:units,line:units`` that travels with the scanning screen."""
    tally = {}
    for part in (text or "").split(","):
        line_id, _sep, units = part.partition(":")
        if line_id.isdigit() and units.isdigit():
            tally[int(line_id)] = int(units)
    return tally


def _tally_text(tally: dict[int, int]) -> str:
    return ",".join(f"{line_id}:{units}" for line_id, units in sorted(tally.items()) if units)


@bp.get("/transfers/<int:transfer_id>/receive/scan")
@permission_required("warehouse.transfer")
def scan_transfer_receipt(transfer_id: int):
    """Scanner receipt: scan each SKU (Enter), then receive what was scanned."""
    transfer = get_or_404(TransferOrder, transfer_id)
    form = ReceiveScanForm(request.args)
    tally = _tally_arg(request.args.get("tally"))
    scanned_line = None
    if (form.scan.data or "").strip() and form.validate():
        try:
            scanned_line, tally = services.scan_receipt(
                transfer, tally, form.scan.data, form.qty.data or 1)
        except DomainError as err:
            form_errors(form, err)
        else:
            return redirect(url_for(".scan_transfer_receipt", transfer_id=transfer.id,
                                    tally=_tally_text(tally), last=scanned_line.id))
    lines = db.session.execute(queries.transfer_lines_query(transfer.id)).all()
    last = request.args.get("last", type=int)
    return render_template(
        "warehouse/transfer_scan.html", transfer=transfer, lines=lines, form=form,
        tally=tally, tally_text=_tally_text(tally), last=last, states=TRANSFER_SHOWN,
        scanned=sum(tally.values()), shipped=transfer.picked_qty,
        default_bin=services.default_receive_bin(transfer.to_warehouse),
        receivable=services.can_receive(transfer),
        units=format_number), 422 if any(f.errors for f in form) else 200
