"""The procurement benchmarks: registered, po_receive runs at smoke size, sound generated data."""

import json

from sqlalchemy import func, select

from bench import data, procurement_data, runner, suites  # noqa: F401 - suites registers them
from bench.warehouse_data import LedgerGenerator, create_bins
from erp.extensions import db
from erp.procurement import services
from erp.procurement.models import PurchaseOrderLine, SupplierItem
from erp.procurement.replenishment_queries import INCOMING_STATES, incoming_query
from erp.warehouse import services as warehouse_services
from erp.warehouse.queries import ledger_problems


def test_po_receive_and_replenishment_are_registered():
    assert {"po_receive", "replenishment"} <= set(runner.REGISTRY)


def test_po_receive_quick_prints_a_figure(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(runner, "RESULTS", tmp_path / "latest.jsonl")
    monkeypatch.delenv("ERP_BENCH_DATABASE_URL", raising=False)
    monkeypatch.delenv("ERP_TEST_DATABASE_URL", raising=False)
    assert runner.run(["po_receive"], quick=True) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (line["bench"], line["db"], line["n"]) == ("po_receive", "sqlite", 100)
    assert line["seconds"] > 0
    assert line["queries"] > 0


def test_generated_replenishment_data_is_sound(app):
    data.sample_catalog(400)
    warehouse = warehouse_services.create_warehouse(code="BENCH", name="Bench", country="CN",
                                                    actor=None)
    sku_ids = procurement_data.sku_ids_in_order()
    ledger = LedgerGenerator(sku_ids, create_bins(warehouse.id, 20))
    ledger.post(len(sku_ids))
    ledger.write_levels()
    suppliers = procurement_data.create_suppliers()
    items = procurement_data.insert_supplier_items(sku_ids, suppliers)
    lines = procurement_data.insert_open_orders(sku_ids, suppliers, orders=8, lines_per_order=10)
    db.session.commit()
    assert ledger_problems(db.session) == []
    assert db.session.scalar(select(func.count()).select_from(SupplierItem)) == items
    assert db.session.scalar(select(func.count()).select_from(PurchaseOrderLine)) == lines == 80
    preferred = db.session.execute(
        select(SupplierItem.sku_id, func.count()).where(SupplierItem.preferred.is_(True))
        .group_by(SupplierItem.sku_id).having(func.count() > 1)).all()
    assert preferred == []
    found = services.replenishment_suggestions()
    assert found
    assert any(not s.has_supplier for s in found)
    # what the generated open orders still bring, summed in Python, is what the query sees
    incoming = dict(db.session.execute(incoming_query()).all())
    expected: dict[int, int] = {}
    for line in db.session.scalars(select(PurchaseOrderLine)):
        if line.order.state in INCOMING_STATES:
            expected[line.sku_id] = expected.get(line.sku_id, 0) + line.remaining_qty
    assert incoming == expected
    assert all(s.incoming == expected.get(s.sku_id, 0) for s in found)
    # The SQL ranking picks the same supplier item as the supplier service, SKU by SKU.
    chosen = services.preferred_supplier_items([s.sku_id for s in found])
    assert {s.sku_id: s.supplier_item_id for s in found if s.has_supplier} == {
        sku_id: item.id for sku_id, item in chosen.items()}
