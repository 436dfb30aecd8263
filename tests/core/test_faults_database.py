"""PostgreSQL goes away: requests fail cleanly (or are run again), the ticker outlives it.

The connections of the test's app carry an ``application_name`` of their own, so the test can
terminate exactly them from a separate connection (``pg_terminate_backend``), as a restart of
the server would: at rest in the pool, in the middle of a request, or as its COMMIT goes out.
"""

from __future__ import annotations

import os
import threading
import time

import pytest
from sqlalchemy import create_engine, event, func, select, text

from erp import create_app
from erp.core import periodic
from erp.extensions import db
from erp.orders import services as order_services
from erp.orders.models import CustomerOrder
from tests.conftest import BASE_CONFIG, PG_URL
from tests.orders.intake_data import payload

APP_NAME = f"erp-faults-{os.getpid()}"


@pytest.fixture
def app_config():
    """Name the app's connections, so the test can find and end them."""
    if not PG_URL:
        return {}
    return {"SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True,
                                          "connect_args": {"application_name": APP_NAME}}}


@pytest.fixture
def kill_connections():
    """Return ``kill()``: terminate every connection of the test's app (from outside it)."""
    admin = create_engine(PG_URL, poolclass=None) if PG_URL else None

    def kill() -> int:
        with admin.begin() as conn:
            return len(conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = :name AND pid <> pg_backend_pid()"),
                {"name": APP_NAME}).all())

    yield kill
    if admin is not None:
        admin.dispose()


@pytest.fixture
def token(app, dummy_admin):
    _, plaintext = order_services.create_api_token("Web store", actor=dummy_admin)
    db.session.commit()
    return plaintext


def order_count() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(CustomerOrder))


@pytest.mark.postgres
def test_connections_lost_at_rest_are_replaced_before_use(app, client, token, kill_connections):
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/stock", headers=headers).status_code == 200
    db.session.remove()
    assert kill_connections() >= 1
    assert client.get("/api/v1/stock", headers=headers).status_code == 200


@pytest.mark.postgres
def test_a_request_that_loses_its_connection_midway_runs_again(app, client, token, dummy_sku,
                                                               kill_connections):
    kills = []

    @app.before_request
    def lose_the_connection_once():
        if not kills:
            db.session.execute(text("SELECT 1"))  # holds a connection, as a request does
            kills.append(kill_connections())

    created = client.post("/api/v1/orders", json=payload(),
                          headers={"Authorization": f"Bearer {token}"})
    assert kills == [1]
    assert created.status_code == 201, created.get_json()
    assert order_count() == 1


@pytest.mark.postgres
def test_a_request_that_keeps_losing_it_is_answered_503_and_the_next_one_works(
        app, client, token, dummy_sku, kill_connections):
    losing = [True]

    @app.before_request
    def lose_the_connection():
        if losing[0]:
            db.session.execute(text("SELECT 1"))
            kill_connections()

    headers = {"Authorization": f"Bearer {token}"}
    failed = client.post("/api/v1/orders", json=payload(), headers=headers)
    assert failed.status_code == 503
    assert failed.headers["Retry-After"] == "2"
    assert "database cannot be reached" in failed.get_json()["error"]
    assert order_count() == 0
    losing[0] = False
    assert client.post("/api/v1/orders", json=payload(), headers=headers).status_code == 201
    assert order_count() == 1


@pytest.mark.postgres
def test_a_connection_lost_during_commit_is_not_run_again(app, client, token, dummy_sku,
                                                          kill_connections):
    kills = []

    def lose_it_as_commit_goes_out(conn):
        # the view's commit (not the API token's bookkeeping, on a connection of its own)
        if not kills and any(isinstance(obj, CustomerOrder)
                             for obj in db.session.identity_map.values()):
            kills.append(kill_connections())

    event.listen(db.engine, "commit", lose_it_as_commit_goes_out)
    try:
        headers = {"Authorization": f"Bearer {token}"}
        failed = client.post("/api/v1/orders", json=payload(), headers=headers)
    finally:
        event.remove(db.engine, "commit", lose_it_as_commit_goes_out)
    assert kills == [1]
    assert failed.status_code == 503  # its outcome unknown: not run again behind the client
    assert order_count() == 0  # the COMMIT never reached the server: nothing half written
    assert client.post("/api/v1/orders", json=payload(), headers=headers).status_code == 201
    assert order_count() == 1


def test_the_ticker_outlives_an_unreachable_database_and_backs_off(monkeypatch):
    unreachable = create_app({**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI":
                              "postgresql+psycopg://erp@127.0.0.1:1/none?connect_timeout=1"})
    calls = []

    def ask_the_database():
        calls.append(time.monotonic())
        db.session.execute(text("SELECT 1"))

    monkeypatch.setattr(periodic, "TASKS", {"ask": periodic.Task("ask", ask_the_database, 0)})
    ticker = periodic.Ticker(unreachable, resolution=0.05)
    ticker.start()
    time.sleep(1.5)
    alive = ticker.is_alive()
    ticker.stop()
    assert alive
    # 0.05 s apart without back-off (30 rounds); doubling pauses leave a handful
    assert 2 <= len(calls) <= 8
    assert not ticker.is_alive()
    assert threading.active_count() >= 1


def test_the_error_page_answers_plain_when_its_layout_cannot_reach_the_database(
        app, client, login_as, monkeypatch):
    """The layout reads the signed-in user: with the database gone the page still answers."""
    from sqlalchemy.exc import OperationalError

    from erp.core import sessions

    login_as("warehouse")
    assert client.get("/").status_code == 200

    def gone(*args, **kwargs):
        raise OperationalError("SELECT user_session", {}, Exception("server closed the "
                                                                     "connection"))

    monkeypatch.setattr(sessions, "load", gone)
    app.config["PROPAGATE_EXCEPTIONS"] = False  # answer as production does, not raise
    page = client.get("/")
    assert page.status_code in (500, 503)
    body = page.get_data(as_text=True)
    assert body.startswith("<!doctype html>")
    assert "<h1>" in body
    monkeypatch.undo()
    assert client.get("/").status_code == 200
