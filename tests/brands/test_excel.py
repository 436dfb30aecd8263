"""Brand Excel export and import: formula injection, dry run, errors, all or nothing, round trip."""

from __future__ import annotations

import io
import re

import openpyxl
import pytest
from sqlalchemy import func, select

from erp.brands import excel as brand_excel
from erp.brands import services
from erp.brands.models import Brand, BrandKind
from erp.core.errors import ValidationError
from erp.core.models import AuditEvent
from erp.extensions import db

HEADERS = ["Code", "Name", "Kind", "Owner company", "Active"]
INJECTION = "=cmd|' /C calc'!A0"


def xlsx(rows, headers=HEADERS) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Brands"
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def brand_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Brand))


def audit_count() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent))


def snapshot() -> list[tuple]:
    db.session.expire_all()
    return [(b.id, b.code, b.name, b.kind, b.owner_company, b.active)
            for b in db.session.scalars(select(Brand).order_by(Brand.id))]


def run(data: bytes, *, dry_run: bool = False, filename: str = "brands.xlsx"):
    result = brand_excel.import_brands(data, filename=filename, dry_run=dry_run, actor=None)
    if result.ok and not dry_run:
        db.session.commit()
    else:
        db.session.rollback()
    return result


# --------------------------------------------------------------------------- export


def test_export_neutralises_formula_injection(create_brand):
    create_brand("EVIL", INJECTION, owner_company="+44 20 7946 0000")
    create_brand("SAFE", "@SUM(A1:A9)", owner_company="-1")
    sheet = openpyxl.load_workbook(io.BytesIO(brand_excel.export_brands())).active
    rows = {row[0].value: row for row in sheet.iter_rows(min_row=2)}
    for code, name, owner in (("EVIL", INJECTION, "+44 20 7946 0000"),
                              ("SAFE", "@SUM(A1:A9)", "-1")):
        name_cell, owner_cell = rows[code][1], rows[code][3]
        assert name_cell.data_type == "s"
        assert name_cell.value == "'" + name
        assert owner_cell.data_type == "s"
        assert owner_cell.value == "'" + owner
    assert not any(cell.data_type == "f" for row in sheet.iter_rows() for cell in row)


def test_export_writes_the_columns_of_the_import(create_brand):
    create_brand("LUMA", "Luma Home", owner_company="Lantern & Loom", kind="third_party",
                 active=False)
    sheet = openpyxl.load_workbook(io.BytesIO(brand_excel.export_brands())).active
    assert [list(r) for r in sheet.iter_rows(values_only=True)] == [
        HEADERS, ["LUMA", "Luma Home", "third_party", "Lantern & Loom", False]]


def test_export_applies_the_list_filters(create_brand):
    create_brand("LUMA", "Luma Home")
    create_brand("KIBO", "Kibo Kids", kind="third_party")
    sheet = openpyxl.load_workbook(io.BytesIO(
        brand_excel.export_brands(q="kids", kind="third_party"))).active
    assert [r[0] for r in sheet.iter_rows(min_row=2, values_only=True)] == ["KIBO"]


# --------------------------------------------------------------------------- import


def test_import_dry_run_writes_nothing(app):
    before = audit_count()
    result = run(xlsx([["luma", "Luma Home", "private", "", "yes"]]), dry_run=True)
    assert result.ok
    assert result.dry_run
    assert result.row_count == 1
    assert brand_count() == 0
    assert audit_count() == before


def test_import_reports_bad_rows_by_row_and_column(app):
    result = run(xlsx([
        ["LUMA", "Luma Home", "private", None, "yes"],
        ["X", "Too short", None, None, None],
        ["KIBO", None, "licensed", None, "maybe"],
        ["NORD PEAK", "N" * 121, None, None, None],
    ]))
    found = {(e.row, e.column) for e in result.errors}
    assert found == {(3, "Code"), (4, "Name"), (4, "Kind"), (4, "Active"), (5, "Code"),
                     (5, "Name")}
    messages = {(e.row, e.column): e.message for e in result.errors}
    assert "not a brand code" in messages[(3, "Code")]
    assert messages[(4, "Name")] == "is required"
    assert "must be one of: private, third_party" in messages[(4, "Kind")]
    assert "at most 120 characters" in messages[(5, "Name")]
    assert brand_count() == 0


def test_import_refuses_duplicate_codes_within_the_file(app):
    result = run(xlsx([["LUMA", "Luma Home", None, None, None],
                       ["kibo", "Kibo", None, None, None],
                       [" luma ", "Luma again", None, None, None]]))
    assert [(e.row, e.column) for e in result.errors] == [(4, "Code")]
    assert "also in row 2" in result.errors[0].message
    assert brand_count() == 0


def test_import_refuses_missing_required_column(app):
    result = run(xlsx([["Luma Home"]], headers=["Name"]))
    assert not result.ok
    assert 'missing required columns: "Code"' in result.errors[0].message
    assert brand_count() == 0


def test_import_creates_and_updates_by_code(create_brand):
    luma = create_brand("LUMA", "Luma Home", owner_company="Old Owner Ltd")
    create_brand("KIBO", "Kibo Kids")
    result = run(xlsx([
        ["luma", "Luma Living", "third_party", None, "no"],  # empty owner: kept
        ["KIBO", "Kibo Kids", None, None, None],  # nothing changes
        ["NORDPEAK", "Nordpeak Outdoor", None, "Lantern & Loom", None],
    ]))
    assert result.ok, result.errors
    assert (result.created, result.updated, result.skipped) == (1, 1, 1)
    db.session.expire_all()
    luma = db.session.get(Brand, luma.id)
    assert (luma.name, luma.kind, luma.owner_company, luma.active) == (
        "Luma Living", BrandKind.third_party, "Old Owner Ltd", False)
    nord = services.get_brand_by_code("NORDPEAK")
    assert (nord.kind, nord.active, nord.owner_company) == (
        BrandKind.private, True, "Lantern & Loom")
    actions = set(db.session.scalars(select(AuditEvent.action)))
    assert {"brand.created", "brand.updated", "brand.deactivated"} <= actions


