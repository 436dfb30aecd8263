"""Merging and splitting orders: the merge candidates page, merge, unmerge and split actions."""

from __future__ import annotations

from flask import abort, render_template, request, url_for
from flask_login import current_user

from erp.core.i18n import _
from erp.core.permissions import has_permission, permission_required
from erp.core.viewhelpers import commit_or_refuse, get_or_404
from erp.extensions import db
from erp.orders import hooks, services
from erp.orders.models import ORDER_STATES, CustomerOrder
from erp.orders.order_forms import ConfirmForm
from erp.orders.services import splitting
from erp.orders.views import bp

#: the most groups the candidates page lists
CANDIDATES_LIMIT = 200


@bp.get("/merge-candidates")
@permission_required("orders.view")
def merge_candidates_page():
    """List the groups of allocated orders of one buyer, address and service to merge."""
    candidates = services.merge_candidates(limit=CANDIDATES_LIMIT)
    return render_template("orders/merge_candidates.html", candidates=candidates,
                           machine=ORDER_STATES, limit=CANDIDATES_LIMIT, confirm=ConfirmForm(),
                           can_merge=has_permission(current_user, "orders.edit"))


def _checked(form_class=ConfirmForm):
    form = form_class()
    if not form.validate_on_submit():
        abort(400)
    return form


@bp.post("/<int:order_id>/merge")
@permission_required("orders.edit")
def merge_orders(order_id: int):
    """Merge the chosen orders into this one (checked again by the service)."""
    primary = get_or_404(CustomerOrder, order_id)
    _checked()
    ids = sorted({int(v) for v in request.form.getlist("orders") if v.isdigit()})
    others = [o for o in (db.session.get(CustomerOrder, i) for i in ids) if o is not None]
    back = request.form.get("next") == "candidates"
    next_url = url_for(".merge_candidates_page") if back else url_for(
        ".order_detail", order_id=primary.id)

    def act():
        merged = services.merge_orders(primary, others, actor=current_user)
        if not merged:
            return _("Nothing to merge: those orders already ship with %(order)s.",
                     order=primary.number)
        return _("Orders %(orders)s now ship in one parcel with %(order)s.",
                 orders=", ".join(o.number for o in merged), order=primary.number)

    return commit_or_refuse(act, next_url)


@bp.post("/<int:order_id>/unmerge")
@permission_required("orders.edit")
def unmerge_order(order_id: int):
    """Take the order out of its merge group (a primary: undo the whole group)."""
    order = get_or_404(CustomerOrder, order_id)
    _checked()

    def act():
        left = services.unmerge_order(order, actor=current_user)
        if not left:
            return _("Order %(order)s is in no merge group.", order=order.number)
        return _("Orders %(orders)s ship on their own again.",
                 orders=", ".join(o.number for o in left))

    return commit_or_refuse(act, url_for(".order_detail", order_id=order.id))


@bp.post("/<int:order_id>/split")
@permission_required("orders.edit")
def split_order(order_id: int):
    """Split the order: its unreserved units, or the quantities chosen (maybe another service)."""
    order = get_or_404(CustomerOrder, order_id)
    _checked()
    reason = (request.form.get("reason") or "").strip()

    def act():
        if request.form.get("mode") == "availability":
            part = splitting.split_by_availability(order, actor=current_user, reason=reason)
        else:
            moves = {line.id: request.form.get(f"qty-{line.id}", "") for line in order.lines}
            part = splitting.split_order(order, moves, actor=current_user, reason=reason,
                                         service=request.form.get("service") or None)
        return _("Order %(order)s split: %(part)s ships the units moved.", order=order.number,
                 part=part.number)

    return commit_or_refuse(act, url_for(".order_detail", order_id=order.id))


def merge_and_split_context(order: CustomerOrder) -> dict:
    """Return what the order page shows of merging and splitting, and the buttons."""
    group = services.merge_group(order)
    edit = has_permission(current_user, "orders.edit")
    return {"merge_group": group if len(group) > 1 else [],
            "can_unmerge": edit and services.can_unmerge(order, current_user),
            "can_split": edit and splitting.can_split(order, current_user)
            and order.merged_into_id is None,
            "parts": [p for p in splitting.order_parts(order) if p.id != order.id],
            "services": hooks.shipping_services() if edit else []}
