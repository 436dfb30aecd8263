"""``/ready``: 200 only when the database answers and its migrations are at head."""

from __future__ import annotations

import flask_migrate
import pytest
from sqlalchemy import MetaData, Table

from erp import create_app
from erp.core.dbcheck import script_directory
from erp.extensions import db
from tests.conftest import BASE_CONFIG


@pytest.fixture
def stamped(app):
    """Stamp the test database (built by create_all) at the migration heads; unstamp after."""
    flask_migrate.stamp()
    yield app
    db.session.remove()
    with db.engine.begin() as conn:
        Table("alembic_version", MetaData()).drop(conn, checkfirst=True)


def test_ready_when_migrations_are_at_head(stamped, client):
    response = client.get("/ready")
    assert response.status_code == 200
    heads = sorted(script_directory().get_heads())
    assert response.json == {"status": "ready", "database": "ok", "migrations": heads}
    assert response.headers["Cache-Control"] == "no-store"


def test_not_ready_when_migrations_are_missing(client):
    # the test database comes from create_all(): it has no alembic_version at all
    response = client.get("/ready")
    assert response.status_code == 503
    heads = ", ".join(sorted(script_directory().get_heads()))
    assert response.json == {"status": "unavailable",
                             "reason": f"migrations not at head: current none, head {heads}"}


def test_not_ready_when_migrations_are_behind(stamped, client):
    first = script_directory().get_base()
    flask_migrate.stamp(revision=first)
    response = client.get("/ready")
    assert response.status_code == 503
    assert response.json["reason"].startswith(f"migrations not at head: current {first}, head ")


def test_not_ready_when_the_database_is_unreachable(tmp_path, caplog):
    app = create_app({**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI":
                      f"sqlite:///{tmp_path}/no/such/dir/erp.sqlite3"})
    with app.app_context():
        response = app.test_client().get("/ready")
        db.engine.dispose()
    assert response.status_code == 503
    assert response.json == {"status": "unavailable",
                             "reason": "database unreachable: OperationalError"}
    assert "unable to open database file" in caplog.text


def test_ready_needs_no_login_and_reads_heads_once(stamped, client, monkeypatch):
    from erp.core import dbcheck
    assert client.get("/ready").status_code == 200
    calls = []
    monkeypatch.setattr(dbcheck, "script_directory", lambda: calls.append(1))
    assert client.get("/ready").status_code == 200
    assert calls == []
