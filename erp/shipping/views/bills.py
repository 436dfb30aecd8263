"""Shipping screens: carriers' bills (list, import with a dry run, a bill and its disputes)."""

from __future__ import annotations

import os

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from sqlalchemy import select
from wtforms import DateField, SelectField, StringField
from wtforms.validators import Optional

from erp.core import excel, exports
from erp.core.errors import DomainError
from erp.core.i18n import _, _l
from erp.core.permissions import permission_required
from erp.core.viewhelpers import form_errors, paginate_rows, xlsx_response
from erp.extensions import db
from erp.shipping import bill_queries as queries
from erp.shipping.models import Carrier, CarrierBill
from erp.shipping.services import bills as services
from erp.shipping.views import bp


class BillImportForm(FlaskForm):
    """The bill's carrier, reference and period, and its spreadsheet."""

    carrier_id = SelectField(_l("Carrier"), coerce=int, validate_choice=False)
    reference = StringField(_l("Bill reference"))
    period_start = DateField(_l("Period from"), validators=[Optional()])
    period_end = DateField(_l("Period to"), validators=[Optional()])
    file = FileField(_l("Spreadsheet (.xlsx or .csv)"),
                     validators=[FileRequired(_l("Choose a file to import."))])

    def __init__(self, *args, **kwargs):
        """Offer every carrier."""
        super().__init__(*args, **kwargs)
        self.carrier_id.choices = [(0, "—")] + [
            (c.id, f"{c.code} · {c.name}") for c in db.session.scalars(
                select(Carrier).order_by(Carrier.code))]


def bill_filters() -> queries.BillFilters:
    """Read the bill list's search from the query string."""
    return queries.BillFilters(q=(request.args.get("q") or "").strip()[:60] or None,
                               carrier_id=request.args.get("carrier_id", type=int) or None)


@bp.get("/bills")
@permission_required("shipping.bills")
def bill_list():
    """List the carriers' bills imported: search a reference or file name; filter a carrier."""
    filters = bill_filters()
    page = paginate_rows(queries.bill_list_query(filters),
                         count=queries.bill_count_query(filters),
                         per_page=current_app.config["ERP_PAGE_SIZE"])
    carriers = db.session.scalars(select(Carrier).order_by(Carrier.code)).all()
    return render_template("shipping/bills/bill_list.html", page=page, filters=filters,
                           carriers=carriers)


@bp.get("/bills/export.xlsx")
@permission_required("shipping.bills")
def export_bills():
    """Download the bills the list shows (same search and filters) as an Excel workbook."""
    return exports.respond("carrier_bills", bill_filters())


@bp.get("/bills/template.xlsx")
@permission_required("shipping.bills")
def bill_template():
    """Download the empty carrier bill sheet to fill in, with its Help sheet."""
    return xlsx_response(excel.template_workbook(services.BILL_SPEC), "carrier-bill-template")


@bp.route("/bills/import", methods=["GET", "POST"])
@permission_required("shipping.bills")
def import_bill():
    """Upload a carrier's bill: check it (dry run) or import and match it, all or nothing."""
    form = BillImportForm()
    if request.method == "GET" or not form.validate_on_submit():
        status = 200 if request.method == "GET" else 422
        return render_template("shipping/bills/bill_import.html", form=form,
                               spec=services.BILL_SPEC), status
    upload = form.file.data
    filename = os.path.basename(upload.filename or "bill.xlsx")
    dry_run = request.form.get("action") != "import"
    carrier = db.session.get(Carrier, form.carrier_id.data or 0)
    try:
        result = services.import_bill(
            upload.read(), filename=filename, carrier=carrier, reference=form.reference.data,
            period_start=form.period_start.data, period_end=form.period_end.data,
            dry_run=dry_run, actor=current_user)
    except DomainError as err:
        db.session.rollback()
        form_errors(form, err)
        return render_template("shipping/bills/bill_import.html", form=form,
                               spec=services.BILL_SPEC), 422
    if result.ok and not dry_run:
        bill = services.bill_by_reference(carrier, form.reference.data)
        db.session.commit()
        flash(_("Carrier bill %(reference)s imported: %(lines)s lines. %(more)s",
                reference=bill.reference, lines=result.created,
                more=" ".join(result.messages)), "success")
        return redirect(url_for(".bill_detail", bill_id=bill.id))
    db.session.rollback()  # a dry run or a refused file leaves the database as it was
    return render_template("shipping/bills/bill_import.html", form=form,
                           spec=services.BILL_SPEC, result=result, filename=filename,
                           shown_errors=result.errors[:500]), 200 if result.ok else 422


@bp.get("/bills/<int:bill_id>")
@permission_required("shipping.bills")
def bill_detail(bill_id: int):
    """A bill: its summary, its disputes' totals by kind, and the disputes of one kind."""
    bill = db.session.get(CarrierBill, bill_id) or abort(404)
    tol = queries.Tolerances.current()
    totals = queries.dispute_totals(bill, tol)
    kind = request.args.get("kind")
    if kind not in queries.DisputeKind.__members__:
        kind = next((t.kind.value for t in totals if t.count), queries.DisputeKind.overweight)
    page = paginate_rows(queries.dispute_query(bill, queries.DisputeKind(kind), tol),
                         per_page=current_app.config["ERP_PAGE_SIZE"])
    return render_template("shipping/bills/bill_detail.html", bill=bill, totals=totals,
                           kind=queries.DisputeKind(kind), page=page, tol=tol,
                           labels=queries.DISPUTE_LABELS, first_billed=queries.first_billed)


@bp.get("/bills/<int:bill_id>/disputes.xlsx")
@permission_required("shipping.bills")
def export_bill_disputes(bill_id: int):
    """Download every dispute of the bill (all kinds) as an Excel workbook."""
    bill = db.session.get(CarrierBill, bill_id) or abort(404)
    return xlsx_response(queries.export_disputes(bill), f"carrier-bill-{bill.id}-disputes")
