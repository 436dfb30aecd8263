"""Transport attributes on the screens and sheets: set on a category, inherited or overridden.

The SKU page says where each value comes from; the category and SKU sheets carry them, an
empty SKU cell meaning "inherit", and refuse bad values naming the row, column and reason.
"""

from __future__ import annotations

import io

import openpyxl
import pytest
from sqlalchemy import select

from erp.catalog import services
from erp.catalog.excel import (
    CATEGORY_SPEC,
    SKU_SPEC,
    export_categories,
    export_skus,
    import_categories,
    import_skus,
)
from erp.catalog.models import BatteryKind, Category, Sku
from erp.catalog.transport import transport_of
from erp.core.models import AuditEvent
from erp.extensions import db

SKU_HEADERS = [str(column.header) for column in SKU_SPEC.columns]
CATEGORY_HEADERS = [str(column.header) for column in CATEGORY_SPEC.columns]


@pytest.fixture
def purchasing(login_as):
    return login_as("purchasing")


@pytest.fixture
def electronics(create_category):
    """Return ELEC (battery contained in equipment, magnet) > ELEC-PWR (battery alone)."""
    elec = create_category("ELEC", "Electronics", battery="in_equipment", magnet=True)
    power = create_category("ELEC-PWR", "Power banks", parent=elec, battery="alone")
    db.session.commit()
    return elec, power


def sku(code: str) -> Sku:
    return db.session.scalar(select(Sku).where(Sku.code == code))


def category(code: str) -> Category:
    return db.session.scalar(select(Category).where(Category.code == code))


def transport_table(page: str) -> str:
    start = page.index('id="transport"')
    return page[start:page.index("</section>", start)]


def row_of(table: str, label: str) -> str:
    start = table.index(f"<td>{label}</td>")
    return table[start:table.index("</tr>", start)]


# --- the SKU form and page --------------------------------------------------------------------

def test_sku_page_shows_inherited_values_and_their_category(client, purchasing, electronics,
                                                            create_product, create_sku):
    _elec, power = electronics
    product = create_product(category=power)
    item = create_sku("PWR-1", product=product)
    db.session.commit()

    table = transport_table(client.get(f"/catalog/skus/{item.id}").get_data(as_text=True))

    battery = row_of(table, "Battery")
    assert "battery alone" in battery
    assert "Category ELEC-PWR (Electronics / Power banks)" in battery  # the nearer category
    magnet = row_of(table, "Magnet")
    assert "<td>yes</td>" in magnet
    assert "Category ELEC (Electronics)" in magnet  # from the parent
    liquid = row_of(table, "Liquid")
    assert "<td>no</td>" in liquid
    assert "Default" in liquid
    cells = row_of(table, "Battery cells per unit")
    assert "<td>1</td>" in cells
    assert "Default" in cells


def test_sku_form_overrides_and_inherits_again(client, purchasing, electronics, create_product,
                                               create_sku):
    _elec, power = electronics
    item = create_sku("PWR-1", product=create_product(category=power))
    db.session.commit()

    form = client.get(f"/catalog/skus/{item.id}/edit").get_data(as_text=True)
    # the "inherit" choice says what would be inherited and from where
    assert "Inherit: battery alone (Category ELEC-PWR (Electronics / Power banks))" in form
    assert "Inherit: yes (Category ELEC (Electronics))" in form

    data = {"code": "PWR-1", "weight_g": "180", "status": "active", "battery": "with_equipment",
            "battery_cells": "3", "magnet": "no", "liquid": "", "powder": "", "flammable": "yes",
            "sharp": ""}
    response = client.post(f"/catalog/skus/{item.id}/edit", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    db.session.expire_all()
    stored = sku("PWR-1")
    assert (stored.battery, stored.battery_cells, stored.magnet, stored.flammable,
            stored.liquid) == (BatteryKind.with_equipment, 3, False, True, None)
    assert transport_of([stored.id])[stored.id].attributes() == [
        "battery_with_equipment", "flammable"]
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "sku.updated")).one()
    assert event.changes["magnet"] == [None, False]

    table = transport_table(client.get(f"/catalog/skus/{item.id}").get_data(as_text=True))
    assert "battery packed with equipment" in row_of(table, "Battery")
    assert 'badge-blue">SKU<' in row_of(table, "Battery")
    assert ">3<" in row_of(table, "Battery cells per unit")
    assert 'badge-blue">SKU<' in row_of(table, "Magnet")
    assert "Default" in row_of(table, "Liquid")

    # the edit form shows the overrides, and "inherit" takes them back off
    form = client.get(f"/catalog/skus/{item.id}/edit").get_data(as_text=True)
    assert '<option selected value="with_equipment">' in form
    data.update(battery="", battery_cells="", magnet="", flammable="")
    assert client.post(f"/catalog/skus/{item.id}/edit", data=data).status_code == 302
    db.session.expire_all()
    stored = sku("PWR-1")
    assert (stored.battery, stored.battery_cells, stored.magnet, stored.flammable) == (
        None, None, None, None)
    assert transport_of([stored.id])[stored.id].attributes() == ["battery_alone", "magnet"]


