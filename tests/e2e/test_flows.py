"""End-to-end flows in a real browser, one per desk, through the screens as staff use them.

Each flow signs in as the roles that do the work (the demo users of ``erp demo``), clicks the
menus, links and buttons, types into fields, and presses Enter where a barcode scanner would.
What the screens say is checked, and the database behind them where the screens cannot show
it (stock, states). The flows run in file order on one demo database; the second receives the
purchase order the first placed (and places one itself when run alone).
"""

from __future__ import annotations

import io
import re

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Page, expect
from pypdf import PdfReader
from sqlalchemy import func, select

from erp.aftersales.models import AfterSalesCase
from erp.aftersales.services.resolution import needs_approval
from erp.catalog.models import Sku
from erp.core.errors import DomainError
from erp.extensions import db
from erp.orders.models import CustomerOrder, OrderState
from erp.procurement.models import PurchaseOrder
from erp.shipping.models import Box, Parcel, ParcelLine, ParcelState
from erp.warehouse.models import StockLevel

pytestmark = pytest.mark.e2e

#: what the purchasing user orders from Saigon Bag Works: (SKU, quantity). Above the demo's
#: approval threshold (5,000 USD), so a manager must approve it.
PO_SUPPLIER = "VN-SGBAG"
PO_LINES = [("NP-DAY-BLA-22L", 200), ("KB-BAG-YEL-8L", 300)]


# --------------------------------------------------------------------------- helpers


def query(server, fn):
    """Run ``fn()`` in an app context of the live server's app and return its result."""
    with server.app.app_context():
        try:
            return fn()
        finally:
            db.session.remove()


def barcode_of(server, code: str) -> str:
    """Return the barcode printed on a SKU's label (what the scanner reads)."""
    return query(server, lambda: db.session.scalar(select(Sku.barcode).where(Sku.code == code)))


def open_menu(page: Page, menu: str | None, item: str) -> None:
    """Open ``item`` from the main menu ``menu`` (a plain link when ``menu`` is None)."""
    nav = page.get_by_role("navigation", name="Main")
    if menu:
        nav.locator("summary", has_text=menu).click()
    link = nav.get_by_role("link", name=item, exact=True)
    href = link.get_attribute("href")
    link.click()
    # the next steps must find their fields on the new page, not on this one
    page.wait_for_url(f"**{href}")


def flash(page: Page):
    """Return the flash messages box of the page."""
    return page.locator(".flashes")


def heading(page: Page):
    """Return the page's main heading."""
    return page.get_by_role("heading", level=1)


def expect_state(page: Page, state: str) -> None:
    """Check the state badge in the page's heading (labels are lower case: "awaiting approval")."""
    expect(heading(page).locator(".badge").first).to_have_text(state)


def scan(field, code: str) -> None:
    """Scan ``code`` into ``field``: a scanner types it and presses Enter.

    First wait for the page holding the field to finish loading: on a page still being parsed
    the form's submit button may not exist yet (then Enter submits nothing), nor the page's
    scanner script.
    """
    field.wait_for()
    field.page.wait_for_load_state()
    field.fill(code)
    field.press("Enter")


def download(page: Page, link) -> bytes:
    """Click ``link`` to a PDF, return the bytes the browser received, and go back.

    Chromium shows a PDF in its viewer instead of downloading it, and the viewer's page is not
    the file; so the response is fetched on its way, kept, and handed to the browser as is.
    """
    received: dict = {}

    def keep(route):
        response = route.fetch()
        received["status"] = response.status
        received["type"] = response.headers.get("content-type")
        received["body"] = response.body()
        route.fulfill(response=response)

    href = link.get_attribute("href")
    page.route(f"**{href}", keep)
    try:
        with page.expect_response(f"**{href}"):
            link.click()
    finally:
        page.unroute(f"**{href}", keep)
    page.go_back()
    assert received.get("status") == 200, received
    assert received["type"] == "application/pdf"
    return received["body"]


