"""``id_url``: a list's row links built once, each the same as ``url_for`` would give."""

from __future__ import annotations

import pytest
from flask import url_for

from erp.core.viewhelpers import id_url

ROUTES = [("orders.order_detail", "order_id"), ("shipping.parcel_detail", "parcel_id"),
          ("catalog.sku_detail", "sku_id"), ("catalog.product_detail", "product_id"),
          ("warehouse.stock_by_bin", "location_id"), ("warehouse.stock_by_sku", "sku_id")]


@pytest.mark.parametrize(("endpoint", "arg"), ROUTES)
def test_id_url_gives_what_url_for_gives(app, endpoint, arg):
    with app.test_request_context("/", base_url="http://erp.example/prefix"):
        make = id_url(endpoint, arg)
        for ident in (1, 7, 42, 1000, 2**31 - 1):
            assert make(ident) == url_for(endpoint, **{arg: ident})


def test_id_url_keeps_other_values_and_the_query(app):
    with app.test_request_context("/"):
        make = id_url("orders.order_detail", "order_id", tab="lines")
        assert make(5) == url_for("orders.order_detail", order_id=5, tab="lines")


def test_id_url_falls_back_to_url_for_when_the_mark_is_elsewhere(app):
    from erp.core import viewhelpers

    with app.test_request_context("/"):
        mark = str(viewhelpers._ID_MARK)
        make = id_url("orders.order_detail", "order_id", note=mark)  # twice in the URL
        assert make(5) == url_for("orders.order_detail", order_id=5, note=mark)
