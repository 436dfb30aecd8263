"""The ``erp`` command: a Flask CLI group (``erp db upgrade``, ``erp demo``, ``erp check`` ...)."""

from __future__ import annotations

import functools
import os
import re
import secrets
import sys

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from erp.core import transactions


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
    """Return the file keeping the demo logins of the configured database.

    The default database (``instance/erp.sqlite3``) keeps them in ``instance/demo-logins.txt``;
    any other in a file named after that database (``demo-logins-large.sqlite3.txt``,
    ``demo-logins-erp_large.txt`` for PostgreSQL's ``erp_large``), so loading the large data
    set elsewhere leaves the demo's logins alone.
    """
    from sqlalchemy.engine import make_url

    url = make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])
    default = os.path.join(current_app.instance_path, "erp.sqlite3")
    if url.get_backend_name() == "sqlite" and url.database and \
            os.path.abspath(url.database) == os.path.abspath(default):
        return os.path.join(current_app.instance_path, "demo-logins.txt")
    name = os.path.basename(url.database or "") or url.get_backend_name()
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", name)
    return os.path.join(current_app.instance_path, f"demo-logins-{name}.txt")


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
    # every currency the demo's orders and suppliers use, so refunds and reports convert them
    for ccy, rate in (("CNY", "0.1380"), ("EUR", "1.0850"), ("GBP", "1.2700"), ("USD", "1"),
                      ("JPY", "0.0067"), ("AUD", "0.6600"), ("CAD", "0.7300")):
        if ccy == base:
            continue
        exists = db.session.scalar(select(ExchangeRate.id).where(ExchangeRate.currency == ccy))
        if exists is None:
            services.set_exchange_rate(ccy, date(2026, 1, 1), Decimal(rate), actor=None)


@click.command("demo")
@click.option("--reset-passwords", is_flag=True, help="Give the demo users new passwords.")
@click.option("--scale", type=click.Choice(["small", "large"]), default="small", show_default=True,
              help="small: a walk-through of every screen; large: 100,000 SKUs, 1,000,000 "
                   "moves, 200,000 orders, 150,000 parcels and 5,000 cases, into an empty "
                   "database.")
@click.option("--divide-by", type=click.IntRange(min=1), default=1, hidden=True,
              help="Build the large data set at 1/N of its size (tests).")
