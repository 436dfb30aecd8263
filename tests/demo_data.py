"""The ``erp demo`` data in a test database: a module imports these fixtures to use it.

On SQLite the demo is loaded once per module into a template file, and each test works on a
copy of it (a few seconds saved per test). On PostgreSQL every test truncates the tables, so
:func:`demo` loads it in the test itself.

    from tests import demo_data
    demo_template, app_config, demo = (demo_data.demo_template, demo_data.app_config,
                                       demo_data.demo)
"""

from __future__ import annotations

import shutil

import pytest

from erp import create_app
from erp.extensions import db
from tests.conftest import BASE_CONFIG, PG_URL


def _load_demo(app) -> None:
    result = app.test_cli_runner().invoke(args=["demo"])
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def demo_template(_schema, tmp_path_factory):
    """Return a SQLite file holding the demo data (None on PostgreSQL)."""
    if PG_URL:
        yield None
        return
    folder = tmp_path_factory.mktemp("demo")
    path = folder / "demo.sqlite3"
    shutil.copyfile(_schema, path)
    app = create_app({**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"})
    app.instance_path = str(folder)
    with app.app_context():
        _load_demo(app)
        db.session.remove()
        with db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        db.engine.dispose()
    yield path


@pytest.fixture
def app_config(demo_template, tmp_path) -> dict:
    """Bind the test's app to a copy of the demo database (SQLite)."""
    if demo_template is None:
        return {}
    target = tmp_path / "demo.sqlite3"
    shutil.copyfile(demo_template, target)
    return {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{target}"}


@pytest.fixture
def demo(app):
    """The demo data in the test's database (loaded here on PostgreSQL)."""
    if PG_URL:
        _load_demo(app)
    db.session.expire_all()
    return app
