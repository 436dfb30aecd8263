"""Send a customer-return item graded C for a manufacturing defect back to its supplier."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user

from erp.aftersales.models import ReturnItem
from erp.aftersales.services import supplier_returns as rules
from erp.aftersales.views import bp
from erp.core.errors import DomainError
from erp.core.i18n import _
from erp.core.permissions import permission_required
from erp.core.viewhelpers import form_errors, get_or_404
from erp.extensions import db
from erp.procurement.models import Supplier
from erp.procurement.return_forms import ChooseSupplierForm


@bp.route("/return-items/<int:item_id>/supplier-return", methods=["GET", "POST"])
@permission_required("procurement.edit")
def send_item_to_supplier(item_id: int):
    """Choose the supplier (preferred or last bought from first); the item goes on a return."""
    item = get_or_404(ReturnItem, item_id)
    case_url = url_for(".case_detail", case_id=item.case_id)
    if not rules.can_send_to_supplier(item):
        flash(_("This returned item cannot go back to a supplier: it must be a known SKU "
                "graded C, for a manufacturing defect, and not already on a supplier return."),
              "error")
        return redirect(case_url)
    suppliers = rules.supplier_choices(item)
    form = ChooseSupplierForm()
    form.supplier_id.choices = [(str(s.id), f"{s.code} {s.name} ({s.currency})")
                                for s in suppliers]
    if form.validate_on_submit():
        supplier = db.session.get(Supplier, int(form.supplier_id.data))
        if supplier is None:
            abort(400)
        try:
            ret = rules.send_item_to_supplier(item, supplier, actor=current_user,
                                              unit_price=form.unit_price.data)
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("The returned units are on supplier return %(number)s (a draft): ship it "
                    "when the goods leave.", number=ret.number), "success")
            return redirect(url_for("procurement.supplier_return_detail", return_id=ret.id))
    return render_template("aftersales/returns/send_to_supplier.html", item=item, form=form,
                           quantity=rules.returnable_quantity(item), case_url=case_url)