@with_appcontext
def demo_cmd(reset_passwords: bool, scale: str, divide_by: int):
    """Load idempotent demo data (or the large data set) and print the demo logins."""
    from erp.extensions import db

    if scale == "large":
        _refuse_unless_empty()
    rows = load_demo_users(reset_passwords)
    load_demo_core()
    if scale == "large":
        from erp.scale import large
        db.session.commit()
        made = large.build(**{key: max(1, value // divide_by)
                                 for key, value in large.LARGE_SIZES.items()})
        click.secho("Large data set loaded: " + ", ".join(
            f"{value:,} {key}" for key, value in made.items() if key != "build_seconds")
            + f" in {made['build_seconds']:.0f} s.", fg="green")
        _print_logins(rows)
        return
    from erp.brands.demo import load_demo as load_demo_brands
    load_demo_brands()
    from erp.catalog.demo import load_demo as load_demo_catalog
    load_demo_catalog()
    from erp.warehouse.demo import load_demo as load_demo_warehouse
    load_demo_warehouse()
    from erp.procurement.demo import load_demo as load_demo_procurement
    load_demo_procurement()
    from erp.quality.demo import load_demo as load_demo_quality
    load_demo_quality()
    from erp.production.demo_mto import load_demo as load_demo_mto
    load_demo_mto()
    # carriers and services first: intake refuses an order its service cannot ship
    from erp.shipping.demo import load_demo as load_demo_shipping
    load_demo_shipping()
    from erp.customs.demo import load_settings as load_demo_customs_settings
    load_demo_customs_settings()  # before orders ship: the 9610 gate needs the company codes
    from erp.orders.demo import load_demo as load_demo_orders
    load_demo_orders()
    from erp.shipping.demo_outbound import load_demo as load_demo_outbound
    load_demo_outbound()
    from erp.customs.demo import load_demo as load_demo_customs
    load_demo_customs()
    from erp.shipping.demo_bills import load_demo as load_demo_bills
    load_demo_bills()
    from erp.shipping.demo_lane import load_demo as load_demo_lane
    load_demo_lane()
    from erp.aftersales.demo import load_demo as load_demo_aftersales
    load_demo_aftersales()
    # last: the storefront orders above never pick the made-to-order dress
    from erp.production.demo import load_demo as load_demo_production
    load_demo_production()
    db.session.commit()
    click.secho("Demo data loaded.", fg="green")
    _print_logins(rows)


def _print_logins(rows) -> None:
    port = os.environ.get("ERP_RUN_PORT") or "5000"  # `make run PORT=...` passes it on
    click.echo(f"Sign in at http://127.0.0.1:{port} with:")
    for username, password, role in rows:
        click.echo(f"  {role:<17} user {username:<11} password {password}")
    click.echo(f"(kept in {_credentials_path()})")
    from erp.core import settings as settings_mod
    from erp.core.twofactor import enforced
    roles = sorted(settings_mod.get("two_factor_roles")) if enforced() else []
    if roles:
        click.echo(f"Roles {', '.join(roles)} set up an authenticator app (TOTP: Google "
                   "Authenticator, FreeOTP...) at their first sign-in.")


def _refuse_unless_empty() -> None:
    """Stop unless the catalog, ledger and orders are empty (the large set uses fixed ids)."""
    from sqlalchemy import func, select

    from erp.catalog.models import Sku
    from erp.extensions import db
    from erp.orders.models import CustomerOrder
    from erp.warehouse.models import StockMove

    for model, what in ((Sku, "SKUs"), (StockMove, "stock moves"), (CustomerOrder, "orders")):
        if db.session.scalar(select(func.count()).select_from(model)):
            raise click.ClickException(
                f"The database already holds {what}; the large data set needs an empty one. "
                "Point ERP_DATABASE_URL at a new database (or remove instance/erp.sqlite3), "
                "run `erp db upgrade`, then `erp demo --scale large`.")


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


@click.command("purge-keys")
@with_appcontext
def purge_keys_cmd():
    """Delete form submission keys and API idempotency keys past their keeping time."""
    from erp.core import idempotency, submissions
    from erp.extensions import db

    forms = submissions.purge(int(current_app.config["ERP_SUBMISSION_KEY_HOURS"]))
    api = idempotency.purge()
    db.session.commit()
    click.echo(f"Purged {forms} form submission key(s) and {api} API idempotency key(s).")


def ledger_problem_lines() -> list[str]:
    """Return the ledger check's differences as lines naming the SKU code and the bin."""
    from sqlalchemy import select

    from erp.catalog.models import Sku
    from erp.extensions import db
    from erp.warehouse.models import Location
    from erp.warehouse.queries import ledger_problems

    problems = ledger_problems(db.session)
    if not problems:
        return []
    skus = dict(db.session.execute(select(Sku.id, Sku.code).where(
        Sku.id.in_({p.sku_id for p in problems}))).all())
    bins = {loc.id: loc.label for loc in db.session.scalars(select(Location).where(
        Location.id.in_({p.location_id for p in problems})))}
    return [f"SKU {skus.get(p.sku_id, p.sku_id)} bin {bins.get(p.location_id, p.location_id)}: "
            f"{p.problem}" for p in problems]


LEDGER_OK = ("Ledger balances: every level equals its moves, nothing is negative, and "
             "reserved stays within on hand.")


@click.command("check-ledger")
@with_appcontext
def check_ledger_cmd():
    """Check every stock level against its moves and reservations; exit 1 on any difference."""
    lines = ledger_problem_lines()
    if not lines:
        click.secho(LEDGER_OK, fg="green")
        return
    for line in lines:
        click.echo(line, err=True)
    click.secho(f"{len(lines)} ledger difference(s).", fg="red", err=True)
    sys.exit(1)


@click.command("check-audit")
@with_appcontext
def check_audit_cmd():
    """Check the audit trail against its hash chain; exit 1 on any change, gap or lost tail."""
    from erp.core.auditchain import verify

    _report_check(verify())


def _report_check(report) -> None:
    """Print a check's problems and summary; exit 1 unless it found none.

    ``report`` has ``problems`` (those kept), ``problem_count`` (all found), ``ok`` and
    ``summary()``, as :func:`erp.core.auditchain.verify` and
    :func:`erp.customs.check.check_customs` return.
    """
    for problem in report.problems:
        click.echo(problem, err=True)
    if report.ok:
        click.secho(report.summary(), fg="green")
        return
    if report.problem_count > len(report.problems):
        click.echo(f"... and {report.problem_count - len(report.problems)} more.", err=True)
    click.secho(report.summary(), fg="red", err=True)
    sys.exit(1)


@click.command("check-customs")
@with_appcontext
def check_customs_cmd():
    """Check the customs ledger (one declaration a dispatched 9610 parcel, summaries add up)."""
    from erp.customs.check import check_customs

    _report_check(check_customs())


# --- Excel imports and exports ----------------------------------------------------------------


@click.group("import")
def import_group():
    """Import data from Excel workbooks: all or nothing."""


@import_group.command("skus")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Check the file and report errors; write nothing.")
@with_appcontext
def import_skus_cmd(file: str, dry_run: bool):
    """Create or update SKUs and their products from FILE; exit 1 on any error."""
    from erp.catalog.excel import import_skus

    with open(file, "rb") as fh:
        data = fh.read()
    # the command's own transaction: committed by _finish_import, or rolled back on any error
    result = import_skus(data, filename=os.path.basename(file), dry_run=dry_run, actor=None,
                         savepoint=False)
    _finish_import(result, file, dry_run)


def _finish_import(result, file: str, dry_run: bool) -> None:
    """Commit an import's unit of work or roll it back, echo the outcome; exit 1 on errors."""
    from erp.extensions import db

    if not result.ok:
        db.session.rollback()
        for error in result.errors:
            click.echo(str(error) if error.row > 0 else f"File: {error.message}", err=True)
        click.secho(f"{len(result.errors)} error(s) in {file}; nothing was written.", fg="red",
                    err=True)
        sys.exit(1)
    if dry_run:
        db.session.rollback()
        for message in result.messages:
            click.echo(message)
        click.secho(f"Checked {file}: no errors; nothing was written (dry run).", fg="green")
        return
    db.session.commit()
    for message in result.messages:
        click.echo(message)
    click.secho(f"Imported {file}: {result.created} created, {result.updated} updated, "
                f"{result.skipped} unchanged.", fg="green")


@import_group.command("supplier-prices")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Check the file and report errors; write nothing.")
@with_appcontext
def import_supplier_prices_cmd(file: str, dry_run: bool):
    """Create or update supplier items (price lists) from FILE; exit 1 on any error."""
    from erp.procurement.excel import import_supplier_prices

    with open(file, "rb") as fh:
        data = fh.read()
    # the command's own transaction: committed by _finish_import, or rolled back on any error
    result = import_supplier_prices(data, filename=os.path.basename(file), dry_run=dry_run,
                                    actor=None, savepoint=False)
    _finish_import(result, file, dry_run)


@import_group.command("orders")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Check the file and report errors; write nothing.")
@with_appcontext
def import_orders_cmd(file: str, dry_run: bool):
    """Create customer orders from FILE (one row per line); existing numbers are skipped."""
    from erp.orders.excel import import_orders

    with open(file, "rb") as fh:
        data = fh.read()
    # the command's own transaction: committed by _finish_import, or rolled back on any error
    result = import_orders(data, filename=os.path.basename(file), dry_run=dry_run, actor=None,
                           savepoint=False)
    _finish_import(result, file, dry_run)


@import_group.command("tracking")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Check the file and report errors; write nothing.")
@with_appcontext
def import_tracking_cmd(file: str, dry_run: bool):
    """Import a carrier's tracking events from FILE (CSV of any size, or .xlsx); exit 1 on errors.

    Columns: tracking_number, occurred_at (ISO 8601, UTC without an offset), status, code,
    description, location. All or nothing; events stored already are skipped and tracking
    numbers of no dispatched parcel are counted, not refused.
    """
    from erp.extensions import db

    if not file.lower().endswith(".csv"):
        from erp.shipping.tracking_excel import import_tracking

        with open(file, "rb") as fh:
            data = fh.read()
        result = import_tracking(data, filename=os.path.basename(file), dry_run=dry_run,
                                 actor=None, savepoint=False)
        _finish_import(result, file, dry_run)
        return
    from erp.shipping.services.tracking_events import import_csv

    with open(file, newline="", encoding="utf-8-sig") as fh:
        outcome = import_csv(fh, dry_run=dry_run, actor=None)
    summary = outcome.summary
    if not outcome.ok:
        db.session.rollback()
        for problem in outcome.errors:
            click.echo(f"Row {problem.row}, {problem.column}: {problem.message}", err=True)
        click.secho(f"{outcome.error_count} bad row(s) in {file}; nothing was written.",
                    fg="red", err=True)
        sys.exit(1)
    if summary.unknown:
        click.echo(f"{summary.unknown} event(s) of tracking numbers of no dispatched parcel, "
                   f"e.g. {', '.join(summary.unknown_numbers[:10])}.")
    if dry_run:
        db.session.rollback()
        click.secho(f"Checked {file}: {outcome.rows} rows, no errors; nothing was written "
                    "(dry run).", fg="green")
        return
    db.session.commit()
    click.secho(f"Imported {file}: {summary.stored} events stored, {summary.duplicates} "
                f"already there, {summary.parcels_changed} parcels changed status, "
                f"{summary.orders_delivered} orders delivered.", fg="green")


@click.group("export")
def export_group():
    """Export data to Excel workbooks (they import again unchanged)."""


@export_group.command("skus")
@click.argument("file", type=click.Path(dir_okay=False, writable=True))
@click.option("--q", default=None, help="Search: SKU code, barcode, product code or name.")
@click.option("--brand", default=None, help="Only this brand (its code).")
@click.option("--category", default=None, help="Only this category and those below (its code).")
@click.option("--status", type=click.Choice(["active", "discontinued"]), default=None)
@with_appcontext
def export_skus_cmd(file: str, q: str | None, brand: str | None, category: str | None,
                    status: str | None):
    """Write the SKUs (with the list's filters) to FILE as an .xlsx workbook."""
    from sqlalchemy import select

    from erp.brands.models import Brand
    from erp.catalog.excel import export_skus
    from erp.catalog.models import Category
    from erp.catalog.queries import SkuFilters, sku_count_query
    from erp.extensions import db

    filters = SkuFilters(q=q, status=status)
    for code, model, attr in ((brand, Brand, "brand_id"), (category, Category, "category_id")):
        if code:
            ident = db.session.scalar(select(model.id).where(model.code == code.strip().upper()))
            if ident is None:
                click.secho(f"No {model.__tablename__} has the code {code!r}.", fg="red",
                            err=True)
                sys.exit(1)
            setattr(filters, attr, ident)
    count = db.session.scalar(sku_count_query(filters))
    with open(file, "wb") as fh:
        fh.write(export_skus(filters))
    click.secho(f"{count} SKU(s) written to {file}.", fg="green")


@click.command("allocate")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Allocate at most this many orders.")
@with_appcontext
def allocate_cmd(limit: int | None):
    """Reserve stock for new and backordered orders (priority, then oldest first).

    Runs the allocation job (as "Allocate all" does) in this process, showing its progress;
    refused while another allocation run is queued or running.
    """
    from erp.core import jobs
    from erp.orders import jobs as order_jobs

    def show(percent: int, message: str | None) -> None:
        click.echo(f"{percent:3d} %  {message or ''}", err=True)

    job, started = jobs.submit_once(order_jobs.KIND, user=None, wait=True, listener=show,
                                    limit=limit)
    if not started:
        click.secho(f"An allocation run (job {job.id}, {job.state.value}) is already under "
                    "way; run this again once it has finished.", fg="red", err=True)
        sys.exit(1)
    if job.error:
        click.secho(job.error, fg="red", err=True)
        sys.exit(1)
    summary = jobs.load_summary(job) or {}
    for number, reason in summary.get("failures", []):
        click.secho(f"{number}: {reason}", fg="red")
    click.secho(order_jobs.summary_sentence(summary),
                fg="yellow" if summary.get("skipped") else "green")


@click.command("putaway-sync")
@with_appcontext
def putaway_sync_cmd():
    """Open put-away tasks for goods already lying in receiving bins (once, after upgrading)."""
    from erp.extensions import db
    from erp.warehouse.queries import putaway_waiting
    from erp.warehouse.services import sync_receiving_bins

    sync_receiving_bins(actor=None)
    db.session.commit()
    tasks, units = putaway_waiting()
    click.secho(f"{tasks:,} put-away task(s) open, {units:,} unit(s) waiting.", fg="green")


@click.command("worker")
@click.option("--burst", is_flag=True, help="Stop once the queue is empty.")
@click.option("--simple", is_flag=True, help="Run jobs in this process (no fork per job).")
@with_appcontext
def worker_cmd(burst: bool, simple: bool):
    """Run background jobs from the RQ queue on ERP_REDIS_URL (old result files go first)."""
    from redis.exceptions import RedisError

    from erp.core.jobs import run_worker

    if not current_app.config.get("ERP_REDIS_URL"):
        click.secho("ERP_REDIS_URL is not set: set it to the Redis server (e.g. "
                    "redis://127.0.0.1:6379/0). Without it jobs run inside the web process and "
                    "no worker is needed.", fg="red", err=True)
        sys.exit(1)
    try:
        run_worker(burst=burst, simple=simple)
    except RedisError as exc:
        click.secho(f"Redis unreachable at ERP_REDIS_URL: {exc}", fg="red", err=True)
        sys.exit(1)


@click.command("tick")
@with_appcontext
def tick_cmd():
    """Run every periodic task once (webhook delivery, tracking polls, ...) and exit."""
    from erp.core import periodic

    failed = 0
    for name, result in periodic.run_all().items():
        if isinstance(result, Exception):
            failed += 1
            click.secho(f"{name}: failed: {result}", fg="red", err=True)
        else:
            click.echo(f"{name}: {result}")
    sys.exit(1 if failed else 0)


@click.command("ticker")
@with_appcontext
def ticker_cmd():
    """Run the periodic tasks for ever (beside `erp worker`; not needed with ERP_TICKER=1)."""
    from erp.core import periodic

    periodic.run_forever(current_app._get_current_object())


@click.command("report")
@click.argument("name")
@click.option("--from", "date_from", default=None, metavar="YYYY-MM-DD",
              help="First day of the period (range reports; default 30 days before --to).")
@click.option("--to", "date_to", default=None, metavar="YYYY-MM-DD",
              help="Last day of the period, or the as-of date (default today, UTC).")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, writable=True),
              help="The .xlsx file to write.")
