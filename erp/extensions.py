"""Flask extensions, created unbound here and bound to the app in :func:`erp.create_app`."""

from flask import Flask, current_app, has_app_context
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Named constraints make Alembic migrations deterministic and let SQLite's batch mode find them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every model."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate(render_as_batch=True, compare_type=True)
login_manager = LoginManager()
csrf = CSRFProtect()


def core_connection():
    """Return the session's connection for a Core statement, after the session's autoflush.

    What the session's own ``execute`` does first (what it holds unwritten is flushed: nothing
    to do when it is clean), without the ORM execution set-up that ``execute`` adds for a
    statement naming mapped columns, which costs more than a one-row statement itself (the
    move_tx and order_intake benchmarks). For statements returning rows, never entities.
    """
    session = db.session
    if session.autoflush:
        session.flush()
    return session.connection()


class AppScopedLimiter(Limiter):
    """A :class:`Limiter` whose switch and counter storage belong to each app it is bound to.

    Flask-Limiter keeps ``enabled`` and its storage on the extension object, so with one
    module-level limiter every ``create_app`` would replace the counters of the apps made
    before it (and an app made with ``RATELIMIT_ENABLED = False``, like the benchmarks', would
    switch limiting off for the others). Here they live in ``app.extensions``: each app (each
    test's app) has its own ``memory://`` counters and its own switch.
    """

    _binding: Flask | None = None

    def init_app(self, app: Flask) -> None:
        """Bind to ``app``: its settings give its own storage and on/off switch."""
        self._binding = app
        try:
            super().init_app(app)
        finally:
            self._binding = None

    def _scoped_state(self) -> dict:
        app = self._binding
        if app is None and has_app_context():
            app = current_app._get_current_object()
        if app is None:
            return self.__dict__.setdefault("_unbound_state", {})
        return app.extensions.setdefault("erp_limiter_state", {})


def _app_scoped(name: str, default):
    def getter(self):
        return self._scoped_state().get(name, default)

    def setter(self, value):
        self._scoped_state()[name] = value

    return property(getter, setter)


AppScopedLimiter.enabled = _app_scoped("enabled", True)
AppScopedLimiter._storage = _app_scoped("_storage", None)
AppScopedLimiter._limiter = _app_scoped("_limiter", None)
# the in-memory fallback (Redis down) is each app's too: its counters and whether it is in use
AppScopedLimiter._storage_dead = _app_scoped("_storage_dead", False)
AppScopedLimiter._fallback_storage = _app_scoped("_fallback_storage", None)
AppScopedLimiter._fallback_limiter = _app_scoped("_fallback_limiter", None)
AppScopedLimiter._Limiter__check_backend_count = _app_scoped("check_backend_count", 0)
AppScopedLimiter._Limiter__last_check_backend = _app_scoped("last_check_backend", 0.0)

#: rate limits: only the views that declare one are limited (no default limits). When the
#: counters' storage (Redis) cannot be reached, the limits are counted in this process's memory
#: until it answers again (Flask-Limiter checks it at growing intervals), and any other storage
#: error is logged, never fatal: sign-in and the API keep working with Redis down.
limiter = AppScopedLimiter(key_func=get_remote_address, default_limits=[],
                           in_memory_fallback_enabled=True, swallow_errors=True)
