"""Stock screens: by SKU and bin, stock list, move history, transfer, adjustments, valuation."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from erp.catalog.models import Sku
from erp.core import exports
from erp.core.errors import DomainError
from erp.core.i18n import _, _l, format_money, format_number
from erp.core.permissions import has_permission, permission_required
from erp.core.settings import base_currency
from erp.core.viewhelpers import (
    form_errors,
    get_or_404,
    id_url,
    page_arg,
    paginate_rows,
    xlsx_response,
)
from erp.extensions import db
from erp.warehouse import excel as warehouse_excel
from erp.warehouse import queries, services
from erp.warehouse.forms import AdjustmentForm, DecisionForm, MoveFilterForm, TransferForm
from erp.warehouse.labels import ADJUSTMENT_SHOWN
from erp.warehouse.models import (
    VIRTUAL_KINDS,
    AdjustmentState,
    Location,
    LocationKind,
    StockAdjustment,
    Warehouse,
)
from erp.warehouse.views import bp
from erp.warehouse.views.locations import id_arg

BIN_KINDS = [k.value for k in LocationKind if k not in VIRTUAL_KINDS]
VALUATION_GROUPS = {"sku": _l("SKU"), "brand": _l("brand"), "category": _l("category")}
RECENT_MOVES = 20

def _warehouses() -> list:
    return db.session.execute(select(Warehouse.id, Warehouse.code, Warehouse.name)
                              .order_by(Warehouse.code)).all()


def _per_page() -> int:
    return current_app.config["ERP_PAGE_SIZE"]


# --------------------------------------------------------------------------- stock list


def stock_filters() -> queries.StockFilters:
    """Read the stock list's search and filters from the query string."""
    kind = request.args.get("kind") or None
    return queries.StockFilters(
        warehouse_id=id_arg("warehouse"),
        q=(request.args.get("q") or "").strip()[:64] or None,
        kind=kind if kind in BIN_KINDS else None,
        available_only=request.args.get("available") == "yes")


@bp.get("/stock")
@permission_required("warehouse.view")
def stock_list():
    """List stock levels: search SKU, barcode, bin or name; filter warehouse, bin kind."""
    filters = stock_filters()
    page = paginate_rows(queries.stock_list_query(filters), per_page=_per_page(),
                         count=queries.stock_list_count_query(filters))
    return render_template("warehouse/stock_list.html", page=page, filters=filters,
                           warehouses=_warehouses(), kinds=BIN_KINDS,
                           frozen=queries.frozen_keys(),
                           bin_url=id_url("warehouse.stock_by_bin", "location_id"),
                           sku_url=id_url("warehouse.stock_by_sku", "sku_id"))


@bp.get("/stock/export.xlsx")
@permission_required("warehouse.view")
def export_stock():
    """Download the stock list with its filters as an Excel workbook (costs for managers).

    Above ``export_job_rows`` rows it is written by a background job; this goes to its page.
    """
    return exports.respond("stock", stock_filters())


# --------------------------------------------------------------------------- by SKU, by bin


@bp.get("/stock/sku")
@permission_required("warehouse.view")
def stock_sku_search():
    """Find a SKU by code, barcode or name; an exact code or barcode opens its stock."""
    q = (request.args.get("q") or "").strip()[:64]
    if q:
        try:
            sku = services.find_sku(q)
        except DomainError:
            sku = None
        if sku is not None:
            return redirect(url_for(".stock_by_sku", sku_id=sku.id))
    matches = db.session.execute(queries.sku_matches_query(q)).all() if q else []
    return render_template("warehouse/stock_sku_search.html", q=q, matches=matches)


@bp.get("/stock/sku/<int:sku_id>")
@permission_required("warehouse.view")
def stock_by_sku(sku_id: int):
    """Show a SKU's on hand, reserved and available per warehouse and bin, and its last moves."""
    sku = get_or_404(Sku, sku_id)
    moves = db.session.scalars(queries.move_list_query(queries.MoveFilters(sku_id=sku.id))
                               .limit(RECENT_MOVES)).all()
    return render_template(
        "warehouse/stock_sku.html", sku=sku,
        warehouses=db.session.execute(queries.stock_by_warehouse_query(sku.id)).all(),
        bins=db.session.execute(queries.stock_by_bin_query(sku_id=sku.id)).all(),
        frozen=queries.frozen_keys(sku_id=sku.id), moves=moves, recent=RECENT_MOVES)


@bp.get("/stock/bin")
@permission_required("warehouse.view")
def stock_bin_search():
    """Open the stock of the bin whose code was scanned or typed."""
    code = (request.args.get("code") or "").strip()[:64]
    error = None
    if code:
        try:
            location = services.find_bin(code)
        except DomainError as err:
            error = str(err)
        else:
            return redirect(url_for(".stock_by_bin", location_id=location.id))
    return render_template("warehouse/stock_bin_search.html", code=code, error=error)