@with_appcontext
def report_cmd(name: str, date_from: str | None, date_to: str | None, out: str):
    """Write Excel report NAME for a period to --out (exit 2 on a bad name or date)."""
    from erp.reports.registry import ReportError, build_report

    try:
        data, filename = build_report(name, date_from, date_to, user="erp report (CLI)")
    except ReportError as err:
        raise click.UsageError(str(err)) from None
    with open(out, "wb") as fh:
        fh.write(data)
    click.secho(f"Report {name} written to {out} ({len(data):,} bytes; {filename}).",
                fg="green")


@click.command("backup")
@click.option("--out", default=None, type=click.Path(dir_okay=False, writable=True),
              help="The file to write (default instance/backups/erp-YYYYmmdd-HHMMSS.sqlite3 "
                   "or .dump on PostgreSQL).")
@click.option("--dir", "directory", default=None, type=click.Path(file_okay=False),
              help="Write the backup into DIRECTORY under the default name "
                   "erp-YYYYmmdd-HHMMSS (the names --keep recognises).")
@click.option("--keep", default=None, metavar="SPEC",
              help="After the backup, prune its directory: keep the newest backup of each of "
                   "the last N days (d), ISO weeks (w), months (m) or years (y) that have one, "
                   "e.g. 7d,4w,3m, and remove the other erp-YYYYmmdd-HHMMSS backups.")
