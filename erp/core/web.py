"""Request-level wiring: sign-in enforcement, error pages, template helpers."""

from __future__ import annotations

import contextlib
import logging
import math
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Flask,
    flash,
    g,
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
from markupsafe import Markup, escape

from erp.core import audit, permissions, sessions, twofactor
from erp.core.errors import DomainError
from erp.core.i18n import _, _l, ngettext
from erp.core.models import User
from erp.extensions import db, login_manager

log = logging.getLogger(__name__)

#: navigation entries: (label, endpoint, permission); a user sees those they may open. The
#: labels are lazy strings, shown in the reader's language.
NAV: list[tuple[Any, str, str]] = [
    (_l("Home"), "core.home", "core.dashboard"),
    (_l("Brands"), "brands.brand_list", "brands.view"),
    (_l("SKUs"), "catalog.sku_list", "catalog.view"),
    (_l("Products"), "catalog.product_list", "catalog.view"),
    (_l("Categories"), "catalog.category_list", "catalog.view"),
    (_l("Customs review"), "catalog.customs_review", "catalog.view"),
    (_l("Stock"), "warehouse.stock_list", "warehouse.view"),
    (_l("Moves"), "warehouse.move_list", "warehouse.view"),
    (_l("Transfer"), "warehouse.transfer_stock", "warehouse.move"),
    (_l("Warehouse transfers"), "warehouse.transfer_order_list", "warehouse.view"),
    (_l("Put-away"), "warehouse.put_away_stock", "warehouse.move"),
    (_l("Counts"), "warehouse.cycle_count_list", "warehouse.view"),
    (_l("Bins"), "warehouse.warehouse_list", "warehouse.manage"),
    (_l("Warehouse routes"), "warehouse.route_list", "warehouse.routes"),
    (_l("Suppliers"), "procurement.supplier_list", "procurement.view"),
    (_l("Purchase orders"), "procurement.purchase_order_list", "procurement.view"),
    (_l("Receiving"), "procurement.receiving_start", "procurement.receive"),
    (_l("Replenishment"), "procurement.replenishment_list", "procurement.view"),
    (_l("Landed costs"), "procurement.landed_cost_list", "procurement.view"),
    (_l("Supplier returns"), "procurement.supplier_return_list", "procurement.view"),
    (_l("Claims on suppliers"), "procurement.supplier_claim_list", "procurement.view"),
    (_l("Inspection"), "quality.inspection_list", "quality.view"),
    (_l("Switching"), "quality.switching_list", "quality.view"),
    (_l("Production orders"), "production.production_order_list", "production.view"),
    (_l("Production board"), "production.board", "production.view"),
    (_l("Made-to-order products"), "production.product_list", "production.view"),
    (_l("Orders"), "orders.order_list", "orders.view"),
    (_l("Day board"), "shipping.board", "shipping.view"),
    (_l("Pick waves"), "shipping.wave_list", "shipping.view"),
    (_l("Packing"), "shipping.packing_station", "shipping.work"),
    (_l("Parcels"), "shipping.parcel_list", "shipping.view"),
    (_l("Dispatch"), "shipping.batch_list", "shipping.view"),
    (_l("Customs months"), "customs.month_list", "customs.view"),
    (_l("Tracking exceptions"), "shipping.exception_queue", "shipping.exceptions"),
    (_l("Carriers"), "shipping.carrier_list", "shipping.view"),
    (_l("Carrier bills"), "shipping.bill_list", "shipping.bills"),
    (_l("Shipping rules"), "shipping.rule_version_list", "shipping.view"),
    (_l("Cases"), "aftersales.case_list", "aftersales.view"),
    (_l("Returns receiving"), "aftersales.returns_start", "aftersales.receive"),
    (_l("Refunds"), "aftersales.refund_list", "aftersales.view"),
    (_l("Return rates"), "aftersales.return_report", "aftersales.report"),
    (_l("Reason codes"), "aftersales.reason_list", "aftersales.view"),
    (_l("Dashboard"), "reports.dashboard", "reports.view"),
    (_l("Margin"), "reports.margin", "reports.view"),
    (_l("Excel reports"), "reports.report_list", "reports.view"),
    (_l("My jobs"), "reports.job_list", "core.own_jobs"),
]
ADMIN_NAV: list[tuple[Any, str, str]] = [
    (_l("Users"), "core.user_list", "core.manage_users"),
    (_l("Audit log"), "core.audit_list", "core.view_audit"),
    (_l("Settings"), "core.settings_page", "core.view_settings"),
    (_l("Exchange rates"), "core.exchange_rate_list", "core.view_settings"),
    (_l("API tokens"), "orders.token_list", "orders.manage_tokens"),
    (_l("Webhooks"), "core.webhook_list", "webhooks.manage"),
    (_l("Personal data"), "privacy.subject_page", "privacy.export"),
]


