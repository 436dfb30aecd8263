"""Core screens: sign-in, home, own password, users, audit log, settings, exchange rates."""

from __future__ import annotations

import os
import time

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_user, logout_user
from sqlalchemy import select, text

import erp.core.audit_text  # noqa: F401 - registers the audit log's sentences
from erp.core import audit, excel, queries, services, sessions
from erp.core import settings as settings_mod
from erp.core.errors import DomainError, FieldErrors
from erp.core.forms import (
    AuditFilterForm,
    ChangePasswordForm,
    ConfirmForm,
    ExchangeRateForm,
    LoginForm,
    ResetPasswordForm,
    UserForm,
    settings_form,
)
from erp.core.i18n import _, _l, format_date
from erp.core.models import ExchangeRate, Role, User
from erp.core.permissions import permission_required, permissions_of, public
from erp.core.viewhelpers import form_errors, get_or_404, page_arg, xlsx_response
from erp.core.web import is_safe_next
from erp.extensions import db, limiter

bp = Blueprint("core", __name__)


@bp.get("/favicon.ico")
@public
def favicon():
    """Serve the icon browsers ask for at the root, before any page has named it."""
    with open(os.path.join(current_app.static_folder, "favicon.ico"), "rb") as fh:
        icon = fh.read()
    response = current_app.response_class(icon, mimetype="image/vnd.microsoft.icon")
    response.cache_control.max_age = 86400
    return response


@bp.get("/health")
@public
def health():
    """Report whether the app and its database answer (for load balancers; no login)."""
    try:
        db.session.execute(text("SELECT 1"))
        return jsonify(status="ok", database="ok")
    except Exception:  # noqa: BLE001 - any database failure means unhealthy
        db.session.rollback()
        return jsonify(status="error", database="unreachable"), 503


#: the migration heads of each migrations directory, read once per process
_MIGRATION_HEADS: dict[str, tuple[str, ...]] = {}


def _migration_heads() -> tuple[str, ...]:
    from erp.core.dbcheck import script_directory

    key = str(current_app.extensions["migrate"].directory)
    if key not in _MIGRATION_HEADS:
        _MIGRATION_HEADS[key] = tuple(sorted(script_directory().get_heads()))
    return _MIGRATION_HEADS[key]


@bp.get("/ready")
@public
def ready():
    """Report whether this server can take traffic: database answers, migrations at head.

    With ``ERP_REDIS_URL`` set it also says whether Redis answers (within half a second). A
    Redis that does not is reported as ``"status": "degraded"`` with 200: the app serves
    without it (jobs wait in the database, rate limits count in memory).
    """
    from alembic.runtime.migration import MigrationContext

    heads = _migration_heads()
    try:
        with db.engine.connect() as conn:
            conn.execute(select(1))
            current = tuple(sorted(MigrationContext.configure(conn).get_current_heads()))
    except Exception as exc:  # noqa: BLE001 - any database failure means not ready
        current_app.logger.warning("/ready: database unreachable: %s", exc)
        # the exception's type only: its text may name hosts and users
        return jsonify(status="unavailable",
                       reason=f"database unreachable: {type(exc).__name__}"), 503
    if current != heads:
        return jsonify(status="unavailable",
                       reason=f"migrations not at head: current {', '.join(current) or 'none'}, "
                              f"head {', '.join(heads)}"), 503
    from erp.core.jobs import redis_status

    redis = redis_status(timeout=0.5)
    if redis is None:
        return jsonify(status="ready", database="ok", migrations=list(heads))
    if redis != "ok":
        current_app.logger.warning("/ready: Redis unreachable; serving degraded")
    return jsonify(status="ready" if redis == "ok" else "degraded", database="ok",
                   redis=redis, migrations=list(heads))


@bp.route("/login", methods=["GET", "POST"])
@public
@limiter.limit(lambda: current_app.config["ERP_LOGIN_RATE_LIMIT"], methods=["POST"],
               key_func=get_remote_address, scope="login")