def test_new_sku_form_with_bad_cells_is_refused_at_the_field(client, purchasing, electronics,
                                                             create_product):
    _elec, power = electronics
    product = create_product(category=power)
    db.session.commit()

    response = client.post(f"/catalog/products/{product.id}/skus/new", data={
        "code": "PWR-2", "status": "active", "battery_cells": "0"})

    assert response.status_code == 200
    assert "The battery cells must be a whole number from 1 to 1000" in response.get_data(
        as_text=True)
    assert sku("PWR-2") is None


# --- the category form and tree ---------------------------------------------------------------

def test_category_form_sets_transport_defaults_shown_in_the_tree(client, purchasing,
                                                                 electronics):
    elec, power = electronics

    form = client.get(f"/catalog/categories/{power.id}/edit").get_data(as_text=True)
    assert '<option selected value="alone">' in form
    assert "Inherit: battery contained in equipment (Category ELEC (Electronics))" in form

    response = client.post(f"/catalog/categories/{power.id}/edit", data={
        "code": "ELEC-PWR", "name": "Power banks", "battery": "", "liquid": "yes",
        "magnet": "no"})
    assert response.status_code == 302
    db.session.expire_all()
    stored = category("ELEC-PWR")
    assert (stored.battery, stored.liquid, stored.magnet) == (None, True, False)
    event = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "category.updated")).one()
    assert event.changes["battery"] == ["alone", None]

    tree = client.get("/catalog/categories").get_data(as_text=True)
    row = tree[tree.index("<code>ELEC-PWR</code>"):]
    row = row[:row.index("</tr>")]
    # its own values in black, the inherited battery in grey with its source
    assert '<span class="tag" title="Category ELEC-PWR (Electronics / Power banks)">liquid: yes' \
        in row
    assert '<span class="tag" title="Category ELEC-PWR (Electronics / Power banks)">magnet: no' \
        in row
    assert ('<span class="tag muted" title="Category ELEC (Electronics)">battery contained in '
            'equipment') in row


def test_new_category_takes_transport_defaults(client, purchasing, electronics):
    elec, _power = electronics
    response = client.post("/catalog/categories/new", data={
        "code": "ELEC-LAMP", "name": "Lamps", "parent_id": str(elec.id), "battery": "none",
        "sharp": "yes"})
    assert response.status_code == 302
    stored = category("ELEC-LAMP")
    assert (stored.battery, stored.sharp, stored.magnet) == (BatteryKind.none, True, None)


# --- Excel ------------------------------------------------------------------------------------

def xlsx(rows: list[list], title: str) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = title
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def sku_row(code: str, **values) -> list:
    row = {"sku_code": code, "product_code": "PWR", "product_name": "Power bank",
           "brand_code": "TESTBR", "category_code": "ELEC-PWR", "weight_g": 280}
    row.update(values)
    return [row.get(column.key) for column in SKU_SPEC.columns]


def errors_of(result) -> list[tuple[int, str, str]]:
    return [(error.row, error.column, error.message) for error in result.errors]


@pytest.fixture
def power_skus(electronics, create_product, create_sku):
    """PWR-INH inherits everything; PWR-OWN overrides the battery, cells and two flags."""
    _elec, power = electronics
    product = create_product("PWR", category=power, name="Power bank")
    create_sku("PWR-INH", product=product)
    create_sku("PWR-OWN", product=product, battery="in_equipment", battery_cells=4,
               magnet=False, flammable=True)
    db.session.commit()


def transport_stored(code: str) -> tuple:
    row = sku(code)
    return tuple(getattr(row, key) for key in services.SKU_TRANSPORT_FIELDS)