#: menu names of the blueprints, in the order the menus appear
NAV_GROUPS = {"brands": _l("Catalog"), "catalog": _l("Catalog"), "warehouse": _l("Warehouse"),
              "procurement": _l("Purchasing"), "quality": _l("Purchasing"),
              "production": _l("Production"), "shipping": _l("Shipping"),
              "customs": _l("Shipping"),
              "aftersales": _l("After-sales"), "reports": _l("Reports")}


def nav_groups(main: list[tuple[str, str, str]], admin: list[tuple[str, str, str]]
               ) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """Group the entries a user may open into menus: ``[(menu, [(label, endpoint, url)])]``.

    A menu of one entry is shown as a plain link (its menu name is then ``""``).
    """
    groups: dict[str, list[tuple[str, str, str]]] = {}
    for label, endpoint, url in main:
        menu = str(NAV_GROUPS.get(endpoint.split(".")[0], ""))
        groups.setdefault(menu or str(label), []).append((str(label), endpoint, url))
    if admin:
        groups[_("Admin")] = [(str(label), endpoint, url) for label, endpoint, url in admin]
    return [(menu if len(items) > 1 else "", items) for menu, items in groups.items()]


def _nav_entries(entries, perms: frozenset[str]) -> list[tuple[Any, str, str]]:
    return [(label, endpoint, url_for(endpoint)) for label, endpoint, perm in entries
            if perm in perms]


def navigation(app: Flask) -> tuple[tuple, list[tuple[str, list[tuple[str, str, str]]]]]:
    """Return ``(key, menus)``: the signed-in user's menus (:func:`nav_groups`), kept per key.

    The menus depend only on the user's permissions (their roles, read from the database by
    this request's session load), the request's language and the script root its links start
    with: the key holds all three, so a change of roles or language gives another key at the
    very next request, in every worker. The number of keys is bounded (role sets × languages).
    """
    from erp.core.i18n import current_language
    perms = permissions.permissions_of(current_user)
    key = (perms, current_language(), request.script_root)
    cache = app.extensions.setdefault("erp_nav", {})
    menus = cache.get(key)
    if menus is None:
        menus = cache[key] = nav_groups(_nav_entries(NAV, perms), _nav_entries(ADMIN_NAV, perms))
    return key, menus


def main_menus(app: Flask) -> Markup:
    """Return the HTML of the signed-in user's menus (``core/_menus.html``), kept per app.

    Besides the menus (:func:`navigation`), the HTML depends only on which links the request's
    path opens (equal to it, or a folder of it): that is the rest of the key.
    """
    key, menus = navigation(app)
    path = request.path
    opened = tuple((url, path == url, path.startswith(url + "/"))
                   for _menu, items in menus for _label, _endpoint, url in items
                   if path == url or path.startswith(url + "/"))
    cache = app.extensions.setdefault("erp_menus_html", {})
    html = cache.get((key, opened))
    if html is None:
        html = cache[(key, opened)] = Markup(
            app.jinja_env.get_template("core/_menus.html").render(nav_groups=menus))
    return html


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    """Return the user of the cookie's server-side session, or None when it is not valid.

    One query loads the session row, its user and the settings the request needs
    (:func:`erp.core.sessions.load`); why an invalid session ended is kept for the message.
    """
    loaded = sessions.load(session.get(sessions.TOKEN_KEY), user_id)
    g.erp_session = loaded
    if loaded.stored:
        request.environ[sessions.ENVIRON_KEY] = loaded.stored
    return loaded.user if loaded.valid else None


#: the pages a user whose role requires a second factor may open before enrolling
TWO_FACTOR_OPEN = frozenset({"core.two_factor_enrol", "core.two_factor_page", "core.logout",
                             "core.set_language"})


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


def _english(text) -> str:
    """Return a lazy string's English (JSON answers are read by programs, not staff)."""
    from flask_babel import force_locale
    with force_locale("en"):
        return str(text)


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def error_page(code: int, title: str, message: str) -> str:
    """Render the error page; a plain one when the page itself cannot be rendered.

    The layout reads the signed-in user (menus, language), which needs the database: when the
    database is what failed (PostgreSQL restarting), rendering the usual page would fail too and
    turn a 503 into a 500. The plain page needs nothing.
    """
    try:
        return render_template("errors/error.html", code=code, title=title, message=message)
    except Exception:  # noqa: BLE001 - the error page must always answer
        log.warning("Error page %s rendered plain: the layout failed", code, exc_info=True)
        with contextlib.suppress(Exception):
            db.session.rollback()
        return (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{escape(title)}"
                f"</title></head><body><h1>{escape(title)}</h1><p>{escape(message)}</p>"
                f"</body></html>")


