"""Dispatch batches: scanning refusals, closing (stock, parcels, orders), views and permissions.

Parcels are built directly through the models (labelled, goods at the packing bench), so these
tests do not depend on the packing and labelling services.
"""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from sqlalchemy import event, func, select

from erp.core.errors import ValidationError
from erp.core.models import AuditEvent
from erp.extensions import db
from erp.orders.models import OrderState
from erp.shipping import queries, s10
from erp.shipping.errors import ShippingError
from erp.shipping.models import (
    BatchState,
    CustomsForm,
    DispatchBatch,
    Parcel,
    ParcelLine,
    ParcelState,
    PickWave,
    PickWaveOrder,
    WaveState,
)
from erp.shipping.services import dispatch
from erp.warehouse import services as warehouse
from erp.warehouse.models import LocationKind, MoveKind, StockLevel, StockMove
from erp.warehouse.queries import ledger_problems


@pytest.fixture
def dispatch_world(shipping_setup, packing_bin, create_sku, create_bin, receive_stock,
                   create_order):
    """Return a namespace to build labelled parcels whose goods wait at the packing bench.

    ``world.parcel(service, [(sku, qty), ...], state="labelled", order=None, **order_values)``
    makes a packed order (unless given), moves its units to the packing bench and returns a
    parcel with customs lines.
    """
    stock_bin = create_bin("A-01-01-01")
    skus = [create_sku("TS-RED-M", weight_g=180), create_sku("MUG-WHT", weight_g=350)]
    for sku in skus:
        receive_stock(sku, stock_bin, 500)
    serials = itertools.count(10000000)
    numbers = itertools.count(1)

    class World:
        setup = shipping_setup
        bench = packing_bin
        bin = stock_bin
        sku, mug = skus

        def parcel(self, service, lines, *, state="labelled", order=None, sequence=1,
                   **order_values):
            if order is None:
                order_values.setdefault("shipping_service", service.code)
                order = create_order([(sku, qty) for sku, qty in lines],
                                     state=OrderState.packed, **order_values)
            warehouse.post_moves([warehouse.MoveSpec(sku.id, stock_bin.id, packing_bin.id, qty,
                                                     MoveKind.pick, ref_type="test", ref_id=1)
                                  for sku, qty in lines], actor=None)
            n = next(numbers)
            if service.tracking_kind.value == "s10":
                tracking = s10.make("RR" if service.code == "POST-REG" else
                                    "LK" if service.code == "EPACKET" else "EE",
                                    next(serials), "CN")
            else:
                tracking = f"EX{next(serials):010d}"
            parcel = Parcel(
                number=f"PCL-2026-{n:06d}", order_id=order.id, service_id=service.id,
                sequence=sequence, state=ParcelState(state),
                tracking_number=tracking if state != "packed" else None,
                weight_g=sum(200 * qty for _sku, qty in lines) + 40, length_mm=250,
                width_mm=180, height_mm=50,
                declared_value=sum(Decimal("9.90") * qty for _sku, qty in lines),
                currency=order.currency, customs_form=CustomsForm.cn22, dutiable=False,
                ioss_number="IM1234567890" if order.country in {"DE", "FR"} else None)
            for line, (sku, qty) in zip(order.lines, lines, strict=False):
                parcel.lines.append(ParcelLine(
                    order_line_id=line.id, sku_id=sku.id, quantity=qty,
                    description="Men's cotton T-shirt", hs_code="610910", origin_country="CN",
                    net_weight_g=180 * qty, unit_value=Decimal("9.90")))
            db.session.add(parcel)
            db.session.flush()
            return parcel

        def on_hand(self, sku, location):
            return db.session.scalar(select(StockLevel.on_hand).where(
                StockLevel.sku_id == sku.id, StockLevel.location_id == location.id)) or 0

    return World()


@pytest.fixture
def post_batch(dispatch_world, dummy_admin):
    """Return an open batch of China Post."""
    return dispatch.open_batch(dispatch_world.setup["post"].carrier, actor=dummy_admin)


# --------------------------------------------------------------------------- opening