@click.option("--verify", default=None, metavar="FILE",
              type=click.Path(exists=True, dir_okay=False),
              help="Make no backup: restore FILE into a scratch database, run the ledger and "
                   "audit-trail checks on it, drop it; exit 1 if a check fails.")
@with_appcontext
def backup_cmd(out: str | None, directory: str | None, keep: str | None, verify: str | None):
    """Back up the whole database while the app serves; prune (--keep) or verify (--verify).

    Exit 1 when the backup, the pruning or a verification check fails.
    """
    from erp.core.backup import BackupError, backup_database, default_backup_path
    from erp.core.backup_retention import parse_keep
    from erp.extensions import db

    if verify is not None:
        if out is not None or directory is not None or keep is not None:
            raise click.UsageError("--verify checks an existing backup: it takes no --out, "
                                   "--dir or --keep.")
        _verify_backup(verify)
        return
    if out is not None and directory is not None:
        raise click.UsageError("Give --out FILE or --dir DIRECTORY, not both.")
    if directory is not None:
        out = os.path.join(directory, os.path.basename(default_backup_path()))
    try:
        retention = parse_keep(keep) if keep is not None else None
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--keep") from None
    try:
        result = backup_database(out)
    except BackupError as err:
        db.session.rollback()
        click.secho(f"Error: {err}", fg="red", err=True)
        sys.exit(1)
    db.session.commit()
    click.secho(f"Backup written to {result.path} ({result.size:,} bytes): "
                f"{result.describe_counts()}.", fg="green")
    if retention is not None:
        _prune_backups(result.path, retention)


