"""The header search on the demo data: each kind found, one match opens, several are listed.

The kinds a role may not view never show, and LIKE wildcards are taken literally.
"""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import func, select

from erp.aftersales.models import AfterSalesCase
from erp.catalog.models import Sku
from erp.core import search
from erp.extensions import db
from erp.orders.models import CustomerOrder
from erp.procurement.models import PurchaseOrder
from erp.shipping.models import Parcel
from erp.warehouse.models import Location, LocationKind
from tests import demo_data

# the demo data: loaded once per module on SQLite (see tests/demo_data.py)
demo_template, app_config, demo = demo_data.demo_template, demo_data.app_config, demo_data.demo


def text(response) -> str:
    return response.get_data(as_text=True)


def find(client, value: str):
    return client.get("/search", query_string={"find": value})


def groups(response) -> dict[str, list[str]]:
    """Return ``{kind: [labels]}`` of a results page."""
    page = text(response)
    assert response.status_code == 200, page
    found = {}
    for kind, body in re.findall(r'<section class="searchgroup" id="found-(\w+)">(.*?)</section>',
                                 page, re.S):
        found[kind] = [html.unescape(label) for label in
                       re.findall(r'<li><a href="[^"]+">([^<]+)</a>', body)]
    return found


@pytest.fixture
def sign_in(client, create_user, login):
    """Return ``sign_in(*roles)``: a new user holding ``roles``, signed in (the last one out)."""
    counter = iter(range(1, 100))

    def do(*roles: str):
        client.post("/logout")
        user = create_user(f"search-{next(counter)}", roles=roles)
        assert login(user.username).status_code == 302
        return user

    return do


def _first(stmt):
    return db.session.scalars(stmt.limit(1)).first()


def test_the_header_holds_the_search_box_on_every_page(client, sign_in, demo):
    sign_in("warehouse")
    for url in ("/", "/warehouse/putaway", "/orders/"):
        header = text(client.get(url)).split("</header>")[0]
        assert re.search(r'<form class="topsearch" method="get" action="/search" role="search">'
                         r'\s*<input type="search" name="find"', header)
        assert "autofocus" not in header  # scanner screens keep the focus on their scan field


def test_one_match_of_each_kind_opens_it(client, sign_in, demo):
    sign_in("manager")  # views every kind
    order = _first(select(CustomerOrder).order_by(CustomerOrder.id))
    po = _first(select(PurchaseOrder).where(PurchaseOrder.number.is_not(None))
                .order_by(PurchaseOrder.id))
    case = _first(select(AfterSalesCase).where(AfterSalesCase.return_tracking.is_not(None))
                  .order_by(AfterSalesCase.id))
    parcel = _first(select(Parcel).where(Parcel.tracking_number.is_not(None))
                    .order_by(Parcel.id))
    sku = _first(select(Sku).where(Sku.barcode.is_not(None)).order_by(Sku.id))
    bin_ = _first(select(Location).where(Location.kind == LocationKind.storage)
                  .order_by(Location.id))
    spaced = " ".join(parcel.tracking_number[i:i + 4]
                      for i in range(0, len(parcel.tracking_number), 4))
    expected = {
        order.number.lower(): f"/orders/{order.id}",
        po.number: f"/procurement/purchase-orders/{po.id}",
        case.number.lower(): f"/aftersales/cases/{case.id}",
        case.return_tracking: f"/aftersales/cases/{case.id}",
        spaced.lower(): f"/shipping/parcels/{parcel.id}",   # typed in groups, any case
        parcel.number: f"/shipping/parcels/{parcel.id}",
        sku.code.lower(): f"/catalog/skus/{sku.id}",
        sku.barcode: f"/catalog/skus/{sku.id}",             # the EAN
        f"  {bin_.code}  ": f"/warehouse/stock/bin/{bin_.id}",
    }
    for value, url in expected.items():
        response = find(client, value)
        assert response.status_code == 302, (value, text(response)[:300])
        assert response.headers["Location"] == url, value


def test_an_email_lists_the_orders_and_cases_of_the_customer(client, sign_in, demo):
    sign_in("customer_service")
    email = db.session.scalar(
        select(CustomerOrder.email).join(AfterSalesCase, AfterSalesCase.order_id ==
                                         CustomerOrder.id)
        .group_by(CustomerOrder.email).having(func.count(func.distinct(CustomerOrder.id)) > 1)
        .order_by(CustomerOrder.email).limit(1))
    found = groups(find(client, email.upper()))
    orders = db.session.scalars(select(CustomerOrder.number).where(
        CustomerOrder.email == email)).all()
    cases = db.session.scalars(select(AfterSalesCase.number).where(
        AfterSalesCase.contact_email == email)).all()
    assert sorted(found["order"]) == sorted(orders)
    assert sorted(found["case"]) == sorted(cases)
    assert set(found) == {"order", "case"}


def test_several_partial_matches_are_listed_by_kind(client, sign_in, demo):
    sign_in("admin")
    response = find(client, "np-day")
    found = groups(response)
    codes = db.session.scalars(select(Sku.code).where(Sku.code.like("NP-DAY%"))
                               .order_by(Sku.code)).all()
    assert len(codes) > 1
    assert found["sku"] == codes[:search.LIMIT]
    assert "numbers or codes contain it" in text(response)
    # more than a kind shows: a link to its list searching the same text
    response = find(client, "kb-")
    assert len(groups(response)["sku"]) == search.LIMIT
    assert 'href="/catalog/skus?q=kb-"' in text(response)
    assert len(groups(find(client, "A-01"))["bin"]) == search.LIMIT
    page = text(find(client, "PO-2026"))
    assert len(groups(find(client, "PO-2026"))["purchase_order"]) > 1
    assert "/procurement/purchase-orders?q=PO-2026" not in page  # all shown: no "more" link


def test_nothing_matched_says_so(client, sign_in, demo):
    sign_in("admin")
    response = find(client, "NO-SUCH-THING-42")
    assert response.status_code == 200
    assert "Nothing matched" in text(response)
    assert groups(response) == {}
    assert "Type or scan" in text(client.get("/search"))  # an empty box explains itself


def test_a_role_never_sees_a_kind_it_may_not_view(client, sign_in, demo):
    po = _first(select(PurchaseOrder).where(PurchaseOrder.number.is_not(None))
                .order_by(PurchaseOrder.id))
    sign_in("customer_service")  # no procurement.view
    assert client.get(f"/procurement/purchase-orders/{po.id}").status_code == 403
    response = find(client, po.number)
    assert response.status_code == 200
    assert "Nothing matched" in text(response)
    assert "purchase_order" not in groups(find(client, "PO-2026"))
    sign_in("purchasing")
    assert find(client, po.number).headers["Location"] == f"/procurement/purchase-orders/{po.id}"


@pytest.mark.parametrize("value", ["%", "_", "NP_DAY", "NP%DAY", "PO-2026-00000_"])
def test_like_wildcards_are_taken_literally(client, sign_in, demo, value):
    sign_in("admin")
    response = find(client, value)
    assert response.status_code == 200
    assert groups(response) == {}, value


def test_search_page_in_chinese_with_a_plural(client, sign_in, demo):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    sign_in("admin")
    page = text(find(client, "np-day"))
    assert "个编号或代码包含它" in page
    assert "没有与“NO-SUCH”匹配的记录。" in text(find(client, "NO-SUCH"))
