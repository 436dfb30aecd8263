"""Brand screens: allowed roles can work, forms show errors, approval needs a manager."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import select

from erp.brands import services
from erp.brands.models import Brand, SpecificationState, Trademark
from erp.extensions import db
from tests.brands.test_services import PNG
from tests.fixtures.core import PASSWORD


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
    """Return whether the form control named ``name`` carries ``autofocus``."""
    match = re.search(rf'<(?:input|textarea|select)[^>]*\bname="{name}"[^>]*>', page)
    return bool(match) and "autofocus" in match.group(0)


# --------------------------------------------------------------------------- brands


@pytest.mark.parametrize("role", ["purchasing", "manager", "admin"])
def test_brand_list_shows_brands_to_allowed_roles(client, login_as, create_brand, role):
    create_brand("LUMA", "Luma Home")
    login_as(role)
    response = client.get("/brands/")
    assert response.status_code == 200
    assert "Luma Home" in text(response)
    assert ("New brand" in text(response)) == (role != "manager")


@pytest.mark.parametrize("role", ["warehouse", "customer_service"])
def test_brand_screens_are_refused_to_other_roles(client, login_as, dummy_brand, role):
    login_as(role)
    assert client.get("/brands/").status_code == 403
    assert client.get(f"/brands/{dummy_brand.id}").status_code == 403


def test_brand_list_searches_filters_and_pages(app, client, login_as, create_brand):
    create_brand("LUMA", "Luma Home")
    create_brand("NORDPEAK", "Nordpeak Outdoor", kind="third_party")
    create_brand("KIBO", "Kibo Kids", active=False)
    login_as("purchasing")
    assert "NORDPEAK" in text(client.get("/brands/?q=outdoor"))
    assert "LUMA" not in text(client.get("/brands/?q=outdoor"))
    body = text(client.get("/brands/?kind=third_party"))
    assert "NORDPEAK" in body
    assert "KIBO" not in body
    body = text(client.get("/brands/?active=no"))
    assert "KIBO" in body
    assert "LUMA" not in body
    assert client.get("/brands/?kind=bogus&active=maybe").status_code == 200
    app.config["ERP_PAGE_SIZE"] = 2
    body = text(client.get("/brands/"))
    assert "Page 1 of 2" in body
    assert "KIBO" in body
    assert "NORDPEAK" not in body
    assert "NORDPEAK" in text(client.get("/brands/?page=2"))


def test_create_brand_form_has_autofocus_and_creates(client, login_as):
    login_as("purchasing")
    page = text(client.get("/brands/new"))
    assert autofocused(page, "code")
    assert not autofocused(page, "name")
    response = client.post("/brands/new", data={"code": "luma", "name": "Luma Home",
                                                "kind": "private", "owner_company": ""})
    brand = db.session.scalar(select(Brand).where(Brand.code == "LUMA"))
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/brands/{brand.id}")


def test_create_brand_form_shows_service_and_form_errors(client, login_as, dummy_brand):
    login_as("purchasing")
    response = client.post("/brands/new", data={"code": "luma", "name": "Again",
                                                "kind": "private"})
    assert response.status_code == 200
    assert "already uses it" in text(response)
    response = client.post("/brands/new", data={"code": "BAD CODE", "name": "",
                                                "kind": "private"})
    assert "This field is required." in text(response)
    assert db.session.scalar(select(db.func.count()).select_from(Brand)) == 1


def test_edit_brand_saves_changes(client, login_as, dummy_brand):
    login_as("admin")
    page = text(client.get(f"/brands/{dummy_brand.id}/edit"))
    assert 'value="LUMA"' in page
    assert autofocused(page, "code")
    response = client.post(f"/brands/{dummy_brand.id}/edit", data={
        "code": "LUMA", "name": "Luma Living", "kind": "third_party", "owner_company": "X Ltd"})
    assert response.status_code == 302
    db.session.expire_all()
    brand = db.session.get(Brand, dummy_brand.id)
    assert (brand.name, brand.kind.value, brand.owner_company) == (
        "Luma Living", "third_party", "X Ltd")


def test_manager_cannot_edit_brands(client, login_as, dummy_brand):
    login_as("manager")
    assert client.get(f"/brands/{dummy_brand.id}").status_code == 200
    assert client.get(f"/brands/{dummy_brand.id}/edit").status_code == 403
    assert client.post(f"/brands/{dummy_brand.id}/active").status_code == 403


def test_toggle_brand_active(client, login_as, dummy_brand):
    login_as("purchasing")
    client.post(f"/brands/{dummy_brand.id}/active")
    db.session.expire_all()
    assert db.session.get(Brand, dummy_brand.id).active is False


def test_add_and_remove_trademark(client, login_as, dummy_brand):
    login_as("purchasing")
    response = client.post(f"/brands/{dummy_brand.id}/trademarks", data={
        "country": "United Kingdom", "number": "UK0001", "registered_on": "2024-02-03",
        "classes": "24"})
    assert response.status_code == 302
    mark = db.session.scalar(select(Trademark))
    assert (mark.country, str(mark.registered_on)) == ("GB", "2024-02-03")
    assert "UK0001" in text(client.get(f"/brands/{dummy_brand.id}"))
    response = client.post(f"/brands/trademarks/{mark.id}/delete")
    assert response.status_code == 302
    assert db.session.scalar(select(Trademark)) is None


def test_add_trademark_with_bad_country_shows_the_error(client, login_as, dummy_brand):
    login_as("purchasing")
    response = client.post(f"/brands/{dummy_brand.id}/trademarks",
                           data={"country": "Narnia", "number": "1"})
    assert response.status_code == 422
    assert "is not a country" in text(response)
    assert db.session.scalar(select(Trademark)) is None


def test_logo_upload_and_image(client, login_as, dummy_brand):
    login_as("purchasing")
    assert client.get(f"/brands/{dummy_brand.id}/logo").status_code == 404
    response = client.post(f"/brands/{dummy_brand.id}/logo", data={
        "logo": (io.BytesIO(PNG), "logo.png")}, content_type="multipart/form-data")
    assert response.status_code == 302
    image = client.get(f"/brands/{dummy_brand.id}/logo")
    assert image.status_code == 200
    assert image.mimetype == "image/png"
    assert image.data == PNG
    assert f"/brands/{dummy_brand.id}/logo" in text(client.get(f"/brands/{dummy_brand.id}"))
    client.post(f"/brands/{dummy_brand.id}/logo/delete")
    assert client.get(f"/brands/{dummy_brand.id}/logo").status_code == 404


def test_logo_upload_refuses_other_formats(client, login_as, dummy_brand):
    login_as("purchasing")
    response = client.post(f"/brands/{dummy_brand.id}/logo", data={
        "logo": (io.BytesIO(b"GIF89a...."), "logo.gif")}, content_type="multipart/form-data",
        follow_redirects=True)
    assert "PNG or JPEG" in text(response)
    db.session.expire_all()
    assert db.session.get(Brand, dummy_brand.id).logo_mime is None


def test_export_brands_uses_the_filters(client, login_as, create_brand):
    import openpyxl
    create_brand("LUMA", "Luma Home")
    create_brand("KIBO", "Kibo Kids", active=False)
    login_as("manager")
    response = client.get("/brands/export.xlsx?active=yes")
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    assert [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)] == ["LUMA"]


# --------------------------------------------------------------------------- specifications


def test_create_specification_screen(client, login_as, dummy_brand):
    login_as("purchasing")
    page = text(client.get(f"/brands/{dummy_brand.id}/specifications/new"))
    assert autofocused(page, "title")
    assert not autofocused(page, "material")
    response = client.post(f"/brands/{dummy_brand.id}/specifications/new",
                           data={"title": "Duvet cover", "material": "Cotton"})
    assert response.status_code == 302
    spec = dummy_brand.specifications[0]
    assert response.headers["Location"].endswith(f"/brands/specifications/{spec.id}")
    body = text(client.get(response.headers["Location"]))
    assert spec.number in body
    assert "Save draft" in body
    assert "Approve version" not in body


def test_create_specification_without_title_shows_the_error(client, login_as, dummy_brand):
    login_as("purchasing")
    response = client.post(f"/brands/{dummy_brand.id}/specifications/new", data={"title": ""})
    assert response.status_code == 200
    assert "This field is required." in text(response)
    assert dummy_brand.specifications == []


def test_edit_draft_and_errors(client, login_as, create_specification):
    spec = create_specification(title="Duvet")
    version = spec.latest
    login_as("purchasing")
    response = client.post(f"/brands/specification-versions/{version.id}",
                           data={"title": "Duvet cover", "material": "Linen"})
    assert response.status_code == 302
    db.session.expire_all()
    assert (spec.latest.title, spec.latest.material) == ("Duvet cover", "Linen")
    response = client.post(f"/brands/specification-versions/{version.id}",
                           data={"title": "", "material": "Wool"})
    assert response.status_code == 422
    assert "This field is required." in text(response)
    db.session.expire_all()
    assert spec.latest.material == "Linen"


def test_manager_approves_and_purchasing_cannot(client, switch_to, create_specification):
    spec = create_specification(title="Duvet")
    version = spec.latest
    switch_to("purchasing")
    page = text(client.get(f"/brands/specifications/{spec.id}"))
    assert "Approve version 1" not in page
    assert client.post(f"/brands/specification-versions/{version.id}/approve").status_code == 403
    db.session.expire_all()
    assert spec.latest.state == SpecificationState.draft

    manager = switch_to("manager")
    page = text(client.get(f"/brands/specifications/{spec.id}"))
    assert "Approve version 1" in page
    assert "Save draft" not in page
    response = client.post(f"/brands/specification-versions/{version.id}/approve")
    assert response.status_code == 302
    db.session.expire_all()
    assert spec.latest.state == SpecificationState.approved
    assert spec.latest.approved_by_id == manager.id
    page = text(client.get(f"/brands/specifications/{spec.id}"))
    assert "Retire version 1" in page
    assert "read-only" in page


def test_manager_cannot_edit_a_draft(client, login_as, create_specification):
    version = create_specification().latest
    login_as("manager")
    response = client.post(f"/brands/specification-versions/{version.id}", data={"title": "x"})
    assert response.status_code == 403


def test_approving_twice_flashes_the_refusal(client, login_as, create_specification):
    spec = create_specification()
    services.approve_specification_version(spec.latest, actor=None)
    db.session.commit()
    login_as("manager")
    response = client.post(f"/brands/specification-versions/{spec.latest.id}/approve",
                           headers={"Referer": f"/brands/specifications/{spec.id}"},
                           follow_redirects=True)
    assert "it is &#34;approved&#34;" in text(response) or 'it is "approved"' in text(response)


def test_new_version_retire_and_history(client, switch_to, create_specification):
    spec = create_specification(title="Duvet")
    services.approve_specification_version(spec.latest, actor=None)
    db.session.commit()
    switch_to("purchasing")
    response = client.post(f"/brands/specifications/{spec.id}/versions")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("version=2")
    page = text(client.get(response.headers["Location"]))
    assert "Draft version 2" in page
    assert "Start version" not in page
    # a second "new version" while the draft is open is refused with the reason
    response = client.post(f"/brands/specifications/{spec.id}/versions",
                           headers={"Referer": f"/brands/specifications/{spec.id}"},
                           follow_redirects=True)
    assert "only one draft at a time" in text(response)

    switch_to("manager")
    v1 = spec.versions[0]
    assert client.post(f"/brands/specification-versions/{v1.id}/retire").status_code == 302
    db.session.expire_all()
    assert [v.state.value for v in spec.versions] == ["retired", "draft"]
    page = text(client.get(f"/brands/specifications/{spec.id}?version=1"))
    assert "Version 1" in page
    assert "no version in force" in page


def test_attachments_upload_download_remove(client, login_as, create_specification):
    version = create_specification().latest
    login_as("purchasing")
    response = client.post(f"/brands/specification-versions/{version.id}/attachments", data={
        "file": (io.BytesIO(b"%PDF-1.7 drawing"), "../Drawing 1.pdf")},
        content_type="multipart/form-data")
    assert response.status_code == 302
    [attachment] = version.attachments
    assert attachment.filename == "Drawing_1.pdf"
    download = client.get(f"/brands/attachments/{attachment.id}")
    assert download.status_code == 200
    assert download.data == b"%PDF-1.7 drawing"
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert client.post(f"/brands/attachments/{attachment.id}/delete").status_code == 302
    db.session.expire_all()
    assert version.attachments == []


def test_attachment_upload_without_file_flashes(client, login_as, create_specification):
    version = create_specification().latest
    login_as("purchasing")
    response = client.post(f"/brands/specification-versions/{version.id}/attachments",
                           data={}, follow_redirects=True)
    assert "Choose a file." in text(response)


def test_specification_lists_and_dashboard_card(client, login_as, create_specification,
                                                dummy_brand):
    create_specification(dummy_brand, title="Duvet")
    approved = create_specification(dummy_brand, title="Towel")
    services.approve_specification_version(approved.latest, actor=None)
    db.session.commit()
    login_as("manager")
    body = text(client.get("/brands/specifications/drafts"))
    assert "Duvet" in body
    assert "Towel" not in body
    body = text(client.get("/brands/specifications?state=approved&q=tow"))
    assert "Towel" in body
    assert "Duvet" not in body
    assert "Duvet" in text(client.get(f"/brands/specifications?brand_id={dummy_brand.id}"))
    home = text(client.get("/"))
    assert "Specifications awaiting approval" in home
    assert "/brands/specifications/drafts" in home


def test_dashboard_card_is_only_for_approvers(client, login_as):
    login_as("purchasing")
    assert "Specifications awaiting approval" not in text(client.get("/"))


def test_brands_in_navigation(client, login_as):
    login_as("purchasing")
    assert 'href="/brands/"' in text(client.get("/"))
