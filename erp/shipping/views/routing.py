"""Shipping rule screens: versions, ordered rules, activation, roll back, Excel, simulation."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from erp.core.errors import DomainError
from erp.core.forms import ConfirmForm
from erp.core.i18n import _, ngettext
from erp.core.importing import ImportForm
from erp.core.permissions import permission_required
from erp.core.viewhelpers import form_errors, get_or_404, xlsx_response
from erp.extensions import db
from erp.shipping import routing_excel
from erp.shipping.models import GOODS_ATTRIBUTE_LABELS, GoodsAttribute, ShippingService
from erp.shipping.routing_forms import RuleForm
from erp.shipping.routing_models import RULE_VERSION_STATES, Rule, RuleVersion, RuleVersionState
from erp.shipping.services import routing_rules
from erp.shipping.views import bp


def _post_form():
    """Refuse a POST button whose form (CSRF token) does not validate."""
    if not ConfirmForm().validate_on_submit():
        abort(400)


def _to_version(version_id: int):
    return redirect(url_for(".rule_version_detail", version_id=version_id))


@bp.get("/rules")
@permission_required("shipping.view")
def rule_version_list():
    """List the versions of the shipping rules, the active one first."""
    versions = db.session.scalars(select(RuleVersion).order_by(RuleVersion.number.desc())).all()
    counts = dict(db.session.execute(select(Rule.version_id, func.count())
                                     .group_by(Rule.version_id)).all())
    active = next((v for v in versions if v.state == RuleVersionState.active), None)
    return render_template("shipping/rules/version_list.html", versions=versions, counts=counts,
                           active=active, machine=RULE_VERSION_STATES,
                           previous=routing_rules.previous_version())


@bp.get("/rules/<int:version_id>")
@permission_required("shipping.view")
def rule_version_detail(version_id: int):
    """Show a version's rules in order (editable while a draft)."""
    version = get_or_404(RuleVersion, version_id)
    goods = {a.value: GOODS_ATTRIBUTE_LABELS[a] for a in GoodsAttribute}

    def goods_text(text: str) -> str:
        return ", ".join(str(goods.get(g, g)) for g in text.split(",") if g)

    return render_template("shipping/rules/version_detail.html", version=version,
                           machine=RULE_VERSION_STATES, goods_text=goods_text,
                           previous=routing_rules.previous_version(),
                           import_form=ImportForm())


@bp.post("/rules/new")
@permission_required("shipping.rules")
def create_rule_version():
    """Start an empty draft version."""
    _post_form()
    version = routing_rules.create_version(actor=current_user)
    db.session.commit()
    flash(_("Draft %(version)s started: add its rules.", version=version.code), "success")
    return _to_version(version.id)


@bp.post("/rules/<int:version_id>/copy")
@permission_required("shipping.rules")
def copy_rule_version(version_id: int):
    """Copy a version's rules into a new draft."""
    _post_form()
    version = routing_rules.copy_version(get_or_404(RuleVersion, version_id), actor=current_user)
    db.session.commit()
    flash(_("Draft %(version)s holds a copy of the rules.", version=version.code), "success")
    return _to_version(version.id)


@bp.post("/rules/<int:version_id>/activate")
@permission_required("shipping.rules")
def activate_rule_version(version_id: int):
    """Activate a draft; the active version is retired."""
    _post_form()
    version = routing_rules.activate_version(get_or_404(RuleVersion, version_id),
                                             actor=current_user)
    db.session.commit()
    flash(_("Version %(version)s is active: it routes the orders from now on.",
            version=version.code), "success")
    return _to_version(version.id)


@bp.post("/rules/<int:version_id>/roll-back")
@permission_required("shipping.rules")
def roll_back_rule_version(version_id: int):
    """Retire the active version and reactivate the previous one."""
    _post_form()
    previous = routing_rules.roll_back(get_or_404(RuleVersion, version_id), actor=current_user)
    db.session.commit()
    flash(_("Rolled back: version %(version)s is active again.", version=previous.code),
          "success")
    return _to_version(previous.id)


@bp.post("/rules/<int:version_id>/discard")
@permission_required("shipping.rules")
def discard_rule_version(version_id: int):
    """Give up a draft version (kept, read-only, as discarded)."""
    _post_form()
    version = routing_rules.discard_version(get_or_404(RuleVersion, version_id),
                                            actor=current_user)
    db.session.commit()
    flash(_("Draft %(version)s discarded.", version=version.code), "success")
    return redirect(url_for(".rule_version_list"))


