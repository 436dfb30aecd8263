"""The storefront's pull feeds: GET /api/v1/events, /orders?updated_since=, /products."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from erp.catalog import services as catalog_services
from erp.catalog.models import Product, Sku, SkuStatus
from erp.core import events
from erp.core.models import utcnow
from erp.extensions import db
from erp.orders import services
from erp.orders.models import CustomerOrder


@pytest.fixture
def token(app, dummy_admin):
    """Return the plaintext of an active API token."""
    _, plaintext = services.create_api_token("Web store", actor=dummy_admin)
    db.session.commit()
    return plaintext


@pytest.fixture
def get(client, token):
    """Return ``get(url, **headers)`` with the bearer token."""

    def do_get(url, **headers):
        return client.get(url, headers={"Authorization": f"Bearer {token}", **headers})

    return do_get


def emit(n: int, type_: str = "order.held", start: int = 0) -> None:
    for i in range(start, start + n):
        events.emit(type_, {"order": f"WEB-{i}"}, key=events.order_key(f"WEB-{i}"))


# --------------------------------------------------------------------------- events

def test_events_page_in_sequence_order_and_sees_what_committed(get):
    emit(5)
    db.session.commit()  # committed, not yet numbered: the pull numbers them first
    body = get("/api/v1/events?limit=2").get_json()
    assert [e["data"]["order"] for e in body["events"]] == ["WEB-0", "WEB-1"]
    assert body["has_more"] is True
    first = body["events"][0]
    assert set(first) == {"id", "type", "sequence", "timestamp", "data"}
    assert first["id"].startswith("evt_")
    assert first["timestamp"].endswith("Z")
    seen = [e["sequence"] for e in body["events"]]
    while body["has_more"]:
        body = get(f"/api/v1/events?after={body['next_cursor']}&limit=2").get_json()
        seen += [e["sequence"] for e in body["events"]]
    assert seen == sorted(seen)
    assert len(set(seen)) == 5
    # caught up: the cursor stays where it was, nothing more
    last = get(f"/api/v1/events?after={seen[-1]}").get_json()
    assert last == {"events": [], "next_cursor": seen[-1], "has_more": False}


def test_an_uncommitted_event_is_not_in_the_feed(app, get):
    emit(1)
    db.session.rollback()
    assert get("/api/v1/events").get_json()["events"] == []


def test_events_filter_by_type(get):
    emit(2, "order.held")
    emit(2, "order.cancelled", start=10)
    db.session.commit()
    body = get("/api/v1/events?type=order.cancelled").get_json()
    assert {e["type"] for e in body["events"]} == {"order.cancelled"}
    assert len(body["events"]) == 2
    both = get("/api/v1/events?type=order.cancelled,order.held").get_json()
    assert len(both["events"]) == 4


@pytest.mark.parametrize(("query", "parameter"), [
    ("limit=501", "limit"), ("limit=0", "limit"), ("limit=ten", "limit"),
    ("after=-1", "after"), ("after=x", "after"), ("type=order.eaten", "type")])
def test_events_bad_parameters_are_400_naming_them(get, query, parameter):
    response = get(f"/api/v1/events?{query}")
    assert response.status_code == 400
    body = response.get_json()
    assert body["parameter"] == parameter
    assert parameter in body["error"]


def test_events_limit_defaults_to_100_and_goes_to_500(get):
    emit(501)
    db.session.commit()
    assert len(get("/api/v1/events").get_json()["events"]) == 100
    body = get("/api/v1/events?limit=500").get_json()
    assert len(body["events"]) == 500
    assert body["has_more"] is True


def test_events_need_a_token(client):
    assert client.get("/api/v1/events").status_code == 401


def test_paging_while_events_are_written_sees_each_once_in_order(app, get):
    """Every committed event is seen once, in order, while a writer commits more.

    The writer commits events in many small transactions (and numbers some itself, as the
    ticker would) while the feed is paged until caught up.
    """
    done = threading.Event()
    errors = []

    def writer():
        with app.app_context():
            try:
                for n in range(120):
                    emit(1 + n % 3, start=n * 10)
                    db.session.commit()
                    if n % 7 == 0:
                        events.sequence_all()
            except BaseException as err:  # pragma: no cover - reported below
                errors.append(err)
            finally:
                db.session.remove()
                done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    seen, cursor = [], 0
    while True:
        finished = done.is_set()  # read before the page: a page after it is complete
        body = get(f"/api/v1/events?after={cursor}&limit=7").get_json()
        seen += [(e["sequence"], e["id"]) for e in body["events"]]
        cursor = body["next_cursor"]
        if finished and not body["has_more"] and not body["events"]:
            break
    thread.join(30)
    assert not errors, errors
    committed = list(db.session.execute(
        select(events.OutboxEvent.seq, events.OutboxEvent.event_id)
        .order_by(events.OutboxEvent.seq)).tuples())
    assert len(committed) == sum(1 + n % 3 for n in range(120))
    assert seen == committed  # each once, in order, none missed


# --------------------------------------------------------------------------- orders

def test_orders_changed_since_page_by_cursor(get, dummy_sku, create_order):
    orders = [create_order([(dummy_sku, 1)], number=f"WEB-{n}") for n in range(5)]
    db.session.commit()
    since = utcnow() - timedelta(minutes=1)
    db.session.execute(update(CustomerOrder).where(CustomerOrder.id == orders[0].id)
                       .values(updated_at=utcnow() - timedelta(days=2)))
    db.session.commit()
    stamp = since.isoformat().replace("+00:00", "Z")
    body = get(f"/api/v1/orders?updated_since={stamp}&limit=3").get_json()
    numbers = [o["number"] for o in body["orders"]]
    assert body["has_more"] is True
    assert len(numbers) == 3
    body = get(f"/api/v1/orders?updated_since={stamp}&limit=3"
               f"&after={body['next_cursor']}").get_json()
    numbers += [o["number"] for o in body["orders"]]
    assert body["has_more"] is False
    assert sorted(numbers) == ["WEB-1", "WEB-2", "WEB-3", "WEB-4"]  # WEB-0 changed before
    assert body["orders"][0]["lines"][0]["sku"] == "TS-RED-M"
    assert "updated_at" in body["orders"][0]
    # a change brings an order back, after the others
    services.hold_order(orders[0], reason="Customer asked", actor=None)
    db.session.commit()
    again = get(f"/api/v1/orders?updated_since={stamp}&after={body['next_cursor']}").get_json()
    assert [o["number"] for o in again["orders"]] == ["WEB-0"]
    assert again["orders"][0]["state"] == "on_hold"


def test_orders_feed_reads_a_page_in_a_fixed_number_of_queries(get, dummy_sku, create_order,
                                                               count_queries):
    for n in range(3):
        create_order([(dummy_sku, 1), (dummy_sku, 2)], number=f"WEB-{n}")
    db.session.commit()
    with count_queries() as few:
        get("/api/v1/orders?limit=3")
    for n in range(3, 20):
        create_order([(dummy_sku, 1), (dummy_sku, 2)], number=f"WEB-{n}")
    db.session.commit()
    with count_queries() as many:
        assert len(get("/api/v1/orders?limit=20").get_json()["orders"]) == 20
    assert many.count == few.count  # no query per order


@pytest.mark.parametrize(("query", "parameter"), [
    ("updated_since=yesterday", "updated_since"), ("after=%%%", "after"),
    ("after=bm9wZQ", "after"), ("limit=1000", "limit")])
def test_orders_feed_bad_parameters_are_400(get, query, parameter):
    response = get(f"/api/v1/orders?{query}")
    assert response.status_code == 400
    assert response.get_json()["parameter"] == parameter


# --------------------------------------------------------------------------- products

@pytest.fixture
def catalog(create_product, create_sku, create_category, create_bin, receive_stock):
    """Two products: a T-shirt (two SKUs, one stocked) under Apparel / Tops; a mug."""
    apparel = create_category("APP", "Apparel")
    tops = create_category("TOPS", "Tops", parent=apparel)
    shirt = create_product("TSHIRT", category=tops, name="Cotton T-shirt",
                           description="Soft cotton.")
    red = create_sku("TS-RED-M", product=shirt, barcode="4006381333931", list_price="19.90",
                     list_currency="EUR", weight_g=180)
    create_sku("TS-RED-L", product=shirt, barcode="036000291452", weight_g=190)
    mug = create_product("MUG", name="Mug")
    create_sku("MUG-1", product=mug)
    receive_stock(red, create_bin(), 7)
    db.session.commit()
    return {"shirt": shirt, "mug": mug}


def test_products_feed_has_what_the_storefront_publishes(get, catalog):
    response = get("/api/v1/products")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-cache"
    assert not response.headers["ETag"].startswith("W/")
    items = {p["code"]: p for p in response.get_json()["products"]}
    shirt = items["TSHIRT"]
    assert shirt["active"] is True
    assert shirt["brand"]["code"] == "TESTBR"
    assert shirt["category"]["path"] == ["Apparel", "Tops"]
    assert (shirt["name"], shirt["description"]) == ("Cotton T-shirt", "Soft cotton.")
    red, large = shirt["skus"][1], shirt["skus"][0]  # by code: TS-RED-L, TS-RED-M
    assert (red["code"], red["ean"], red["price"], red["currency"], red["weight_g"]) == (
        "TS-RED-M", "4006381333931", "19.9000", "EUR", 180)
    assert (red["available"], red["in_stock"], red["active"]) == (7, True, True)
    assert (large["ean"], large["available"], large["in_stock"]) == ("0036000291452", 0, False)


def test_products_answer_304_to_their_etag_until_something_changes(get, catalog):
    first = get("/api/v1/products")
    etag = first.headers["ETag"]
    again = get("/api/v1/products", **{"If-None-Match": etag})
    assert again.status_code == 304
    assert again.get_data() == b""
    assert again.headers["ETag"] == etag
    sku = db.session.scalar(select(Sku).where(Sku.code == "MUG-1"))
    catalog_services.update_sku(sku, actor=None, colour="Blue")
    db.session.commit()
    changed = get("/api/v1/products", **{"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag


def test_a_sku_change_counts_as_its_products_change(get, catalog):
    later = utcnow() + timedelta(seconds=1)
    stamp = later.isoformat().replace("+00:00", "Z")
    assert get(f"/api/v1/products?updated_since={stamp}").get_json()["products"] == []
    db.session.execute(update(Sku).where(Sku.code == "MUG-1")
                       .values(updated_at=later + timedelta(seconds=1)))
    db.session.commit()
    body = get(f"/api/v1/products?updated_since={stamp}").get_json()
    assert [p["code"] for p in body["products"]] == ["MUG"]
    db.session.execute(update(Product).where(Product.code == "TSHIRT")
                       .values(updated_at=later + timedelta(seconds=2)))
    db.session.commit()
    body = get(f"/api/v1/products?updated_since={stamp}").get_json()
    assert [p["code"] for p in body["products"]] == ["MUG", "TSHIRT"]


def test_an_inactive_product_is_listed_as_inactive(get, catalog):
    db.session.execute(update(Sku).where(Sku.code == "MUG-1")
                       .values(status=SkuStatus.discontinued, updated_at=utcnow()))
    db.session.commit()
    items = {p["code"]: p for p in get("/api/v1/products").get_json()["products"]}
    assert items["MUG"]["active"] is False
    assert items["MUG"]["skus"][0]["active"] is False
    assert items["MUG"]["skus"][0]["status"] == "discontinued"


def test_products_page_by_cursor(get, catalog, create_product):
    for n in range(4):
        create_product(f"EXTRA-{n}")
    db.session.commit()
    body = get("/api/v1/products?limit=2").get_json()
    codes = [p["code"] for p in body["products"]]
    while body["has_more"]:
        body = get(f"/api/v1/products?limit=2&cursor={body['next_cursor']}").get_json()
        codes += [p["code"] for p in body["products"]]
    assert sorted(codes) == sorted(["TSHIRT", "MUG"] + [f"EXTRA-{n}" for n in range(4)])
    assert len(codes) == 6


def test_the_feed_sends_each_event_as_its_envelope(get):
    """The feed writes its JSON from the stored text; it must say what envelope() says."""
    events.emit("refund.approved", {"order": "WEB-1", "amount": "10.50", "note": "Ünïcode \"q\"",
                                    "nested": {"list": [1, 2.5, None, True]}})
    emit(2)
    db.session.commit()
    body = get("/api/v1/events").get_json()
    assert body["events"] == [events.envelope(event) for event in events.page()]