def test_open_batch_numbers_and_audits(dispatch_world, dummy_admin):
    carrier = dispatch_world.setup["post"].carrier
    first = dispatch.open_batch(carrier, actor=dummy_admin)
    second = dispatch.open_batch(carrier, actor=dummy_admin)  # two collections a day
    assert first.number.startswith("DSP-")
    assert first.number != second.number
    assert first.state == BatchState.open
    assert first.opened_by_id == dummy_admin.id
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "dispatch_batch.opened")) == 2


def test_open_batch_for_inactive_carrier_is_refused(dispatch_world, dummy_admin):
    carrier = dispatch_world.setup["post"].carrier
    carrier.active = False
    with pytest.raises(ShippingError, match="inactive"):
        dispatch.open_batch(carrier, actor=dummy_admin)


# --------------------------------------------------------------------------- scanning

def test_scan_by_tracking_number_with_spaces(dispatch_world, post_batch, dummy_admin):
    parcel = dispatch_world.parcel(dispatch_world.setup["post"], [(dispatch_world.sku, 1)])
    typed = " ".join([parcel.tracking_number[:2], parcel.tracking_number[2:6],
                      parcel.tracking_number[6:].lower()])
    assert dispatch.scan_into_batch(post_batch, typed, actor=dummy_admin) is parcel
    assert parcel.batch_id == post_batch.id


def test_scan_by_parcel_number(dispatch_world, post_batch, dummy_admin):
    parcel = dispatch_world.parcel(dispatch_world.setup["epacket"], [(dispatch_world.sku, 1)])
    assert dispatch.scan_into_batch(post_batch, parcel.number.lower(), actor=dummy_admin) \
        is parcel


def test_scan_unknown_number_is_refused(dispatch_world, post_batch, dummy_admin):
    with pytest.raises(ShippingError, match='No parcel has the tracking or parcel number "ZZ1'):
        dispatch.scan_into_batch(post_batch, "ZZ1234", actor=dummy_admin)


def test_scan_empty_is_refused(post_batch, dummy_admin):
    with pytest.raises(ShippingError, match="Scan a parcel"):
        dispatch.scan_into_batch(post_batch, "  ", actor=dummy_admin)


def test_scan_s10_with_wrong_check_digit_is_refused(dispatch_world, post_batch, dummy_admin):
    parcel = dispatch_world.parcel(dispatch_world.setup["post"], [(dispatch_world.sku, 1)])
    number = parcel.tracking_number
    wrong = number[:10] + str((int(number[10]) + 1) % 10) + number[11:]
    with pytest.raises(ValidationError, match="wrong check digit"):
        dispatch.scan_into_batch(post_batch, wrong, actor=dummy_admin)
    assert parcel.batch_id is None


def test_scan_wrong_carrier_names_both(dispatch_world, post_batch, dummy_admin):
    parcel = dispatch_world.parcel(dispatch_world.setup["express"], [(dispatch_world.sku, 1)],
                                   phone="+49 30 1234")
    with pytest.raises(ShippingError) as err:
        dispatch.scan_into_batch(post_batch, parcel.tracking_number, actor=dummy_admin)
    assert "Express Courier" in str(err.value)
    assert "China Post" in str(err.value)
    assert parcel.batch_id is None


def test_scan_unlabelled_parcel_says_label_it_first(dispatch_world, post_batch, dummy_admin):
    parcel = dispatch_world.parcel(dispatch_world.setup["post"], [(dispatch_world.sku, 1)],
                                   state="packed")
    with pytest.raises(ShippingError, match="label it first"):
        dispatch.scan_into_batch(post_batch, parcel.number, actor=dummy_admin)


def test_scan_voided_parcel_is_refused(dispatch_world, post_batch, dummy_admin):
    parcel = dispatch_world.parcel(dispatch_world.setup["post"], [(dispatch_world.sku, 1)],
                                   state="voided")
    with pytest.raises(ShippingError, match="was voided"):
        dispatch.scan_into_batch(post_batch, parcel.tracking_number, actor=dummy_admin)


