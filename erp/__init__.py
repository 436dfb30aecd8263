"""erp: back office of a self-operated cross-border B2C retailer."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping

from flask import Flask

from erp.config import Config, validate
from erp.core.transactions import RetryingFlask


def _instance_secret(app: Flask) -> str:
    """Return a secret key kept in ``instance/secret_key`` (created once) for development."""
    path = os.path.join(app.instance_path, "secret_key")
    if not os.path.exists(path):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
    with open(path) as fh:
        return fh.read().strip()


def create_app(config: Mapping | None = None) -> Flask:
    """Create the application: settings from ``ERP_*`` variables, then ``config`` overrides.

    :raises erp.config.ConfigError: if the resulting settings cannot work.
    """
    app = RetryingFlask(__name__, instance_relative_config=True,
                template_folder="../templates", static_folder="../static")
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.update(Config.from_env().as_flask())
    app.config.update(
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_HTTPONLY=True,
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},
        ERP_PAGE_SIZE=50,
    )
    if config:
        app.config.update(config)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        app.config["SQLALCHEMY_DATABASE_URI"] = (
            "sqlite:///" + os.path.join(app.instance_path, "erp.sqlite3"))
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _instance_secret(app)
    validate(app.config)
    if str(app.config.get("RATELIMIT_STORAGE_URI") or "").startswith(("redis", "valkey")):
        # a Redis that stopped answering costs a request at most a second, and the limiter
        # then counts in memory until it is back (see erp.extensions.limiter)
        app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", {"socket_connect_timeout": 0.5,
                                                            "socket_timeout": 1})
    if app.config.get("ERP_PROXY_HOPS"):
        # trust X-Forwarded-For/-Proto/-Host/-Port from that many proxies in front (only then)
        from werkzeug.middleware.proxy_fix import ProxyFix
        hops = app.config["ERP_PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops,
                                x_port=hops)
    from erp.core import requestlog
    requestlog.init_app(app)  # first, so every request (even a refused one) gets its id

    from erp.extensions import csrf, db, limiter, login_manager, migrate
    db.init_app(app)
    from erp.core import transactions
    transactions.init_app(app)  # SQLite's synchronous level (ERP_SQLITE_SYNCHRONOUS)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(__file__), "..",
                                                     "migrations"))
    csrf.init_app(app)
    login_manager.init_app(app)
    limiter.init_app(app)  # limits only where a view declares one (the API, POST /login)

    # Every domain's models, in DESIGN's order, so the metadata (and migrations) see them all.
    import erp.aftersales.models  # noqa: F401
    import erp.brands.models  # noqa: F401
    import erp.catalog.models  # noqa: F401
    import erp.core.models  # noqa: F401
    import erp.customs.models  # noqa: F401
    import erp.orders.models  # noqa: F401
    import erp.procurement.models  # noqa: F401
    import erp.production.models  # noqa: F401
    import erp.quality.models  # noqa: F401
    import erp.shipping.models  # noqa: F401
    import erp.warehouse.models  # noqa: F401
    from erp.core import i18n, submissions, web
    web.init_app(app)
    i18n.init_app(app)  # after web: its locale filters replace web's English-only ones
    submissions.init_app(app)  # after web: the sign-in check runs before a key is claimed

    from erp.core import views as core_views
    app.register_blueprint(core_views.bp)
    from erp.brands import views as brand_views
    app.register_blueprint(brand_views.bp, url_prefix="/brands")
    from erp.catalog import views as catalog_views
    app.register_blueprint(catalog_views.bp, url_prefix="/catalog")
    from erp.warehouse import views as warehouse_views
    app.register_blueprint(warehouse_views.bp, url_prefix="/warehouse")
    from erp.procurement import views as procurement_views
    app.register_blueprint(procurement_views.bp, url_prefix="/procurement")
    from erp.quality import views as quality_views
    app.register_blueprint(quality_views.bp, url_prefix="/quality")
    from erp.orders import views as order_views
    app.register_blueprint(order_views.bp, url_prefix="/orders")
    from erp.shipping import views as shipping_views
    app.register_blueprint(shipping_views.bp, url_prefix="/shipping")
    from erp.production import views as production_views
    app.register_blueprint(production_views.bp, url_prefix="/production")
    from erp.customs import views as customs_views
    app.register_blueprint(customs_views.bp, url_prefix="/customs")
    from erp.aftersales import views as aftersales_views
    app.register_blueprint(aftersales_views.bp, url_prefix="/aftersales")
    from erp.reports import views as report_views
    app.register_blueprint(report_views.bp, url_prefix="/reports")
    from erp.privacy import views as privacy_views
    app.register_blueprint(privacy_views.bp, url_prefix="/privacy")
    from erp.orders.api import api_bp as orders_api_bp
    csrf.exempt(orders_api_bp)
    app.register_blueprint(orders_api_bp, url_prefix="/api/v1")
    from erp.shipping.api import tracking_api_bp
    csrf.exempt(tracking_api_bp)
    app.register_blueprint(tracking_api_bp, url_prefix="/api/v1")

    from erp import cli
    cli.init_app(app)

    from erp.core import auditchain, events
    events.init_app(app)
    auditchain.init_app(app)  # seals the audit rows of each committing transaction
    from erp.core import webhooks
    webhooks.init_app(app)
    if app.config.get("ERP_TICKER") and not app.config.get("TESTING") \
            and os.environ.get("WERKZEUG_RUN_MAIN", "true") == "true":
        from erp.core import periodic
        periodic.start_in_process(app)  # the embedded set-up: no separate `erp ticker`

    return app