def place_purchase_order(staff, server) -> str:
    """Purchasing drafts and submits an order, a manager approves it, purchasing orders it.

    The app's rule (``submit_purchase_order``): an order whose base-currency total is above
    the ``approval_threshold`` setting waits for a user with ``procurement.approve`` (manager
    or admin) who did not create it; below it, submitting approves it at once. Returns the
    order's number.
    """
    buyer = staff("purchasing")
    open_menu(buyer, "Purchasing", "Purchase orders")
    buyer.get_by_role("link", name="New purchase order").click()
    supplier = buyer.get_by_label("Supplier")
    supplier.select_option(supplier.locator("option", has_text=PO_SUPPLIER).get_attribute("value"))
    buyer.get_by_label("Notes").fill("Spring restock of day packs and kids' bags (e2e).")
    buyer.get_by_role("button", name="Start draft").click()
    expect(flash(buyer)).to_contain_text(f"Draft purchase order to {PO_SUPPLIER} started")
    expect_state(buyer, "draft")

    for code, quantity in PO_LINES:
        scan(buyer.get_by_label("SKU (code or barcode)"), barcode_of(server, code))
        # Enter in the SKU box posts the form without a quantity: refused, what was scanned kept
        expect(buyer.get_by_text("Enter the quantity.")).to_be_visible()
        buyer.get_by_label("Quantity").fill(str(quantity))
        buyer.get_by_role("button", name="Add line").click()
        expect(flash(buyer)).to_contain_text(re.compile(
            rf"Added {quantity} × {code} at [\d,.]+ USD"))
    lines = buyer.locator("table.po-lines tbody tr")
    expect(lines).to_have_count(len(PO_LINES))

    buyer.get_by_role("button", name="Submit").click()
    expect(flash(buyer)).to_contain_text(
        "is above the approval threshold and waits for a manager's approval")
    number = re.search(r"PO-\d{4}-\d{6}", heading(buyer).inner_text()).group(0)
    expect_state(buyer, "awaiting approval")
    # approving is not purchasing's job (and never the creator's): no Approve button here
    expect(buyer.get_by_role("button", name="Approve")).to_have_count(0)

    manager = staff("manager")
    manager.get_by_role("link", name=re.compile("Purchase orders awaiting approval")).click()
    manager.get_by_role("link", name=number).click()
    manager.get_by_role("button", name="Approve").click()
    expect(flash(manager)).to_contain_text(f"Purchase order {number} approved.")
    expect_state(manager, "approved")
    # ordering is the buyer's job, not the manager's
    expect(manager.get_by_role("button", name="Mark ordered")).to_have_count(0)

    buyer = staff("purchasing")
    buyer.reload()
    expect_state(buyer, "approved")
    buyer.get_by_role("button", name="Mark ordered").click()
    expect(flash(buyer)).to_contain_text(f"Purchase order {number} is ordered")
    expect_state(buyer, "ordered")
    return number


@pytest.fixture(scope="module")
def handover() -> dict:
    """Return what one flow leaves for the next (the purchase order number)."""
    return {}


# --------------------------------------------------------------------------- 1. purchasing


def test_purchasing_creates_and_manager_approves_purchase_order(staff, live_server, handover):
    number = place_purchase_order(staff, live_server)
    po = query(live_server, lambda: db.session.scalar(
        select(PurchaseOrder).where(PurchaseOrder.number == number)))
    assert po.state.value == "ordered"
    assert po.approved_by_id is not None
    assert po.approved_by_id != po.created_by_id
    handover["po_number"] = number


# --------------------------------------------------------------------------- 2. warehouse