@bp.get("/stock/bin/<int:location_id>")
@permission_required("warehouse.view")
def stock_by_bin(location_id: int):
    """Show a bin's contents and its last moves."""
    location = get_or_404(Location, location_id)
    if location.warehouse is None:
        abort(404)  # virtual locations hold no stock
    moves = db.session.scalars(queries.move_list_query(
        queries.MoveFilters(location_id=location.id)).limit(RECENT_MOVES)).all()
    return render_template(
        "warehouse/stock_bin.html", location=location,
        levels=db.session.execute(queries.stock_by_bin_query(location_id=location.id)).all(),
        frozen=queries.frozen_keys(location_id=location.id), moves=moves, recent=RECENT_MOVES)


# --------------------------------------------------------------------------- move history


def move_filters() -> tuple[MoveFilterForm, queries.MoveFilters | None]:
    """Read the move history's filters; ``None`` when a SKU or bin typed matches nothing."""
    form = MoveFilterForm(request.args)
    form.validate()
    filters = queries.MoveFilters(
        kind=form.kind.data if form.kind.data and not form.kind.errors else None,
        ref_type=(form.ref_type.data or "").strip() or None,
        ref_id=form.ref_id.data if not form.ref_id.errors else None,
        date_from=form.date_from.data if not form.date_from.errors else None,
        date_to=form.date_to.data if not form.date_to.errors else None)
    try:
        if (form.sku.data or "").strip():
            filters.sku_id = services.find_sku(form.sku.data).id
        if (form.bin.data or "").strip():
            filters.location_id = _history_bin(form.bin.data).id
    except DomainError as err:
        field = form.sku if err.field == "sku" else form.bin
        field.errors = [*field.errors, str(err)]
        return form, None
    return form, filters


def _history_bin(text: str) -> Location:
    """Return the bin whose history is asked for: as scanned, or an inactive one by its code."""
    try:
        return services.find_bin(text, field="bin")
    except DomainError:
        location = queries.inactive_bin_by_code(text)
        if location is None:
            raise
        return location


@bp.get("/moves")
@permission_required("warehouse.view")
def move_list():
    """List stock moves, newest first: filter SKU, bin, kind, dates and reference."""
    form, filters = move_filters()
    page = None
    if filters is not None:
        page = db.paginate(queries.move_list_query(filters), page=page_arg(),
                           per_page=_per_page(), error_out=False)
    return render_template("warehouse/move_list.html", form=form, page=page)


@bp.get("/moves/export.xlsx")
@permission_required("warehouse.view")
def export_moves():
    """Download the move history with its filters as an Excel workbook."""
    form, filters = move_filters()
    if filters is None:
        flash(" ".join(form.sku.errors + form.bin.errors), "error")
        return redirect(url_for(".move_list", **request.args))
    return xlsx_response(warehouse_excel.export_moves(
        filters, costs=has_permission(current_user, "core.view_costs")), "stock-moves")


# --------------------------------------------------------------------------- transfer


@bp.route("/transfer", methods=["GET", "POST"])
@permission_required("warehouse.move")
def transfer_stock():
    """Move available stock between two bins, made for a scanner: scan, scan, quantity, Enter."""
    form = TransferForm(from_bin=request.args.get("from_bin"), sku=request.args.get("sku"))
    if form.validate_on_submit():
        try:
            # Looked up in scanning order, so the first wrong scan is the one reported.
            from_bin = services.find_bin(form.from_bin.data, field="from_bin")
            sku = services.find_sku(form.sku.data)
            to_bin = services.find_bin(form.to_bin.data, field="to_bin")
            move = services.transfer(sku, from_bin, to_bin, form.quantity.data,
                                     actor=current_user,
                                     note=(form.note.data or "").strip() or None)
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("Moved %(qty)s × %(sku)s from %(from)s to %(to)s.",
                    qty=format_number(move.quantity), sku=move.sku.code,
                    **{"from": move.from_location.label, "to": move.to_location.label}),
                  "success")
            return redirect(url_for(".transfer_stock"))
    status = 422 if request.method == "POST" else 200
    return render_template("warehouse/transfer.html", form=form, focus=_focus(form)), status


def _focus(form) -> str:
    """Return the field to put the cursor in: the first with an error, else the first empty."""
    fields = [f for f in form if f.type not in ("CSRFTokenField", "HiddenField")]
    for field in fields:
        if field.errors:
            return field.name
    for field in fields:
        if field.data in (None, ""):
            return field.name
    return fields[0].name


# --------------------------------------------------------------------------- adjustments


