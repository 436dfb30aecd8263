"""Shared data for the intake tests: a valid order payload and an order sheet writer."""

from __future__ import annotations

import copy
import io
from typing import Any

import xlsxwriter

from erp.orders.excel import ORDER_SPEC

ORDER = {
    "number": "WEB-1001",
    "placed_at": "2026-11-20T10:15:00Z",
    "customer_name": "Anna Schmidt",
    "email": "anna@example.de",
    "phone": "+49 30 1234567",
    "shipping_address": {"name": "Anna Schmidt", "address1": "Hauptstr. 5", "city": "Berlin",
                         "postal_code": "10115", "country": "DE"},
    "currency": "EUR",
    "shipping_charge": "4.90",
    "shipping_service": None,  # the packing bench chooses; see test_intake_checks.py
    "ioss_number": "IM1234567890",
    "lines": [{"sku": "TS-RED-M", "quantity": 2, "unit_price": "19.90"},
              {"sku": "4006381333931", "quantity": 1, "unit_price": 19.9}],
}


def payload(**changes: Any) -> dict:
    """Return a deep copy of :data:`ORDER` with top-level ``changes``."""
    data = copy.deepcopy(ORDER)
    data.update(changes)
    return data


def row(number: str = "WEB-1", sku: str = "TS-RED-M", quantity: Any = 1, **changes) -> dict:
    """Return one sheet row (by column key) of a valid order line."""
    values = {"order_number": number, "placed_at": "2026-11-20 10:15", "customer_name": "Jo Bloggs",
              "email": "jo@example.com", "phone": "", "ship_name": "Jo Bloggs",
              "address1": "1 High St", "address2": "", "city": "London", "region": "",
              "postal_code": "SW1A 1AA", "country": "GB", "currency": "GBP",
              "shipping_charge": 3.5, "shipping_service": "", "ioss_number": "",
              "buyer_tax_id": "", "notes": "", "sku": sku, "quantity": quantity,
              "unit_price": 12.5}
    values.update(changes)
    return values


def sheet(rows: list[dict]) -> bytes:
    """Return an .xlsx order sheet with ``rows``."""
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True, "strings_to_formulas": False})
    ws = book.add_worksheet(str(ORDER_SPEC.title))
    for col, column in enumerate(ORDER_SPEC.columns):
        ws.write_string(0, col, str(column.header))
    for r, values in enumerate(rows, start=1):
        for col, column in enumerate(ORDER_SPEC.columns):
            value = values.get(column.key)
            if value is None or value == "":
                continue
            if isinstance(value, str):
                ws.write_string(r, col, value)
            else:
                ws.write_number(r, col, value)
    book.close()
    return out.getvalue()
