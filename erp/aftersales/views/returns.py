"""Returns in the warehouse, made for a scanner: find the case, receive the goods, grade them.

Scan the RMA number (or the customer's return tracking number); on the receive screen enter
or scan what came back (each scan of a SKU adds one unit), add what was not expected, and
confirm; then grade every unit A (restock), B (quarantine) or C (scrap). The screens keep what
was entered in the form itself until it is posted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, StringField
from wtforms.validators import Length, NumberRange, Optional

from erp.aftersales.models import CASE_STATES, AfterSalesCase, CaseState, Grade, ReturnItem
from erp.aftersales.queries import type_label
from erp.aftersales.services import returned_to_sender as rts
from erp.aftersales.services import returns
from erp.aftersales.views import bp
from erp.core.errors import DomainError, ValidationError
from erp.core.excel import Column, export_workbook
from erp.core.i18n import _, _l, format_datetime, format_number
from erp.core.permissions import has_permission, permission_required
from erp.core.viewhelpers import get_or_404, paginate_rows, xlsx_response
from erp.extensions import db
from erp.warehouse import services as warehouse_services

PER_PAGE = 50
#: the most unexpected rows one receipt form carries
MAX_EXTRA_ROWS = 100
_SCAN = {"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}


class FindReturnForm(FlaskForm):
    """Scan the RMA or the return tracking number (a GET lookup: no CSRF token)."""

    class Meta:
        """A read-only lookup."""

        csrf = False

    number = StringField(_l("RMA or return tracking number"),
                         validators=[Optional(), Length(max=60)], render_kw=_SCAN)
    search = StringField(_l("Search"), validators=[Optional(), Length(max=60)])


class ReceiveReturnForm(FlaskForm):
    """The scan box and the unexpected-item entry; quantities are ``qty-<line id>`` fields."""

    scan = StringField(_l("Scan a SKU (adds 1)"), validators=[Optional(), Length(max=64)],
                       render_kw=_SCAN)
    extra_code = StringField(_l("SKU code or barcode"),
                             validators=[Optional(), Length(max=64)], render_kw=_SCAN)
    extra_description = StringField(_l("or describe an unknown item"),
                                    validators=[Optional(), Length(max=200)])
    extra_qty = IntegerField(_l("Quantity"), default=1, validators=[
        Optional(), NumberRange(min=1, max=returns.MAX_QUANTITY,
                                message=_l("Enter a whole number of 1 or more."))])


class InspectForm(FlaskForm):
    """Only the CSRF token: grades are ``a-<item id>``, ``b-…``, ``c-…``, ``bin-…`` fields."""


def _case_detail_url(case: AfterSalesCase) -> str | None:
    if "aftersales.case_detail" in current_app.view_functions:
        return url_for("aftersales.case_detail", case_id=case.id)
    return None


def _route(case: AfterSalesCase) -> str | None:
    """Return where the scan of ``case`` leads: receive, inspect, or nowhere (None)."""
    if case.state == CaseState.awaiting_return:
        return url_for(".return_receive", case_id=case.id)
    if case.state == CaseState.received:
        return url_for(".return_inspect", case_id=case.id)
    return None


@bp.get("/returns")
@permission_required("aftersales.view")
def returns_start():
    """Scan a return parcel's RMA or tracking number; list the cases waiting for goods."""
    form = FindReturnForm(request.args)
    number = (form.number.data or "").strip()
    can_receive = has_permission(current_user, "aftersales.receive")
    if number and form.validate():
        try:
            case = returns.find_case_for_receipt(number)
        except DomainError as err:
            form.number.errors = [str(err)]
        else:
            target = _route(case)
            if target and can_receive:
                return redirect(target)
            form.number.errors = [_nothing_to_do(case, can_act=target is not None)]
    page = paginate_rows(returns.cases_to_receive_query(form.search.data), per_page=PER_PAGE)
    return render_template("aftersales/returns/start.html", form=form, page=page,
                           to_inspect=returns.cases_to_inspect(), machine=CASE_STATES,
                           can_receive=can_receive, type_label=type_label,
                           case_detail="aftersales.case_detail" in current_app.view_functions)


def _nothing_to_do(case: AfterSalesCase, *, can_act: bool) -> str:
    """Return why a scanned case does not open the receive or inspect screen."""
    state = CASE_STATES.label(case.state)
    if can_act:
        return _("%(case)s is %(state)s; receiving and inspection are for warehouse staff.",
                 case=case.number, state=state)
    if case.received_at:
        return _("%(case)s is %(state)s (received %(when)s): there is nothing to receive or "
                 "inspect.", case=case.number, state=state, when=format_datetime(case.received_at))
    return _("%(case)s is %(state)s: there is nothing to receive or inspect.",
             case=case.number, state=state)


