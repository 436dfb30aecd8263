"""Pick wave screens: list and export, new wave with a preview, detail, picking by scanner."""

from __future__ import annotations

from datetime import UTC

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from wtforms import DateTimeLocalField, HiddenField, IntegerField, SelectField, StringField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from erp.core.errors import DomainError
from erp.core.excel import Column, Spec, export_workbook
from erp.core.i18n import _, _l, format_number, ngettext
from erp.core.permissions import has_permission, permission_required
from erp.core.viewhelpers import (
    commit_or_refuse,
    form_errors,
    get_or_404,
    paginate_rows,
    pdf_response,
    xlsx_response,
)
from erp.extensions import db
from erp.orders.models import ORDER_STATES
from erp.shipping.documents.pick_list import pick_list_pdf
from erp.shipping.models import (
    PICK_TASK_LABELS,
    WAVE_STATES,
    PickTask,
    PickTaskState,
    PickWave,
    PickWaveOrder,
    ShippingService,
    WaveState,
)
from erp.shipping.services import waves as services
from erp.shipping.views import bp
from erp.warehouse.models import Warehouse

ITEM_CHOICES = [("", _l("Any number of items")), ("single", _l("Single-item orders")),
                ("multi", _l("Multi-item orders"))]


class ConfirmForm(FlaskForm):
    """An empty form that only carries the CSRF token."""


def _warehouse_choices() -> list[tuple[str, str]]:
    return [("", _("That of the first order waiting"))] + [
        (str(w.id), f"{w.code} · {w.name}") for w in db.session.scalars(
            select(Warehouse).where(Warehouse.active.is_(True)).order_by(Warehouse.code))]


class WaveForm(FlaskForm):
    """The filters of a new wave; the service decides what matches."""

    service_code = SelectField(_l("Shipping service"), choices=[], validators=[Optional()])
    country = StringField(_l("Country (ISO code)"),
                          validators=[Optional(), Length(min=2, max=2)])
    items = SelectField(_l("Items"), choices=ITEM_CHOICES, validators=[Optional()])
    kind = SelectField(_l("Kind"), choices=[
        ("standard", _l("Standard: packed at the packing station")),
        ("single_item", _l("Single-item lane: one-item orders, scan the item to print the "
                           "label"))], default="standard", validators=[Optional()])
    placed_before = DateTimeLocalField(_l("Placed before (cut-off, UTC)"),
                                       format="%Y-%m-%dT%H:%M", validators=[Optional()])
    max_orders = IntegerField(_l("Maximum orders"), default=200, validators=[
        InputRequired(), NumberRange(min=1, max=services.MAX_WAVE_ORDERS)])
    warehouse_id = SelectField(_l("Warehouse"), choices=[], validators=[Optional()])

    def filters(self) -> services.WaveFilters:
        """Return the entered filters."""
        placed = self.placed_before.data
        return services.WaveFilters(
            service_code=self.service_code.data or None,
            country=(self.country.data or "").strip().upper() or None,
            single_item={"single": True, "multi": False}.get(self.items.data or ""),
            placed_before=placed.replace(tzinfo=UTC) if placed else None,
            max_orders=self.max_orders.data,
            warehouse_id=int(self.warehouse_id.data) if self.warehouse_id.data else None)


class PickForm(FlaskForm):
    """A scanned pick: the bin, then the SKU; the quantity defaults to the task's."""

    task_id = HiddenField()
    bin_code = StringField(_l("Bin"), validators=[Optional(), Length(max=60)])
    sku_code = StringField(_l("SKU or barcode"), validators=[Optional(), Length(max=64)])
    qty = IntegerField(_l("Quantity"), validators=[Optional(), NumberRange(min=1)])


class ShortForm(FlaskForm):
    """A short pick: how many units were found in the bin."""

    found_qty = IntegerField(_l("Found"), default=0,
                             validators=[InputRequired(), NumberRange(min=0)])