def test_scan_dispatched_parcel_is_refused(dispatch_world, dummy_admin):
    carrier = dispatch_world.setup["post"].carrier
    parcel = dispatch_world.parcel(dispatch_world.setup["post"], [(dispatch_world.sku, 1)])
    first = dispatch.open_batch(carrier, actor=dummy_admin)
    dispatch.scan_into_batch(first, parcel.tracking_number, actor=dummy_admin)
    dispatch.close_batch(first, actor=dummy_admin)
    second = dispatch.open_batch(carrier, actor=dummy_admin)
    with pytest.raises(ShippingError, match=f"already dispatched in batch {first.number}"):
        dispatch.scan_into_batch(second, parcel.tracking_number, actor=dummy_admin)


def test_scan_twice_into_same_batch_is_refused(dispatch_world, post_batch, dummy_admin):
    parcel = dispatch_world.parcel(dispatch_world.setup["post"], [(dispatch_world.sku, 1)])
    dispatch.scan_into_batch(post_batch, parcel.tracking_number, actor=dummy_admin)
    with pytest.raises(ShippingError, match=f"already in this batch \\({post_batch.number}"):
        dispatch.scan_into_batch(post_batch, parcel.tracking_number, actor=dummy_admin)


def test_scan_parcel_of_another_batch_names_it(dispatch_world, post_batch, dummy_admin):
    parcel = dispatch_world.parcel(dispatch_world.setup["post"], [(dispatch_world.sku, 1)])
    dispatch.scan_into_batch(post_batch, parcel.tracking_number, actor=dummy_admin)
    other = dispatch.open_batch(dispatch_world.setup["post"].carrier, actor=dummy_admin)
    with pytest.raises(ShippingError, match=f"already in batch {post_batch.number}"):
        dispatch.scan_into_batch(other, parcel.tracking_number, actor=dummy_admin)
    assert parcel.batch_id == post_batch.id


def test_closed_batch_refuses_scans(dispatch_world, post_batch, dummy_admin):
    first = dispatch_world.parcel(dispatch_world.setup["post"], [(dispatch_world.sku, 1)])
    late = dispatch_world.parcel(dispatch_world.setup["post"], [(dispatch_world.sku, 1)])
    dispatch.scan_into_batch(post_batch, first.tracking_number, actor=dummy_admin)
    dispatch.close_batch(post_batch, actor=dummy_admin)
    with pytest.raises(ShippingError, match="is closed"):
        dispatch.scan_into_batch(post_batch, late.tracking_number, actor=dummy_admin)
    with pytest.raises(ShippingError, match="is closed"):
        dispatch.remove_from_batch(post_batch, first, actor=dummy_admin)
    assert late.batch_id is None


def test_remove_from_batch(dispatch_world, post_batch, dummy_admin):
    parcel = dispatch_world.parcel(dispatch_world.setup["post"], [(dispatch_world.sku, 1)])
    dispatch.scan_into_batch(post_batch, parcel.tracking_number, actor=dummy_admin)
    dispatch.remove_from_batch(post_batch, parcel, actor=dummy_admin)
    assert parcel.batch_id is None
    assert parcel.state == ParcelState.labelled
    with pytest.raises(ShippingError, match="is not in batch"):
        dispatch.remove_from_batch(post_batch, parcel, actor=dummy_admin)


# --------------------------------------------------------------------------- closing

def test_close_empty_batch_is_refused(post_batch, dummy_admin):
    with pytest.raises(ShippingError, match="is empty"):
        dispatch.close_batch(post_batch, actor=dummy_admin)
    assert post_batch.state == BatchState.open