def _prune_backups(path: str, retention) -> None:
    """Prune the directory of the backup just written to ``path``; print what was kept."""
    from erp.core import audit
    from erp.core.backup import BackupError, database_url
    from erp.core.backup_retention import prune
    from erp.extensions import db

    directory = os.path.dirname(os.path.abspath(path))
    kind = ".sqlite3" if database_url().get_backend_name() == "sqlite" else ".dump"
    try:
        plan = prune(directory, retention, protect=os.path.basename(path), kind=kind)
    except BackupError as err:
        click.secho(f"Error: {err}", fg="red", err=True)
        sys.exit(1)
    click.echo(f"Retention {retention.spec} in {directory}: kept {len(plan.kept)} backup(s), "
               f"removed {len(plan.removed)}.")
    for name, reasons in plan.kept.items():
        click.echo(f"  kept     {name}  ({', '.join(reasons)})")
    for name in plan.removed:
        click.echo(f"  removed  {name}")
    if plan.removed:
        audit.record_many("database", "database.backups_pruned", [(
            os.path.basename(path)[:64], None,
            {"keep": retention.spec, "directory": directory, "count": len(plan.removed),
             "removed": plan.removed, "kept": list(plan.kept)})], actor=None)
        db.session.commit()


def backup_checks():
    """Return the ledger and audit-trail checks of the current app's database (verify's)."""
    from erp.core import auditchain
    from erp.core.backup_verify import CheckResult

    ledger = ledger_problem_lines()
    chain = auditchain.verify()
    problems = list(chain.problems)
    if chain.problem_count > len(problems):
        problems.append(f"... and {chain.problem_count - len(problems)} more.")
    if not chain.ok and not problems:
        problems.append("the hash chain does not verify")
    return [
        CheckResult("ledger", f"{len(ledger)} difference(s)" if ledger else LEDGER_OK, ledger),
        CheckResult("audit trail", chain.summary(), problems),
    ]