def test_warehouse_receives_po_packs_order_and_prints_label(staff, live_server, handover):
    number = handover.get("po_number") or place_purchase_order(staff, live_server)
    (first_code, first_qty), (second_code, second_qty) = PO_LINES
    before = {code: on_hand(live_server, code) for code, _ in PO_LINES}

    # Receiving: scan the PO number on the delivery note, count what came, scan loose items.
    clerk = staff("warehouse")
    open_menu(clerk, "Purchasing", "Receiving")
    scan(clerk.get_by_label("Purchase order number"), number)
    expect(heading(clerk)).to_contain_text(f"Receive {number}")
    clerk.get_by_label(f"Units of {first_code} received now").fill(str(first_qty))
    loose = clerk.get_by_label(f"Units of {second_code} received now")
    loose.fill(str(second_qty - 3))
    scanner = clerk.get_by_label("Scan a SKU (adds 1)")
    for _ in range(3):
        scan(scanner, barcode_of(live_server, second_code))
        expect(scanner).to_be_empty()  # counted on the page, the box ready for the next scan
    expect(loose).to_have_value(str(second_qty))
    expect(clerk.get_by_label("Into bin")).not_to_be_empty()  # the default receiving bin
    clerk.get_by_role("button", name="Receive", exact=True).click()
    expect(flash(clerk)).to_contain_text(
        re.compile(rf"Receipt \S+: {first_qty + second_qty:,} units of {number} received"))
    po = query(live_server, lambda: db.session.scalar(
        select(PurchaseOrder).where(PurchaseOrder.number == number)))
    assert po.state.value == "received"
    for code, quantity in PO_LINES:
        assert on_hand(live_server, code) == before[code] + quantity

    # Picking: the open wave's picks are confirmed (the goods go to the packing bench).
    open_menu(clerk, "Shipping", "Pick waves")
    clerk.get_by_label("State").select_option("open")
    clerk.get_by_role("button", name="Search").click()
    expect(clerk).to_have_url(re.compile(r"[?&]state=open"))
    wave = clerk.locator("table.list tbody tr").first
    expect(wave.locator(".badge")).to_have_text("open")  # the demo leaves one wave open
    wave.get_by_role("link").click()
    expect(heading(clerk)).to_contain_text("Wave WAVE-")
    clerk.get_by_role("button", name="Start picking").click()
    expect(flash(clerk)).to_contain_text("is picking")
    clerk.get_by_role("button", name="Confirm all picks").click()
    assert "Confirm every open pick" in staff.dialogs[-1]
    expect(flash(clerk)).to_contain_text(re.compile(r"\d+ picks? of wave \S+ confirmed"))
    totes = clerk.locator("section", has=clerk.get_by_role("heading", name="Orders and totes"))
    order = totes.locator("tbody tr").first.locator("td").nth(1).inner_text().strip()

    # Packing: scan the order, then every item; choose the box, weigh, close, label.
    open_menu(clerk, "Shipping", "Packing")
    scan(clerk.get_by_label("Scan the order or the tote"), order)
    expect(heading(clerk)).to_contain_text(f"Packing · {order}")
    clerk.wait_for_load_state()  # every line is on the page before they are counted
    rows = clerk.locator("section", has=clerk.get_by_role("heading", name="Lines")) \
        .locator("tbody tr")
    items = []
    for i in range(rows.count()):
        cells = rows.nth(i).locator("td")
        items.append((cells.nth(0).inner_text().strip(), cells.nth(2).inner_text().strip(),
                      int(cells.nth(7).inner_text())))
    assert items
    assert all(barcode and to_scan > 0 for _, barcode, to_scan in items), items
    # an item of another order is refused loudly, and nothing is scanned
    wrong = next((code for code, _ in PO_LINES if code not in {c for c, _, _ in items}), None)
    assert wrong, items
    scan(clerk.get_by_label("Scan item"), barcode_of(live_server, wrong))
    expect(clerk.get_by_role("alert")).to_contain_text(
        f"SKU {wrong} is not in order {order}: wrong item.")
    for code, barcode, to_scan in items:
        for n in range(to_scan):
            scan(clerk.get_by_label("Scan item"), barcode)
            expect(flash(clerk)).to_contain_text(re.compile(rf"{code}: {n + 1} of \d+ scanned"))
    # the last item completes the order: the weight is next, as the cursor shows
    expect(clerk.get_by_label("Weight (g)")).to_be_focused()
    clerk.get_by_label("Box").select_option("M")
    # the scale reads what the page expects (the goods and box M's tare), within the tolerance
    shown = clerk.get_by_text(re.compile(r"Expected: [\d,]+ g of goods")).inner_text()
    goods = int(re.search(r"Expected: ([\d,]+) g", shown).group(1).replace(",", ""))
    tare = query(live_server, lambda: db.session.scalar(select(Box.tare_g).where(Box.code == "M")))
    weighed = goods + tare + 5
    clerk.get_by_label("Weight (g)").fill(str(weighed))
    clerk.get_by_role("button", name="Close parcel").click()
    expect(flash(clerk)).to_contain_text("The order is packed: label it.")
    expect_state(clerk, "packed")
    clerk.get_by_role("button", name=re.compile(r"Label 1 parcel")).click()
    expect(flash(clerk)).to_contain_text("Labelled: ")
    state, tracking, weight = query(live_server, lambda: db.session.execute(
        select(Parcel.state, Parcel.tracking_number, Parcel.weight_g)
        .join(CustomerOrder, CustomerOrder.id == Parcel.order_id)
        .where(CustomerOrder.number == order)).one())
    assert state == ParcelState.labelled
    assert tracking
    assert weight == weighed

    # The label opens in Chromium's PDF viewer, which hides the file from the page: keep the
    # bytes of the response on their way to the browser.
    pdf = download(clerk, clerk.get_by_role("link", name="Label", exact=True))
    assert pdf.startswith(b"%PDF")
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert tracking in text.replace(" ", "")


