"""The ``erp`` command: a Flask CLI group (``erp db upgrade``, ``erp demo``, ``erp check`` ...)."""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Callable

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

#: demo loaders run by ``erp demo`` in order; each domain appends its own (idempotent)
DEMO_LOADERS: list[Callable[[], None]] = []


def _create_app():
    from erp import create_app
    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_version_option=False,
             load_dotenv=False)
def main():
    """Back office of the cross-border retailer."""


DEMO_USERS = [
    ("admin", "Ada Admin", ["admin"]),
    ("manager", "Max Manager", ["manager"]),
    ("purchasing", "Pat Purchasing", ["purchasing"]),
    ("warehouse", "Wes Warehouse", ["warehouse"]),
    ("service", "Cass Service", ["customer_service"]),
]


def _credentials_path() -> str:
    return os.path.join(current_app.instance_path, "demo-logins.txt")


def load_demo_users(reset_passwords: bool = False) -> list[tuple[str, str, str]]:
    """Create one demo user per role (once) and return ``(username, password, role)`` rows."""
    from erp.core import services

    path = _credentials_path()
    known = {}
    if os.path.exists(path):
        with open(path) as fh:
            for line in fh:
                parts = line.split()
                if len(parts) == 3:
                    known[parts[0]] = parts[1]
    rows = []
    for username, full_name, roles in DEMO_USERS:
        user = services.get_user_by_username(username)
        password = known.get(username)
        if user is None:
            password = secrets.token_urlsafe(9)
            services.create_user(username=username, full_name=full_name, password=password,
                                 roles=roles, email=f"{username}@example.com", actor=None)
        elif reset_passwords or password is None:
            password = secrets.token_urlsafe(9)
            user.password_hash = services.hash_password(password)
            user.must_change_password = False
        rows.append((username, password, roles[0]))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.writelines(f"{u} {p} {r}\n" for u, p, r in rows)
    return rows


def load_demo_core() -> None:
    """Store demo company settings and exchange rates (only where not yet set)."""
    from datetime import date
    from decimal import Decimal

    from sqlalchemy import select

    from erp.core import services, settings
    from erp.core.models import ExchangeRate, Setting
    from erp.extensions import db

    if db.session.get(Setting, "company_name") is None:
        services.update_settings({
            "company_name": "Lantern & Loom Trading Ltd",
            "company_address": "Unit 5, 18 Harbour Road\nShenzhen 518000\nChina",
            "company_country": "CN",
            "approval_threshold": "5000",
        }, actor=None)
    base = settings.base_currency()
    for ccy, rate in (("CNY", "0.1380"), ("EUR", "1.0850"), ("GBP", "1.2700"), ("USD", "1"),
                      ("JPY", "0.0067")):
        if ccy == base:
            continue
        exists = db.session.scalar(select(ExchangeRate.id).where(ExchangeRate.currency == ccy))
        if exists is None:
            services.set_exchange_rate(ccy, date(2026, 1, 1), Decimal(rate), actor=None)


@click.command("demo")
@click.option("--reset-passwords", is_flag=True, help="Give the demo users new passwords.")
@with_appcontext
def demo_cmd(reset_passwords: bool):
    """Load idempotent demo data and print the demo logins."""
    from erp.extensions import db

    rows = load_demo_users(reset_passwords)
    load_demo_core()
    for loader in DEMO_LOADERS:
        loader()
    db.session.commit()
    click.secho("Demo data loaded. Sign in at http://127.0.0.1:5000 with:", fg="green")
    for username, password, role in rows:
        click.echo(f"  {role:<17} user {username:<11} password {password}")
    click.echo(f"(kept in {_credentials_path()})")


@click.command("create-user")
@click.argument("username")
@click.option("--name", "full_name", required=True, help="Full name.")
@click.option("--role", "roles", multiple=True, required=True,
              type=click.Choice(["admin", "manager", "purchasing", "warehouse",
                                 "customer_service"]), help="A role (repeat for several).")
@click.option("--email", default=None)
@click.password_option()
@with_appcontext
def create_user_cmd(username, full_name, roles, email, password):
    """Create a user with the given roles."""
    from erp.core import services
    from erp.core.errors import DomainError
    from erp.extensions import db

    try:
        user = services.create_user(username=username, full_name=full_name, password=password,
                                    roles=roles, email=email, actor=None)
    except DomainError as err:
        db.session.rollback()
        click.secho(f"Error: {err}", fg="red", err=True)
        sys.exit(1)
    db.session.commit()
    click.secho(f"User {user.username} created with roles {', '.join(roles)}.", fg="green")


@click.command("check")
@with_appcontext
def check_cmd():
    """Check that the database answers and its migrations are at head."""
    from erp.core.dbcheck import migration_status

    try:
        current, heads = migration_status()
    except Exception as exc:  # noqa: BLE001 - report any connection failure, then exit 1
        click.secho(f"Database unreachable: {exc}", fg="red", err=True)
        sys.exit(1)
    click.echo(f"Database: reachable ({current_app.config['SQLALCHEMY_DATABASE_URI'].split('://')[0]})")
    if set(current) != set(heads):
        click.secho(f"Migrations: at {sorted(current) or 'none'}, head is {sorted(heads)}; run "
                    "'erp db upgrade'.", fg="red", err=True)
        sys.exit(1)
    click.secho(f"Migrations: at head {sorted(heads)}.", fg="green")



#: every command of the group; domains append theirs (registered on each app's ``app.cli``)
COMMANDS: list[click.Command] = [demo_cmd, create_user_cmd, check_cmd]


def init_app(app) -> None:
    """Register the erp commands on ``app.cli`` (so ``erp`` and the test runner both see them)."""
    for command in COMMANDS:
        app.cli.add_command(command)