def _verify_backup(path: str) -> None:
    from erp.core.backup import BackupError, BackupResult
    from erp.core.backup_verify import verify_backup

    click.echo(f"Restoring {path} into a scratch database ...")
    try:
        report = verify_backup(path, backup_checks)
    except BackupError as err:
        click.secho(f"Error: {err}", fg="red", err=True)
        click.secho(f"Backup {path} FAILED verification: it could not be restored.",
                    fg="red", err=True)
        sys.exit(1)
    revision = ", ".join(report.revision) or "none"
    if report.counts:
        click.echo(f"  contents: {BackupResult(path, 0, report.counts).describe_counts()}")
    if report.upgraded_from:
        click.echo(f"  migration: {', '.join(report.upgraded_from)}, upgraded to {revision}")
    else:
        click.echo(f"  migration: {revision}")
    if report.integrity is not None:
        if report.integrity == "ok":
            click.echo("  integrity: ok")
        else:
            click.secho(f"  integrity: {report.integrity}", fg="red", err=True)
    for check in report.checks:
        if check.ok:
            click.echo(f"  {check.name}: {check.summary}")
            continue
        click.secho(f"  {check.name}: {check.summary}", fg="red", err=True)
        for problem in check.problems:
            click.echo(f"    {problem}", err=True)
    if not report.ok:
        failed = [c.name for c in report.checks if not c.ok]
        if report.integrity not in (None, "ok"):
            failed.insert(0, "integrity")
        click.secho(f"Backup {path} FAILED verification ({', '.join(failed) or 'no checks ran'})"
                    ".", fg="red", err=True)
        sys.exit(1)
    click.secho(f"Backup {path} verified: it restores, its ledger balances and its audit "
                "trail is intact.", fg="green")