def test_import_is_all_or_nothing_when_a_row_fails_while_applying(create_brand, monkeypatch):
    create_brand("KIBO", "Kibo Kids")
    real_update = services.update_brand

    def failing_update(brand, **kwargs):
        real_update(brand, **kwargs)
        raise ValidationError("A brand name may not be changed today.", field="name")

    monkeypatch.setattr(services, "update_brand", failing_update)
    before = snapshot()
    result = run(xlsx([["LUMA", "Luma Home", None, None, None],
                       ["KIBO", "Kibo Changed", None, None, None]]))
    assert [(e.row, e.column, e.message) for e in result.errors] == [
        (3, "Name", "A brand name may not be changed today.")]
    assert snapshot() == before


@pytest.mark.parametrize(("data", "filename"), [
    (b"%PDF-1.7 not a sheet", "brands.pdf"),
    (b"this is plain text, not a zip", "brands.xlsx"),
    (b"PK\x03\x04broken zip", "brands.xlsx"),
])
def test_import_refuses_a_file_that_is_not_a_spreadsheet(app, data, filename):
    before = audit_count()
    result = run(data, filename=filename)
    [error] = result.errors
    assert error.row == 0  # about the file as a whole; the wording is the framework's
    assert ".xlsx" in error.message
    assert brand_count() == 0
    assert audit_count() == before


def test_round_trip_export_then_import_changes_nothing(create_brand):
    create_brand("LUMA", "Luma Home", owner_company="Lantern & Loom Trading Ltd")
    create_brand("EVIL", INJECTION, owner_company="@owner")
    create_brand("KIBO", "儿童 Kibo Kids", kind="third_party", active=False)
    before, events = snapshot(), audit_count()
    result = run(brand_excel.export_brands())
    assert result.ok, result.errors
    assert (result.created, result.updated, result.skipped) == (0, 0, 3)
    assert snapshot() == before
    assert audit_count() == events


# --------------------------------------------------------------------------- screens


def post_upload(client, data: bytes, action: str, filename: str = "brands.xlsx"):
    return client.post("/brands/import", data={"file": (io.BytesIO(data), filename),
                                               "action": action},
                       content_type="multipart/form-data")


def test_import_page_and_template(client, login_as):
    login_as("purchasing")
    page = client.get("/brands/import").get_data(as_text=True)
    assert re.search(r'<input[^>]*autofocus[^>]*name="file"', page)
    assert "Check only" in page
    assert "Import" in page
    template = client.get("/brands/import/template.xlsx")
    assert template.status_code == 200
    workbook = openpyxl.load_workbook(io.BytesIO(template.data))
    assert [c.value for c in workbook.worksheets[0][1]] == HEADERS
    assert "Help" in workbook.sheetnames


def test_import_screen_dry_run_then_import(client, login_as):
    login_as("purchasing")
    data = xlsx([["LUMA", "Luma Home", "private", None, "yes"]])
    response = post_upload(client, data, "dry_run")
    assert response.status_code == 200
    assert "No errors in brands.xlsx" in response.get_data(as_text=True)
    assert brand_count() == 0
    response = post_upload(client, data, "import")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/brands/")
    assert brand_count() == 1


def test_import_screen_shows_errors_and_serves_the_report(client, login_as, switch_user):
    login_as("purchasing")
    data = xlsx([["LUMA", "Luma Home", None, None, None], ["X", "Bad", None, None, None]])
    response = post_upload(client, data, "import")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "1 error in brands.xlsx" in page
    assert "Nothing was written" in page
    assert brand_count() == 0
    url = re.search(r'href="(/brands/import/errors/[^"]+\.xlsx)"', page).group(1)
    report = client.get(url)
    assert report.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(report.data)).active
    assert sheet.cell(1, 6).value.startswith("Errors")
    assert "not a brand code" in sheet.cell(3, 6).value
    assert sheet.cell(3, 1).fill.start_color.rgb.endswith("FFC7CE")
    switch_user("admin")  # another user may not fetch someone else's upload
    assert client.get(url).status_code == 404
    assert client.get("/brands/import/errors/../../secret.xlsx").status_code == 404


def test_import_screen_refuses_a_non_spreadsheet(client, login_as):
    login_as("purchasing")
    response = post_upload(client, b"%PDF-1.7", "import", filename="notes.pdf")
    assert response.status_code == 200
    assert "1 error in notes.pdf" in response.get_data(as_text=True)
    assert brand_count() == 0


def test_import_screen_without_a_file(client, login_as):
    login_as("purchasing")
    response = client.post("/brands/import", data={"action": "import"})
    assert response.status_code == 422
    assert "Choose a file to import." in response.get_data(as_text=True)


def test_import_is_refused_to_managers(client, login_as):
    login_as("manager")
    assert client.get("/brands/import").status_code == 403
    assert post_upload(client, xlsx([]), "import").status_code == 403


@pytest.fixture
def switch_user(client, create_user, login):
    def do_switch(role: str):
        client.post("/logout")
        user = create_user(f"other-{role}", roles=(role,))
        assert login(user.username).status_code == 302
        return user
    return do_switch
