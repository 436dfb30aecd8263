"""The guarded operations: every state-changing POST route, and how it is proven to act once.

DESIGN ("Transactions and concurrency"): a service that checks a limit and then writes locks the
row that owns the limit first. This module is the one list of those operations. Each entry of
:data:`GUARDED` builds a scenario with the services (committed), names the staff role and the
form to post, and checks afterwards that the limit held. ``test_guarded.py`` fires the form 8
times at once, from 8 signed-in people, against a real server, and runs the check, and a
meta-test fails when a POST route is in neither :data:`GUARDED` nor :data:`SAFE_TO_REPEAT`.
The first scenarios are below; the rest live in :mod:`tests.concurrency.scenarios`, one module
per domain, and register here when it is imported (at the end of this module). A check asks
what two successes would leave behind: a second audit event of the move, a second number
drawn, stock moved twice, a limit passed.

A route is *safe to repeat* when 8 identical requests at once cannot break a limit: they write
the same values, or a unique key (a code, a number) refuses all but one, or they only read.
Its reason is written beside it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select

from erp.core import audit, numbering
from erp.core.models import AuditEvent
from erp.extensions import db
from erp.warehouse.models import StockLevel
from erp.warehouse.queries import ledger_problems
from tests.concurrency.harness import Answer


@dataclass
class Scenario:
    """What to post, as whom, and what must hold afterwards."""

    role: str
    path: str
    data: dict
    check: Callable[[list[Answer]], None]
    files: dict | None = None  #: ``{field: (filename, bytes, mime)}`` for an upload


#: endpoint -> builds the scenario from pytest fixtures (``get(name)``)
GUARDED: dict[str, Callable[[Callable[[str], object]], Scenario]] = {}


def guarded(endpoint: str):
    """Register a scenario builder for ``endpoint``."""

    def register(build):
        GUARDED[endpoint] = build
        return build

    return register


def audit_count(action: str, of=None) -> int:
    """Return how many audit events of ``action`` exist (about the record ``of`` if given)."""
    stmt = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
    if of is not None:
        stmt = stmt.where(AuditEvent.entity_type == audit.entity_name(of),
                          AuditEvent.entity_id == str(of.id))
    return db.session.scalar(stmt)


def drawn(prefix: str) -> int:
    """Return how many ``PREFIX-YYYY-…`` document numbers were drawn this year."""
    return numbering.current_value(f"{prefix}-{date.today().year}")


def successes(answers: list[Answer]) -> int:
    """Return how many answers redirect (the form's success; refusals re-render or 409)."""
    return sum(a.status == 302 for a in answers)


def level(sku, location) -> StockLevel | None:
    """Return the current stock level of ``sku`` in ``location``."""
    db.session.expire_all()
    return db.session.scalar(select(StockLevel).where(StockLevel.sku_id == sku.id,
                                                      StockLevel.location_id == location.id))


def ledger_balances() -> None:
    """Assert that the stock ledger balances."""
    db.session.expire_all()
    assert ledger_problems(db.session) == []


# --- procurement -------------------------------------------------------------------------------


@guarded("procurement.receive_purchase_order")
def receive_the_remaining_quantity(get) -> Scenario:
    """8 receipts of a PO line's remaining 6 units: one posts, the others are refused."""
    po = get("purchase_order_in")("partially_received")  # 4 of 10 into WH1/RCV-01
    line, rcv = po.lines[0], get("receiving_bin")
    sku = line.sku

    def check(answers):
        db.session.expire_all()
        assert line.received_qty == 10
        assert level(sku, rcv).on_hand == 10
        assert audit_count("purchase_order.received") + audit_count(
            "purchase_order.partially_received") >= 1
        ledger_balances()

    return Scenario("warehouse", f"/procurement/receiving/{po.id}",
                    {"action": "receive", "bin": rcv.label, f"qty-{line.id}": "6"}, check)


# --- orders ------------------------------------------------------------------------------------


def allocated_order(get, quantity=5):
    """Return ``(order, sku)``: an order of ``quantity`` units, all in stock, allocated."""
    sku = get("stocked_sku")("CONC-1", quantity)
    order = get("create_order")([(sku, quantity)])
    from erp.orders.services import allocate_order
    allocate_order(order, actor=None)
    db.session.commit()
    return order, sku


@guarded("orders.allocate_order")
def allocate_the_same_order(get) -> Scenario:
    """8 allocations of one order for 5 units, 5 in stock in each of two warehouses.

    Reserved once, and in one warehouse only (the order's).
    """
    sku = get("stocked_sku")("CONC-1", 5)
    from erp.warehouse import services as warehouse_services
    from erp.warehouse.models import Location

    lax = warehouse_services.create_warehouse(code="US-LAX", name="Los Angeles", country="US",
                                              actor=None)
    lax_bin = warehouse_services.create_location(lax, code="L-01", kind="storage",
                                                 pick_sequence=1, actor=None)
    get("receive_stock")(sku, lax_bin, 5)
    order = get("create_order")([(sku, 5)])
    db.session.commit()

    def check(answers):
        db.session.expire_all()
        assert order.lines[0].allocated_qty == 5
        assert db.session.scalar(select(func.sum(StockLevel.reserved))
                                 .where(StockLevel.sku_id == sku.id)) == 5
        held = set(db.session.scalars(
            select(Location.warehouse_id).join(StockLevel, StockLevel.location_id == Location.id)
            .where(StockLevel.sku_id == sku.id, StockLevel.reserved > 0)))
        assert held == {order.warehouse_id}
        assert audit_count("customer_order.allocated", of=order) == 1
        ledger_balances()

    return Scenario("customer_service", f"/orders/{order.id}/allocate", {}, check)


@guarded("orders.cancel_order")
def cancel_the_same_order(get) -> Scenario:
    """8 cancels of an allocated order: cancelled once, its reservations released once."""
    order, sku = allocated_order(get)

    def check(answers):
        db.session.expire_all()
        assert order.state.value == "cancelled"
        assert audit_count("customer_order.cancelled") == 1
        assert db.session.scalar(select(func.sum(StockLevel.reserved))
                                 .where(StockLevel.sku_id == sku.id)) == 0
        ledger_balances()

    return Scenario("customer_service", f"/orders/{order.id}/cancel",
                    {"reason": "customer asked"}, check)


@guarded("orders.hold_order")
def hold_the_same_order(get) -> Scenario:
    """8 holds of one order: held once, one audit event."""
    order, _ = allocated_order(get)

    def check(answers):
        db.session.expire_all()
        assert order.state.value == "on_hold"
        assert audit_count("customer_order.on_hold") == 1

    return Scenario("customer_service", f"/orders/{order.id}/hold",
                    {"reason": "Fraud check"}, check)


# --- warehouse ---------------------------------------------------------------------------------


@guarded("warehouse.transfer_stock")
def transfer_the_whole_bin(get) -> Scenario:
    """8 transfers of all 5 units of a bin: one moves them, the others find nothing left."""
    sku = get("create_sku")("CONC-T")
    a, b = get("create_bin")("A-01"), get("create_bin")("B-01")
    get("receive_stock")(sku, a, 5)
    db.session.commit()

    def check(answers):
        assert level(sku, a).on_hand == 0
        assert level(sku, b).on_hand == 5
        ledger_balances()

    return Scenario("warehouse", "/warehouse/transfer",
                    {"from_bin": a.label, "sku": sku.code, "quantity": "5",
                     "to_bin": b.label}, check)


# --- after-sales -------------------------------------------------------------------------------


@guarded("aftersales.refund_new")
def refund_the_whole_amount(get) -> Scenario:
    """8 refunds of the whole refundable amount of one case: one is made."""
    from erp.aftersales.models import CaseType, Refund
    from erp.aftersales.services import cases
    coat = get("customs_stock")("COAT-1")
    order = get("ship_order")([(coat, 1, "150.00")])
    agent = get("create_user")("agent-x", roles=("customer_service",))
    case = cases.open_case(order, case_type=CaseType.refund_only,
                           reason=get("reasons")["DEFECTIVE"],
                           lines={order.lines[0].id: 1}, actor=agent)
    db.session.commit()

    def check(answers):
        db.session.expire_all()
        refunds = db.session.scalars(select(Refund).where(Refund.case_id == case.id)).all()
        assert len(refunds) == 1
        assert sum((r.amount for r in refunds), Decimal(0)) == Decimal("150.00")

    return Scenario("customer_service", f"/aftersales/cases/{case.id}/refunds/new",
                    {"kind": "refund", "amount": "150.00"}, check)


_ADMIN_LIST = ("edits a reference list (a code, name or flag); codes are unique, so of 8 "
               "identical creations one is saved and the others are refused as duplicates, "
               "and 8 identical edits write the same values")
_SAME_VALUES = "writes the values in the form: 8 identical requests leave the same result"
_APPENDS = ("adds a note or file and checks no limit: 8 people adding it are 8 additions, and one "
            "person's repeat is caught by the form's one-time key")
_IMPORT = ("an all-or-nothing import keyed by codes or numbers: a second identical file is "
           "refused or changes nothing (tests/*/test_excel.py)")
_READS = "only reads (an export or a file download): nothing to protect"

#: POST routes that 8 identical requests at once cannot harm, and why
SAFE_TO_REPEAT: dict[str, str] = {
    "core.login": "signing in changes no business data; attempts are throttled per user",
    "core.logout": "ends the caller's own session only",
    "core.login_code": "a code's time step (or a recovery code) is claimed by a conditional "
                       "UPDATE, so one code passes once: tests/concurrency/test_two_factor_race.py",
    "core.two_factor_enrol": "turns on the caller's own second factor; a repeat finds it on and "
                             "is refused (totp_enabled checked under the row's write)",
    "core.regenerate_recovery_codes": "each needs its own unused code (the step is claimed "
                                      "once); the last set made is the one kept",
    "core.disable_two_factor": "needs an unused code (claimed once); a repeat finds it off",
    "core.end_session": "ends one of the caller's own sessions; a repeat finds it ended",
    "core.end_other_sessions": "ends the caller's other sessions; a repeat ends none more",
    "core.reset_user_two_factor": "clears the user's second factor; a repeat finds none and "
                                  "is refused",
    "core.set_language": "sets one field of the caller's own account to the value chosen",
    "core.change_password": "sets the caller's own password to the value in the form",
    "core.create_user": _ADMIN_LIST,
    "core.edit_user": _SAME_VALUES,
    "core.reset_user_password": "sets the password in the form; repeats set the same one",
    "core.toggle_user_active": "sets the flag the form names (active or not), not a toggle",
    "core.update_settings": _SAME_VALUES,
    "core.set_exchange_rate": "one rate per currency and date: a repeat replaces it with the "
                              "same value",
    "core.delete_exchange_rate": "a deleted rate cannot be deleted twice; the others find nothing",
    "core.webhook_new": "each request registers its own endpoint with its own secret (shown "
                        "once); nothing is sent until events follow, and a double click is "
                        "caught by the form key",
    "core.webhook_edit": _SAME_VALUES,
    "core.webhook_rotate": "each request sets a new secret under the endpoint's row lock; the "
                           "last one stays, and it is the one its page showed last",
    "core.webhook_replay": "an explicit replay: each request queues the events again, which "
                           "carry their webhook-id, so a receiver deduplicates them; a double "
                           "click is caught by the form key",
    "core.webhook_delivery_replay": "an explicit replay of one event (same webhook-id, which a "
                                    "receiver deduplicates); a double click is caught by the "
                                    "form key",
    "brands.create_brand": _ADMIN_LIST,
    "brands.edit_brand": _SAME_VALUES,
    "brands.toggle_brand_active": "sets the flag the form names, not a toggle",
    "brands.import_brands": _IMPORT,
    "brands.upload_brand_logo": "replaces the logo with the uploaded file: the same result",
    "brands.remove_brand_logo": "removing an absent logo does nothing",
    "brands.add_trademark": _APPENDS,
    "brands.remove_trademark": "a removed trademark cannot be removed twice",
    "brands.add_attachment": _APPENDS,
    "brands.remove_attachment": "a removed attachment cannot be removed twice",
    "brands.create_specification": _ADMIN_LIST,
    "brands.update_specification_version": "edits a draft version's content to the form's "
                                           "values; an approved version is read-only",
    "brands.set_inspection_plan": _SAME_VALUES,
    "brands.add_check": _APPENDS,
    "brands.edit_check": _SAME_VALUES,
    "brands.remove_check": "a removed check cannot be removed twice",
    "catalog.create_category": _ADMIN_LIST,
    "catalog.edit_category": _SAME_VALUES,
    "catalog.move_category": "moves a category under the parent the form names: the same "
                             "result each time",
    "catalog.import_categories": _IMPORT,
    "catalog.create_product": _ADMIN_LIST,
    "catalog.edit_product": _SAME_VALUES,
    "catalog.create_sku": _ADMIN_LIST,
    "catalog.edit_sku": _SAME_VALUES,
    "catalog.import_skus": _IMPORT,
    "catalog.bulk_sku_status": "sets the status the form names on the ticked SKUs",
    "warehouse.create_warehouse": _ADMIN_LIST,
    "warehouse.edit_warehouse": _SAME_VALUES,
    "warehouse.create_bin": _ADMIN_LIST,
    "warehouse.edit_bin": _SAME_VALUES,
    "warehouse.import_locations": _IMPORT,
    "warehouse.create_route": _ADMIN_LIST,
    "warehouse.edit_route": _SAME_VALUES,
    "warehouse.delete_route": "a deleted route cannot be deleted twice; the others find nothing",
    "warehouse.move_route": "moves the route to the position the form names (not up or down by "
                            "one), under a lock of every route: repeats leave the same table",
    "warehouse.import_routes": _IMPORT,
    "procurement.create_supplier": _ADMIN_LIST,
    "procurement.edit_supplier": _SAME_VALUES,
    "procurement.toggle_supplier_active": "sets the flag the form names, not a toggle",
    "procurement.add_supplier_item": _ADMIN_LIST,
    "procurement.edit_supplier_item": _SAME_VALUES,
    "procurement.remove_supplier_item": "a removed price-list row cannot be removed twice",
    "procurement.import_supplier_prices": _IMPORT,
    "procurement.create_purchase_order": "each request creates its own draft, which a person "
                                         "then fills; a double click is caught by the form key",
    "procurement.create_draft_orders": "each request drafts its own purchase orders from the "
                                       "ticked quantities (the service checks no open draft); "
                                       "drafts commit no money or stock until submitted and "
                                       "approved, and a double click is caught by the form key",
    "procurement.edit_purchase_order": "edits a draft's header to the form's values",
    "procurement.add_purchase_order_line": "adds a line to a draft (no limit until submitted); "
                                           "one person's repeat is caught by the form key",
    "procurement.edit_purchase_order_line": "sets a draft line to the form's values",
    "procurement.remove_purchase_order_line": "a removed draft line cannot be removed twice",
    "procurement.create_landed_cost": "each request creates its own draft, which moves no "
                                      "stock or value until a manager posts it; a double "
                                      "click is caught by the form key",
    "procurement.edit_landed_cost": "sets a draft (locked) to the form's receipts, charges and "
                                    "method; a posted one is refused",
    "procurement.import_landed_cost_charges": "replaces a draft's (locked) charges with the "
                                              "file's rows; a repeat sets the same charges",
    "procurement.create_supplier_return": "each request creates its own draft return, which "
                                          "moves no stock until shipped; a double click is "
                                          "caught by the form key",
    "procurement.supplier_quarantine": "each request drafts its own return from the quantities "
                                       "typed; no stock moves until a return ships, and shipping "
                                       "locks the levels (tests/procurement/"
                                       "test_supplier_return_concurrency.py)",
    "procurement.add_supplier_return_line": "adds a line to a draft return (no stock moves); the "
                                            "stock is checked again under the levels' locks "
                                            "when it ships; a repeat is caught by the form key",
    "procurement.remove_supplier_return_line": "a removed draft line cannot be removed twice",
    "orders.create_token": "each request makes its own token (shown once); a double click is "
                           "caught by the form key",
    "orders.revoke_token": "a revoked token stays revoked; the others find it revoked",
    "orders.import_orders": _IMPORT,
    "orders_api.create_order": "an order number is unique: one of 8 identical posts creates "
                               "it and the others answer 200 with it (or 409 when different); "
                               "tests/orders/test_api_idempotency.py",
    "orders_api.cancel_order": "the service locks the order and the view reads its state after "
                               "the lock: one of 8 identical cancels cancels it, the others "
                               "find it cancelled and answer 200 with it; "
                               "tests/orders/test_api_writes.py",
    "orders_api.hold_order": "as the API's cancel: locked, the others find it held (200)",
    "orders_api.release_order": "the service locks the order: one release wins, the others "
                                "find it no longer on hold (409 naming its state)",
    "orders_api.update_order_address": "the service locks the order and writes the values "
                                       "given: a repeat finds nothing left to change",
    "tracking_api.carrier_tracking": "tracking events are unique per parcel, time and code: "
                                     "8 identical pushes store each event once and the parcel "
                                     "is locked while its status moves; "
                                     "tests/shipping/test_tracking_webhook.py",
    "shipping.create_carrier": _ADMIN_LIST,
    "shipping.edit_carrier": _SAME_VALUES,
    "shipping.create_service": _ADMIN_LIST,
    "shipping.edit_service": _SAME_VALUES,
    "shipping.set_service_zones": "sets the service's zones to the form's list",
    "shipping.set_service_goods": _SAME_VALUES,
    "shipping.add_rate": "one price per service, zone and weight band: a repeat is refused or "
                         "writes the same price",
    "shipping.remove_rate": "a removed rate cannot be removed twice",
    "shipping.import_rates": _IMPORT,
    "shipping.import_zones": _IMPORT,
    "shipping.import_bill": "a bill is imported once: imports of one carrier queue on the "
                            "carrier's row, and of 8 identical ones the first is stored and "
                            "the others are refused (tests/shipping/test_carrier_bills.py)",
    "shipping.import_tracking": "tracking events are unique per parcel, time and code, and the "
                                "parcels are locked while their status moves: 8 imports of "
                                "one file store each event once",
    "shipping.add_tracking_range": "ranges may not overlap: of 8 identical ranges one is saved",
    "shipping.toggle_range_active": "sets the flag the form names, not a toggle",
    "shipping.create_box": _ADMIN_LIST,
    "shipping.open_batch": "each request opens its own dispatch batch (a carrier may have two "
                           "open, for two collections a day), numbered from the locked sequence; "
                           "an empty batch cannot be closed, and a double click is caught by "
                           "the form key",
    "shipping.edit_box": _SAME_VALUES,
    "shipping.packing_station_new": _ADMIN_LIST,
    "shipping.packing_station_toggle": "sets the flag the form names, not a toggle (read under "
                                       "the station's lock, so the change is audited once)",
    "shipping.packing_station_choose": "writes only the packer's own session (the station "
                                       "chosen), nothing in the database",
    "shipping.packing_default_box": "writes the box and weight in the form for the SKU; its row "
                                    "is keyed by the SKU, so a second insert at the same moment "
                                    "is refused and run again, finding the same values",
    "aftersales.reason_new": _ADMIN_LIST,
    "aftersales.reason_edit": _SAME_VALUES,
    "aftersales.reason_activate": "sets the reason active: the same result each time",
    "aftersales.reason_deactivate": "sets the reason inactive: the same result each time",
    "aftersales.reason_defaults": "adds the default reasons that are missing: a second run finds "
                                  "none missing (codes are unique)",
    "aftersales.case_note": _APPENDS,
    "aftersales.case_attach": _APPENDS,
    "aftersales.case_contact": _SAME_VALUES,
    "aftersales.case_tracking": "records the return's tracking number from the form",
    "aftersales.case_return_warehouse": "sets the warehouse the form names, under the case's "
                                        "lock; refused once the goods are received",
    "aftersales.case_assign": "assigns the case to the person the form names",
    "aftersales.case_take": "assigns the case to whoever takes it; no limit to break",
    "reports.run_report": "starts a read-only report job for the caller",
    "quality.record_inspection_defects": "writes the counts, notes and measurements in the form "
                                         "under the lot's lock: the same result each time",
    "quality.add_inspection_photo": _APPENDS,
    "quality.set_reduced_allowed": "sets the flag the form names (not a toggle) under the "
                                   "policy row's lock; audited only when it changes",
    "quality.resume_inspection": "resumes under the policy row's lock; a second request finds "
                                 "nothing discontinued and is refused",
    "privacy.subject_page": _READS,
    "privacy.export_subject": _READS,
    "production.product_setup": "writes the set-up and template in the form under the product's "
                                "lock; a repeat finds nothing changed and writes no event",
}


# The scenarios of the other operations, one module per domain, register themselves here.
from tests.concurrency import scenarios  # noqa: E402, F401 - imported to register
