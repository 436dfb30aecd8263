"""API token screens for admins: list, create (the plaintext is shown once), revoke."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from erp.core.i18n import _, _l
from erp.core.permissions import permission_required
from erp.core.viewhelpers import get_or_404
from erp.extensions import db
from erp.orders import services
from erp.orders.models import ApiToken
from erp.orders.views import bp


class TokenForm(FlaskForm):
    """The name of a new token, e.g. the storefront it is for."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])


@bp.get("/api-tokens")
@permission_required("orders.manage_tokens")
def token_list():
    """List the API tokens, active and revoked, newest first."""
    tokens = db.session.scalars(select(ApiToken).order_by(ApiToken.id.desc())).all()
    return render_template("orders/token_list.html", tokens=tokens, form=TokenForm())


@bp.post("/api-tokens")
@permission_required("orders.manage_tokens")
def create_token():
    """Create a token and show its plaintext this once."""
    form = TokenForm()
    if not form.validate_on_submit():
        tokens = db.session.scalars(select(ApiToken).order_by(ApiToken.id.desc())).all()
        return render_template("orders/token_list.html", tokens=tokens, form=form), 422
    token, plaintext = services.create_api_token(form.name.data, actor=current_user)
    db.session.commit()
    return render_template("orders/token_created.html", token=token, plaintext=plaintext)


@bp.post("/api-tokens/<int:token_id>/revoke")
@permission_required("orders.manage_tokens")
def revoke_token(token_id: int):
    """Revoke a token: the storefront's requests with it are refused from now on."""
    token = get_or_404(ApiToken, token_id)
    if not token.active:
        abort(409)
    services.revoke_api_token(token, actor=current_user)
    db.session.commit()
    flash(_('API token "%(name)s" revoked.', name=token.name), "success")
    return redirect(url_for(".token_list"))