def export_columns() -> tuple[Column, ...]:
    """Return the columns of the awaiting-return export, headed in the reader's language."""
    return (
        Column("number", _("RMA"), width=18), Column("order_number", _("Order"), width=16),
        Column("case_type", _("Type"), width=18), Column("contact_name", _("Customer"), width=28),
        Column("return_tracking", _("Return tracking"), width=18),
        Column("opened_at", _("Opened"), type="date", width=12),
        Column("due_at", _("Due"), type="date", width=12),
        Column("units", _("Units expected"), type="int", width=10),
    )


@bp.get("/returns/export")
@permission_required("aftersales.view")
def returns_export():
    """Download the cases awaiting return (the list's search applies) as Excel."""
    rows = []
    for case, order_number in db.session.execute(
            returns.cases_to_receive_query(request.args.get("search"))):
        rows.append({"number": case.number, "order_number": order_number,
                     "case_type": type_label(case.case_type),
                     "contact_name": case.contact_name, "return_tracking": case.return_tracking,
                     "opened_at": case.opened_at.date(), "due_at": case.due_at.date(),
                     "units": sum(line.quantity for line in case.lines)})
    return xlsx_response(export_workbook(export_columns(), rows, title=_("Awaiting return")),
                         "returns-awaiting")


# ---------------------------------------------------------------------------------------------
# Receive


@dataclass
class _Extra:
    """An unexpected item entered on the receive screen (a SKU code or a description)."""

    code: str = ""
    description: str = ""
    quantity: int = 1
    error: str | None = None


@dataclass
class _Entry:
    """A case line and what is entered for it."""

    expected: returns.ExpectedLine
    entered: int | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)


def _read_entries(entries: list[_Entry]) -> bool:
    ok = True
    for entry in entries:
        raw = (request.form.get(f"qty-{entry.expected.line.id}") or "").strip()
        if not raw:
            continue
        try:
            entry.entered = int(raw)
        except ValueError:
            entry.error = _('"%(value)s" is not a whole number.', value=raw)
            ok = False
            continue
        if entry.entered < 0:
            entry.error = _("Enter zero or more.")
            ok = False
    return ok


def _read_extras() -> tuple[list[_Extra], bool]:
    extras, ok = [], True
    for n in range(MAX_EXTRA_ROWS):
        code = (request.form.get(f"extra-{n}-code") or "").strip()
        description = (request.form.get(f"extra-{n}-description") or "").strip()
        raw = (request.form.get(f"extra-{n}-qty") or "").strip()
        if not (code or description or raw):
            continue
        extra = _Extra(code=code, description=description)
        try:
            extra.quantity = int(raw)
        except ValueError:
            extra.error = _('"%(value)s" is not a whole number.', value=raw)
            ok = False
        if not extra.error and extra.quantity == 0:
            continue  # set to 0: taken back
        extras.append(extra)
    return extras, ok


def _add_extra(extras: list[_Extra], code: str, description: str, qty: int) -> _Extra:
    for extra in extras:
        if code and extra.code.upper() == code.upper() or \
                not code and description and extra.description == description:
            extra.quantity += qty
            return extra
    extras.append(_Extra(code=code, description=description, quantity=qty))
    return extras[-1]


def _scan(entries: list[_Entry], extras: list[_Extra], text: str) -> str:
    """Add one unit of the scanned SKU: to its case line, else to the unexpected items."""
    sku = warehouse_services.find_sku(text, field="scan")
    mine = [e for e in entries if e.expected.sku.id == sku.id]
    if mine:
        entry = next((e for e in mine if (e.entered or 0) < e.expected.expected), mine[0])
        entry.entered = (entry.entered or 0) + 1
        if entry.entered > entry.expected.expected:
            entry.notes = [_("%(above)s above the %(expected)s expected: recorded as unexpected.",
                             above=format_number(entry.entered - entry.expected.expected),
                             expected=format_number(entry.expected.expected))]
        return _("1 × %(sku)s added.", sku=sku.code)
    _add_extra(extras, sku.code, "", 1)
    return _("%(sku)s is not on this case: 1 unit added to the unexpected items.", sku=sku.code)


def _items(entries: list[_Entry], extras: list[_Extra]) -> list[tuple]:
    items: list[tuple] = [(e.expected.line.id, None, None, e.entered)
                          for e in entries if e.entered]
    for extra in extras:
        if extra.code:
            try:
                sku = warehouse_services.find_sku(extra.code, field="extra")
            except ValidationError as err:
                extra.error = str(err)
                raise
            items.append((None, sku.id, None, extra.quantity))
        else:
            items.append((None, None, extra.description, extra.quantity))
    return items


def _load_case(case_id: int) -> AfterSalesCase:
    return get_or_404(AfterSalesCase, case_id)