def init_app(app: Flask) -> None:
    """Attach login enforcement, error handlers and template helpers to ``app``."""
    login_manager.login_view = "core.login"
    login_manager.login_message = _l("Please sign in to open that page.")
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"
    if not app.config.get("ERP_TWO_FACTOR_REQUIRED", True) and not app.config.get("TESTING"):
        app.logger.warning("ERP_TWO_FACTOR_REQUIRED is off: the roles of setting "
                           "two_factor_roles may work without a second factor. Turn it on "
                           "outside test and benchmark servers.")

    @app.before_request
    def _require_login():
        if "_login_user" not in g:
            g.pop("erp_session", None)  # an app context shared by requests (tests) keeps g
        view = app.view_functions.get(request.endpoint) if request.endpoint else None
        if request.endpoint == "static" or getattr(view, "public", False):
            return None
        if getattr(view, "api", False):
            return None  # bearer-token views check their token themselves, never the session
        if not current_user.is_authenticated:
            ended = g.get("erp_session")
            if ended is not None and ended.end_reason not in (None, "missing"):
                # its session was ended (elsewhere, by an admin, or by age): say why, once
                session.clear()
                flash(sessions.end_reason_message(ended.end_reason), "info")
                return redirect(url_for("core.login"))
            if view is None:
                return None  # 404/405 for unknown routes, never a login loop
            return login_manager.unauthorized()
        # Session expiry after inactivity (PERMANENT_SESSION_LIFETIME).
        now = datetime.now(UTC).timestamp()
        last = session.get("last_seen")
        if last and now - last > app.permanent_session_lifetime.total_seconds():
            logout_user()
            session.clear()
            flash(_("Your session expired after inactivity. Please sign in again."), "info")
            return redirect(url_for("core.login", next=request.full_path))
        session.permanent = True
        session["last_seen"] = now
        loaded = g.get("erp_session")
        if loaded is not None and loaded.row is not None:
            sessions.touch(loaded.row)
        if current_user.must_change_password and request.endpoint not in (
                "core.change_password", "core.logout"):
            flash(_("Please choose a new password before you go on."), "warning")
            return redirect(url_for("core.change_password"))
        if not current_user.totp_enabled and request.endpoint not in TWO_FACTOR_OPEN \
                and loaded is not None \
                and twofactor.required_for(current_user, loaded.two_factor_roles):
            flash(_("Your role requires two-factor sign-in: set up an authenticator app before "
                    "you go on."), "warning")
            return redirect(url_for("core.two_factor_enrol"))
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
        return render_template("errors/error.html", code=400, title=_("Form expired"),
                               message=_("The form was missing its security token or it has "
                                         "expired. Go back, reload the page and try again.")), 400

    def _page(code: int, title, message):
        """Return an error handler showing ``title`` and ``message`` (lazy strings)."""
        def handler(err):
            if code == 500:
                db.session.rollback()
            if _wants_json():
                # the storefront's API answers in English, whatever the caller's language
                return jsonify(error=_english(title)), code
            return error_page(code, str(title), str(message)), code
        return handler

    megabytes = app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024)
    app.register_error_handler(403, _page(
        403, _l("Not allowed"),
        _l("Your roles do not allow this page. Ask an admin if you need it.")))
    app.register_error_handler(404, _page(404, _l("Not found"),
                                          _l("There is nothing at this address.")))
    app.register_error_handler(405, _page(405, _l("Not allowed"),
                                          _l("This method is not allowed here.")))
    app.register_error_handler(413, _page(
        413, _l("File too large"),
        _l("Uploads are limited to %(mb)s MB. Split the file and try again.", mb=megabytes)))
    @app.errorhandler(429)
    def _too_many_requests(err):
        # e.g. POST /login over ERP_LOGIN_RATE_LIMIT (the API answers its own 429 in JSON)
        from erp.extensions import limiter
        breached = limiter.current_limit
        wait = max(1, math.ceil(breached.window[0] - time.time())) if breached else 60
        if _wants_json():
            response = jsonify(error=f"Too many requests from your address. Wait {wait} "
                                     f"second{'' if wait == 1 else 's'}, then try again.")
        else:
            message = ngettext("Too many requests from your address. Wait %(num)d second, "
                               "then try again.",
                               "Too many requests from your address. Wait %(num)d seconds, "
                               "then try again.", wait)
            response = make_response(render_template(
                "errors/error.html", code=429, title=_("Too many requests"), message=message))
        response.status_code = 429
        response.headers["Retry-After"] = str(wait)
        return response

    app.register_error_handler(500, _page(
        500, _l("Something went wrong"),
        _l("The error was logged and nothing was saved. Try again.")))

    @app.context_processor
    def _helpers():
        def can(permission: str) -> bool:
            return permissions.has_permission(current_user, permission)

        return {"can": can, "main_menus": lambda: main_menus(app)}

    # Globals (not context variables) so imported macros such as pagination() see them.
    app.jinja_env.globals["url_with"] = url_with
    audit.init_app(app)  # describe_event() and event_details() for history tables
    # the money, number, date and dt filters are erp.core.i18n's (locale-aware)
