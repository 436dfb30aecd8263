"""Made-to-order products: the maker, production time, sizes and measurement template."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

import erp.production.mto_audit_text  # noqa: F401 - registers the audit log's sentences
from erp.catalog.models import Product
from erp.core.errors import DomainError
from erp.core.i18n import _
from erp.core.permissions import permission_required
from erp.core.viewhelpers import form_errors, get_or_404, paginate_rows, xlsx_response
from erp.extensions import db
from erp.production import product_queries as queries
from erp.production.models import MeasurementField, MtoProduct
from erp.production.product_forms import MtoProductForm
from erp.production.services import products as services
from erp.production.views import bp


def _q() -> str | None:
    return (request.args.get("q") or "").strip()[:100] or None


@bp.get("/products")
@permission_required("production.view")
def product_list():
    """List made-to-order products: search product or maker; set up another by its code."""
    page = paginate_rows(queries.mto_product_list_query(_q()),
                         per_page=current_app.config["ERP_PAGE_SIZE"])
    return render_template("production/product_list.html", page=page, q=_q() or "")


@bp.get("/products/export.xlsx")
@permission_required("production.view")
def export_products():
    """Download the (searched) made-to-order products as an Excel workbook."""
    return xlsx_response(queries.export_mto_products(_q()), "made-to-order-products")


@bp.get("/products/setup")
@permission_required("production.edit")
def product_setup_start():
    """Open the set-up of the product whose code was scanned or typed."""
    code = (request.args.get("code") or "").strip()
    product = db.session.scalar(select(Product).where(
        func.upper(Product.code) == code.upper())) if code else None
    if product is None:
        flash(_('No product has the code "%(code)s".', code=code[:40]) if code
              else _("Type a product code."), "error")
        return product_list()
    return redirect(url_for(".product_setup", product_id=product.id))


@bp.route("/products/<int:product_id>", methods=["GET", "POST"])
@permission_required("production.edit")
def product_setup(product_id: int):
    """Set a product made to order: its maker, production time, sizes and template."""
    product = get_or_404(Product, product_id)
    mto = db.session.get(MtoProduct, product.id)
    form = MtoProductForm(current_maker_id=mto.maker_id if mto else None)
    if request.method == "GET":
        fields = db.session.scalars(select(MeasurementField).where(
            MeasurementField.product_id == product.id).order_by(MeasurementField.position)).all()
        form.made_to_order.data = product.made_to_order or mto is None
        form.maker_id.data = mto.maker_id if mto else 0
        form.production_days.data = mto.production_days if mto else 12
        form.sizes.data = mto.sizes if mto else ""
        form.made_to_measure.data = mto.made_to_measure if mto else False
        form.fields.data = services.template_text(fields)
    if form.validate_on_submit():
        try:
            services.set_up_product(
                product, actor=current_user, made_to_order=form.made_to_order.data,
                maker_id=form.maker_id.data, production_days=form.production_days.data,
                sizes=form.sizes.data, made_to_measure=form.made_to_measure.data,
                fields=services.parse_template(form.fields.data))
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("Made-to-order set-up of product %(code)s saved.", code=product.code),
                  "success")
            return redirect(url_for(".product_list", q=product.code))
    status = 422 if request.method == "POST" else 200
    return render_template("production/product_form.html", form=form, product=product,
                           mto=mto), status