def test_sku_export_then_import_keeps_overrides_and_inheritance(power_skus):
    before = {code: transport_stored(code) for code in ("PWR-INH", "PWR-OWN")}
    data = export_skus()
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    header = [cell.value for cell in sheet[1]]
    rows = {r[0]: dict(zip(header, r, strict=True))
            for r in sheet.iter_rows(min_row=2, values_only=True)}
    assert (rows["PWR-OWN"]["Battery"], rows["PWR-OWN"]["Battery cells"],
            rows["PWR-OWN"]["Magnet"], rows["PWR-OWN"]["Flammable (perfume)"]) == (
        "in_equipment", 4, False, True)
    assert all(rows["PWR-INH"][h] is None for h in ("Battery", "Battery cells", "Magnet"))

    result = import_skus(data, dry_run=False, actor=None)
    assert (result.ok, result.created, result.updated, result.skipped) == (True, 0, 0, 2), \
        errors_of(result)
    db.session.commit()
    db.session.expire_all()
    assert {code: transport_stored(code) for code in before} == before


def test_sku_import_blank_inherits_and_values_override(power_skus):
    data = xlsx([SKU_HEADERS,
                 sku_row("PWR-INH", battery="with_equipment", battery_cells=2, liquid="yes",
                         sharp="否"),
                 sku_row("PWR-OWN"),  # every transport cell empty: inherit again
                 sku_row("PWR-NEW", magnet="no")], "SKUs")

    dry = import_skus(data, dry_run=True, actor=None)
    assert dry.ok, errors_of(dry)
    assert transport_stored("PWR-OWN")[0] == BatteryKind.in_equipment  # a dry run writes nothing

    result = import_skus(data, dry_run=False, actor=None)
    assert (result.ok, result.created, result.updated) == (True, 1, 2), errors_of(result)
    db.session.commit()
    db.session.expire_all()
    assert transport_stored("PWR-INH") == (BatteryKind.with_equipment, 2, True, None, None,
                                           None, False)
    assert transport_stored("PWR-OWN") == (None,) * 7
    assert transport_stored("PWR-NEW") == (None, None, None, None, False, None, None)
    effective = transport_of([sku("PWR-OWN").id, sku("PWR-NEW").id])
    assert effective[sku("PWR-OWN").id].attributes() == ["battery_alone", "magnet"]
    assert effective[sku("PWR-NEW").id].attributes() == ["battery_alone"]  # magnet: no


def test_sku_import_without_transport_columns_leaves_them_alone(power_skus):
    keep = [h for h, c in zip(SKU_HEADERS, SKU_SPEC.columns, strict=True)
            if c.key not in services.SKU_TRANSPORT_FIELDS]
    before = transport_stored("PWR-OWN")
    row = sku_row("PWR-OWN", colour="Black")[:len(keep)]
    result = import_skus(xlsx([keep, row], "SKUs"), dry_run=False, actor=None)
    assert (result.ok, result.updated) == (True, 1), errors_of(result)
    db.session.commit()
    db.session.expire_all()
    assert transport_stored("PWR-OWN") == before


@pytest.mark.parametrize(("values", "column", "reason"), [
    ({"battery": "lithium"}, "Battery", 'must be one of: none, in_equipment, with_equipment, '
                                        'alone; got "lithium"'),
    ({"liquid": "maybe"}, "Liquid", 'must be yes or no, got "maybe"'),
    ({"battery_cells": 0}, "Battery cells", "whole number from 1 to 1000"),
    ({"battery_cells": 2.5}, "Battery cells", "must be a whole number, got 2.5"),
])
def test_sku_import_refuses_bad_transport_values(power_skus, values, column, reason):
    before = transport_stored("PWR-INH")
    data = xlsx([SKU_HEADERS, sku_row("PWR-OWN"), sku_row("PWR-INH", **values)], "SKUs")

    for dry_run in (True, False):
        result = import_skus(data, dry_run=dry_run, actor=None)
        assert [(e.row, e.column) for e in result.errors] == [(3, column)]
        assert reason in result.errors[0].message
        assert str(result.errors[0]).startswith(f'Row 3, column "{column}": ')
    db.session.rollback()
    db.session.expire_all()
    assert transport_stored("PWR-INH") == before
    assert transport_stored("PWR-OWN")[0] == BatteryKind.in_equipment  # all or nothing


def test_category_export_then_import_keeps_transport(electronics):
    data = export_categories()
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    header = [cell.value for cell in sheet[1]]
    rows = {r[0]: dict(zip(header, r, strict=True))
            for r in sheet.iter_rows(min_row=2, values_only=True)}
    assert (rows["ELEC"]["Battery"], rows["ELEC"]["Magnet"], rows["ELEC"]["Liquid"]) == (
        "in_equipment", True, None)
    assert rows["ELEC-PWR"]["Battery"] == "alone"

    result = import_categories(data, dry_run=False, actor=None)
    assert (result.ok, result.skipped) == (True, 2), errors_of(result)


