"""Upgrading from the first migration, revision by revision, keeps every row already stored.

A database is migrated to the first revision; then, after each upgrade step, one row is inserted
into every table that has appeared (tables reflected at that revision, plain Core inserts), and
every row inserted so far is read back. At head the schema must still equal the models'.
"""

from __future__ import annotations

import os
from datetime import date, datetime

import flask_migrate
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    and_,
    select,
)
from sqlalchemy.engine import Connection

from erp import create_app
from erp.core.dbcheck import script_directory
from erp.extensions import db
from tests.conftest import BASE_CONFIG, PG_URL, drop_pg_schema, pg_schema_url
from tests.test_migrations import _diff

SCHEMA = f"erp_migration_upgrade_{os.getpid()}"
AT = datetime(2026, 3, 14, 15, 9, 26)

#: values by column name where a plain one would be unrepresentative
BY_NAME = {
    "username": "ada", "email": "ada@example.com", "role": "warehouse", "country": "DE",
    "origin_country": "CN", "currency": "EUR", "declared_currency": "USD",
    "list_currency": "EUR", "hs_code": "610910", "cutoff": "15:30", "barcode": "4006381333931",
    "re": 2,  # an inspection plan rejects at more than it accepts (Re > Ac)
}


class Inserted:
    """The rows inserted so far: ``(table name, primary key, values)``, and each table's first."""

    def __init__(self):
        self.rows: list[tuple[str, dict, dict]] = []
        self.first: dict[str, dict] = {}

    def add(self, name: str, key: dict, values: dict) -> None:
        self.rows.append((name, key, values))
        self.first.setdefault(name, key)


def _model_enum(table: str, column: str) -> list[str] | None:
    model = db.metadata.tables.get(table)
    if model is None or column not in model.c:
        return None
    return getattr(model.c[column].type, "enums", None)


def _plain_value(table: Table, column) -> object:
    """Return a representative value for a column by its name, enum or type."""
    enums = _model_enum(table.name, column.name)
    if enums:
        return enums[-1]
    if column.name in BY_NAME:
        return BY_NAME[column.name]
    kind = column.type
    if isinstance(kind, Boolean):
        return True
    if isinstance(kind, BigInteger):
        return 123_456  # money: 12.3456 in ten-thousandths
    if isinstance(kind, Integer):
        return 1  # satisfies every "> 0", ">= 0", "<> 0" and "a <= b" check of the schema
    if isinstance(kind, DateTime):
        return AT
    if isinstance(kind, Date):
        return date(2026, 3, 14)
    if isinstance(kind, JSON):
        return {"before": [1, "a"], "after": None}
    if isinstance(kind, LargeBinary):
        return b"\x89PNG\x00\x01"
    if isinstance(kind, String):
        text = f"{table.name} {column.name} \u00e9"
        return text[:kind.length] if kind.length else text + " long text"
    raise AssertionError(f"no value for {table.name}.{column.name} of type {kind!r}")


def row_values(table: Table, inserted: Inserted, **overrides) -> dict:
    """Return values for every column that a row of ``table`` can be given."""
    fks = {fk.parent.name: fk for fk in table.foreign_keys}
    values = {}
    for column in table.columns:
        if column.name in overrides:
            values[column.name] = overrides[column.name]
        elif column.name in fks:
            fk = fks[column.name]
            parent = inserted.first.get(fk.column.table.name)
            if fk.column.table.name == table.name or parent is None:
                assert column.nullable, f"{table.name}.{column.name} needs a parent row first"
                values[column.name] = None
            else:
                values[column.name] = parent[fk.column.name]
        elif column.primary_key and isinstance(column.type, Integer) \
                and len(table.primary_key.columns) == 1:
            continue  # the database numbers it
        else:
            values[column.name] = _plain_value(table, column)
    return values


