"""The day board's figures and the dispatch batch list query, against a small dataset."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from erp.extensions import db
from erp.orders.models import OrderState
from erp.shipping import queries
from erp.shipping.models import BatchState, ParcelState
from erp.shipping.services import dispatch
from tests.shipping import test_dispatch

# the builder of labelled parcels, shared with the dispatch tests
dispatch_world = test_dispatch.dispatch_world

NOW = datetime(2026, 3, 10, 16, 0, tzinfo=UTC)


@pytest.fixture
def board_data(dispatch_world, create_order, dummy_admin):
    """Orders waiting for several services, parcels packed and dispatched today and before."""
    w = dispatch_world
    post, ems = w.setup["post"], w.setup["ems"]
    ems.cutoff = "17:00"
    for state, service in ((OrderState.allocated, "POST-REG"), (OrderState.allocated, "POST-REG"),
                           (OrderState.picking, "EMS"), (OrderState.allocated, "EMS"),
                           (OrderState.new, "POST-REG"), (OrderState.shipped, "POST-REG"),
                           (OrderState.allocated, "NOPE")):
        create_order([(w.sku, 1)], state=state, shipping_service=service)
    today = NOW.replace(hour=9)
    packed_today = w.parcel(post, [(w.sku, 1)])            # order packed, parcel labelled
    packed_today.packed_at = today
    sent = w.parcel(post, [(w.sku, 1)])
    sent.packed_at = today
    old = w.parcel(ems, [(w.sku, 1)])
    old.packed_at = NOW - timedelta(days=1)
    voided = w.parcel(post, [(w.sku, 1)], state="voided")
    voided.packed_at = today
    voided.order.state = OrderState.picking
    batch = dispatch.open_batch(post.carrier, actor=dummy_admin)
    dispatch.scan_into_batch(batch, sent.tracking_number, actor=dummy_admin)
    dispatch.close_batch(batch, actor=dummy_admin)
    sent.dispatched_at = NOW.replace(hour=11)
    db.session.flush()
    return {"batch": batch, "open": dispatch.open_batch(post.carrier, actor=dummy_admin)}


def test_day_board_counts_orders_waiting_per_service(board_data):
    board = queries.day_board(NOW)
    rows = {r.code: r for r in board.services}
    post, ems = rows["POST-REG"], rows["EMS"]
    assert (post.allocated, post.picking, post.packed) == (2, 1, 1)  # + the voided one's order
    assert (ems.allocated, ems.picking, ems.packed) == (1, 1, 1)
    assert rows["NOPE"].allocated == 1
    assert rows["NOPE"].name == "(unknown or no service)"
    assert rows["EXPRESS"].waiting == 0  # active services show even when idle
    assert board.waiting == {"allocated": 4, "picking": 2, "packed": 2}


def test_day_board_cutoffs(board_data):
    rows = {r.code: r for r in queries.day_board(NOW).services}
    assert rows["POST-REG"].cutoff == "15:00"
    assert rows["POST-REG"].cutoff_passed is True
    assert rows["EMS"].cutoff_passed is False
    morning = {r.code: r for r in queries.day_board(NOW.replace(hour=8)).services}
    assert morning["POST-REG"].cutoff_passed is False
    # the cut-off is a local time: 16:00 UTC is 00:00 the next day in UTC+8
    east = {r.code: r for r in queries.day_board(NOW, tz=timezone(timedelta(hours=8))).services}
    assert east["EMS"].cutoff_passed is False


def test_day_board_parcels_today(board_data):
    board = queries.day_board(NOW)
    assert board.packed_today == 2  # not yesterday's, not the voided one
    assert board.dispatched_today == 1
    rows = {r.code: r for r in board.services}
    assert (rows["POST-REG"].packed_today, rows["POST-REG"].dispatched_today) == (2, 1)
    assert rows["EMS"].packed_today == 0
    tomorrow = queries.day_board(NOW + timedelta(days=1))
    assert (tomorrow.packed_today, tomorrow.dispatched_today) == (0, 0)


def test_day_board_open_batches(board_data):
    board = queries.day_board(NOW)
    assert [r.number for r in board.open_batches] == [board_data["open"].number]


def test_cutoff_passed_reads_hh_mm():
    at = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
    assert queries.cutoff_passed("15:00", at) is True
    assert queries.cutoff_passed("15:01", at) is False
    assert queries.cutoff_passed("", at) is False
    assert queries.cutoff_passed("soon", at) is False


def test_batch_list_query_filters(board_data, dispatch_world, dummy_admin):
    closed, still_open = board_data["batch"], board_data["open"]
    express = dispatch.open_batch(dispatch_world.setup["express"].carrier, actor=dummy_admin)

    def numbers(**filters):
        return [r.number for r in db.session.execute(
            queries.batch_list_query(queries.BatchFilters(**filters)))]

    assert sorted(numbers()) == sorted([closed.number, still_open.number, express.number])
    assert numbers(state="closed") == [closed.number]
    assert sorted(numbers(state="open")) == sorted([still_open.number, express.number])
    assert numbers(carrier_id=express.carrier_id) == [express.number]
    sent = db.session.execute(queries.batch_parcels_query(closed.id)).one()
    assert numbers(q=sent.tracking_number.lower()) == [closed.number]
    assert numbers(q=closed.number[-3:]) == [closed.number]
    today = date.today()
    assert len(numbers(date_from=today, date_to=today)) == 3
    assert numbers(date_to=today - timedelta(days=1)) == []
    row = next(r for r in db.session.execute(queries.batch_list_query(queries.BatchFilters(
        state=BatchState.closed.value))))
    assert row.parcels == 1
    assert row.weight_g == sent.weight_g
    assert db.session.scalar(queries.batch_count_query(queries.BatchFilters(state="open"))) == 2
    totals = queries.batch_totals(closed.id)
    assert totals.parcels == 1
    assert totals.declared == {"EUR": sent.declared_value}
    assert db.session.scalar(select(func.count()).where(
        queries.batch_parcels_query(closed.id).subquery().c.state == ParcelState.dispatched)) == 1


def test_board_page_for_every_staff_role(client, login_as, board_data):
    db.session.commit()
    login_as("customer_service")
    response = client.get("/shipping/board")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Orders waiting per service" in page
    assert board_data["open"].number in page
    assert "Open a batch" not in page  # customer service only reads
