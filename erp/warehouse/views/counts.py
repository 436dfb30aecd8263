"""Cycle count screens: list, open, detail with line entry, scanner entry, review, sheets, Excel."""

from __future__ import annotations

from decimal import Decimal

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from erp.core import excel, importing
from erp.core import settings as core_settings
from erp.core.errors import DomainError, ValidationError
from erp.core.i18n import _, _l, ngettext
from erp.core.models import User
from erp.core.permissions import has_permission, permission_required
from erp.core.viewhelpers import (
    form_errors,
    get_or_404,
    paginate_rows,
    pdf_response,
    xlsx_response,
)
from erp.extensions import db
from erp.warehouse import count_excel, queries, services
from erp.warehouse.count_documents import count_sheet_pdf
from erp.warehouse.count_forms import AddLineForm, NoteForm, OpenCountForm, ScanForm
from erp.warehouse.excel import in_language
from erp.warehouse.labels import CYCLE_COUNT_SHOWN, count_state_label
from erp.warehouse.models import CYCLE_COUNT_STATES, CycleCount, CycleCountState, Warehouse
from erp.warehouse.views import bp

COUNT_IMPORT = importing.Importer(
    name="cycle-counts", title=_l("Import counted quantities"), spec=count_excel.COUNT_SPEC,
    run=count_excel.import_counts, template_endpoint="warehouse.cycle_count_import_template",
    report_endpoint="warehouse.cycle_count_import_errors",
    back_endpoint="warehouse.cycle_count_list",
    intro=_l("One row per SKU in a bin: the count number, the bin, the SKU (code or barcode) "
             "and the quantity counted. Export a count's lines to get the sheet to fill in. A "
             "counted cell replaces what was counted before; an empty one leaves the line "
             "alone; a SKU the count does not list in that bin is added as an unexpected find. "
             "The whole file is applied, or nothing if any row has an error."))


def _lines(count: CycleCount) -> list:
    return db.session.execute(queries.cycle_count_lines_query(count.id)).all()


def _blind(count: CycleCount) -> bool:
    """Counters do not see expected quantities while counting; managers always do."""
    return count.state == CycleCountState.open and \
        not has_permission(current_user, "warehouse.approve")


def _value(line) -> Decimal | None:
    return None if line.variance is None else line.variance * (line.avg_cost or Decimal(0))


@bp.get("/counts")
@permission_required("warehouse.view")
def cycle_count_list():
    """List cycle counts, open ones first, with a state filter."""
    state = request.args.get("state") or None
    state = state if state in {s.value for s in CycleCountState} else None
    page = paginate_rows(queries.cycle_count_list_query(state),
                         per_page=current_app.config["ERP_PAGE_SIZE"])
    return render_template("warehouse/count_list.html", page=page, state=state,
                           states=CYCLE_COUNT_SHOWN)


@bp.get("/counts/export.xlsx")
@permission_required("warehouse.view")
def export_cycle_counts():
    """Download the count list with its state filter applied."""
    state = request.args.get("state") or None
    state = state if state in {s.value for s in CycleCountState} else None
    rows = db.session.execute(queries.cycle_count_list_query(state))
    data = excel.export_workbook(
        in_language(excel.Column(key, header, type="auto") for key, header in (
            ("number", _("Count")), ("warehouse_code", _("Warehouse")), ("state", _("State")),
            ("created_at", _("Opened")), ("created_by", _("Opened by")), ("lines", _("Lines")),
            ("counted", _("Counted")), ("variances", _("With variance")),
            ("note", _("Note")))),
        ({**row._mapping, "state": count_state_label(row.state)} for row in rows),
        title=_("Cycle counts"))
    return xlsx_response(data, "cycle-counts")


@bp.route("/counts/new", methods=["GET", "POST"])
@permission_required("warehouse.manage")
def open_cycle_count():
    """Open a count over bins (codes, ranges, prefixes) and/or SKUs."""
    form = OpenCountForm()
    warehouses = db.session.scalars(select(Warehouse).where(Warehouse.active.is_(True))
                                    .order_by(Warehouse.code)).all()
    form.warehouse_id.choices = [(str(w.id), f"{w.code} {w.name}") for w in warehouses]
    if form.validate_on_submit():
        warehouse = get_or_404(Warehouse, int(form.warehouse_id.data))
        try:
            bins = services.bins_from_text(warehouse, form.bins.data)
            skus = services.skus_from_text(form.skus.data)
            count = services.open_cycle_count(
                warehouse, location_ids=[b.id for b in bins], sku_ids=[s.id for s in skus],
                note=form.note.data, actor=current_user)
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(ngettext("Cycle count %(number)s opened with %(num)d line; its stock is "
                           "frozen until the count is accepted or cancelled.",
                           "Cycle count %(number)s opened with %(num)d lines; their stock is "
                           "frozen until it is accepted or cancelled.", len(count.lines),
                           number=count.number), "success")
            return redirect(url_for(".cycle_count_detail", count_id=count.id))
    return render_template("warehouse/count_open.html", form=form)


