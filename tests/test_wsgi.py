"""How the app is served: ``erp.wsgi`` warms the app up, ``gunicorn.conf.py`` preloads it.

Importing ``erp.wsgi`` builds an app from the environment, so these tests hand it the test's
app instead (``erp.create_app`` replaced while it is imported).
"""

import importlib
import runpy
import sys
from pathlib import Path

import pytest
from sqlalchemy import event

import erp

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def wsgi(app, monkeypatch):
    """Import ``erp.wsgi`` afresh on the test's app; return the module."""
    monkeypatch.setattr(erp, "create_app", lambda: app)
    monkeypatch.delitem(sys.modules, "erp.wsgi", raising=False)
    module = importlib.import_module("erp.wsgi")
    yield module
    sys.modules.pop("erp.wsgi", None)


def test_the_served_app_has_every_template_compiled(wsgi, app):
    assert wsgi.app is app
    names = app.jinja_env.list_templates()
    assert names
    cached = {key[1] for key in app.jinja_env.cache.keys()}  # (weakref(loader), name)
    assert set(names) <= cached


def test_the_warm_up_opens_no_database_connection(app, monkeypatch):
    from erp.extensions import db

    monkeypatch.delitem(sys.modules, "erp.wsgi", raising=False)
    monkeypatch.setattr(erp, "create_app", lambda: app)
    connects = []
    for engine in db.engines.values():
        engine.dispose()
        event.listen(engine, "connect", lambda *a: connects.append(a))
    try:
        importlib.import_module("erp.wsgi")
    finally:
        sys.modules.pop("erp.wsgi", None)
    assert connects == []  # safe before gunicorn forks its workers


def test_pages_after_the_warm_up_are_the_same(wsgi, app, client, login_as):
    english = client.get("/login", headers={"Accept-Language": "en"}).get_data(as_text=True)
    chinese = client.get("/login", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "Sign in" in english
    assert "登录" in chinese  # the catalog read at load time is the one pages use
    login_as("manager")
    assert client.get("/").status_code == 200


def test_gunicorn_preloads_the_app_unless_the_ticker_runs_in_process(monkeypatch):
    monkeypatch.delenv("ERP_TICKER", raising=False)
    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert settings["preload_app"] is True
    assert settings["wsgi_app"] == "erp.wsgi:app"
    monkeypatch.setenv("ERP_TICKER", "true")
    assert runpy.run_path(str(ROOT / "gunicorn.conf.py"))["preload_app"] is False


def test_a_forked_worker_drops_the_pools_it_inherited(wsgi, app, monkeypatch):
    from erp.extensions import db

    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    with db.engine.connect():
        pass  # the pool now holds a connection
    pool = db.engine.pool
    assert pool.checkedin() == 1
    settings["post_fork"](None, None)
    assert db.engine.pool is not pool  # a fresh pool: the worker opens its own connections
    assert db.engine.pool.checkedin() == 0
    assert pool.checkedin() == 1  # the master's connection was left open, for the master
    pool.dispose()  # (here one process plays both: close it)