def wave_spec() -> Spec:
    """Return the columns of the wave export, headed in the reader's language."""
    return Spec("pick-waves", _("Pick waves"), (
        Column("number", _("Wave"), width=20),
        Column("state", _("State"), width=10),
        Column("created_at", _("Created (UTC)"), type="auto", width=18),
        Column("started_at", _("Started (UTC)"), type="auto", width=18),
        Column("done_at", _("Done (UTC)"), type="auto", width=18),
        Column("orders", _("Orders"), type="int", width=8),
        Column("tasks", _("Tasks"), type="int", width=8),
        Column("open", _("Open"), type="int", width=8),
        Column("short", _("Short"), type="int", width=8),
        Column("units", _("Units"), type="int", width=8),
        Column("picked", _("Units picked"), type="int", width=12),
        Column("filters", _("Filters"), width=50),
    ))


def _list_args() -> dict:
    state = request.args.get("state") or None
    return {"state": state if state in WaveState.__members__ else None,
            "q": (request.args.get("q") or "").strip()[:40] or None}


@bp.get("/waves")
@permission_required("shipping.view")
def wave_list():
    """List pick waves, newest first; filter by state, search by number."""
    args = _list_args()
    page = paginate_rows(services.wave_list_query(**args), count=services.wave_count_query(**args),
                         per_page=current_app.config["ERP_PAGE_SIZE"])
    progress = services.wave_progress([r.id for r in page.items])
    return render_template("shipping/waves/wave_list.html", page=page, args=args,
                           progress=progress, machine=WAVE_STATES, states=list(WaveState),
                           describe=lambda f: services.filters_from_json(f).describe())


@bp.get("/waves/export.xlsx")
@permission_required("shipping.view")
def wave_export():
    """Download the waves the list shows (same filters) as an Excel workbook."""
    rows = db.session.execute(services.wave_list_query(**_list_args())).all()
    progress = services.wave_progress([r.id for r in rows])
    data = export_workbook(wave_spec(), ({
        "number": r.number, "state": WAVE_STATES.label(r.state), "created_at": r.created_at,
        "started_at": r.started_at, "done_at": r.done_at, "orders": r.order_count,
        "tasks": progress[r.id].tasks, "open": progress[r.id].open,
        "short": progress[r.id].short, "units": progress[r.id].units,
        "picked": progress[r.id].units_picked,
        "filters": services.filters_from_json(r.filters).describe()} for r in rows))
    return xlsx_response(data, "pick-waves")


def _service_choices() -> list[tuple[str, str]]:
    services_ = db.session.scalars(select(ShippingService).where(ShippingService.active.is_(True))
                                   .order_by(ShippingService.code)).all()
    return [("", _("Any service"))] + [(s.code, f"{s.code} · {s.name}") for s in services_]


@bp.route("/waves/new", methods=["GET", "POST"])
@permission_required("shipping.work")
def wave_new():
    """Choose the filters of a new wave, preview how many orders match, and build it."""
    form = WaveForm()
    form.service_code.choices = _service_choices()
    form.warehouse_id.choices = _warehouse_choices()
    preview = None
    status = 200
    if form.validate_on_submit():
        filters = form.filters()
        try:
            if form.kind.data == "single_item":
                filters.single_item = True
            if "preview" in request.form:
                preview = services.count_candidates(filters)
            else:
                wave = services.build_wave(filters, actor=current_user,
                                           kind=form.kind.data or "standard")
                db.session.commit()
                orders, picks = len(wave.orders), len(wave.tasks)
                flash(_("Wave %(wave)s built with %(orders)s and %(picks)s.", wave=wave.number,
                        orders=ngettext("%(count)s order", "%(count)s orders", orders,
                                        count=format_number(orders)),
                        picks=ngettext("%(count)s pick", "%(count)s picks", picks,
                                       count=format_number(picks))), "success")
                return redirect(url_for(".wave_detail", wave_id=wave.id))
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
            status = 422
    elif request.method == "POST":
        status = 422
    return render_template("shipping/waves/wave_new.html", form=form, preview=preview,
                           max_orders=form.max_orders.data), status


