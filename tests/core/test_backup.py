"""``erp backup`` / ``erp restore``: a migrated database with real data survives a round trip.

On SQLite the live database is a file; on PostgreSQL (``ERP_TEST_DATABASE_URL``) each test gets
throw-away databases on that server, made from a migrated template database.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from decimal import Decimal

import flask_migrate
import pytest
from sqlalchemy import (
    Column,
    MetaData,
    String,
    Table,
    create_engine,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.engine import make_url

from erp import create_app
from erp.brands import services as brand_services
from erp.catalog import services as catalog_services
from erp.catalog.models import Sku
from erp.core import backup
from erp.core.dbcheck import script_directory
from erp.core.models import AuditEvent
from erp.extensions import db
from erp.orders.models import CustomerOrder
from erp.orders.services import intake
from erp.warehouse import services as wh
from erp.warehouse.models import Location, LocationKind, MoveKind, StockLevel, StockMove
from erp.warehouse.queries import ledger_problems
from tests.conftest import BASE_CONFIG, PG_URL
from tests.orders.intake_data import payload

PID = os.getpid()


def _server_engine():
    return create_engine(make_url(PG_URL).set(query={}), isolation_level="AUTOCOMMIT")


def _drop_databases(*names: str) -> None:
    engine = _server_engine()
    with engine.connect() as conn:
        for name in names:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def _pg_db_url(name: str) -> str:
    return make_url(PG_URL).set(database=name, query={}).render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def migrated_template(tmp_path_factory):
    """Return a migrated, empty database to copy: a file path, or a PostgreSQL database name."""
    if PG_URL:
        name = f"erp_bk_{PID}_tpl"
        _drop_databases(name)
        engine = _server_engine()
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        url = _pg_db_url(name)
    else:
        name = str(tmp_path_factory.mktemp("backup") / "template.sqlite3")
        url = f"sqlite:///{name}"
    app = create_app({**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        flask_migrate.upgrade()
        if not PG_URL:
            with db.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        db.engine.dispose()
    yield name
    if PG_URL:
        _drop_databases(name)


@pytest.fixture
def new_database(migrated_template, tmp_path):
    """Return ``new_database(suffix, migrated=True)``: the URL of a database of its own."""
    made: list[str] = []

    def factory(suffix: str, migrated: bool = True) -> str:
        if PG_URL:
            name = f"erp_bk_{PID}_{suffix}"
            _drop_databases(name)
            engine = _server_engine()
            with engine.connect() as conn:
                template = f' TEMPLATE "{migrated_template}"' if migrated else ""
                conn.execute(text(f'CREATE DATABASE "{name}"{template}'))
            engine.dispose()
            made.append(name)
            return _pg_db_url(name)
        path = tmp_path / f"{suffix}.sqlite3"
        if migrated:
            shutil.copyfile(migrated_template, path)
        return f"sqlite:///{path}"

    yield factory
    if made:
        _drop_databases(*made)


@pytest.fixture
def live(new_database, tmp_path):
    """Return an app on a freshly migrated database of its own (app context pushed)."""
    app = create_app({**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI": new_database("a")})
    app.instance_path = str(tmp_path / "instance")
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def load_data() -> dict:
    """Post real data through the services: a SKU received, moved, reserved and ordered."""
    brand = brand_services.create_brand(code="LL", name="Lantern & Loom", actor=None)
    category = catalog_services.create_category(code="TEE", name="T-shirts", actor=None)
    product = catalog_services.create_product(code="P-TEE", name="Cotton tee", brand=brand,
                                              category=category, actor=None)
    sku = catalog_services.create_sku(product=product, code="TS-RED-M", weight_g=180,
                                      barcode="4006381333931", actor=None)
    warehouse = wh.create_warehouse(code="WH1", name="Main", country="CN", actor=None)
    bin_a = wh.create_location(warehouse, code="A-01-01-01", kind="storage", pick_sequence=10,
                               actor=None)
    bin_b = wh.create_location(warehouse, code="A-01-01-02", kind="storage", pick_sequence=20,
                               actor=None)
    supplier = wh.virtual_location(LocationKind.supplier)
    wh.post_move(wh.MoveSpec(sku.id, supplier.id, bin_a.id, 40, MoveKind.receipt,
                             unit_cost=Decimal("2.3456"), ref_type="test", ref_id=1), actor=None)
    wh.transfer(sku, bin_a, bin_b, 15, actor=None)
    cleaned, errors = intake.validate_order_payload(payload())
    assert errors == {}
    order, created = intake.create_order(cleaned, actor=None)
    assert created
    wh.reserve(sku, bin_b, 3, ref_type="customer_order", ref_id=order.id, actor=None)
    db.session.commit()
    return {"sku": sku.id, "bin_a": bin_a.id, "bin_b": bin_b.id, "order": order.id}


def snapshot() -> dict[str, list[tuple]]:
    """Return every row of every table (but the audit log and its chain), in key order."""
    db.session.expire_all()
    rows = {}
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            if table.name in ("audit_event", "audit_chain"):
                continue
            rows[table.name] = [tuple(r) for r in conn.execute(
                select(table).order_by(*table.primary_key.columns))]
    return rows


def audit_rows() -> list[tuple]:
    return [tuple(r) for r in db.session.execute(
        select(AuditEvent.id, AuditEvent.action, AuditEvent.entity_id).order_by(AuditEvent.id))]


def change_data(data: dict) -> None:
    """Move more stock and delete the order (and its reservation) after the backup."""
    sku = db.session.get(Sku, data["sku"])
    bin_a, bin_b = db.session.get(Location, data["bin_a"]), db.session.get(Location, data["bin_b"])
    wh.transfer(sku, bin_a, bin_b, 5, actor=None)
    wh.drop_reservations("customer_order", [data["order"]], actor=None)
    db.session.execute(delete(CustomerOrder).where(CustomerOrder.id == data["order"]))
    db.session.commit()


def test_backup_change_restore_gives_exactly_the_backed_up_data(live, tmp_path):
    data = load_data()
    before, audit_before = snapshot(), audit_rows()
    out = str(tmp_path / "backups" / "erp.bak")

    result = backup.backup_database(out)
    db.session.commit()

    assert result.path == out
    assert os.path.getsize(out) == result.size > 0
    assert result.counts == {"stock_move": 2, "customer_order": 1}
    assert oct(os.stat(out).st_mode & 0o777) == "0o600"
    assert not os.path.exists(out + ".partial")
    change_data(data)
    assert snapshot() != before
    assert db.session.scalar(select(func.count()).select_from(StockMove)) == 3

    restored = backup.restore_database(out)
    db.session.commit()

    assert restored.counts == {"stock_move": 2, "customer_order": 1}
    assert snapshot() == before
    # the log is the backed-up one, plus the restore itself (the backup's event came later)
    after = audit_rows()
    assert after[:-1] == audit_before
    assert after[-1][1:] == ("database.restored", "erp.bak")
    assert ledger_problems(db.session) == []
    # the restored trail and its head chain on with the restore's own event
    from erp.core.auditchain import verify
    assert verify().ok
    level = db.session.get(StockLevel, (data["sku"], data["bin_b"]))
    assert (level.on_hand, level.reserved) == (15, 3)
    # a backup never overwrites a file
    with pytest.raises(backup.BackupError, match="already exists"):
        backup.backup_database(out)
    assert os.path.getsize(out) == result.size


def _foreign_file(tmp_path) -> str:
    """Return an SQLite database of another app (no erp tables)."""
    path = tmp_path / "other-app.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE note (id INTEGER PRIMARY KEY, body TEXT)")
    conn.commit()
    conn.close()
    return str(path)


def test_restore_refuses_files_that_are_not_backups_of_this_app(live, tmp_path, new_database):
    load_data()
    before = snapshot()
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not a database")
    foreign = _foreign_file(tmp_path)

    for path in (str(text_file), foreign):
        with pytest.raises(backup.BackupError, match="nothing was restored|not an SQLite|not a"):
            backup.restore_database(path)
    if PG_URL:
        # a real pg_dump archive, but of a database without this app's tables
        other = make_url(new_database("b", migrated=False))
        engine = create_engine(other)
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE note (id integer PRIMARY KEY)"))
        engine.dispose()
        conninfo, env, _ = backup.libpq_connection(other)
        foreign_dump = str(tmp_path / "other.dump")
        backup._run(["pg_dump", "--format=custom", f"--file={foreign_dump}",
                     f"--dbname={conninfo}"], env)
        with pytest.raises(backup.BackupError, match="not one of this app.*user"):
            backup.restore_database(foreign_dump)
    assert snapshot() == before

    # a backup of this app, but from a migration revision this code does not know
    version = Table("alembic_version", MetaData(), Column("version_num", String(32)))
    with db.engine.begin() as conn:
        current = conn.scalar(select(version.c.version_num))
        conn.execute(update(version).values(version_num="ffffffffffff"))
    out = backup.backup_database(str(tmp_path / "newer.bak")).path
    db.session.commit()
    with db.engine.begin() as conn:
        conn.execute(update(version).values(version_num=current))
        conn.execute(delete(CustomerOrder))
    with pytest.raises(backup.BackupError, match="ffffffffffff, which this version.*not know"):
        backup.restore_database(out)
    # nothing was restored
    assert db.session.scalar(select(func.count()).select_from(CustomerOrder)) == 0


def test_cli_backup_and_restore(live, tmp_path):
    data = load_data()
    before = snapshot()
    runner = live.test_cli_runner()
    out = str(tmp_path / "cli.bak")

    result = runner.invoke(args=["backup", "--out", out])
    assert result.exit_code == 0, result.output
    assert f"Backup written to {out}" in result.output
    assert "2 stock moves, 1 orders" in result.output
    change_data(data)

    refused = runner.invoke(args=["restore", out], input="n\n")
    assert refused.exit_code == 1
    assert "overwrites every row" in refused.output
    assert snapshot() != before

    result = runner.invoke(args=["restore", out, "--yes"])
    assert result.exit_code == 0, result.output
    assert "Restored" in result.output
    assert "2 stock moves, 1 orders" in result.output
    assert "Ledger balances" in result.output
    assert "erp db upgrade" not in result.output  # the backup is at head
    assert snapshot() == before
    actions = db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.entity_type == "database")).all()
    assert actions == ["database.restored"]

    result = runner.invoke(args=["restore", _foreign_file(tmp_path), "--yes"])
    assert result.exit_code == 1
    assert "Error:" in result.output
    assert "nothing was restored" in result.output
    assert snapshot() == before

    # without --out: a dated file in instance/backups
    result = runner.invoke(args=["backup"])
    assert result.exit_code == 0, result.output
    files = os.listdir(os.path.join(live.instance_path, "backups"))
    assert len(files) == 1
    assert files[0].startswith("erp-")
    assert files[0].endswith(".dump" if PG_URL else ".sqlite3")
    event = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "database.backed_up").order_by(AuditEvent.id.desc())).first()
    assert event.actor_id is None
    assert event.entity_id == files[0]
    assert event.changes["counts"] == {"stock_move": 2, "customer_order": 1}


def test_cli_restore_exits_1_when_the_restored_ledger_does_not_balance(live, tmp_path):
    data = load_data()
    # a damaged database: a level that no longer equals its moves
    db.session.execute(update(StockLevel).where(
        StockLevel.sku_id == data["sku"], StockLevel.location_id == data["bin_a"])
        .values(on_hand=StockLevel.on_hand + 7))
    db.session.commit()
    first = script_directory().get_base()
    flask_migrate.stamp(revision=first)  # and (as far as it says) from an old release
    runner = live.test_cli_runner()
    out = str(tmp_path / "damaged.bak")
    assert runner.invoke(args=["backup", "--out", out]).exit_code == 0

    result = runner.invoke(args=["restore", out, "--yes"])

    assert result.exit_code == 1
    assert "TS-RED-M bin" in result.output
    assert "on hand 32 but moves give 25" in result.output
    assert "1 ledger difference(s)" in result.output
    assert f"The backup is at migration {first}" in result.output
    assert "run 'erp db upgrade'" in result.output


def test_libpq_connection_keeps_options_and_hides_the_password():
    url = make_url("postgresql+psycopg://erp:s3cr%40t@db.example:5433/erp"
                   "?options=-csearch_path%3Dtenant_1&sslmode=require")
    conninfo, env, schemas = backup.libpq_connection(url)
    assert conninfo.startswith("postgresql://erp@db.example:5433/erp?")
    assert "s3cr" not in conninfo
    assert "psycopg" not in conninfo
    assert "sslmode=require" in conninfo
    assert "search_path" in conninfo
    assert env == {"PGPASSWORD": "s3cr@t"}
    assert schemas == ["tenant_1"]
    assert backup.libpq_connection(make_url("postgresql://localhost/erp")) == (
        "postgresql://localhost/erp", {}, [])


@pytest.mark.postgres
def test_pg_tool_missing_or_failing_is_a_clear_error(live, tmp_path, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setenv("PATH", str(tmp_path))
        with pytest.raises(backup.BackupError, match="pg_dump was not found on the PATH"):
            backup.backup_database(str(tmp_path / "x.dump"))
    assert not (tmp_path / "x.dump").exists()
    assert not (tmp_path / "x.dump.partial").exists()

    out = backup.backup_database(str(tmp_path / "x.dump")).path
    missing = make_url(live.config["SQLALCHEMY_DATABASE_URI"]).set(
        database=f"erp_bk_{PID}_missing")
    with pytest.raises(backup.BackupError, match=r"pg_restore failed \(exit 1\).*does not exist"):
        backup._pg_restore(missing, out)