def login():
    """Sign in; failed attempts are slowed, then refused for a while.

    Posts are also limited per address (``ERP_LOGIN_RATE_LIMIT``) before the database
    throttle is consulted: a 429 page says when to retry.
    """
    if current_user.is_authenticated:
        return redirect(url_for("core.home"))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = services.authenticate(form.username.data, form.password.data,
                                         address=request.remote_addr or "unknown")
        except DomainError as err:
            db.session.commit()  # keep the record of the failed attempt
            flash(str(err), "error")
            return render_template("core/login.html", form=form), err.status_code \
                if err.status_code == 429 else 200
        target = request.args.get("next")
        if user.totp_enabled:
            # half signed in: the code step (its own page) finishes the sign-in
            db.session.commit()
            session.clear()
            session[PENDING_KEY] = {"uid": user.id, "until": time.time() + CODE_STEP_SECONDS,
                                    "next": target if is_safe_next(target) else None}
            return redirect(url_for("core.login_code"))
        sign_in(user)
        return redirect(target if is_safe_next(target) else url_for("core.home"))
    return render_template("core/login.html", form=form)


#: the key of Flask's session holding a half-finished sign-in (password right, code to come)
PENDING_KEY = "erp_2fa"
#: seconds the code step waits after the password before it must start again
CODE_STEP_SECONDS = 300


def sign_in(user: User) -> None:
    """Sign ``user`` in: a new server-side session, its token in a cleared cookie; commits.

    The cookie is cleared first, so nothing of the anonymous session (a half-finished
    sign-in, a pending enrolment) survives, and the session token is always new at sign-in.
    """
    session.clear()
    _row, token = sessions.start_session(user, address=request.remote_addr,
                                         user_agent=request.user_agent.string)
    db.session.commit()
    login_user(user)
    session[sessions.TOKEN_KEY] = token


@bp.post("/logout")
@permission_required("core.own_account")
def logout():
    """Sign out."""
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    loaded = g.get("erp_session")
    if loaded is not None and loaded.row is not None:
        sessions.sign_out(loaded.row)
        db.session.commit()
    logout_user()
    session.clear()
    flash(_("You are signed out."), "info")
    return redirect(url_for("core.login"))


@bp.get("/")
@permission_required("core.dashboard")
def home():
    """Show the home dashboard for the user's roles."""
    from erp.core import dashboard
    sections, base = dashboard.sections_for(current_user)
    return render_template("core/home.html", sections=sections, base=base,
                           roles=sorted(r.label for r in current_user.roles))


@bp.get("/search")
@permission_required("core.dashboard")
def search():
    """Find a record by its number, code or e-mail: open the one match, or list them by kind."""
    from erp.core import search as finders
    result = finders.search(current_user, request.args.get("find") or "")
    if result.single is not None:
        return redirect(result.single.url)
    return render_template("core/search.html", result=result)


@bp.post("/account/language")
@permission_required("core.own_account")
def set_language():
    """Switch the language the signed-in user works in, then go back to the page."""
    from erp.core.i18n import refresh
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        services.set_language(current_user, request.form.get("language"))
    except DomainError as err:
        db.session.rollback()
        flash(str(err), "error")
    else:
        db.session.commit()
        refresh()  # the message below is already in the new language
        flash(_("Language changed."), "success")
    target = request.form.get("next")
    return redirect(target if is_safe_next(target) else url_for("core.home"))


