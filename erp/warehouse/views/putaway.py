"""The put-away scanner screen: open tasks in walking order, scan the task, then the bin."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from erp.core.errors import DomainError
from erp.core.i18n import _, format_number
from erp.core.permissions import permission_required
from erp.core.viewhelpers import form_errors
from erp.extensions import db
from erp.warehouse import queries, services
from erp.warehouse.forms import PutawayForm
from erp.warehouse.labels import PUTAWAY_SHOWN
from erp.warehouse.models import PutawayState, putaway_number
from erp.warehouse.views import bp

#: open tasks listed under the scan form (the rest are counted)
LISTED_TASKS = 100


@bp.route("/putaway", methods=["GET", "POST"])
@permission_required("warehouse.move")
def put_away_stock():
    """Confirm put-away tasks with a scanner: the task number or SKU, then the bin, Enter."""
    form = PutawayForm(scan=request.args.get("scan"))
    task = None
    if form.validate_on_submit():
        try:
            task = services.find_putaway_task(form.scan.data)
            if not (form.bin.data or "").strip():  # a task alone: show it, ask for the bin
                return redirect(url_for(".put_away_stock", scan=task.number))
            location = services.find_putaway_bin(form.bin.data, task)
            move = services.confirm_putaway(task, location, form.quantity.data,
                                            actor=current_user)
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            number, left, done = task.number, task.left, task.state != PutawayState.open
            db.session.commit()
            names = {"qty": format_number(move.quantity), "sku": move.sku.code,
                     "from": move.from_location.label, "to": move.to_location.label,
                     "task": number}
            flash(_("Put %(qty)s × %(sku)s from %(from)s into %(to)s: task %(task)s done.",
                    **names) if done else
                  _("Put %(qty)s × %(sku)s from %(from)s into %(to)s: task %(task)s has "
                    "%(left)s left.", left=format_number(left), **names), "success")
            return redirect(url_for(".put_away_stock", scan=None if done else number))
    elif request.method == "GET" and form.scan.data:
        try:
            task = services.find_putaway_task(form.scan.data)
        except DomainError as err:
            form_errors(form, err)
    errors = any(f.errors for f in form)
    focus = next((f.name for f in form if f.errors), "bin" if task is not None else "scan")
    return render_template(
        "warehouse/putaway.html", form=form, task=task, focus=focus, states=PUTAWAY_SHOWN,
        task_number=putaway_number,
        tasks=db.session.execute(queries.open_putaway_query().limit(LISTED_TASKS)).all(),
        waiting=queries.putaway_waiting()), 422 if errors and request.method == "POST" else 200
