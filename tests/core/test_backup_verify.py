"""``erp backup --verify FILE``: a good backup verifies; a damaged or tampered one fails, clearly.

Each backup is restored into a scratch database (a temporary file; a new PostgreSQL database),
checked (SQLite's integrity check, the ledger, the audit trail's hash chain) and dropped.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile

import flask_migrate
import pytest
from sqlalchemy import func, select, text, update

from erp import create_app
from erp.core import backup
from erp.core.dbcheck import script_directory
from erp.core.models import AuditEvent
from erp.extensions import db
from erp.warehouse.models import StockLevel
from tests.conftest import PG_URL
from tests.core import test_backup
from tests.core.test_backup import _server_engine, load_data

# the backup tests' databases of their own (a migrated template copied per test)
migrated_template = test_backup.migrated_template
new_database = test_backup.new_database
live = test_backup.live


@pytest.fixture
def scratch_dir(tmp_path, monkeypatch):
    """Make SQLite's scratch copies in a directory of the test's, to see them cleaned up."""
    path = tmp_path / "scratch"
    path.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(path))
    return path


def scratch_databases() -> list[str]:
    """Return the scratch databases of this process left on the PostgreSQL server."""
    engine = _server_engine()
    with engine.connect() as conn:
        names = list(conn.scalars(text("SELECT datname FROM pg_database WHERE datname LIKE :p"),
                                  {"p": f"erp_verify_{os.getpid()}_%"}))
    engine.dispose()
    return names


@pytest.fixture
def left_behind(scratch_dir):
    """Return a function listing the scratch databases or files a verification left."""
    def check() -> list[str]:
        return scratch_databases() if PG_URL else os.listdir(scratch_dir)
    return check


def make_backup(tmp_path, name: str = "erp.bak") -> str:
    out = backup.backup_database(str(tmp_path / name)).path
    db.session.commit()
    return out


def verify(app, path: str):
    return app.test_cli_runner().invoke(args=["backup", "--verify", path])


def audit_count() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent))


def test_a_good_backup_verifies_and_the_scratch_database_is_dropped(live, tmp_path, left_behind):
    load_data()
    out = make_backup(tmp_path)
    events = audit_count()

    result = verify(live, out)

    assert result.exit_code == 0, result.output + result.stderr
    head = ", ".join(sorted(script_directory().get_heads()))
    assert f"Restoring {out} into a scratch database" in result.output
    assert "contents: 2 stock moves, 1 orders" in result.output
    assert f"migration: {head}\n" in result.output
    assert ("integrity: ok" in result.output) != bool(PG_URL)
    assert "ledger: Ledger balances: every level equals its moves" in result.output
    assert f"audit trail: Audit trail intact: {events - 1} row(s) chained up to position " \
           f"{events - 1}." in result.output
    assert f"Backup {out} verified: it restores, its ledger balances and its audit trail is " \
           "intact." in result.output
    assert result.stderr == ""
    assert left_behind() == []
    assert audit_count() == events  # the live database was only read


def test_a_backup_whose_ledger_does_not_balance_fails(live, tmp_path, left_behind):
    data = load_data()
    db.session.execute(update(StockLevel).where(
        StockLevel.sku_id == data["sku"], StockLevel.location_id == data["bin_a"])
        .values(on_hand=StockLevel.on_hand + 7))
    db.session.commit()
    out = make_backup(tmp_path)

    result = verify(live, out)

    assert result.exit_code == 1
    assert "ledger: 1 difference(s)" in result.stderr
    assert "SKU TS-RED-M bin" in result.stderr
    assert "on hand 32 but moves give 25" in result.stderr
    assert f"Backup {out} FAILED verification (ledger)." in result.stderr
    assert "audit trail:" in result.output  # the other checks still ran
    assert left_behind() == []


def _tamper_audit(path: str) -> int:
    """Change one audit row's action in SQLite backup ``path``; return its id."""
    conn = sqlite3.connect(path)
    try:
        ident = conn.execute("SELECT min(id) FROM audit_event").fetchone()[0]
        conn.execute("UPDATE audit_event SET action = 'sku.deleted' WHERE id = ?", (ident,))
        conn.commit()
    finally:
        conn.close()
    return ident


def _change_audit_row_bypassing_the_trigger() -> int:
    """Change one audit row in the live database (on PostgreSQL past the refusing trigger)."""
    ident = db.session.scalar(select(func.min(AuditEvent.id)))
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(update(AuditEvent.__table__).where(AuditEvent.__table__.c.id == ident)
                     .values(action="sku.deleted"))
    return ident


def test_a_backup_with_a_changed_audit_row_fails(live, tmp_path, left_behind):
    load_data()
    if PG_URL:
        ident = _change_audit_row_bypassing_the_trigger()
        out = make_backup(tmp_path)
    else:
        out = make_backup(tmp_path)
        ident = _tamper_audit(out)

    result = verify(live, out)

    assert result.exit_code == 1, result.output
    assert "ledger: Ledger balances" in result.output
    assert "audit trail: Audit trail NOT intact: 1 problem(s)" in result.stderr
    assert str(ident) in result.stderr  # the problem names the row
    assert f"Backup {out} FAILED verification (audit trail)." in result.stderr
    assert left_behind() == []


def test_a_damaged_or_foreign_file_fails_with_a_clear_message(live, tmp_path, left_behind):
    load_data()
    out = make_backup(tmp_path)
    size = os.path.getsize(out)
    damaged = str(tmp_path / "damaged.bak")
    with open(out, "rb") as src, open(damaged, "wb") as dst:
        data = bytearray(src.read())
        if PG_URL:
            data = data[: size // 2]  # a dump cut short (a full disk, a copy interrupted)
        else:
            page = 4096
            for at in range(2 * page, size, 3 * page):  # pages of tables, not the schema's
                data[at:at + 512] = b"\xff" * 512
        dst.write(data)

    result = verify(live, damaged)

    assert result.exit_code == 1
    assert f"Backup {damaged} FAILED verification" in result.stderr
    if PG_URL:
        assert "Error: pg_restore failed" in result.stderr
    else:
        assert "integrity: " in result.stderr or "Error:" in result.stderr
    assert left_behind() == []

    notes = tmp_path / "notes.txt"
    notes.write_text("not a backup")
    result = verify(live, str(notes))
    assert result.exit_code == 1
    assert ("is not a pg_dump archive" if PG_URL else "is not an SQLite database") \
        in result.stderr
    assert f"Backup {notes} FAILED verification: it could not be restored." in result.stderr

    result = verify(live, str(tmp_path / "missing.bak"))
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


def test_an_older_backup_is_migrated_to_head_before_the_checks(live, tmp_path, new_database,
                                                               left_behind):
    heads = script_directory().get_heads()
    previous = script_directory().get_revision(heads[0]).down_revision
    app = create_app({**live.config, "SQLALCHEMY_DATABASE_URI": new_database("old", False)})
    app.instance_path = str(tmp_path / "old-instance")
    with app.app_context():
        flask_migrate.upgrade(revision=previous)
        # the file alone: no audit event (this release's audit rows may not fit that schema)
        out = str(tmp_path / "old.bak")
        url = backup.database_url()
        if PG_URL:
            backup._pg_backup(url, out)
        else:
            backup._sqlite_backup(url, out)
        result = verify(app, out)
        db.session.remove()
        db.engine.dispose()

    assert result.exit_code == 0, result.output + result.stderr
    assert f"migration: {previous}, upgraded to {heads[0]}" in result.output
    assert "verified" in result.output
    assert left_behind() == []
