"""Replenishment screens: the suggestion list, its Excel export, and drafting orders from it."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from erp.brands.models import Brand
from erp.catalog.queries import category_choices
from erp.core.i18n import _, ngettext
from erp.core.permissions import permission_required
from erp.core.viewhelpers import paginate_rows, xlsx_response
from erp.core.web import is_safe_next
from erp.extensions import db
from erp.procurement import exports, services
from erp.procurement import replenishment_queries as queries
from erp.procurement.replenishment_forms import DraftOrdersForm
from erp.procurement.views import bp


def _id_arg(name: str) -> int | None:
    value = request.args.get(name, type=int)
    return value if value and value > 0 else None


def replenishment_filters() -> queries.ReplenishmentFilters:
    """Read the suggestion list's filters from the query string."""
    supplier = request.args.get("supplier") or None
    return queries.ReplenishmentFilters(
        brand_id=_id_arg("brand"), category_id=_id_arg("category"),
        supplier_id=queries.NO_SUPPLIER if supplier == queries.NO_SUPPLIER else _id_arg("supplier"),
        undrafted_only=request.args.get("undrafted") == "yes")


def _back_to_list() -> str:
    """Return the list page the form was posted from (same site only), with its filters."""
    referrer = urlsplit(request.referrer or "")
    back = referrer.path + (f"?{referrer.query}" if referrer.query else "")
    if referrer.path == url_for(".replenishment_list") and is_safe_next(back):
        return back
    return url_for(".replenishment_list")


@bp.get("/replenishment")
@permission_required("procurement.view")
def replenishment_list():
    """List the SKUs at or below their reorder point with the quantity to order and supplier."""
    filters = replenishment_filters()
    page = paginate_rows(queries.suggestion_query(filters),
                         count=queries.suggestion_count_query(filters),
                         per_page=current_app.config["ERP_PAGE_SIZE"])
    suggestions = [services.suggestion_from_row(row) for row in page.items]
    return render_template(
        "procurement/replenishment_list.html", page=page, suggestions=suggestions,
        filters=filters, no_supplier=queries.NO_SUPPLIER, form=DraftOrdersForm(),
        brands=db.session.execute(select(Brand.id, Brand.code, Brand.name)
                                  .order_by(Brand.code)).all(),
        categories=db.session.execute(category_choices()).all(),
        suppliers=db.session.execute(queries.supplier_choices()).all())


@bp.get("/replenishment/export.xlsx")
@permission_required("procurement.view")
def export_suggestions():
    """Download the suggestions with the list's filters as an Excel workbook."""
    return xlsx_response(exports.export_suggestions(replenishment_filters()), "replenishment")


@bp.post("/replenishment/draft-orders")
@permission_required("procurement.edit")
def create_draft_orders():
    """Create one draft purchase order per supplier from the ticked suggestions."""
    back = _back_to_list()
    form = DraftOrdersForm()
    try:
        if not form.validate_on_submit():
            raise ValueError("; ".join(str(e) for errors in form.errors.values()
                                       for e in errors))
        quantities = form.quantities(request.form)
    except ValueError as err:
        flash(str(err) or _("Tick at least one suggestion."), "error")
        return redirect(back)
    orders = services.create_draft_orders(quantities, actor=current_user)
    db.session.commit()
    # NOTE: joins the drafts in a list ("draft #12 for SZTEX (1 line); draft #13 ...")
    listed = _("; ").join(
        ngettext("%(order)s for %(supplier)s (%(num)d line)",
                 "%(order)s for %(supplier)s (%(num)d lines)", len(order.lines),
                 order=order.reference, supplier=order.supplier.code) for order in orders)
    flash(ngettext("Created %(num)d draft purchase order: %(orders)s.",
                   "Created %(num)d draft purchase orders: %(orders)s.", len(orders),
                   orders=listed), "success")
    return redirect(back)