def test_close_batch_posts_moves_ships_orders(dispatch_world, post_batch, dummy_admin):
    w = dispatch_world
    post = w.setup["post"]
    a = w.parcel(post, [(w.sku, 2), (w.mug, 1)])
    b = w.parcel(w.setup["epacket"], [(w.sku, 1)])
    # a split order: one parcel here, the other still labelled and not in the batch
    split_first = w.parcel(post, [(w.sku, 1)])
    split_second = w.parcel(post, [(w.sku, 1)], order=split_first.order, sequence=2)
    # an order still being packed: its first parcel goes, the order stays in picking
    partly = w.parcel(post, [(w.mug, 1)], state="labelled")
    partly.order.state = OrderState.picking
    db.session.flush()
    for parcel in (a, b, split_first, partly):
        dispatch.scan_into_batch(post_batch, parcel.tracking_number, actor=dummy_admin)
    bench_before = w.on_hand(w.sku, w.bench), w.on_hand(w.mug, w.bench)

    summary = dispatch.close_batch(post_batch, actor=dummy_admin)
    db.session.commit()

    assert post_batch.state == BatchState.closed
    assert post_batch.closed_at is not None
    assert post_batch.closed_by_id == dummy_admin.id
    assert summary.parcels == 4
    assert summary.units == 6
    assert summary.orders_shipped == 2
    assert sorted(summary.orders_waiting) == sorted([split_first.order.number,
                                                     partly.order.number])
    assert summary.declared == {"EUR": Decimal("59.40")}
    # what was sent, then which orders are not complete and why (never the parcels just sent)
    assert str(summary).startswith(f"Batch {post_batch.number} closed: 4 parcels dispatched "
                                   "(6 units, ")
    assert "; 2 orders shipped; 2 orders not complete yet: " in str(summary)
    assert f"{split_first.order.number} (1 parcel still to send)" in str(summary)
    assert f"{partly.order.number} (still being packed)" in str(summary)
    for parcel in (a, b, split_first, partly):
        db.session.refresh(parcel)
        assert parcel.state == ParcelState.dispatched
        assert parcel.dispatched_at is not None
    assert split_second.state == ParcelState.labelled
    assert a.order.state == OrderState.shipped
    assert b.order.state == OrderState.shipped
    assert split_first.order.state == OrderState.packed
    assert partly.order.state == OrderState.picking
    # stock: the bench gave the units to the customer, in one posting
    assert (w.on_hand(w.sku, w.bench), w.on_hand(w.mug, w.bench)) == (
        bench_before[0] - 4, bench_before[1] - 2)
    customer = warehouse.virtual_location(LocationKind.customer)
    moves = db.session.scalars(select(StockMove).where(StockMove.kind == MoveKind.ship)).all()
    assert {m.to_location_id for m in moves} == {customer.id}
    assert {m.from_location_id for m in moves} == {w.bench.id}
    assert {(m.ref_type, m.ref_id) for m in moves} == {
        ("parcel", p.id) for p in (a, b, split_first, partly)}
    assert sum(m.quantity for m in moves) == 6
    postings = db.session.scalars(select(AuditEvent.changes).where(
        AuditEvent.action == "stock_move.posted")).all()
    assert [c["moves"] for c in postings if c["kind"] == "ship"] == [len(moves)]
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "parcel.dispatched")) == 4
    assert ledger_problems(db.session) == []

    # the second parcel of the split order goes in the next batch; then the order ships
    later = dispatch.open_batch(post.carrier, actor=dummy_admin)
    dispatch.scan_into_batch(later, split_second.tracking_number, actor=dummy_admin)
    assert dispatch.close_batch(later, actor=dummy_admin).orders_shipped == 1
    assert split_first.order.state == OrderState.shipped
    assert ledger_problems(db.session) == []


def test_close_uses_the_wave_packing_location(dispatch_world, post_batch, dummy_admin,
                                              create_bin):
    w = dispatch_world
    other_bench = create_bin("PACK-02", kind="packing", pick_sequence=0)
    parcel = w.parcel(w.setup["post"], [(w.sku, 1)])
    warehouse.post_moves([warehouse.MoveSpec(w.sku.id, w.bench.id, other_bench.id, 1,
                                             MoveKind.transfer)], actor=None)
    wave = PickWave(number="WAVE-2026-000001", state=WaveState.done,
                    packing_location_id=other_bench.id)
    wave.orders.append(PickWaveOrder(order_id=parcel.order_id, slot=1))
    db.session.add(wave)
    dispatch.scan_into_batch(post_batch, parcel.tracking_number, actor=dummy_admin)
    dispatch.close_batch(post_batch, actor=dummy_admin)
    assert w.on_hand(w.sku, other_bench) == 0
    assert ledger_problems(db.session) == []


