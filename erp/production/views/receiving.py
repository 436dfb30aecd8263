"""Receiving a production order at the warehouse (scanner friendly): stock in, reserved."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from erp.core.errors import DomainError
from erp.core.i18n import _
from erp.core.permissions import permission_required
from erp.core.viewhelpers import form_errors, get_or_404
from erp.extensions import db
from erp.production.models import PRODUCTION_STATES, ProductionOrder
from erp.production.product_forms import ReceiveForm
from erp.production.services import receiving as services
from erp.production.views import bp
from erp.warehouse.services import find_bin


@bp.route("/orders/<int:po_id>/receive", methods=["GET", "POST"])
@permission_required("procurement.receive")
def receive(po_id: int):
    """Scan the bin the maker's goods go to; they are received and reserved to the line.

    Goods with an inspection plan wait in QC hold and are reserved once their lot passes.
    """
    po = get_or_404(ProductionOrder, po_id)
    form = ReceiveForm()
    if form.validate_on_submit():
        try:
            location = find_bin(form.location.data)
            services.receive(po, actor=current_user, location=location, note=form.note.data)
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            lots = services.inspections_of(po.id)
            if lots:
                flash(_("Production order %(number)s received into inspection lot %(lot)s "
                        "(%(hold)s): its goods are reserved to order %(order)s in %(bin)s once "
                        "the lot is accepted.", number=po.number, lot=lots[-1].number,
                        hold=lots[-1].hold_location.label, order=po.order.number,
                        bin=location.label), "success")
            else:
                flash(_("Production order %(number)s received into %(bin)s and reserved to "
                        "order %(order)s.", number=po.number, bin=location.label,
                        order=po.order.number), "success")
            return redirect(url_for(".receive", po_id=po.id))
    status = 422 if request.method == "POST" else 200
    return render_template("production/product_receive.html", form=form, po=po,
                           machine=PRODUCTION_STATES,
                           can_receive=services.can_receive(po),
                           inspected=services.is_inspected(po)), status