def _load(wave_id: int) -> PickWave:
    wave = db.session.scalar(select(PickWave).where(PickWave.id == wave_id).options(
        selectinload(PickWave.orders).selectinload(PickWaveOrder.order)))
    if wave is None:
        abort(404)
    return wave


@bp.get("/waves/<int:wave_id>")
@permission_required("shipping.view")
def wave_detail(wave_id: int):
    """Show a wave: its orders and totes, tasks in pick sequence, progress, short picks."""
    wave = _load(wave_id)
    tasks = services.load_tasks(wave)
    slots = services.slots_by_order(wave)  # merged orders share their primary's tote
    work = has_permission(current_user, "shipping.work")
    return render_template(
        "shipping/waves/wave_detail.html", wave=wave, tasks=tasks, slots=slots,
        progress=services.wave_progress([wave.id])[wave.id], machine=WAVE_STATES,
        shorts=[t for t in tasks if t.state == PickTaskState.short], task_labels=PICK_TASK_LABELS,
        order_machine=ORDER_STATES,
        filters=services.filters_from_json(wave.filters).describe(), confirm=ConfirmForm(),
        can_work=work and wave.state != WaveState.done,
        labels_url=url_for("shipping.wave_labels_pdf", wave_id=wave.id)
        if "shipping.wave_labels_pdf" in current_app.view_functions else None)