def test_close_without_goods_at_bench_changes_nothing(dispatch_world, post_batch, dummy_admin):
    w = dispatch_world
    parcel = w.parcel(w.setup["post"], [(w.sku, 1)])
    warehouse.post_moves([warehouse.MoveSpec(w.sku.id, w.bench.id, w.bin.id, 1,
                                             MoveKind.transfer)], actor=None)
    dispatch.scan_into_batch(post_batch, parcel.tracking_number, actor=dummy_admin)
    db.session.commit()
    with pytest.raises(warehouse.StockError, match="PACK-01"):
        dispatch.close_batch(post_batch, actor=dummy_admin)
    db.session.rollback()
    assert post_batch.state == BatchState.open
    assert parcel.state == ParcelState.labelled


def test_close_refuses_a_parcel_voided_after_scanning(dispatch_world, post_batch, dummy_admin):
    w = dispatch_world
    parcel = w.parcel(w.setup["post"], [(w.sku, 1)])
    dispatch.scan_into_batch(post_batch, parcel.tracking_number, actor=dummy_admin)
    parcel.state = ParcelState.voided
    db.session.flush()
    with pytest.raises(ShippingError, match="remove it from the batch"):
        dispatch.close_batch(post_batch, actor=dummy_admin)
    dispatch.remove_from_batch(post_batch, parcel, actor=dummy_admin)
    assert parcel.batch_id is None