@bp.get("/counts/<int:count_id>")
@permission_required("warehouse.view")
def cycle_count_detail(count_id: int):
    """Show a count: its lines with expected, counted, variance and value, and its actions."""
    count = get_or_404(CycleCount, count_id)
    lines = _lines(count)
    return render_template(
        "warehouse/count_detail.html", count=count, lines=lines, blind=_blind(count),
        values={ln.id: _value(ln) for ln in lines}, totals=services.count_variance(count),
        frozen=CYCLE_COUNT_STATES.in_group(count.state, "frozen"), states=CYCLE_COUNT_SHOWN,
        add_form=AddLineForm(formdata=None), note_form=NoteForm(formdata=None),
        uncounted=sum(1 for ln in lines if ln.counted_qty is None),
        created_by=db.session.get(User, count.created_by_id) if count.created_by_id else None,
        decided_by=db.session.get(User, count.decided_by_id) if count.decided_by_id else None)


@bp.post("/counts/<int:count_id>/lines")
@permission_required("warehouse.move")
def record_counts(count_id: int):
    """Save the quantities typed into the count's lines (empty boxes are left as they are)."""
    count = get_or_404(CycleCount, count_id)
    quantities = {}
    for key, raw in request.form.items():
        if key.startswith("counted-") and raw.strip():
            try:
                quantities[int(key[8:])] = int(raw.strip())
            except ValueError:
                flash(_('"%(value)s" is not a whole number; nothing was saved.', value=raw),
                      "error")
                return redirect(url_for(".cycle_count_detail", count_id=count.id))
    try:
        changed = services.record_counts(count, quantities, actor=current_user)
    except DomainError as err:
        db.session.rollback()
        flash(str(err), "error")
    else:
        db.session.commit()
        flash(ngettext("%(num)d line saved.", "%(num)d lines saved.", changed), "success")
    return redirect(url_for(".cycle_count_detail", count_id=count.id))


@bp.post("/counts/<int:count_id>/lines/add")
@permission_required("warehouse.move")
def add_count_line(count_id: int):
    """Add a SKU found in a bin that the count does not list."""
    count = get_or_404(CycleCount, count_id)
    form = AddLineForm()
    if not form.validate_on_submit():
        flash(_("To add a line, scan or type the bin and the SKU (and a whole quantity)."),
              "error")
        return redirect(url_for(".cycle_count_detail", count_id=count.id))
    try:
        location = services.find_location(form.bin_code.data, warehouse=count.warehouse)
        sku = services.find_sku(form.sku_code.data)
        services.add_count_line(count, location, sku, counted_qty=form.counted.data,
                                actor=current_user)
    except DomainError as err:
        db.session.rollback()
        flash(str(err), "error")
    else:
        db.session.commit()
        flash(_("SKU %(sku)s in bin %(bin)s added to the count.", sku=sku.code,
                bin=location.code), "success")
    return redirect(url_for(".cycle_count_detail", count_id=count.id))


@bp.route("/counts/<int:count_id>/scan", methods=["GET", "POST"])
@permission_required("warehouse.move")
def scan_cycle_count(count_id: int):
    """Scanner entry: scan a bin, then SKUs; each scan adds 1 unless a quantity is typed."""
    count = get_or_404(CycleCount, count_id)
    form = ScanForm(bin_code=request.args.get("bin", ""))
    if form.validate_on_submit():
        bin_code = (form.bin_code.data or "").strip().upper()
        try:
            if not (form.sku_code.data or "").strip():  # a bin alone: remember it, ask the SKU
                _check_bin(count, bin_code)
                return redirect(url_for(".scan_cycle_count", count_id=count.id, bin=bin_code))
            line = services.record_scan(count, bin_code, form.sku_code.data,
                                        1 if form.qty.data is None else form.qty.data,
                                        actor=current_user)
        except DomainError as err:
            db.session.rollback()
            other_bin = _scanned_bin(count, form.sku_code.data) if err.field == "sku_code" \
                else None
            if other_bin:  # a bin label scanned where a SKU was expected: count that bin now
                return redirect(url_for(".scan_cycle_count", count_id=count.id, bin=other_bin))
            form_errors(form, ValidationError(str(err), field=_scan_field(err)))
        else:
            db.session.commit()
            flash(_("%(sku)s in %(bin)s: %(counted)s counted.", sku=line.sku.code,
                    bin=line.location.code, counted=line.counted_qty), "success")
            return redirect(url_for(".scan_cycle_count", count_id=count.id, bin=bin_code))
    bin_code = (form.bin_code.data or "").strip().upper()
    in_bin = [ln for ln in _lines(count) if ln.bin_code == bin_code] if bin_code else []
    return render_template("warehouse/count_scan.html", count=count, form=form, in_bin=in_bin,
                           bin_code=bin_code, states=CYCLE_COUNT_SHOWN,
                           focus_sku=bool(bin_code) and not form.bin_code.errors)