@bp.route("/account/password", methods=["GET", "POST"])
@permission_required("core.own_account")
def change_password():
    """Change one's own password."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            loaded = g.get("erp_session")
            services.change_own_password(
                current_user, current=form.current_password.data, new=form.new_password.data,
                session_id=loaded.row.id if loaded is not None and loaded.row else None)
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("Your password was changed."), "success")
            return redirect(url_for("core.home"))
    return render_template("core/change_password.html", form=form)


@bp.get("/admin/users")
@permission_required("core.manage_users")
def user_list():
    """List users with search, role and status filters."""
    active = {"yes": True, "no": False}.get(request.args.get("active", ""))
    stmt = queries.user_list_query(request.args.get("q"), request.args.get("role") or None, active)
    page = db.paginate(stmt, page=page_arg(), per_page=current_app.config["ERP_PAGE_SIZE"],
                       error_out=False)
    return render_template("core/user_list.html", page=page, roles=list(Role),
                           confirm=ConfirmForm())


@bp.route("/admin/users/new", methods=["GET", "POST"])
@permission_required("core.manage_users")
def create_user():
    """Create a user with roles and an initial password."""
    form = UserForm()
    if form.validate_on_submit():
        try:
            user = services.create_user(
                username=form.username.data, full_name=form.full_name.data,
                email=form.email.data, roles=form.roles.data, password=form.password.data or "",
                actor=current_user, must_change_password=True)
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("User %(username)s created; they must change the password at first "
                    "sign-in.", username=user.username), "success")
            return redirect(url_for("core.user_list"))
    return render_template("core/user_form.html", form=form, user=None)


@bp.route("/admin/users/<int:user_id>/edit", methods=["GET", "POST"])
@permission_required("core.manage_users")
def edit_user(user_id: int):
    """Edit a user's name, email, roles and active flag."""
    user = get_or_404(User, user_id)
    form = UserForm(obj=user)
    del form.password
    form.username.render_kw = {"readonly": True}
    if request.method == "GET":
        form.roles.data = sorted(r.value for r in user.roles)
    if form.validate_on_submit():
        try:
            services.update_user(user, full_name=form.full_name.data, email=form.email.data,
                                 roles=form.roles.data, active=form.active.data,
                                 actor=current_user)
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("User %(username)s saved.", username=user.username), "success")
            return redirect(url_for("core.user_list"))
    return render_template("core/user_form.html", form=form, user=user)


@bp.post("/admin/users/<int:user_id>/active")
@permission_required("core.manage_users")
def toggle_user_active(user_id: int):
    """Deactivate an active user or reactivate an inactive one."""
    user = get_or_404(User, user_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    services.set_user_active(user, not user.active, actor=current_user)
    db.session.commit()
    flash(_("User %(username)s reactivated.", username=user.username) if user.active
          else _("User %(username)s deactivated.", username=user.username), "success")
    return redirect(url_for("core.user_list"))


@bp.route("/admin/users/<int:user_id>/password", methods=["GET", "POST"])
@permission_required("core.manage_users")
def reset_user_password(user_id: int):
    """Set a temporary password for a user."""
    user = get_or_404(User, user_id)
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            services.reset_password(user, form.new_password.data, actor=current_user)
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("Password of %(username)s reset; they must change it at next sign-in.",
                    username=user.username), "success")
            return redirect(url_for("core.user_list"))
    return render_template("core/reset_password.html", form=form, user=user)


def _audit_filters():
    form = AuditFilterForm(request.args)
    users = db.session.execute(select(User.id, User.username).order_by(User.username)).all()
    form.user_id.choices = [("", _("Anyone"))] + [(str(i), n) for i, n in users]
    types = sorted(((t, audit.noun(t)) for t in db.session.scalars(queries.audit_entity_types())),
                   key=lambda pair: pair[1].casefold())
    form.entity_type.choices = [("", _("Any"))] + types
    form.validate()
    filters = queries.AuditFilters(
        user_id=int(form.user_id.data) if (form.user_id.data or "").isdigit() else None,
        entity_type=form.entity_type.data or None, entity_id=form.entity_id.data or None,
        action=form.action.data or None,
        date_from=form.date_from.data if not form.date_from.errors else None,
        date_to=form.date_to.data if not form.date_to.errors else None)
    return form, filters


@bp.get("/audit")
@permission_required("core.view_audit")
def audit_list():
    """Show the audit log, filterable by user, entity, action and date."""
    form, filters = _audit_filters()
    page = db.paginate(queries.audit_event_query(filters), page=page_arg(),
                       per_page=current_app.config["ERP_PAGE_SIZE"], error_out=False)
    return render_template("core/audit_list.html", form=form, page=page)


AUDIT_COLUMNS = [
    excel.Column("at", _l("When (UTC)"), type="str", width=20),
    excel.Column("actor", _l("User"), width=16),
    excel.Column("action", _l("Action"), width=28),
    excel.Column("entity_type", _l("Entity"), width=18),
    excel.Column("entity_id", _l("Id"), width=10),
    excel.Column("entity_ref", _l("Reference"), width=20),
    excel.Column("changes", _l("Changes"), width=60),
    excel.Column("what", _l("What happened"), width=80),
]


