"""Fixtures of the personal-data tests: one consumer with data in every domain, and another."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import JSON, String, Text, cast, select

from erp.aftersales.exports import mark_exported
from erp.aftersales.models import AfterSalesCase, CaseType, NoteVisibility
from erp.aftersales.services import cases, resolution, returns
from erp.extensions import db
from erp.orders.models import CustomerOrder
from erp.orders.services import cancel_order, hold_order, release_order, update_shipping_address

EMAIL = "jane.roe@example.com"
NAME = "Jane Roe"
PHONE = "+44 20 7946 0958"
NEW_PHONE = "+44 20 7946 0000"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100

#: texts that identify the subject and must be gone from every text column after anonymising
SUBJECT_TEXTS = [EMAIL, NAME, PHONE, NEW_PHONE, "Privet", "SW1A 1AA", "GB123456789",
                 "London", "Old Road", "roe-damage"]
OTHER_TEXTS = ["other@example.com", "Otto Other", "+49 30 1234567", "Lindenweg"]


@dataclass
class World:
    """The subject's and the other customer's records."""

    shipped: CustomerOrder
    cancelled: CustomerOrder
    case: AfterSalesCase
    other: CustomerOrder
    other_open: CustomerOrder


@pytest.fixture
def people(create_user):
    """Return users of the roles that act here."""
    return {"cs": create_user("agent", roles=("customer_service",)),
            "warehouse": create_user("picker", roles=("warehouse",)),
            "admin": create_user("root", roles=("admin",))}


@pytest.fixture
def world(ship_order, create_order, customs_stock, reasons, returns_bins, people) -> World:
    """Build a consumer with a shipped order, a cancelled one, a closed return case and refund.

    The shipped order's e-mail is stored in mixed case; the case has a note, a photo, a changed
    contact, a received and inspected return and an exported refund. Another customer has a
    shipped order, and an open order once held with a note naming the subject's e-mail.
    Committed.
    """
    tee1, tee2 = customs_stock("TEE-1"), customs_stock("TEE-2")
    subject = {"customer_name": NAME, "ship_name": NAME, "phone": PHONE,
               "address1": "4 Privet Drive", "address2": "Flat 2", "city": "London",
               "postal_code": "SW1A 1AA", "country": "GB", "buyer_tax_id": "GB123456789",
               "notes": "Leave with the neighbour"}
    shipped = ship_order([(tee1, 2, "15.00"), (tee2, 1, "40.00")], email="Jane.Roe@Example.com",
                         **subject)
    other = ship_order([(tee2, 1, "40.00")], email="other@example.com",
                       customer_name="Otto Other", ship_name="Otto Other", phone="+49 30 1234567",
                       address1="Lindenweg 7", city="Potsdam", postal_code="14467")

    cs, warehouse = people["cs"], people["warehouse"]
    case = cases.open_case(shipped, case_type=CaseType.return_refund, reason="WRONG_SIZE",
                           lines={shipped.lines[0].id: 2}, actor=cs,
                           note=f"{NAME} says the fit is too small")
    cases.update_contact(case, name=NAME, email=EMAIL, phone=NEW_PHONE, actor=cs)
    cases.add_note(case, "Told Jane the label is on its way", visibility=NoteVisibility.customer,
                   actor=cs)
    cases.add_attachment(case, "roe-damage.png", "image/png", PNG, actor=cs)
    cases.authorise_return(case, actor=cs)
    items = returns.receive_return(case, [(case.lines[0].id, None, None, 2)], actor=warehouse)
    returns.inspect_return(case, {items[0].id: [("A", 2, None)]}, actor=warehouse)
    resolution.resolve_after_inspection(case, actor=cs)
    mark_exported([refund.id for refund in case.refunds], actor=cs)
    cases.close_case(case, actor=cs)

    cancelled = create_order([(tee1, 1)], email=EMAIL, **subject)
    update_shipping_address(cancelled, {"address1": "9 Old Road", "phone": NEW_PHONE}, actor=cs)
    cancel_order(cancelled, reason=f"{NAME} asked to cancel by phone {PHONE}", actor=cs)

    other_open = create_order([(tee2, 1)], email="other@example.com", customer_name="Otto Other",
                              ship_name="Otto Other", address1="Lindenweg 7", city="Potsdam",
                              postal_code="14467")
    hold_order(other_open, reason=f"Same household as {EMAIL}?", actor=cs)
    release_order(other_open, actor=cs)
    db.session.commit()
    return World(shipped=shipped, cancelled=cancelled, case=case, other=other,
                 other_open=other_open)


def text_values() -> dict[str, list[str]]:
    """Return ``{"table.column": [lower-cased values]}`` of every text and JSON column."""
    out = {}
    for table in db.metadata.sorted_tables:
        columns = [c for c in table.columns if isinstance(c.type, (String, Text, JSON))]
        if not columns:
            continue
        rows = db.session.execute(select(*[cast(c, Text) for c in columns])).all()
        for index, column in enumerate(columns):
            out[f"{table.name}.{column.name}"] = [row[index].lower() for row in rows
                                                  if row[index] is not None]
    return out


def text_hits(needle: str, values: dict[str, list[str]] | None = None) -> list[str]:
    """Return ``table.column`` of every text or JSON column holding ``needle`` (any case)."""
    values = text_values() if values is None else values
    needle = needle.lower()
    return [name for name, texts in values.items() if any(needle in text for text in texts)]