def test_category_import_sets_clears_and_refuses_transport(electronics):
    def row(code, parent, **values):
        base = {"code": code, "name": code.title(), "parent_code": parent}
        return [{**base, **values}.get(c.key) for c in CATEGORY_SPEC.columns]

    bad = xlsx([CATEGORY_HEADERS, row("ELEC", None, battery="alone"),
                row("ELEC-PWR", "ELEC", sharp="sometimes")], "Categories")
    result = import_categories(bad, dry_run=False, actor=None)
    assert [(e.row, e.column) for e in result.errors] == [(3, "Sharp")]
    db.session.rollback()
    assert category("ELEC").battery == BatteryKind.in_equipment

    good = xlsx([CATEGORY_HEADERS, row("ELEC", None, battery="alone", powder=True),
                 row("ELEC-PWR", "ELEC")], "Categories")
    result = import_categories(good, dry_run=False, actor=None)
    assert (result.ok, result.updated) == (True, 2), errors_of(result)
    db.session.commit()
    db.session.expire_all()
    elec, power = category("ELEC"), category("ELEC-PWR")
    assert (elec.battery, elec.powder, elec.magnet) == (BatteryKind.alone, True, None)
    assert power.battery is None  # an empty cell: inherit from the parent again


# --- Chinese ----------------------------------------------------------------------------------

@pytest.fixture
def chinese(client):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN,zh;q=0.9"
    yield
    client.environ_base.pop("HTTP_ACCEPT_LANGUAGE", None)


def test_sku_page_and_form_in_chinese(client, purchasing, electronics, create_product,
                                      create_sku, chinese):
    _elec, power = electronics
    item = create_sku("PWR-1", product=create_product(category=power), flammable=True)
    db.session.commit()

    table = transport_table(client.get(f"/catalog/skus/{item.id}").get_data(as_text=True))
    for expected in ("运输属性", "单独电池", "默认", "类目 ELEC-PWR"):
        assert expected in table, expected
    form = client.get(f"/catalog/skus/{item.id}/edit").get_data(as_text=True)
    assert "继承：单独电池" in form

    response = client.post(f"/catalog/skus/{item.id}/edit", data={
        "code": "PWR-1", "status": "active", "battery": "alone", "battery_cells": "0"})
    assert response.status_code == 200
    assert "电池芯数" in response.get_data(as_text=True)
    assert sku("PWR-1").battery is None


def test_category_tree_in_chinese(client, purchasing, electronics, chinese):
    tree = client.get("/catalog/categories").get_data(as_text=True)
    for expected in ("运输", "内置电池", "磁性：是", 'title="类目 ELEC（Electronics）"'):
        assert expected in tree, expected


def test_sku_import_error_in_chinese(app, power_skus):
    data = xlsx([SKU_HEADERS, sku_row("PWR-INH", battery_cells=0)], "SKUs")
    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        result = import_skus(data, dry_run=True, actor=None)
        message = str(result.errors[0])
    assert message.startswith("第 2 行，“电池芯数”列：电池芯数必须是 1 到 1000 的整数"), message


# --- demo -------------------------------------------------------------------------------------

def test_demo_goods_carry_transport_attributes(app):
    from erp.brands.demo import load_demo as load_brands
    from erp.catalog.demo import load_demo

    load_brands()
    load_demo()
    db.session.commit()
    load_demo()  # a second load changes nothing
    db.session.commit()

    codes = {"NP-LAMP-BLA-STANDARD": ["battery_in_equipment"],
             "NP-LAMP-BLA-SPAREPACK": ["battery_with_equipment"],
             "NP-PWR-ORA-10000MAH": ["battery_alone"],
             "NP-MAG-BLA-ONESIZE": ["magnet"],
             "LM-MIST-CED-100ML": ["liquid", "flammable"],
             "LM-MIST-UNS-250ML": ["liquid"]}
    ids = {code: sku(code).id for code in codes}
    effective = transport_of(ids.values())
    assert {code: effective[ids[code]].attributes() for code in codes} == codes
    assert effective[ids["NP-PWR-ORA-10000MAH"]].cells == 3
    assert effective[ids["NP-LAMP-BLA-SPAREPACK"]].cells == 2
    assert sku("NP-TEE-BLA-M").id not in transport_of([sku("NP-TEE-BLA-M").id])