@bp.route("/adjustments/new", methods=["GET", "POST"])
@permission_required("warehouse.move")
def request_adjustment():
    """Request an adjustment of a bin's stock with a reason; big ones wait for a manager."""
    form = AdjustmentForm(bin=request.args.get("bin"), sku=request.args.get("sku"))
    if form.validate_on_submit():
        try:
            location = services.find_bin(form.bin.data, field="bin")
            sku = services.find_sku(form.sku.data)
            adjustment = services.request_adjustment(sku, location, form.quantity.data,
                                                     reason=form.reason.data,
                                                     note=form.note.data, actor=current_user)
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_adjustment_message(adjustment), "success" if adjustment.state ==
                  AdjustmentState.approved else "warning")
            return redirect(url_for(".request_adjustment"))
    status = 422 if request.method == "POST" else 200
    return render_template("warehouse/adjustment_form.html", form=form,
                           focus=_focus(form)), status


def _adjustment_message(adjustment: StockAdjustment) -> str:
    names = {"number": adjustment.number, "qty": f"{adjustment.quantity:+d}",
             "sku": adjustment.sku.code, "bin": adjustment.location.label,
             "value": format_money(adjustment.value, base_currency())}
    if adjustment.state == AdjustmentState.approved:
        return _("Adjustment %(number)s posted: %(qty)s × %(sku)s in %(bin)s, worth %(value)s.",
                 **names)
    return _("Adjustment %(number)s (%(qty)s × %(sku)s in %(bin)s, worth %(value)s) is above "
             "the approval threshold and waits for a manager; nothing has moved yet.", **names)


def _adjustment_list(state: str | None, title: str):
    page = db.paginate(queries.adjustment_list_query(state), page=page_arg(),
                       per_page=_per_page(), error_out=False)
    return render_template("warehouse/adjustment_list.html", page=page, state=state,
                           title=title, machine=ADJUSTMENT_SHOWN, states=AdjustmentState,
                           decision=DecisionForm(), currency=base_currency())


@bp.get("/adjustments")
@permission_required("warehouse.view")
def adjustment_list():
    """List stock adjustments, filterable by state."""
    state = request.args.get("state")
    return _adjustment_list(state if state in AdjustmentState.__members__ else None,
                            _("Stock adjustments"))


@bp.get("/adjustments/pending")
@permission_required("warehouse.view")
def pending_adjustments():
    """List the adjustments waiting for a manager's decision."""
    return _adjustment_list(AdjustmentState.pending.value, _("Adjustments awaiting approval"))


@bp.post("/adjustments/<int:adjustment_id>/approve")
@permission_required("warehouse.approve")
def approve_adjustment(adjustment_id: int):
    """Approve a pending adjustment; its stock moves now."""
    adjustment = get_or_404(StockAdjustment, adjustment_id)
    if not DecisionForm().validate_on_submit():
        abort(400)
    services.approve_adjustment(adjustment, actor=current_user)
    db.session.commit()
    flash(_("Adjustment %(number)s approved and posted: %(qty)s × %(sku)s in %(bin)s.",
            number=adjustment.number, qty=format(adjustment.quantity, "+d"),
            sku=adjustment.sku.code,
            bin=adjustment.location.label), "success")
    return redirect(url_for(".pending_adjustments"))


@bp.post("/adjustments/<int:adjustment_id>/reject")
@permission_required("warehouse.approve")
def reject_adjustment(adjustment_id: int):
    """Reject a pending adjustment; nothing moves."""
    adjustment = get_or_404(StockAdjustment, adjustment_id)
    form = DecisionForm()
    if not form.validate_on_submit():
        abort(400)
    services.reject_adjustment(adjustment, actor=current_user,
                               note=(form.note.data or "").strip() or None)
    db.session.commit()
    flash(_("Adjustment %(number)s rejected; nothing moved.", number=adjustment.number),
          "success")
    return redirect(url_for(".pending_adjustments"))


# --------------------------------------------------------------------------- valuation


def _valuation_group() -> str:
    group = request.args.get("group")
    return group if group in VALUATION_GROUPS else "sku"


@bp.get("/valuation")
@permission_required("core.view_costs")
def valuation():
    """Show stock value (on hand x moving-average cost) per SKU, brand or category."""
    group = _valuation_group()
    page = paginate_rows(queries.valuation_query(group), per_page=_per_page())
    units, total = queries.valuation_total()
    return render_template("warehouse/valuation.html", page=page, group=group,
                           groups=VALUATION_GROUPS, units=units, total=total,
                           transit=queries.in_transit_total(),
                           currency=base_currency())


@bp.get("/valuation/export.xlsx")
@permission_required("core.view_costs")
def export_valuation():
    """Download the stock valuation (as grouped on the screen) as an Excel workbook."""
    group = _valuation_group()
    return xlsx_response(warehouse_excel.export_valuation(group, base_currency()),
                         f"stock-valuation-{group}")