# --------------------------------------------------------------------------- 3. after-sales


def order_to_return(server) -> tuple[str, list[tuple[str, int]]]:
    """Return a shipped order without a case whose refund needs a manager, and its lines.

    The refund of the whole order is above the ``refund_approval_threshold`` setting, so the
    flow goes through every role the rules involve.
    """
    def pick():
        orders = db.session.scalars(
            select(CustomerOrder)
            .where(CustomerOrder.state.in_([OrderState.shipped, OrderState.delivered]),
                   ~select(AfterSalesCase.id).where(
                       AfterSalesCase.order_id == CustomerOrder.id).exists())
            .order_by(CustomerOrder.number))
        for order in orders:
            value = sum(line.quantity * line.unit_price for line in order.lines)
            try:
                if needs_approval(value, order.currency):
                    return order.number, [(line.sku.code, line.quantity) for line in order.lines]
            except DomainError:
                continue  # no exchange rate for its currency
        return None

    found = query(server, pick)
    assert found, "the demo data has no shipped order without a case worth a manager's approval"
    return found


def on_hand(server, code: str) -> int:
    """Return the units of a SKU in the warehouse's bins."""
    return query(server, lambda: db.session.scalar(
        select(func.coalesce(func.sum(StockLevel.on_hand), 0))
        .join(Sku, Sku.id == StockLevel.sku_id).where(Sku.code == code)))


