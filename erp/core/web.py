"""Request-level wiring: sign-in enforcement, error pages, template helpers."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from urllib.parse import urlsplit

from flask import (
    Flask,
    flash,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, logout_user
from flask_wtf.csrf import CSRFError

from erp.core import permissions
from erp.core.errors import DomainError
from erp.core.models import User
from erp.core.money import format_money
from erp.extensions import db, login_manager

#: navigation entries: (label, endpoint, permission); a user sees those they may open
NAV: list[tuple[str, str, str]] = [
    ("Home", "core.home", "core.dashboard"),
    ("Brands", "brands.brand_list", "brands.view"),
    ("SKUs", "catalog.sku_list", "catalog.view"),
    ("Products", "catalog.product_list", "catalog.view"),
    ("Categories", "catalog.category_list", "catalog.view"),
    ("Stock", "warehouse.stock_list", "warehouse.view"),
    ("Moves", "warehouse.move_list", "warehouse.view"),
    ("Transfer", "warehouse.transfer_stock", "warehouse.move"),
    ("Put-away", "warehouse.put_away_stock", "warehouse.move"),
    ("Counts", "warehouse.cycle_count_list", "warehouse.view"),
    ("Bins", "warehouse.warehouse_list", "warehouse.manage"),
    ("Suppliers", "procurement.supplier_list", "procurement.view"),
    ("Purchase orders", "procurement.purchase_order_list", "procurement.view"),
    ("Receiving", "procurement.receiving_start", "procurement.receive"),
    ("Replenishment", "procurement.replenishment_list", "procurement.view"),
    ("Orders", "orders.order_list", "orders.view"),
    ("Day board", "shipping.board", "shipping.view"),
    ("Pick waves", "shipping.wave_list", "shipping.view"),
    ("Packing", "shipping.packing_station", "shipping.work"),
    ("Parcels", "shipping.parcel_list", "shipping.view"),
    ("Dispatch", "shipping.batch_list", "shipping.view"),
    ("Carriers", "shipping.carrier_list", "shipping.view"),
    ("Cases", "aftersales.case_list", "aftersales.view"),
    ("Returns receiving", "aftersales.returns_start", "aftersales.receive"),
    ("Refunds", "aftersales.refund_list", "aftersales.view"),
    ("Return rates", "aftersales.return_report", "aftersales.report"),
    ("Reason codes", "aftersales.reason_list", "aftersales.view"),
    ("Dashboard", "reports.dashboard", "reports.view"),
    ("Excel reports", "reports.report_list", "reports.view"),
    ("My jobs", "reports.job_list", "core.own_jobs"),
]
ADMIN_NAV: list[tuple[str, str, str]] = [
    ("Users", "core.user_list", "core.manage_users"),
    ("Audit log", "core.audit_list", "core.view_audit"),
    ("Settings", "core.settings_page", "core.view_settings"),
    ("Exchange rates", "core.exchange_rate_list", "core.view_settings"),
    ("API tokens", "orders.token_list", "orders.manage_tokens"),
    ("Personal data", "privacy.subject_page", "privacy.export"),
]


#: menu names of the blueprints, in the order the menus appear
NAV_GROUPS = {"brands": "Catalog", "catalog": "Catalog", "warehouse": "Warehouse",
              "procurement": "Purchasing", "shipping": "Shipping",
              "aftersales": "After-sales", "reports": "Reports"}


def nav_groups(main: list[tuple[str, str, str]], admin: list[tuple[str, str, str]]
               ) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """Group the entries a user may open into menus: ``[(menu, [(label, endpoint, url)])]``.

    A menu of one entry is shown as a plain link (its menu name is then ``""``).
    """
    groups: dict[str, list[tuple[str, str, str]]] = {}
    for label, endpoint, url in main:
        menu = NAV_GROUPS.get(endpoint.split(".")[0], "")
        groups.setdefault(menu or label, []).append((label, endpoint, url))
    if admin:
        groups["Admin"] = admin
    return [(menu if len(items) > 1 else "", items) for menu, items in groups.items()]


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    user = db.session.get(User, int(user_id)) if user_id.isdigit() else None
    return user if user is not None and user.active else None


def is_safe_next(target: str | None) -> bool:
    """Return whether ``target`` is a same-site path to redirect to after sign-in."""
    if not target:
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc and target.startswith("/") \
        and not target.startswith("//")


def url_with(endpoint: str | None = None, **changes) -> str:
    """Return the current URL (or ``endpoint``'s) with query arguments replaced by ``changes``."""
    args = request.args.to_dict()
    args.update({k: v for k, v in changes.items()})
    args = {k: v for k, v in args.items() if v not in (None, "")}
    return url_for(endpoint or request.endpoint, **(request.view_args or {}), **args)


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def init_app(app: Flask) -> None:
    """Attach login enforcement, error handlers and template helpers to ``app``."""
    login_manager.login_view = "core.login"
    login_manager.login_message = "Please sign in to open that page."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"

    @app.before_request
    def _require_login():
        view = app.view_functions.get(request.endpoint) if request.endpoint else None
        if request.endpoint == "static" or getattr(view, "public", False):
            return None
        if getattr(view, "api", False):
            return None  # bearer-token views check their token themselves, never the session
        if not current_user.is_authenticated:
            if view is None:
                return None  # 404/405 for unknown routes, never a login loop
            return login_manager.unauthorized()
        # Session expiry after inactivity (PERMANENT_SESSION_LIFETIME).
        now = datetime.now(UTC).timestamp()
        last = session.get("last_seen")
        if last and now - last > app.permanent_session_lifetime.total_seconds():
            logout_user()
            session.clear()
            flash("Your session expired after inactivity. Please sign in again.", "info")
            return redirect(url_for("core.login", next=request.full_path))
        session.permanent = True
        session["last_seen"] = now
        if current_user.must_change_password and request.endpoint not in (
                "core.change_password", "core.logout"):
            flash("Please choose a new password before you go on.", "warning")
            return redirect(url_for("core.change_password"))
        return None

    @app.after_request
    def _security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'")
        if app.config.get("SESSION_COOKIE_SECURE"):  # ERP_SECURE_COOKIES: served over HTTPS
            response.headers.setdefault("Strict-Transport-Security",
                                        "max-age=31536000; includeSubDomains")
        if request.endpoint != "static":
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.errorhandler(DomainError)
    def _domain_error(err: DomainError):
        db.session.rollback()
        if _wants_json():
            return jsonify(error=str(err), field=err.field), err.status_code
        flash(str(err), "error")
        back = request.referrer if is_safe_next(urlsplit(request.referrer or "").path) else None
        if request.method == "GET" or not back:
            return render_template("errors/domain.html", message=str(err)), err.status_code
        return redirect(back)

    @app.errorhandler(CSRFError)
    def _csrf_error(err):
        return render_template("errors/error.html", code=400, title="Form expired",
                               message="The form was missing its security token or it has "
                                       "expired. Go back, reload the page and try again."), 400

    def _page(code: int, title: str, message: str):
        def handler(err):
            if code == 500:
                db.session.rollback()
            if _wants_json():
                return jsonify(error=title), code
            return render_template("errors/error.html", code=code, title=title,
                                   message=message), code
        return handler

    app.register_error_handler(403, _page(
        403, "Not allowed", "Your roles do not allow this page. Ask an admin if you need it."))
    app.register_error_handler(404, _page(404, "Not found", "There is nothing at this address."))
    app.register_error_handler(405, _page(405, "Not allowed", "This method is not allowed here."))
    app.register_error_handler(413, _page(
        413, "File too large",
        f"Uploads are limited to {app.config['MAX_CONTENT_LENGTH'] // (1024 * 1024)} MB. "
        "Split the file and try again."))
    @app.errorhandler(429)
    def _too_many_requests(err):
        # e.g. POST /login over ERP_LOGIN_RATE_LIMIT (the API answers its own 429 in JSON)
        from erp.extensions import limiter
        breached = limiter.current_limit
        wait = max(1, math.ceil(breached.window[0] - time.time())) if breached else 60
        message = (f"Too many requests from your address. Wait {wait} seconds, "
                   "then try again.")
        if _wants_json():
            response = jsonify(error=message)
        else:
            response = make_response(render_template(
                "errors/error.html", code=429, title="Too many requests", message=message))
        response.status_code = 429
        response.headers["Retry-After"] = str(wait)
        return response

    app.register_error_handler(500, _page(
        500, "Something went wrong", "The error was logged and nothing was saved. Try again."))

    @app.context_processor
    def _helpers():
        def can(permission: str) -> bool:
            return permissions.has_permission(current_user, permission)

        def nav(entries):
            return [(label, endpoint, url_for(endpoint)) for label, endpoint, perm in entries
                    if can(perm)]

        return {"can": can, "nav_groups": nav_groups(nav(NAV), nav(ADMIN_NAV))}

    # Globals (not context variables) so imported macros such as pagination() see them.
    app.jinja_env.globals["url_with"] = url_with
    app.jinja_env.filters["money"] = format_money
    app.jinja_env.filters["dt"] = (
        lambda v, fmt="%Y-%m-%d %H:%M": v.strftime(fmt) + (" UTC" if "H" in fmt else "")
        if v else "")