@bp.get("/audit/export.xlsx")
@permission_required("core.view_audit")
def export_audit():
    """Download the filtered audit log as an Excel workbook."""
    import json
    _form, filters = _audit_filters()
    rows = ({"at": e.at.strftime("%Y-%m-%d %H:%M:%S"),
             "actor": e.actor.username if e.actor else _("system"),
             "what": audit.describe(e), "action": e.action,
             "entity_type": e.entity_type, "entity_id": e.entity_id,
             "entity_ref": e.entity_ref or "",
             "changes": json.dumps(e.changes, ensure_ascii=False) if e.changes else ""}
            for e in db.session.scalars(queries.audit_event_query(filters)
                                        .execution_options(yield_per=2000)))
    return xlsx_response(excel.export_workbook(AUDIT_COLUMNS, rows, title=_("Audit log")),
                         "audit-log")


@bp.get("/settings")
@permission_required("core.view_settings")
def settings_page():
    """Show company settings (editable by admins)."""
    values = settings_mod.all_values()
    form = settings_form(settings_mod.SETTINGS,
                         data={k: settings_mod.as_text(v) for k, v in values.items()})
    return render_template("core/settings.html", form=form, values=values,
                           definitions=settings_mod.SETTINGS,
                           editable="core.manage_settings" in permissions_of(current_user))


@bp.post("/settings")
@permission_required("core.manage_settings")
def update_settings():
    """Save company settings; on any bad value show every error next to its field."""
    form = settings_form(settings_mod.SETTINGS)
    values = {name: str(field.data or "") for name, field in form._fields.items()
              if name in settings_mod.SETTINGS}
    if form.validate_on_submit():
        try:
            changes = services.update_settings(values, actor=current_user)
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("Settings saved.") if changes else _("Nothing changed."), "success")
            return redirect(url_for("core.settings_page"))
    else:
        # the form's own checks (a required field left empty) stop before the service, so
        # ask the service about the other fields too: every error shows at once
        _parsed, errors = services.check_settings(
            {name: value for name, value in values.items() if not form[name].errors})
        if errors:
            form_errors(form, FieldErrors("", errors))
    return render_template("core/settings.html", form=form, values=settings_mod.all_values(),
                           definitions=settings_mod.SETTINGS, editable=True), 422


@bp.get("/settings/exchange-rates")
@permission_required("core.view_settings")
def exchange_rate_list():
    """List dated exchange rates against the base currency."""
    stmt = queries.exchange_rate_query(request.args.get("currency"))
    page = db.paginate(stmt, page=page_arg(), per_page=current_app.config["ERP_PAGE_SIZE"],
                       error_out=False)
    return render_template("core/exchange_rate_list.html", page=page, form=ExchangeRateForm(),
                           confirm=ConfirmForm(), base=settings_mod.base_currency(),
                           editable="core.manage_settings" in permissions_of(current_user))


@bp.post("/settings/exchange-rates")
@permission_required("core.manage_settings")
def set_exchange_rate():
    """Create or replace one dated exchange rate."""
    form = ExchangeRateForm()
    if not form.validate_on_submit():
        for field, errors in form.errors.items():
            flash(_("%(field)s: %(errors)s", field=getattr(form, field).label.text,
                    errors="; ".join(str(e) for e in errors)), "error")
        return redirect(url_for("core.exchange_rate_list"))
    row = services.set_exchange_rate(form.currency.data, form.valid_from.data, form.rate.data,
                                     actor=current_user)
    db.session.commit()
    flash(_("Rate for %(currency)s from %(date)s saved.", currency=row.currency,
            date=format_date(row.valid_from)), "success")
    return redirect(url_for("core.exchange_rate_list"))


@bp.post("/settings/exchange-rates/<int:rate_id>/delete")
@permission_required("core.manage_settings")
def delete_exchange_rate(rate_id: int):
    """Delete one dated exchange rate."""
    row = get_or_404(ExchangeRate, rate_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    services.delete_exchange_rate(row, actor=current_user)
    db.session.commit()
    flash(_("Exchange rate deleted."), "success")
    return redirect(url_for("core.exchange_rate_list"))


# the screens that live in modules of their own, on this blueprint: sign-in code, two-factor
# set-up and sessions; webhooks
from erp.core import views_account, webhook_views  # noqa: E402,F401,I001