def insert(conn: Connection, table: Table, inserted: Inserted, **overrides) -> dict:
    """Insert one row into ``table`` with a Core statement; record it; return its key."""
    values = row_values(table, inserted, **overrides)
    result = conn.execute(table.insert().values(values))
    generated = dict(zip([c.name for c in table.primary_key.columns],
                         result.inserted_primary_key, strict=True))
    key = {name: values.get(name, generated[name]) for name in generated}
    inserted.add(table.name, key, values)
    return key


def insert_new_tables(conn: Connection, meta: MetaData, inserted: Inserted) -> list[str]:
    """Insert a row into every table not seen before (parents first); return their names."""
    new = []
    for table in meta.sorted_tables:
        if table.name == "alembic_version" or table.name in inserted.first:
            continue
        if table.name == "stock_move":
            # a move goes between two different bins
            other = insert(conn, meta.tables["location"], inserted, code="B-02-03-04")
            insert(conn, table, inserted, to_location_id=other["id"])
        elif table.name == "audit_chain":
            # its one row (the chain head) comes with the table; a second is refused
            inserted.add(table.name, {"id": 1}, {})
        elif table.name == "transfer_order":
            # a transfer goes between two different warehouses
            other = insert(conn, meta.tables["warehouse"], inserted, code="US-LAX")
            insert(conn, table, inserted, to_warehouse_id=other["id"])
        else:
            insert(conn, table, inserted)
        new.append(table.name)
    return new


def assert_rows_kept(conn: Connection, meta: MetaData, inserted: Inserted, revision: str):
    for name, key, values in inserted.rows:
        table = meta.tables[name]
        row = conn.execute(select(table).where(
            and_(*[table.c[k] == v for k, v in key.items()]))).mappings().one_or_none()
        assert row is not None, f"at {revision}: the {name} row {key} is gone"
        changed = {k: (v, row[k]) for k, v in values.items() if row[k] != v}
        assert changed == {}, f"at {revision}: {name} {key} changed {changed}"


def test_upgrade_revision_by_revision_keeps_every_row(tmp_path):
    url = pg_schema_url(SCHEMA) if PG_URL else f"sqlite:///{tmp_path}/upgraded.sqlite3"
    app = create_app({**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI": url})
    try:
        with app.app_context():
            script = script_directory()
            assert len(script.get_heads()) == 1, "the migrations must form one line"
            revisions = [r.revision for r in reversed(list(script.walk_revisions()))]
            assert script.get_revision(revisions[0]).down_revision is None
            inserted = Inserted()
            appeared: dict[str, list[str]] = {}
            for revision in revisions:
                flask_migrate.upgrade(revision=revision)
                with db.engine.begin() as conn:
                    meta = MetaData()
                    meta.reflect(conn)
                    assert_rows_kept(conn, meta, inserted, revision)
                    appeared[revision] = insert_new_tables(conn, meta, inserted)
            with db.engine.connect() as conn:
                meta = MetaData()
                meta.reflect(conn)
                assert_rows_kept(conn, meta, inserted, "head")
            # the representative tables were there along the way, each with its row
            assert {"user", "user_role", "audit_event"} <= set(appeared[revisions[0]])
            everything = {name for names in appeared.values() for name in names}
            assert {"brand", "sku", "location", "stock_move", "stock_level", "supplier",
                    "purchase_order", "purchase_order_line", "customer_order",
                    "customer_order_line", "carrier", "parcel", "aftersales_case",
                    "background_job"} <= everything
            assert everything == set(db.metadata.tables)
            assert len(inserted.rows) == len(everything) + 2  # two bins, two warehouses
            # the audit rows there before the chain were sealed by its migration
            from erp.core.auditchain import verify
            report = verify()
            assert report.ok, report.problems
            assert report.rows == 1
            db.session.remove()
        assert _diff(app) == []
    finally:
        with app.app_context():
            db.engine.dispose()
        if PG_URL:
            drop_pg_schema(SCHEMA)