def _act(wave_id: int, action):
    """Run ``action(wave)`` (one service) on a posted confirm form; commit or show the refusal."""
    wave = get_or_404(PickWave, wave_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    return commit_or_refuse(lambda: action(wave), url_for(".wave_detail", wave_id=wave_id))


@bp.post("/waves/<int:wave_id>/start")
@permission_required("shipping.work")
def wave_start(wave_id: int):
    """Start picking a wave."""
    def act(wave):
        services.start_wave(wave, actor=current_user)
        return _("Wave %(wave)s is picking.", wave=wave.number)
    return _act(wave_id, act)


@bp.post("/waves/<int:wave_id>/pick-all")
@permission_required("shipping.work")
def wave_pick_all(wave_id: int):
    """Confirm every open pick of a wave at once (goods taken without scanning each)."""
    def act(wave):
        done = services.pick_all(wave, actor=current_user)
        left = services.wave_progress([wave.id])[wave.id].open
        message = ngettext("%(count)s pick of wave %(wave)s confirmed.",
                           "%(count)s picks of wave %(wave)s confirmed.", done,
                           count=format_number(done), wave=wave.number)
        if left:
            message += " " + ngettext(
                "%(count)s left open: its bin is being counted; report it short from the picking "
                "screen.",
                "%(count)s left open: their bins are being counted; report them short from the "
                "picking screen.", left, count=format_number(left))
        return message
    return _act(wave_id, act)


@bp.post("/waves/<int:wave_id>/finish")
@permission_required("shipping.work")
def wave_finish(wave_id: int):
    """Close a wave whose tasks are all picked or short."""
    def act(wave):
        services.finish_wave(wave, actor=current_user)
        return _("Wave %(wave)s is done.", wave=wave.number)
    return _act(wave_id, act)


@bp.get("/waves/<int:wave_id>/pick-list.pdf")
@permission_required("shipping.view")
def wave_pick_list(wave_id: int):
    """Download the wave's pick list (A4 PDF, in pick sequence, with barcodes)."""
    wave = get_or_404(PickWave, wave_id)
    return pdf_response(pick_list_pdf(wave), f"pick-list-{wave.number}")


def _task_of(wave: PickWave, task_id) -> PickTask | None:
    try:
        ident = int(task_id)
    except (TypeError, ValueError):
        return None
    task = db.session.get(PickTask, ident)
    return task if task is not None and task.wave_id == wave.id else None


@bp.route("/waves/<int:wave_id>/pick", methods=["GET", "POST"])
@permission_required("shipping.work")
def wave_pick(wave_id: int):
    """Scanner picking: show the next task; scan its bin, then its SKU (Enter submits)."""
    wave = get_or_404(PickWave, wave_id)
    task = _task_of(wave, request.values.get("task_id") or request.args.get("task"))
    if request.method == "POST" and task is not None and task.state != PickTaskState.open:
        flash(_("The pick of %(sku)s from %(bin)s for order %(order)s is already %(state)s; "
                "here is the next one.", sku=task.sku.code, bin=task.location.code,
                order=task.order.number, state=PICK_TASK_LABELS[PickTaskState(task.state)]),
              "error")
        return redirect(url_for(".wave_pick", wave_id=wave.id))
    if task is None or task.state != PickTaskState.open:
        task = services.next_task(wave)
    form = PickForm()
    status = 200
    focus = "bin_code"
    if request.method == "POST" and task is not None and form.validate_on_submit():
        if not (form.sku_code.data or "").strip():  # a bin alone: ask for the SKU next
            focus = "sku_code"
        else:
            try:
                services.confirm_pick(task, bin_code=form.bin_code.data or "",
                                      sku_code=form.sku_code.data, quantity=form.qty.data,
                                      actor=current_user)
            except DomainError as err:
                db.session.rollback()
                form_errors(form, err)
                focus = "sku_code" if err.field == "sku_code" else "bin_code"
                status = 422
            else:
                db.session.commit()
                flash(_("Picked %(qty)s × %(sku)s from %(bin)s for tote %(tote)s.",
                        qty=task.picked_qty, sku=task.sku.code, bin=task.location.code,
                        tote=services.slots_by_order(wave).get(task.order_id)), "success")
                return redirect(url_for(".wave_pick", wave_id=wave.id))
    elif request.method == "POST":
        status = 422 if task is not None else 200
    if task is not None:
        form.task_id.data = str(task.id)
        if status == 200 and focus == "bin_code":
            form.bin_code.data = ""
            form.sku_code.data = ""
        if form.qty.data is None:
            form.qty.data = task.quantity - task.picked_qty
    return render_template(
        "shipping/waves/wave_pick.html", wave=wave, task=task, form=form, focus=focus,
        short_form=ShortForm(found_qty=0), machine=WAVE_STATES, confirm=ConfirmForm(),
        slot=services.slots_by_order(wave).get(task.order_id) if task else None,
        progress=services.wave_progress([wave.id])[wave.id]), status


@bp.post("/waves/<int:wave_id>/tasks/<int:task_id>/short")
@permission_required("shipping.work")
def wave_short(wave_id: int, task_id: int):
    """Report a short pick: only the typed quantity was in the bin."""
    wave = get_or_404(PickWave, wave_id)
    task = _task_of(wave, task_id)
    if task is None:
        abort(404)
    form = ShortForm()
    if not form.validate_on_submit():
        flash(_("Enter the quantity found in the bin (0 or more)."), "error")
        return redirect(url_for(".wave_pick", wave_id=wave.id, task=task.id))
    try:
        services.report_short(task, found_qty=form.found_qty.data, actor=current_user)
    except DomainError as err:
        db.session.rollback()
        flash(str(err), "error")
        return redirect(url_for(".wave_pick", wave_id=wave.id, task=task.id))
    db.session.commit()
    flash(_("Short pick of %(sku)s in %(bin)s reported: %(qty)s taken; order %(order)s goes "
            "back to allocation and the bin will be counted.", sku=task.sku.code,
            bin=task.location.code, qty=task.picked_qty, order=task.order.number), "success")
    return redirect(url_for(".wave_pick", wave_id=wave.id))