@click.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
@with_appcontext
def restore_cmd(ctx: click.Context, file: str, yes: bool):
    """Replace the whole database with backup FILE, then check the ledger (exit 1 if not ok)."""
    from erp.core.backup import BackupError, database_url, restore_database
    from erp.extensions import db

    target = database_url().render_as_string(hide_password=True)
    if not yes:
        click.confirm(f"This overwrites every row of the database {target} with {file}. "
                      "Continue?", abort=True)
    try:
        result = restore_database(file)
    except BackupError as err:
        db.session.rollback()
        click.secho(f"Error: {err}", fg="red", err=True)
        sys.exit(1)
    db.session.commit()
    click.secho(f"Restored {file} into {target}: {result.describe_counts()}.", fg="green")
    from erp.core.dbcheck import script_directory
    heads = set(script_directory().get_heads())
    if set(result.revision) != heads:
        click.secho(f"The backup is at migration {', '.join(result.revision) or 'none'}, head is "
                    f"{', '.join(sorted(heads))}: run 'erp db upgrade'.", fg="yellow")
    ctx.invoke(check_ledger_cmd)


@main.command("carrier-sim")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5081, type=int, show_default=True, help="Port to listen on.")
@click.option("--token", default="sim-token", show_default=True,
              help="The API token callers must send (Authorization: Bearer ...).")
@click.option("--seed", default=0, type=int, show_default=True,
              help="Seed of the random latency, outages and timelines.")
@click.option("--time-scale", default=1.0, type=float, show_default=True,
              help="Simulated seconds per real second (86400: a day a second).")
@click.option("--latency-ms", default="20,150", show_default=True,
              help="Random latency of each call, MIN,MAX milliseconds (0: none).")
@click.option("--error-rate", default=0.02, type=click.FloatRange(0, 1), show_default=True,
              help="Share of calls answered with a 5xx.")
@click.option("--rate-limit", default=20, type=click.IntRange(0), show_default=True,
              help="Calls per second per token before 429 (0: no limit).")
@click.option("--handover-hours", default=12.0, type=float, show_default=True,
              help="Simulated hours after booking when the courier collects (no cancel).")
def carrier_sim_cmd(host, port, token, seed, time_scale, latency_ms, error_rate, rate_limit,
                    handover_hours):
    """Serve a simulated express carrier API (book, cancel, track) for the demo and tests."""
    from erp.shipping.carriers.simulator import Options, parse_latency, serve

    if host not in ("127.0.0.1", "localhost", "::1"):
        raise click.UsageError("The simulator serves only on this machine (127.0.0.1).")
    try:
        latency = parse_latency(latency_ms)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--latency-ms") from None
    if time_scale <= 0:
        raise click.BadParameter("must be more than 0", param_hint="--time-scale")
    click.echo(f"Carrier simulator on http://{host}:{port} (token {token}, seed {seed}, "
               f"time x{time_scale:g})", err=True)
    serve(host, port, Options(token=token, seed=seed, time_scale=time_scale,
                              latency_ms=latency, error_rate=error_rate,
                              rate_limit=rate_limit, handover_hours=handover_hours))


#: every command of the group; domains append theirs (registered on each app's ``app.cli``)
COMMANDS: list[click.Command] = [demo_cmd, create_user_cmd, check_cmd, check_ledger_cmd,
                               check_audit_cmd, check_customs_cmd,
                               purge_keys_cmd,
                               import_group, export_group, allocate_cmd, putaway_sync_cmd,
                               worker_cmd, tick_cmd, ticker_cmd,
                               report_cmd, backup_cmd, restore_cmd]


def init_app(app) -> None:
    """Register the erp commands on ``app.cli`` (so ``erp`` and the test runner both see them)."""
    from erp.privacy.cli import personal_data_group  # above the domains: imported late

    for command in [*COMMANDS, personal_data_group]:
        _begin_immediate(command)
        app.cli.add_command(command)


def _begin_immediate(command: click.Command) -> None:
    """Make ``command`` (and a group's subcommands) a write unit of work on SQLite.

    Its transactions begin with ``BEGIN IMMEDIATE`` (:mod:`erp.core.transactions`), so a command
    and a web request never both act on figures read before the other's write. The worker is
    left alone: each job chooses for itself.
    """
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _begin_immediate(sub)
        return
    # check-audit only reads, for minutes on a big trail: it must not hold the write lock
    # (nor does check-customs, which only reads the customs ledger)
    if command.name in ("worker", "ticker", "check-audit", "check-customs") \
            or command.callback is None or getattr(command.callback, "erp_write", False):
        return  # the worker's jobs choose; a command already wrapped (an earlier app) is done
    callback = command.callback

    @functools.wraps(callback)
    def run(*args, **kwargs):
        with transactions.intent("write"):
            return callback(*args, **kwargs)

    run.erp_write = True
    command.callback = run


if __name__ == "__main__":  # python -m erp.cli carrier-sim ...
    main()