def test_close_a_large_batch_in_few_queries(dispatch_world, post_batch, dummy_admin):
    w = dispatch_world
    for _ in range(30):
        parcel = w.parcel(w.setup["post"], [(w.sku, 1), (w.mug, 1)])
        parcel.batch_id = post_batch.id
    db.session.flush()
    statements = []

    def note(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        summary = dispatch.close_batch(post_batch, actor=dummy_admin)
        db.session.flush()
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    assert summary.parcels == 30
    assert summary.orders_shipped == 30
    # No select or update per parcel; the inserts (moves, audit events) are the ledger's and
    # the order state machine's business.
    reads_and_updates = [s for s in statements if not s.lstrip().startswith("INSERT")]
    assert len(reads_and_updates) < 20, "\n".join(reads_and_updates)


# --------------------------------------------------------------------------- views

def test_batch_screens_for_warehouse(client, login_as, dispatch_world):
    w = dispatch_world
    login_as("warehouse")
    parcel = w.parcel(w.setup["post"], [(w.sku, 1)])
    db.session.commit()
    response = client.get("/shipping/batches/new")
    assert response.status_code == 200
    assert b"autofocus" in response.data
    response = client.post("/shipping/batches/new",
                           data={"carrier_id": w.setup["post"].carrier_id})
    assert response.status_code == 302
    batch = db.session.scalars(select(DispatchBatch)).one()
    detail = client.get(response.headers["Location"])
    assert detail.status_code == 200
    page = detail.get_data(as_text=True)
    assert 'name="code"' in page
    assert "autofocus" in page
    assert "style=" not in page
    assert "<script" not in page.split("</header>")[1]

    response = client.post(f"/shipping/batches/{batch.id}/scan", data={"code": "NOPE999"},
                           follow_redirects=True)
    assert "Refused: No parcel" in response.get_data(as_text=True)
    response = client.post(f"/shipping/batches/{batch.id}/scan",
                           data={"code": parcel.tracking_number}, follow_redirects=True)
    assert f"{parcel.number} ({parcel.tracking_number}) added" in response.get_data(as_text=True)
    assert client.get(f"/shipping/batches/{batch.id}/manifest.xlsx").status_code == 200
    pdf = client.get(f"/shipping/batches/{batch.id}/handover.pdf")
    assert pdf.status_code == 200
    assert pdf.mimetype == "application/pdf"

    response = client.post(f"/shipping/batches/{batch.id}/close", follow_redirects=True)
    assert f"Batch {batch.number} closed: 1 parcel dispatched (" in response.get_data(
        as_text=True)
    db.session.expire_all()
    assert batch.state == BatchState.closed
    assert db.session.get(Parcel, parcel.id).state == ParcelState.dispatched
    listing = client.get("/shipping/batches?state=closed&q=" + parcel.tracking_number)
    assert batch.number in listing.get_data(as_text=True)
    assert client.get("/shipping/batches?state=open").get_data(as_text=True).count(
        batch.number) == 0
    export = client.get("/shipping/batches/export.xlsx")
    assert export.status_code == 200
    assert export.mimetype.endswith("sheet")


def test_close_empty_batch_view_flashes_refusal(client, login_as, dispatch_world, dummy_admin):
    login_as("warehouse")
    batch = dispatch.open_batch(dispatch_world.setup["post"].carrier, actor=dummy_admin)
    db.session.commit()
    response = client.post(f"/shipping/batches/{batch.id}/close", follow_redirects=True)
    assert "Refused: Batch" in response.get_data(as_text=True)
    assert 'role="alert"' in response.get_data(as_text=True)
    db.session.expire_all()
    assert batch.state == BatchState.open


def test_customer_service_may_read_but_not_scan_or_close(client, login_as, dispatch_world,
                                                        dummy_admin):
    w = dispatch_world
    batch = dispatch.open_batch(w.setup["post"].carrier, actor=dummy_admin)
    parcel = w.parcel(w.setup["post"], [(w.sku, 1)])
    db.session.commit()
    login_as("customer_service")
    page = client.get(f"/shipping/batches/{batch.id}")
    assert page.status_code == 200
    assert 'name="code"' not in page.get_data(as_text=True)
    assert client.post(f"/shipping/batches/{batch.id}/scan",
                       data={"code": parcel.tracking_number}).status_code == 403
    assert client.post(f"/shipping/batches/{batch.id}/close").status_code == 403
    assert client.post(f"/shipping/batches/{batch.id}/parcels/{parcel.id}/remove"
                       ).status_code == 403
    assert client.get("/shipping/batches/new").status_code == 403
    db.session.expire_all()
    assert db.session.get(Parcel, parcel.id).batch_id is None


def test_add_waiting_parcels_takes_the_carriers_labelled_parcels(dispatch_world, post_batch,
                                                                 dummy_admin):
    w = dispatch_world
    post_parcels = [w.parcel(w.setup["post"], [(w.sku, 1)]),
                    w.parcel(w.setup["ems"], [(w.sku, 1)])]
    w.parcel(w.setup["post"], [(w.sku, 1)], state="packed")
    w.parcel(w.setup["express"], [(w.sku, 1)], phone="+1 555 0100")
    other = dispatch.open_batch(w.setup["post"].carrier, actor=dummy_admin)
    taken = w.parcel(w.setup["post"], [(w.sku, 1)])
    dispatch.scan_into_batch(other, taken.tracking_number, actor=dummy_admin)
    assert queries.waiting_parcel_count(post_batch.carrier_id) == 2
    assert dispatch.add_waiting_parcels(post_batch, actor=dummy_admin).added == 2
    assert [p.batch_id for p in post_parcels] == [post_batch.id] * 2
    assert taken.batch_id == other.id
    assert queries.waiting_parcel_count(post_batch.carrier_id) == 0
    assert dispatch.close_batch(post_batch, actor=dummy_admin).parcels == 2


def test_add_parcels_refuses_all_when_one_is_wrong(dispatch_world, post_batch, dummy_admin):
    w = dispatch_world
    good = w.parcel(w.setup["post"], [(w.sku, 1)])
    wrong = w.parcel(w.setup["express"], [(w.sku, 1)], phone="+1 555 0100")
    with pytest.raises(ShippingError, match="Express Courier"):
        dispatch.add_parcels(post_batch, [good, wrong], actor=dummy_admin)
    assert good.batch_id is None


def test_add_waiting_view(client, login_as, dispatch_world, dummy_admin):
    w = dispatch_world
    batch = dispatch.open_batch(w.setup["post"].carrier, actor=dummy_admin)
    w.parcel(w.setup["post"], [(w.sku, 1)])
    db.session.commit()
    login_as("warehouse")
    assert "Add all 1 labelled parcel waiting" in client.get(
        f"/shipping/batches/{batch.id}").get_data(as_text=True)
    response = client.post(f"/shipping/batches/{batch.id}/add-waiting", follow_redirects=True)
    assert "1 labelled parcel added" in response.get_data(as_text=True)