@bp.route("/returns/<int:case_id>/receive", methods=["GET", "POST"])
@permission_required("aftersales.receive")
def return_receive(case_id: int):
    """Enter or scan the units that came back, add unexpected items, and confirm the receipt."""
    case = _load_case(case_id)
    entries = [_Entry(expected=line) for line in returns.expected_lines(case)]
    extras: list[_Extra] = []
    form = ReceiveReturnForm()
    status, focus = 200, "scan"
    if request.method == "POST":
        if not form.validate_on_submit():
            status = 422
        else:
            valid = _read_entries(entries)
            extras, extras_ok = _read_extras()
            valid = valid and extras_ok
            action = request.form.get("action")
            if action == "receive" and valid:
                try:
                    items = returns.receive_return(case, _items(entries, extras),
                                                   actor=current_user)
                except DomainError as err:
                    db.session.rollback()
                    case = _load_case(case_id)
                    if err.field == "scan":
                        form.scan.errors = [str(err)]
                    elif err.field != "extra":
                        flash(str(err), "error")
                    status = 422
                else:
                    db.session.commit()
                    units = sum(i.quantity for i in items)
                    odd = sum(i.quantity for i in items if i.unexpected)
                    flash(_received_message(case, units, odd), "success")
                    return redirect(url_for(".return_inspect", case_id=case.id))
            else:
                status = _add(form, entries, extras)
                if form.extra_code.errors or form.extra_description.errors:
                    focus = "extra_code"
            if not valid:
                status = 422
    return render_template("aftersales/returns/receive.html", case=case, entries=entries,
                           extras=extras, form=form, focus=focus, machine=CASE_STATES,
                           receivable=case.state == CaseState.awaiting_return,
                           case_url=_case_detail_url(case)), status


def _received_message(case: AfterSalesCase, units: int, odd: int) -> str:
    """Return the flash after a receipt: how many units came back, how many unexpected."""
    if odd:
        return _("%(case)s: %(num)s unit(s) received, %(odd)s of them unexpected. Grade them "
                 "now.", case=case.number, num=format_number(units), odd=format_number(odd))
    return _("%(case)s: %(num)s unit(s) received. Grade them now.", case=case.number,
             num=format_number(units))


def _add(form: ReceiveReturnForm, entries: list[_Entry], extras: list[_Extra]) -> int:
    """Count a scan and/or an unexpected item typed in; return the status to answer."""
    status = 200
    if (form.scan.data or "").strip():
        try:
            flash(_scan(entries, extras, form.scan.data), "info")
        except DomainError as err:
            form.scan.errors = [str(err)]
            status = 422
        else:
            form.scan.data = ""
    code = (form.extra_code.data or "").strip()
    description = (form.extra_description.data or "").strip()
    if code or description:
        qty = form.extra_qty.data or 1
        if code:
            try:
                sku = warehouse_services.find_sku(code, field="extra_code")
            except DomainError as err:
                form.extra_code.errors = [str(err)]
                return 422
            code = sku.code
        _add_extra(extras, code, "" if code else description, qty)
        form.extra_code.data = form.extra_description.data = ""
        form.extra_qty.data = 1
    return status


# ---------------------------------------------------------------------------------------------
# Inspect


@dataclass
class _Grading:
    """A received item and the grades entered for it."""

    item: ReturnItem
    default_bin: str | None
    a: str = ""
    b: str = ""
    c: str = ""
    bin: str = ""
    error: str | None = None

    @property
    def name(self) -> str:
        """Return how the screen names the item."""
        return returns.item_label(self.item)


def _gradings(case: AfterSalesCase) -> list[_Grading]:
    out = []
    for item in case.items:
        if item.grade is not None:
            continue
        default = returns.default_restock_bin(item.sku_id) if item.sku_id else None
        out.append(_Grading(item=item, default_bin=default.label if default else None))
    return out


def _read_grades(case: AfterSalesCase, gradings: list[_Grading]) -> dict | None:
    """Read the posted grades; return ``{item id: [(grade, qty, location id)]}`` or None."""
    grades, ok = {}, True
    for g in gradings:
        ident = g.item.id
        g.a, g.b, g.c = ((request.form.get(f"{k}-{ident}") or "").strip() for k in "abc")
        g.bin = (request.form.get(f"bin-{ident}") or "").strip()
        if not (g.a or g.b or g.c):
            continue
        entries = []
        try:
            for grade, raw in ((Grade.A, g.a), (Grade.B, g.b), (Grade.C, g.c)):
                if not raw:
                    continue
                try:
                    qty = int(raw)
                except ValueError:
                    raise ValidationError(_('%(item)s: "%(value)s" is not a whole number.',
                                            item=g.name, value=raw)) from None
                if qty < 0:
                    raise ValidationError(_("%(item)s: enter zero or more.", item=g.name))
                if qty:
                    location_id = None
                    if grade == Grade.A and g.bin:
                        location_id = warehouse_services.find_bin(g.bin, field="bin").id
                    entries.append((grade.value, qty, location_id))
        except DomainError as err:
            g.error, ok = str(err), False
            continue
        grades[ident] = entries
    if not ok:
        return None
    return grades