def _check_bin(count: CycleCount, bin_code: str) -> None:
    if not bin_code:
        raise ValidationError(_("Scan or type a bin code first."), field="bin_code")
    services.find_location(bin_code, warehouse=count.warehouse)


def _scanned_bin(count: CycleCount, text: str) -> str | None:
    """Return the code of the bin ``text`` names (when it is no SKU), or None."""
    try:
        return services.find_location(text, warehouse=count.warehouse).code
    except ValidationError:
        return None


def _scan_field(err: DomainError) -> str | None:
    return {"location": "bin_code", "bin_code": "bin_code", "sku": "sku_code",
            "sku_code": "sku_code", "qty": "qty", "counted_qty": "qty"}.get(err.field or "")


@bp.post("/counts/<int:count_id>/submit")
@permission_required("warehouse.move")
def submit_cycle_count(count_id: int):
    """Send a fully counted count to the variance review."""
    count = get_or_404(CycleCount, count_id)
    services.submit_for_review(count, actor=current_user)
    db.session.commit()
    flash(_("Cycle count %(number)s is ready for a manager's review.", number=count.number),
          "success")
    return redirect(url_for(".cycle_count_detail", count_id=count.id))


@bp.get("/counts/<int:count_id>/review")
@permission_required("warehouse.approve")
def cycle_count_review(count_id: int):
    """Variance review: lines with a variance first, by value; accept or tick lines to recount."""
    count = get_or_404(CycleCount, count_id)
    lines = sorted(_lines(count), key=lambda ln: (not ln.variance, -abs(_value(ln) or 0),
                                                  ln.pick_sequence, ln.bin_code))
    values = {ln.id: _value(ln) for ln in lines}
    gross = sum((abs(v) for v in values.values() if v), Decimal(0))
    return render_template("warehouse/count_review.html", count=count, lines=lines,
                           values=values, totals=services.count_variance(count), gross=gross,
                           states=CYCLE_COUNT_SHOWN, form=NoteForm(formdata=None),
                           shortfalls={ln.id for ln in lines
                                       if ln.counted_qty is not None
                                       and ln.counted_qty < ln.reserved})


@bp.post("/counts/<int:count_id>/accept")
@permission_required("warehouse.approve")
def accept_cycle_count(count_id: int):
    """Accept a reviewed count and post its variances as adjustment moves."""
    count = get_or_404(CycleCount, count_id)
    services.accept_cycle_count(count, actor=current_user)
    db.session.commit()
    flash(_("Cycle count %(number)s accepted; its variances are posted and its stock is no "
            "longer frozen.", number=count.number), "success")
    return redirect(url_for(".cycle_count_detail", count_id=count.id))


@bp.post("/counts/<int:count_id>/recount")
@permission_required("warehouse.approve")
def recount_cycle_count(count_id: int):
    """Send the ticked lines back to be counted again."""
    count = get_or_404(CycleCount, count_id)
    form = NoteForm()
    line_ids = request.form.getlist("line_ids", type=int)
    services.recount(count, line_ids, actor=current_user, note=form.note.data)
    db.session.commit()
    flash(ngettext("%(num)d line of %(number)s sent back for recount.",
                   "%(num)d lines of %(number)s sent back for recount.", len(line_ids),
                   number=count.number), "success")
    return redirect(url_for(".cycle_count_detail", count_id=count.id))


@bp.post("/counts/<int:count_id>/cancel")
@permission_required("warehouse.manage")
def cancel_cycle_count(count_id: int):
    """Cancel an open or reviewed count; nothing moves and its stock is released."""
    count = get_or_404(CycleCount, count_id)
    form = NoteForm()
    services.cancel_cycle_count(count, actor=current_user, note=form.note.data)
    db.session.commit()
    flash(_("Cycle count %(number)s cancelled; its stock is no longer frozen.",
            number=count.number), "success")
    return redirect(url_for(".cycle_count_detail", count_id=count.id))


@bp.get("/counts/<int:count_id>/sheet.pdf")
@permission_required("warehouse.view")
def cycle_count_sheet(count_id: int):
    """Print the blind count sheet (A4, bin walking order, barcodes)."""
    count = get_or_404(CycleCount, count_id)
    data = count_sheet_pdf(count, _lines(count), company=core_settings.get("company_name"))
    return pdf_response(data, f"count-sheet-{count.number}")


@bp.get("/counts/<int:count_id>/export.xlsx")
@permission_required("warehouse.view")
def export_cycle_count(count_id: int):
    """Download the count's lines as a sheet to fill in (blind while the count is open)."""
    count = get_or_404(CycleCount, count_id)
    return xlsx_response(count_excel.export_count_lines(count), f"count-{count.number}")


importing.add_import_routes(
    bp, COUNT_IMPORT, rule="/counts/import", permission="warehouse.move",
    view_name="import_cycle_counts", doc="count sheet")
