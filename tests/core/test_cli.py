"""The ``erp`` commands: demo data with printed logins, and creating users."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from erp.cli import DEMO_USERS
from erp.core import services
from erp.core.models import ExchangeRate, Role, User
from erp.extensions import db

LOGIN_LINE = re.compile(r"^\s+(\S+)\s+user (\S+)\s+password (\S+)$", re.M)


def demo_logins(result) -> dict[str, tuple[str, str]]:
    """Return ``{username: (role, password)}`` printed by ``erp demo``."""
    assert result.exit_code == 0, result.output
    return {user: (role, password) for role, user, password in LOGIN_LINE.findall(result.output)}


def count(model) -> int:
    """Return the number of rows of ``model``."""
    return db.session.scalar(select(func.count()).select_from(model))


def test_demo_creates_one_user_per_role_and_prints_logins(runner):
    result = runner.invoke(args=["demo"])

    logins = demo_logins(result)
    assert set(logins) == {username for username, _, _ in DEMO_USERS}
    assert {role for role, _ in logins.values()} == {r.value for r in Role}
    for username, (role, password) in logins.items():
        user = services.get_user_by_username(username)
        assert user is not None
        assert user.active
        assert {r.value for r in user.roles} == {role}
        assert len(password) >= 8
    assert count(User) == len(Role)
    assert count(ExchangeRate) > 0


def test_demo_twice_creates_no_duplicates_and_same_passwords(runner):
    first = demo_logins(runner.invoke(args=["demo"]))
    users, rates = count(User), count(ExchangeRate)

    second = demo_logins(runner.invoke(args=["demo"]))

    assert second == first
    assert count(User) == users
    assert count(ExchangeRate) == rates


def test_demo_reset_passwords_prints_new_ones_that_work(runner, client):
    first = demo_logins(runner.invoke(args=["demo"]))
    second = demo_logins(runner.invoke(args=["demo", "--reset-passwords"]))
    assert second.keys() == first.keys()
    assert all(second[u][1] != first[u][1] for u in first)
    response = client.post("/login", data={"username": "warehouse",
                                           "password": second["warehouse"][1]})
    assert response.status_code == 302


def test_demo_printed_password_signs_in(runner, client):
    logins = demo_logins(runner.invoke(args=["demo"]))
    _, password = logins["admin"]

    response = client.post("/login", data={"username": "admin", "password": password})

    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert client.get("/admin/users").status_code == 200


def test_create_user_command_creates_user(runner, client):
    result = runner.invoke(args=["create-user", "Bob", "--name", "Bob Builder", "--role",
                                 "warehouse", "--role", "purchasing", "--password",
                                 "longenough-pass"])

    assert result.exit_code == 0, result.output
    assert "User bob created with roles warehouse, purchasing." in result.output
    user = services.get_user_by_username("bob")
    assert user.full_name == "Bob Builder"
    assert {r.value for r in user.roles} == {"warehouse", "purchasing"}
    response = client.post("/login", data={"username": "bob", "password": "longenough-pass"})
    assert response.status_code == 302


def test_create_user_command_duplicate_fails_with_message(runner, create_user):
    create_user("bob", roles=("warehouse",))
    users = count(User)

    result = runner.invoke(args=["create-user", "bob", "--name", "Other Bob", "--role",
                                 "manager", "--password", "longenough-pass"])

    assert result.exit_code == 1
    assert 'Error: To create user "bob", you must choose another username: it is taken.' \
        in result.output
    assert count(User) == users
    assert {r.value for r in services.get_user_by_username("bob").roles} == {"warehouse"}


def test_create_user_command_weak_password_fails(runner):
    result = runner.invoke(args=["create-user", "bob", "--name", "Bob", "--role", "warehouse",
                                 "--password", "short"])
    assert result.exit_code == 1
    assert "A password must have at least 10 characters." in result.output
    assert services.get_user_by_username("bob") is None


def test_create_user_command_unknown_role_refused(runner):
    result = runner.invoke(args=["create-user", "bob", "--name", "Bob", "--role", "boss",
                                 "--password", "longenough-pass"])
    assert result.exit_code == 2
    assert "'boss' is not one of" in result.output
    assert services.get_user_by_username("bob") is None


def test_create_user_command_password_prompt_confirmed(runner):
    result = runner.invoke(args=["create-user", "bob", "--name", "Bob", "--role", "warehouse"],
                           input="longenough-pass\nlongenough-pass\n")
    assert result.exit_code == 0, result.output
    assert services.get_user_by_username("bob") is not None


def test_demo_scale_large_builds_a_consistent_data_set_with_logins(runner, app):
    from erp.aftersales.models import AfterSalesCase
    from erp.brands.models import Brand
    from erp.catalog.models import Sku
    from erp.orders.models import CustomerOrder
    from erp.shipping.models import Parcel
    from erp.warehouse.models import StockMove
    from erp.warehouse.queries import ledger_problems

    result = runner.invoke(args=["demo", "--scale", "large", "--divide-by", "1000"])
    assert result.exit_code == 0, result.output
    assert "Large data set loaded" in result.output
    assert set(demo_logins(result)) >= {"admin", "manager", "warehouse"}
    ledger_moves = db.session.scalar(select(func.count()).select_from(StockMove)
                                     .where(StockMove.ref_type == "bench"))
    assert (count(Sku), ledger_moves, count(CustomerOrder), count(AfterSalesCase)) == (
        100, 1_000, 200, 5)
    # and a ship move of each parcel line, at the cost it left at (the margin's cost of goods)
    assert db.session.scalar(select(func.count()).select_from(StockMove)
                             .where(StockMove.ref_type == "parcel")) > 0
    assert count(Brand) == 5
    assert 120 <= count(Parcel) <= 180  # sized for about 150
    assert ledger_problems(db.session) == []
    assert runner.invoke(args=["check-ledger"]).exit_code == 0


def test_demo_scale_large_refuses_a_database_with_data(runner, create_sku):
    create_sku()
    db.session.commit()
    result = runner.invoke(args=["demo", "--scale", "large", "--divide-by", "1000"])
    assert result.exit_code != 0
    assert "needs an empty one" in result.output


def test_demo_keeps_the_logins_of_another_database_in_a_file_named_after_it(app):
    """Loading the large set into another database leaves the demo's logins file alone."""
    import os

    from erp.cli import _credentials_path

    instance = app.instance_path
    cases = {
        f"sqlite:///{os.path.join(instance, 'erp.sqlite3')}": "demo-logins.txt",
        f"sqlite:///{os.path.join(instance, 'large.sqlite3')}": "demo-logins-large.sqlite3.txt",
        "postgresql+psycopg://postgres@127.0.0.1:5432/erp_large": "demo-logins-erp_large.txt",
    }
    saved = app.config["SQLALCHEMY_DATABASE_URI"]
    try:
        for uri, name in cases.items():
            app.config["SQLALCHEMY_DATABASE_URI"] = uri
            assert _credentials_path() == os.path.join(instance, name)
    finally:
        app.config["SQLALCHEMY_DATABASE_URI"] = saved


def test_demo_prints_the_port_make_run_serves_on(runner, monkeypatch):
    monkeypatch.setenv("ERP_RUN_PORT", "5077")

    result = runner.invoke(args=["demo"])

    assert "Sign in at http://127.0.0.1:5077 with:" in result.output
