"""The demo ships one transfer to the second warehouse, US-LAX, and leaves it in transit."""

from __future__ import annotations

from sqlalchemy import select

from erp.extensions import db
from erp.warehouse import queries
from erp.warehouse.demo import DEMO_TRANSFER_NOTE
from erp.warehouse.models import TransferOrder, TransferState, Warehouse
from tests import demo_data

demo_template, app_config, demo = (demo_data.demo_template, demo_data.app_config,
                                   demo_data.demo)


def test_demo_has_a_transfer_in_transit_to_the_second_warehouse(demo, runner):
    transfer = db.session.scalar(select(TransferOrder).where(
        TransferOrder.note == DEMO_TRANSFER_NOTE))
    assert transfer.state == TransferState.shipped
    assert transfer.to_warehouse.code == "US-LAX"
    assert queries.in_transit_total()[0] == transfer.picked_qty > 0
    assert queries.ledger_problems(db.session) == []
    # loading the demo again makes no second warehouse or transfer
    assert runner.invoke(args=["demo"]).exit_code == 0
    assert db.session.scalar(select(db.func.count()).select_from(Warehouse).where(
        Warehouse.code == "US-LAX")) == 1
    assert db.session.scalar(select(db.func.count()).select_from(TransferOrder).where(
        TransferOrder.note == DEMO_TRANSFER_NOTE)) == 1
