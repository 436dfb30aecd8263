"""``erp personal-data export`` and ``erp personal-data anonymise``."""

from __future__ import annotations

import json

import openpyxl
from sqlalchemy import select

from erp.core.models import AuditEvent
from erp.extensions import db
from erp.privacy.services import ANONYMISED_NAME
from tests.privacy.conftest import EMAIL, NAME


def _actions() -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.action.like("privacy.%")).order_by(AuditEvent.id)))


def test_export_writes_json_or_xlsx_by_extension(world, runner, tmp_path):
    out = tmp_path / "jane.json"
    result = runner.invoke(args=["personal-data", "export", "Jane.Roe@Example.com",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"Written to {out}" in result.output
    data = json.loads(out.read_text())
    assert [o["number"] for o in data["records"]["orders"]] == [world.shipped.number,
                                                               world.cancelled.number]
    book_path = tmp_path / "jane.xlsx"
    result = runner.invoke(args=["personal-data", "export", EMAIL, "--out", str(book_path)])
    assert result.exit_code == 0, result.output
    assert openpyxl.load_workbook(book_path)["After-sales cases"].max_row == 2
    assert _actions() == ["privacy.exported", "privacy.exported"]

    bad = runner.invoke(args=["personal-data", "export", EMAIL, "--out",
                              str(tmp_path / "jane.csv")])
    assert bad.exit_code == 2
    assert ".json or .xlsx" in bad.output
    not_email = runner.invoke(args=["personal-data", "export", "jane", "--out", str(out)])
    assert not_email.exit_code == 2
    ghost = tmp_path / "ghost.json"
    nothing = runner.invoke(args=["personal-data", "export", "ghost@example.com",
                                  "--out", str(ghost)])
    assert nothing.exit_code == 0
    assert "Nothing is held" in nothing.output
    assert not ghost.exists()


def test_anonymise_asks_refuses_and_anonymises(world, runner, create_order):
    pending = create_order([(world.shipped.lines[0].sku, 1)], email=EMAIL, customer_name=NAME)
    db.session.commit()
    refused = runner.invoke(args=["personal-data", "anonymise", EMAIL, "--reason", "Request",
                                  "--yes"])
    assert refused.exit_code == 1
    assert f"order {pending.number} (new)" in refused.output

    pending.state = "cancelled"  # the customer's last order is settled
    db.session.commit()
    declined = runner.invoke(args=["personal-data", "anonymise", EMAIL, "--reason", "Request"],
                             input="n\n")
    assert declined.exit_code == 1
    assert "Nothing changed." in declined.output
    db.session.expire_all()
    assert world.shipped.customer_name == NAME

    done = runner.invoke(args=["personal-data", "anonymise", EMAIL, "--reason", "Request"],
                         input="y\n")
    assert done.exit_code == 0, done.output
    assert "Personal data anonymised: 3 orders" in done.output
    db.session.expire_all()
    assert world.shipped.customer_name == ANONYMISED_NAME
    assert pending.email is None
    assert _actions() == ["privacy.anonymised"]
    again = runner.invoke(args=["personal-data", "anonymise", EMAIL, "--reason", "Request",
                                "--yes"])
    assert again.exit_code == 0
    assert "Nothing is held" in again.output
