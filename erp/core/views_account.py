"""Account screens of the core blueprint: the sign-in code step, two-factor set-up, sessions.

Registered on :data:`erp.core.views.bp` (imported at the end of that module).
"""

from __future__ import annotations

import time

from flask import current_app, flash, g, redirect, render_template, request, session, url_for
from flask_limiter.util import get_remote_address
from flask_login import current_user

from erp.core import sessions, twofactor
from erp.core.errors import DomainError
from erp.core.forms import CodeForm, ConfirmForm
from erp.core.i18n import _, ngettext
from erp.core.models import User, UserSession
from erp.core.permissions import permission_required, public
from erp.core.viewhelpers import form_errors, get_or_404
from erp.core.views import CODE_STEP_SECONDS, PENDING_KEY, bp, sign_in
from erp.core.web import is_safe_next
from erp.extensions import db, limiter

#: the key of Flask's session holding a secret being enrolled (not stored until confirmed)
ENROL_KEY = "erp_totp_pending"


def _address() -> str:
    return request.remote_addr or "unknown"


def _current_session_id() -> int | None:
    loaded = g.get("erp_session")
    return loaded.row.id if loaded is not None and loaded.row is not None else None


@bp.route("/login/code", methods=["GET", "POST"])
@public
@limiter.limit(lambda: current_app.config["ERP_LOGIN_RATE_LIMIT"], methods=["POST"],
               key_func=get_remote_address, scope="login_code")
