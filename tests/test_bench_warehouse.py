"""The warehouse benchmarks' generated ledger is consistent, and the figures are registered."""

from sqlalchemy import func, select

from bench import data, runner, suites  # noqa: F401 - suites registers the benchmarks
from bench.warehouse_data import LedgerGenerator, create_bins
from erp.catalog.models import Sku
from erp.extensions import db
from erp.warehouse import services
from erp.warehouse.models import StockLevel, StockMove
from erp.warehouse.queries import availability_query, ledger_problems


def test_move_tx_and_availability_are_registered():
    assert {"move_tx", "availability"} <= set(runner.REGISTRY)


def test_generated_ledger_agrees_with_its_levels_short_and_long(app):
    data.sample_catalog(60)
    warehouse = services.create_warehouse(code="BENCH", name="Bench", country="CN", actor=None)
    bins = create_bins(warehouse.id, 25)
    sku_ids = list(db.session.scalars(select(Sku.id).order_by(Sku.id)))
    ledger = LedgerGenerator(sku_ids, bins)
    ledger.post(60)  # one receipt per SKU
    assert ledger.write_levels() == 120
    db.session.commit()
    assert ledger_problems(db.session) == []
    ledger.post(3_000)
    ledger.write_levels()
    db.session.commit()
    assert ledger_problems(db.session) == []
    assert db.session.scalar(select(func.count()).select_from(StockMove)) == 3_000
    assert db.session.scalar(select(func.min(StockLevel.on_hand))) >= 0
    rows = db.session.execute(availability_query()).all()
    assert len(rows) == 60
    assert sum(r.on_hand for r in rows) == sum(ledger.home_qty) + sum(ledger.over_qty)