def _rule_form(version: RuleVersion, rule: Rule | None):
    form = RuleForm()
    if request.method == "GET" and rule is not None:
        form.fill(rule)
    if form.validate_on_submit():
        try:
            if rule is None:
                routing_rules.add_rule(version, form.values(), actor=current_user)
            else:
                routing_rules.update_rule(rule, form.values(), actor=current_user)
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("Rule %(rule)s saved.", rule=form.name.data), "success")
            return _to_version(version.id)
    services = db.session.scalars(select(ShippingService).where(ShippingService.active.is_(True))
                                  .order_by(ShippingService.code)).all()
    return render_template("shipping/rules/rule_form.html", form=form, version=version,
                           rule=rule, services=services)


@bp.route("/rules/<int:version_id>/rules/new", methods=["GET", "POST"])
@permission_required("shipping.rules")
def create_rule(version_id: int):
    """Add a rule at the end of a draft version."""
    return _rule_form(get_or_404(RuleVersion, version_id), None)


@bp.route("/rules/rule/<int:rule_id>/edit", methods=["GET", "POST"])
@permission_required("shipping.rules")
def edit_rule(rule_id: int):
    """Change a rule of a draft version."""
    rule = get_or_404(Rule, rule_id)
    return _rule_form(rule.version, rule)


@bp.post("/rules/rule/<int:rule_id>/delete")
@permission_required("shipping.rules")
def delete_rule(rule_id: int):
    """Delete a rule of a draft version."""
    _post_form()
    rule = get_or_404(Rule, rule_id)
    version_id, name = rule.version_id, rule.name
    routing_rules.delete_rule(rule, actor=current_user)
    db.session.commit()
    flash(_("Rule %(rule)s deleted.", rule=name), "success")
    return _to_version(version_id)


@bp.post("/rules/rule/<int:rule_id>/move")
@permission_required("shipping.rules")
def move_rule(rule_id: int):
    """Move a rule of a draft one place up or down."""
    _post_form()
    rule = get_or_404(Rule, rule_id)
    routing_rules.move_rule(rule, -1 if request.form.get("direction") == "up" else 1,
                            actor=current_user)
    db.session.commit()
    return _to_version(rule.version_id)


@bp.get("/rules/<int:version_id>/export.xlsx")
@permission_required("shipping.view")
def export_rules(version_id: int):
    """Download a version's rules as a workbook (it imports again into a draft)."""
    version = get_or_404(RuleVersion, version_id)
    return xlsx_response(routing_excel.export_rules(version), f"shipping-rules-{version.code}")


@bp.get("/rules/template.xlsx")
@permission_required("shipping.view")
def rule_template():
    """Download the empty rules workbook with its Help sheet."""
    return xlsx_response(routing_excel.template(), "shipping-rules-template")


@bp.post("/rules/<int:version_id>/import")
@permission_required("shipping.rules")
def import_rules(version_id: int):
    """Check (dry run) or import a rules workbook into a draft: it replaces all its rules."""
    version = get_or_404(RuleVersion, version_id)
    form = ImportForm()
    if not form.validate_on_submit():
        flash(_("Choose a file to import."), "error")
        return _to_version(version.id)
    upload = form.file.data
    dry_run = request.form.get("action") != "import"
    try:
        result = routing_excel.import_rules(version, upload.read(),
                                            filename=upload.filename or "rules.xlsx",
                                            dry_run=dry_run, actor=current_user)
    except DomainError as err:
        db.session.rollback()
        flash(str(err), "error")
        return _to_version(version.id)
    if result.ok and not dry_run:
        db.session.commit()
        flash(ngettext("%(num)s rule imported.", "%(num)s rules imported.", result.created),
              "success")
        return _to_version(version.id)
    db.session.rollback()
    status = 200 if result.ok else 422
    return render_template("shipping/rules/import_result.html", version=version, result=result,
                           errors=result.errors[:500], dry_run=dry_run), status


@bp.get("/rules/<int:version_id>/simulate")
@permission_required("shipping.rules")
def simulate_rule_version(version_id: int):
    """Route the last 30 days' orders with a version, in memory: what would change, and cost."""
    version = get_or_404(RuleVersion, version_id)
    simulation = routing_rules.simulate(version)
    return render_template("shipping/rules/simulation.html", version=version, sim=simulation,
                           days=routing_rules.SIMULATION_DAYS)
