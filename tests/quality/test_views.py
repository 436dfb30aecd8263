"""Inspection screens and who may use them.

The list, the lot page (checklist, defects, photos, decide), concession, scrap, switching and
the PO page's figures.
"""

from __future__ import annotations

import io
import re

import pytest
from openpyxl import load_workbook

from erp.extensions import db
from erp.quality.models import InspectionState
from tests.fixtures.core import PASSWORD

I = InspectionState  # noqa: E741 - as in the package
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture
def switch_to(client, create_user, login):
    """Return ``switch_to(role)``: sign out, then sign in as a (new or known) user of ``role``."""
    users = {}

    def do_switch(role: str):
        client.post("/logout")
        if role not in users:
            users[role] = create_user(role, roles=(role,))
        response = login(users[role].username, PASSWORD)
        assert response.status_code == 302
        return users[role]

    return do_switch


def text(response) -> str:
    return response.get_data(as_text=True)


def autofocused(page: str, name: str) -> bool:
    match = re.search(rf'<(?:input|textarea|select)[^>]*\bname="{name}"[^>]*>', page)
    return bool(match) and "autofocus" in match.group(0)


def checks_of(inspection) -> dict[str, int]:
    return {c.description: c.id for c in inspection.spec_version.checks}


@pytest.mark.parametrize("role", ["warehouse", "manager", "purchasing"])
def test_list_shows_pending_lots_and_a_scanned_number_opens_the_lot(client, switch_to,
                                                                    inspection_in, role):
    inspection = inspection_in("pending")
    switch_to(role)
    page = text(client.get("/quality/inspections"))
    assert inspection.number in page
    assert autofocused(page, "q")
    response = client.get(f"/quality/inspections?q={inspection.number.lower()}")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/quality/inspections/{inspection.id}")
    assert inspection.number not in text(client.get("/quality/inspections?state=accepted"))


def test_list_exports_to_excel(client, switch_to, inspection_in):
    inspection = inspection_in("pending")
    switch_to("warehouse")
    response = client.get("/quality/inspections/export.xlsx?state=all")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[1][0] == inspection.number
    assert rows[1][6] == 200  # lot size


def test_lot_page_records_defects_and_decides(client, switch_to, inspection_in):
    inspection = inspection_in("pending")
    switch_to("warehouse")
    page = text(client.get(f"/quality/inspections/{inspection.id}"))
    checks = checks_of(inspection)
    # 200 at level II: code letter G, n 32; the checklist with the first count in focus
    assert "Zip works" in page
    assert "Stitching" in page
    assert autofocused(page, f"count-{checks['Length']}")
    response = client.post(f"/quality/inspections/{inspection.id}/defects", data={
        f"count-{checks['Length']}": "", f"measurements-{checks['Length']}": "97 100",
        f"note-{checks['Length']}": "one short", f"count-{checks['Stitching']}": "1",
        f"count-{checks['Zip works']}": "0"})
    assert response.status_code == 302
    db.session.expire_all()
    assert {d.description: d.count for d in inspection.defects} == {"Length": 1,
                                                                     "Stitching": 1}
    response = client.post(f"/quality/inspections/{inspection.id}/defects", data={
        f"count-{checks['Length']}": "x"})
    assert response.status_code == 422
    assert "whole number" in text(response)
    response = client.post(f"/quality/inspections/{inspection.id}/decide", data={"note": ""})
    assert response.status_code == 302
    db.session.expire_all()
    assert inspection.state == I.accepted
    page = text(client.get(f"/quality/inspections/{inspection.id}"))
    assert "Save defects" not in page  # decided: the checklist is read-only


def test_photos_upload_and_show(client, switch_to, inspection_in):
    inspection = inspection_in("pending")
    switch_to("warehouse")
    response = client.post(f"/quality/inspections/{inspection.id}/photos",
                           data={"photo": (io.BytesIO(PNG), "scuff.png")},
                           content_type="multipart/form-data")
    assert response.status_code == 302
    db.session.expire_all()
    [photo] = inspection.photos
    shown = client.get(f"/quality/photos/{photo.id}")
    assert (shown.status_code, shown.mimetype, shown.data) == (200, "image/png", PNG)
    response = client.post(f"/quality/inspections/{inspection.id}/photos",
                           data={"photo": (io.BytesIO(b"not an image"), "x.png")},
                           content_type="multipart/form-data")
    assert response.status_code == 422
    assert "PNG, JPEG or GIF" in text(response)