def login_code():
    """Second sign-in step: a code from the authenticator app, or a recovery code.

    A wrong code is a failed sign-in attempt (the same throttle and lock-out as passwords).
    """
    if current_user.is_authenticated:
        return redirect(url_for("core.home"))
    pending = session.get(PENDING_KEY) or {}
    user = db.session.get(User, pending["uid"]) if pending.get("uid") else None
    if user is None or pending.get("until", 0) < time.time() or not user.active \
            or not user.totp_enabled:
        session.pop(PENDING_KEY, None)
        flash(ngettext("Sign in again: the code must follow the password within %(num)d "
                       "minute.", "Sign in again: the code must follow the password within "
                       "%(num)d minutes.", CODE_STEP_SECONDS // 60), "info")
        return redirect(url_for("core.login"))
    form = CodeForm()
    if form.validate_on_submit():
        try:
            kind = twofactor.verify_sign_in_code(user, form.code.data, address=_address())
        except DomainError as err:
            db.session.commit()  # keep the record of the failed attempt
            flash(str(err), "error")
            return render_template("core/login_code.html", form=form), \
                err.status_code if err.status_code == 429 else 200
        target = pending.get("next")
        sign_in(user)
        if kind == "recovery":
            left = twofactor.recovery_codes_left(user)
            flash(ngettext("You signed in with a recovery code; %(num)d is left. Make new ones "
                           "under Two-factor sign-in if you run short.",
                           "You signed in with a recovery code; %(num)d are left. Make new "
                           "ones under Two-factor sign-in if you run short.", left), "warning")
        return redirect(target if is_safe_next(target) else url_for("core.home"))
    return render_template("core/login_code.html", form=form)


@bp.get("/account/two-factor")
@permission_required("core.own_account")
def two_factor_page():
    """Show one's two-factor sign-in: on or off, recovery codes left, and what can be done."""
    return render_template(
        "core/two_factor.html", form=CodeForm(),
        required=twofactor.required_for(current_user),
        codes_left=twofactor.recovery_codes_left(current_user)
        if current_user.totp_enabled else 0)


@bp.route("/account/two-factor/enrol", methods=["GET", "POST"])
@permission_required("core.own_account")
def two_factor_enrol():
    """Set up an authenticator app: scan the QR code, confirm a code, note the recovery codes."""
    if current_user.totp_enabled:
        return redirect(url_for("core.two_factor_page"))
    secret = session.get(ENROL_KEY)
    if not secret:
        secret = session[ENROL_KEY] = twofactor.new_secret()
    form = CodeForm()
    if form.validate_on_submit():
        try:
            codes = twofactor.confirm_enrolment(current_user, secret, form.code.data)
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            session.pop(ENROL_KEY, None)
            flash(_("Two-factor sign-in is on. From now on you sign in with your password and "
                    "a code from the app."), "success")
            return render_template("core/two_factor_codes.html", codes=codes)
    uri = twofactor.provisioning_uri(current_user, secret)
    return render_template("core/two_factor_enrol.html", form=form,
                           qr=twofactor.qr_data_uri(uri),
                           key=" ".join(secret[i:i + 4] for i in range(0, len(secret), 4)))


@bp.post("/account/two-factor/recovery-codes")
@permission_required("core.own_account")
def regenerate_recovery_codes():
    """Replace one's recovery codes (proven with a current authenticator code)."""
    form = CodeForm()
    if form.validate_on_submit():
        try:
            codes = twofactor.regenerate_recovery_codes(current_user, form.code.data,
                                                        address=_address())
        except DomainError as err:
            db.session.commit()  # a wrong code is a failed attempt, kept
            flash(str(err), "error")
        else:
            db.session.commit()
            flash(_("New recovery codes made; the old ones no longer work."), "success")
            return render_template("core/two_factor_codes.html", codes=codes)
    else:
        flash(_("Enter the current code from your authenticator app."), "error")
    return redirect(url_for("core.two_factor_page"))


@bp.post("/account/two-factor/disable")
@permission_required("core.own_account")
def disable_two_factor():
    """Turn one's own two-factor sign-in off (when no role requires it; needs a code)."""
    form = CodeForm()
    if form.validate_on_submit():
        try:
            twofactor.disable_two_factor(current_user, form.code.data, address=_address())
        except DomainError as err:
            db.session.commit()  # a wrong code is a failed attempt, kept
            flash(str(err), "error")
        else:
            db.session.commit()
            flash(_("Two-factor sign-in is off."), "success")
    else:
        flash(_("Enter the current code from your authenticator app."), "error")
    return redirect(url_for("core.two_factor_page"))


@bp.get("/account/sessions")
@permission_required("core.own_account")
def session_list():
    """List one's active sessions (this one marked), to end one or all the others."""
    return render_template("core/session_list.html",
                           rows=sessions.active_sessions(current_user),
                           current_id=_current_session_id(), confirm=ConfirmForm())


@bp.post("/account/sessions/<int:session_id>/end")
@permission_required("core.own_account")
def end_session(session_id: int):
    """End one of one's own sessions (that browser is signed out at its next request)."""
    if not ConfirmForm().validate_on_submit():
        flash(_("The form has expired. Try again."), "error")
        return redirect(url_for("core.session_list"))
    row = get_or_404(UserSession, session_id)
    sessions.end_session(row, actor=current_user)
    db.session.commit()
    if row.id == _current_session_id():
        return redirect(url_for("core.login"))
    flash(_("The session was ended."), "success")
    return redirect(url_for("core.session_list"))


@bp.post("/account/sessions/end-others")
@permission_required("core.own_account")
def end_other_sessions():
    """End all of one's sessions but this one."""
    if not ConfirmForm().validate_on_submit():
        flash(_("The form has expired. Try again."), "error")
        return redirect(url_for("core.session_list"))
    count = sessions.end_sessions(current_user, except_id=_current_session_id(),
                                  reason="ended_by_user", actor=current_user)
    db.session.commit()
    flash(ngettext("%(num)d other session ended.", "%(num)d other sessions ended.", count),
          "success")
    return redirect(url_for("core.session_list"))


@bp.post("/admin/users/<int:user_id>/two-factor/reset")
@permission_required("core.manage_users")
def reset_user_two_factor(user_id: int):
    """Remove a user's second factor (a lost phone); their sessions end."""
    user = get_or_404(User, user_id)
    if not ConfirmForm().validate_on_submit():
        flash(_("The form has expired. Try again."), "error")
        return redirect(url_for("core.user_list"))
    twofactor.reset_two_factor(user, actor=current_user)
    db.session.commit()
    flash(_("Second factor of %(username)s reset; their sessions were ended.",
            username=user.username), "success")
    return redirect(url_for("core.user_list"))