def test_customer_service_opens_return_and_resolves_it(staff, live_server):
    order, lines = order_to_return(live_server)
    before = {code: on_hand(live_server, code) for code, _ in lines}

    # Customer service opens a return-for-refund case on the order and authorises the return.
    agent = staff("customer_service")
    open_menu(agent, "After-sales", "Cases")
    agent.get_by_role("link", name="Open a case").click()
    scan(agent.get_by_label("Order number"), order)
    expect(heading(agent)).to_contain_text(f"New case for order {order}")
    for code, quantity in lines:
        agent.get_by_label(f"Quantity of {code}").fill(str(quantity))
    agent.get_by_label("Type").select_option(label="Return refund")
    agent.get_by_label("Reason").select_option(label="Wrong size or fit")
    agent.get_by_label("Note (internal)").fill("Customer e-mailed: too small, wants a refund.")
    agent.get_by_role("button", name="Open case").click()
    expect(flash(agent)).to_contain_text(f"is open for order {order}")
    rma = re.search(r"RMA-\d{4}-\d{6}", heading(agent).inner_text()).group(0)
    expect_state(agent, "open")
    agent.get_by_label("Return tracking (optional)").fill("RR987654321GB")
    agent.get_by_role("button", name="Authorise the return").click()
    expect(flash(agent)).to_contain_text(f"Return authorised for {rma}")
    expect_state(agent, "awaiting return")
    papers = download(agent, agent.get_by_role("link", name="Return authorisation (PDF)"))
    assert papers.startswith(b"%PDF")

    # The warehouse scans the RMA on the parcel, scans each unit, then grades them A.
    clerk = staff("warehouse")
    open_menu(clerk, "After-sales", "Returns receiving")
    scan(clerk.get_by_label("RMA or return tracking number"), rma)
    expect(heading(clerk)).to_contain_text(f"Receive {rma}")
    for code, quantity in lines:
        for n in range(quantity):
            scan(clerk.get_by_label("Scan a SKU (adds 1)"), barcode_of(live_server, code))
            expect(flash(clerk)).to_contain_text(f"1 × {code} added.")
            expect(clerk.get_by_label(f"Units of {code} received")).to_have_value(str(n + 1))
    clerk.get_by_role("button", name="Confirm receipt").click()
    units = sum(q for _, q in lines)
    expect(flash(clerk)).to_contain_text(f"{rma}: {units} unit(s) received. Grade them now.")
    expect(heading(clerk)).to_contain_text(f"Inspect {rma}")
    for code, quantity in lines:
        row = clerk.locator("tr", has_text=code)
        row.get_by_label("Units of grade A").fill(str(quantity))
    clerk.get_by_role("button", name="Grade and move").click()
    expect(flash(clerk)).to_contain_text("Inspection complete.")
    expect_state(clerk, "inspected")
    for code, quantity in lines:
        assert on_hand(live_server, code) == before[code] + quantity  # restocked

    # Customer service refunds it; above the threshold, a manager approves.
    agent = staff("customer_service")
    agent.reload()
    expect_state(agent, "inspected")
    agent.get_by_role("link", name="Refund", exact=True).click()
    expect(agent.get_by_label("Amount")).not_to_have_value("")  # what is refundable
    agent.get_by_role("button", name="Request refund").click()
    expect(flash(agent)).to_contain_text("is waiting for a manager's approval")
    expect_state(agent, "inspected")

    manager = staff("manager")
    open_menu(manager, "After-sales", "Refunds")
    manager.locator("tr", has_text=rma).get_by_role("button", name="Approve").click()
    expect(flash(manager)).to_contain_text(re.compile(rf"Refund of [\d,.]+ \w+ for {rma} approved"))

    # Customer service closes the settled case.
    agent = staff("customer_service")
    agent.reload()
    expect_state(agent, "resolved")
    agent.get_by_role("button", name="Close the case").click()
    assert staff.dialogs[-1] == f"Close {rma}?"
    expect(flash(agent)).to_contain_text(f"{rma} is closed.")
    expect_state(agent, "closed")

    def settled():
        case = db.session.scalar(select(AfterSalesCase).where(AfterSalesCase.number == rma))
        return case.state.value, [(r.state.value, r.requested_by.username,
                                   r.decided_by.username) for r in case.refunds]

    state, refunds = query(live_server, settled)
    assert state == "closed"
    assert refunds == [("approved", live_server.logins["customer_service"][0],
                        live_server.logins["manager"][0])]


# --------------------------------------------------------------------------- 4. reports


def test_manager_exports_excel_report(staff, live_server):
    # Runs in a background thread of the server (the embedded set-up): the job page polls
    # its status and shows the download link when the workbook is ready.
    manager = staff("manager")
    open_menu(manager, "Reports", "Excel reports")
    card = manager.locator("section.card", has=manager.get_by_role("heading",
                                                                    name="Sales and dispatch"))
    expect(card.get_by_label("from")).not_to_have_value("")
    card.get_by_role("button", name="Run report").click()
    expect(heading(manager)).to_have_text("Excel report")
    link = manager.get_by_role("link", name=re.compile(r"^Download sales-dispatch-.*\.xlsx$"))
    expect(link).to_be_visible()
    expect(manager.locator("#job-state")).to_have_text("Finished")
    expect(manager.get_by_label("Progress")).to_have_attribute("value", "100")
    with manager.expect_download() as download:
        link.click()
    assert download.value.suggested_filename.endswith(".xlsx")
    data = download.value.path().read_bytes()
    assert data.startswith(b"PK")  # a zip: an .xlsx
    book = load_workbook(io.BytesIO(data), read_only=True)
    assert {"By SKU", "By brand", "By category", "By country", "Totals"} <= set(book.sheetnames)
    totals = list(book["Totals"].iter_rows(values_only=True))
    assert totals[0][:3] == ("Currency", "Units", "Value")
    dispatched = query(live_server, lambda: db.session.scalar(
        select(func.sum(ParcelLine.quantity)).join(Parcel, Parcel.id == ParcelLine.parcel_id)
        .where(Parcel.state == ParcelState.dispatched)))
    assert dispatched
    assert sum(row[1] for row in totals[1:] if row[1]) == dispatched