def test_concession_needs_a_manager_and_a_reason(client, switch_to, inspection_in):
    inspection = inspection_in("rejected")
    switch_to("warehouse")
    page = text(client.get(f"/quality/inspections/{inspection.id}"))
    assert "Release as a concession" not in page
    assert client.post(f"/quality/inspections/{inspection.id}/release",
                       data={"reason": "fine"}).status_code == 403
    switch_to("manager")
    assert "Release as a concession" in text(client.get(f"/quality/inspections/{inspection.id}"))
    response = client.post(f"/quality/inspections/{inspection.id}/release", data={"reason": ""})
    assert response.status_code == 422
    response = client.post(f"/quality/inspections/{inspection.id}/release",
                           data={"reason": "Customer accepts"})
    assert response.status_code == 302
    db.session.expire_all()
    assert (inspection.state, inspection.release_reason) == (I.released, "Customer accepts")


def test_scrap_from_the_lot_page(client, switch_to, inspection_in):
    inspection = inspection_in("rejected")
    switch_to("manager")
    response = client.post(f"/quality/inspections/{inspection.id}/scrap",
                           data={"quantity": "250", "reason": "mould"})
    assert response.status_code == 422
    assert "200 units left" in text(response)
    response = client.post(f"/quality/inspections/{inspection.id}/scrap",
                           data={"quantity": "50", "reason": "mould"})
    assert response.status_code == 302
    db.session.expire_all()
    assert inspection.scrapped_qty == 50


def test_switching_screen_toggles_reduced(client, switch_to, inspection_in):
    inspection = inspection_in("rejected")
    spec = inspection.spec_version.specification
    switch_to("purchasing")
    page = text(client.get("/quality/switching"))
    assert spec.number in page
    assert inspection.supplier_name in page
    assert client.post("/quality/switching/reduced", data={
        "supplier_id": inspection.supplier_id, "specification_id": spec.id,
        "allowed": "y"}).status_code == 403
    switch_to("manager")
    response = client.post("/quality/switching/reduced", data={
        "supplier_id": inspection.supplier_id, "specification_id": spec.id, "allowed": "y"})
    assert response.status_code == 302
    assert "Yes — stop allowing" in text(client.get("/quality/switching"))
    response = client.post("/quality/switching/resume", data={
        "supplier_id": inspection.supplier_id, "specification_id": spec.id})
    assert response.status_code == 302
    assert "nothing to resume" in text(client.get("/quality/switching"))


def test_po_page_and_lines_export_show_accepted_and_rejected(client, switch_to, inspection_in):
    from erp.procurement.models import PurchaseOrder, Receipt, ReceiptLine

    inspection = inspection_in("rejected")
    po = db.session.scalar(db.select(PurchaseOrder).join(Receipt).join(ReceiptLine).where(
        ReceiptLine.id == inspection.ref_id))
    switch_to("purchasing")
    page = text(client.get(f"/procurement/purchase-orders/{po.id}"))
    assert "Accepted" in page
    assert "Rejected" in page
    row = re.search(r"<tr[^>]*>\s*<td class=\"nowrap\"><a[^>]*>" + re.escape(inspection.sku.code)
                    + r".*?</tr>", page, re.S).group(0)
    cells = re.findall(r'<td class="num">(.*?)</td>', row, re.S)
    # ordered, received, accepted, rejected
    assert [c.strip() for c in cells[:4]] == ["200", "200", "0", "200"]
    response = client.get("/procurement/purchase-orders/lines-export.xlsx")
    sheet = load_workbook(io.BytesIO(response.data)).active
    header, *rows = list(sheet.iter_rows(values_only=True))
    line = dict(zip(header, next(r for r in rows if r[3] == inspection.sku.code), strict=True))
    assert (line["Received"], line["Accepted"], line["Rejected"],
            line["In inspection"]) == (200, 0, 200, 0)


def test_home_card_and_header_search_find_lots(client, switch_to, inspection_in):
    inspection = inspection_in("pending")
    switch_to("warehouse")
    home = text(client.get("/"))
    assert "Lots waiting for inspection" in home
    found = client.get(f"/search?find={inspection.number}")  # the one match opens
    assert found.headers["Location"].endswith(f"/quality/inspections/{inspection.id}")


def test_receipt_page_links_each_lot(client, switch_to, inspection_in):
    from erp.procurement.models import ReceiptLine

    inspection = inspection_in("pending")
    receipt_id = db.session.get(ReceiptLine, inspection.ref_id).receipt_id
    switch_to("warehouse")
    page = text(client.get(f"/procurement/receipts/{receipt_id}"))
    assert f"/quality/inspections/{inspection.id}" in page
    assert inspection.number in page