@bp.route("/returns/<int:case_id>/inspect", methods=["GET", "POST"])
@permission_required("aftersales.receive")
def return_inspect(case_id: int):
    """Grade each received item: units A (restock to a bin), B (quarantine), C (scrap)."""
    case = _load_case(case_id)
    gradings = _gradings(case)
    form = InspectForm()
    status = 200
    if request.method == "POST":
        grades = _read_grades(case, gradings) if form.validate_on_submit() else None
        if grades is None:
            status = 422
            if form.errors:
                flash(_("The form expired; enter the grades again."), "error")
        elif not grades:
            flash(_("Enter the grades of at least one item."), "error")
            status = 422
        else:
            try:
                graded = returns.inspect_return(case, grades, actor=current_user)
            except DomainError as err:
                db.session.rollback()
                message = str(err)
                by_item = {f"item-{g.item.id}": g for g in gradings}
                if err.field in by_item:
                    by_item[err.field].error = message
                else:
                    flash(message, "error")
                status = 422
                kept = {g.item.id: g for g in gradings}
                case = _load_case(case_id)
                gradings = _gradings(case)
                for g in gradings:  # keep what was typed
                    old = kept.get(g.item.id)
                    if old:
                        g.a, g.b, g.c, g.bin, g.error = old.a, old.b, old.c, old.bin, old.error
            else:
                db.session.commit()
                units = {grade: sum(r.quantity for r in graded if r.grade == grade)
                         for grade in Grade}
                done = case.state == CaseState.inspected
                values = {"case": case.number, "a": format_number(units[Grade.A]),
                          "b": format_number(units[Grade.B]), "c": format_number(units[Grade.C])}
                flash(_("%(case)s: graded A %(a)s, B %(b)s, C %(c)s. Inspection complete.",
                        **values) if done else
                      _("%(case)s: graded A %(a)s, B %(b)s, C %(c)s. Items remain to grade.",
                        **values), "success")
                if done:
                    return redirect(_case_detail_url(case) or url_for(".returns_start"))
                return redirect(url_for(".return_inspect", case_id=case.id))
    graded_items = [i for i in case.items if i.grade is not None]
    return render_template("aftersales/returns/inspect.html", case=case, gradings=gradings,
                           graded=graded_items, form=form, machine=CASE_STATES,
                           inspectable=case.state == CaseState.received,
                           case_url=_case_detail_url(case)), status


# --------------------------------------------------------------------------- returned to sender


class ReturnedParcelForm(FlaskForm):
    """Scan a parcel the carrier brought back, and say what the order gets."""

    tracking_number = StringField(_l("Tracking number of the returned parcel"),
                                  validators=[Optional(), Length(max=60)], render_kw=_SCAN)
    decision = SelectField(_l("Then"), default="reship", choices=[
        ("reship", _l("send the order again")), ("refund", _l("refund the order"))])


@bp.route("/returns/returned-to-sender", methods=["GET", "POST"])
@permission_required("aftersales.receive")
def returned_to_sender():
    """Scan parcels returned to sender: each opens a case and waits for inspection, once."""
    form = ReturnedParcelForm()
    if request.method == "GET" and request.args.get("decision") in rts.DECISIONS:
        form.decision.data = request.args["decision"]
    status = 200
    if request.method == "POST":
        if not form.validate_on_submit():
            status = 422
        else:
            try:
                got = rts.receive_returned_parcel(form.tracking_number.data,
                                                  decision=form.decision.data,
                                                  actor=current_user)
            except DomainError as err:
                db.session.rollback()
                form.tracking_number.errors = [str(err)]
                status = 422
            else:
                db.session.commit()
                if got.new:
                    flash(_("Parcel %(parcel)s received back: case %(case)s waits for "
                            "inspection.", parcel=got.parcel.number, case=got.case.number),
                          "success")
                else:
                    flash(_("Parcel %(parcel)s was received back already (case %(case)s): "
                            "nothing more was done.", parcel=got.parcel.number,
                            case=got.case.number), "info")
                return redirect(url_for(".returned_to_sender", decision=form.decision.data,
                                        last=got.case.id))
    last = None
    if request.args.get("last", "").isdigit():
        last = db.session.get(AfterSalesCase, int(request.args["last"]))
    return render_template("aftersales/returns/returned_to_sender.html", form=form,
                           last=last, machine=CASE_STATES), status
