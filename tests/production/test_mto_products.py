"""Made-to-order set-up (maker, time, sizes, template) and the check of a line's specification."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from sqlalchemy import select

from erp.core.errors import ValidationError
from erp.core.models import AuditEvent
from erp.extensions import db
from erp.orders import hooks
from erp.production.models import MeasurementField, MtoProduct
from erp.production.services import products
from tests.production.mto_helpers import TEMPLATE, set_up_suit


@pytest.fixture
def maker(create_supplier):
    return create_supplier("TAILOR", "Suzhou Tailors")


@pytest.fixture
def suit(create_product, create_sku, maker):
    return set_up_suit(create_product, create_sku, maker)


def test_set_up_stores_maker_template_and_audits(suit, maker):
    product, _sku = suit
    mto = db.session.get(MtoProduct, product.id)
    assert product.made_to_order is True
    assert (mto.maker_id, mto.production_days, mto.sizes, mto.made_to_measure) == (
        maker.id, 12, "46 48 50", True)
    fields = db.session.scalars(select(MeasurementField).where(
        MeasurementField.product_id == product.id).order_by(MeasurementField.position)).all()
    assert [(f.code, f.unit, f.min_value, f.max_value, f.required, f.position) for f in fields] \
        == [("chest_cm", "cm", Decimal("70.00"), Decimal("140.00"), True, 1),
            ("waist_cm", "cm", Decimal("60.00"), Decimal("130.00"), True, 2),
            ("sleeve_cm", "cm", Decimal("50.00"), Decimal("75.00"), False, 3)]
    event = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "product.made_to_order_set")).one()
    assert event.entity_id == str(product.id) or int(event.entity_id) == product.id


def test_template_text_round_trips(suit):
    product, _sku = suit
    fields = db.session.scalars(select(MeasurementField).where(
        MeasurementField.product_id == product.id).order_by(MeasurementField.position)).all()
    text = products.template_text(fields)
    assert text.splitlines()[0] == "chest_cm | Chest | 胸围 | cm | 70 | 140 | yes"
    assert products.parse_template(text) == [
        products.FieldRow(r.code, r.label, r.label_zh, r.unit, r.min_value, r.max_value,
                          r.required) for r in TEMPLATE]


@pytest.mark.parametrize(("changes", "field", "words"), [
    ({"production_days": 0}, "production_days", "1 to 60"),
    ({"production_days": 61}, "production_days", "1 to 60"),
    ({"production_days": "ten"}, "production_days", "ten"),
    ({"sizes": "M M"}, "sizes", "twice"),
    ({"sizes": "M <L>"}, "sizes", "<L>"),
    ({"sizes": "", "made_to_measure": False}, "sizes", "standard sizes"),
    ({"maker_id": None}, "maker_id", "maker"),
])
def test_set_up_refusals_name_the_field(create_product, maker, changes, field, words):
    product = create_product("SHIRT")
    values = {"made_to_order": True, "maker_id": maker.id, "production_days": 10,
              "sizes": "S M L", "made_to_measure": False, "fields": []}
    values.update(changes)
    with pytest.raises(ValidationError) as err:
        products.set_up_product(product, actor=None, **values)
    assert err.value.field == field
    assert words in str(err.value)


def test_inactive_maker_refused(create_product, create_supplier):
    old = create_supplier("OLD", active=False)
    with pytest.raises(ValidationError, match='"OLD" is inactive'):
        products.set_up_product(create_product("SHIRT"), actor=None, made_to_order=True,
                                maker_id=old.id, production_days=10, sizes="S",
                                made_to_measure=False)


@pytest.mark.parametrize(("row", "words"), [
    (products.FieldRow("Hip", "Hip"), 'code "Hip"'),
    (products.FieldRow("1chest", "Hip"), 'code "1chest"'),
    (products.FieldRow("hip_cm", ""), "label is required"),
    (products.FieldRow("hip_cm", "Hip", unit="mm"), 'not "mm"'),
    (products.FieldRow("hip_cm", "Hip", min_value="90", max_value="80"),
     "minimum 90.00 is above the maximum 80.00"),
    (products.FieldRow("hip_cm", "Hip", min_value="abc"), '"abc"'),
    (products.FieldRow("hip_cm", "Hip", min_value="-1"), '"-1"'),
])
def test_template_rows_refused_naming_row(create_product, maker, row, words):
    with pytest.raises(ValidationError) as err:
        products.set_up_product(create_product("SHIRT"), actor=None, made_to_order=True,
                                maker_id=maker.id, production_days=10, sizes="",
                                made_to_measure=True, fields=[TEMPLATE[0], row])
    assert "row 2" in str(err.value)
    assert words in str(err.value)
    assert err.value.field == "fields"


def test_made_to_measure_needs_a_template_and_duplicates_refused(create_product, maker):
    product = create_product("SHIRT")
    with pytest.raises(ValidationError, match="measurement template"):
        products.set_up_product(product, actor=None, made_to_order=True, maker_id=maker.id,
                                production_days=10, sizes="", made_to_measure=True, fields=[])
    with pytest.raises(ValidationError, match="used twice"):
        products.set_up_product(product, actor=None, made_to_order=True, maker_id=maker.id,
                                production_days=10, sizes="", made_to_measure=True,
                                fields=[TEMPLATE[0], TEMPLATE[0]])


def test_parse_template_refuses_bad_lines():
    with pytest.raises(ValidationError, match="row 1"):
        products.parse_template("chest_cm")
    with pytest.raises(ValidationError, match='required must be yes or no, not "maybe"'):
        products.parse_template("chest_cm | Chest | | cm | 70 | 140 | maybe")


def test_check_line_is_registered_in_the_intake_hook():
    assert products.check_line in hooks.made_to_order_checks


def test_measurements_in_range_and_sizes_accepted(suit):
    _product, sku = suit
    products.check_line(sku, None, {"chest_cm": Decimal("96.5"), "waist_cm": Decimal("80")})
    products.check_line(sku, None, {"chest_cm": Decimal("70"), "waist_cm": Decimal("130"),
                                    "sleeve_cm": Decimal("62")})
    products.check_line(sku, "48", None)


@pytest.mark.parametrize(("size", "values", "message"), [
    (None, {"chest_cm": "150", "waist_cm": "80"}, "chest_cm 150 is outside 70–140 cm"),
    (None, {"chest_cm": "96.5", "waist_cm": "59.5"}, "waist_cm 59.5 is outside 60–130 cm"),
    (None, {"chest_cm": "96", "waist_cm": "80", "neck_cm": "40"}, 'Measurement "neck_cm" is not'),
    (None, {"chest_cm": "96"}, 'Measurement "waist_cm" (Waist) is required'),
    ("52", None, 'Size "52" is not one of the sizes of product "SUIT": 46, 48, 50'),
    ("48", {"chest_cm": "96", "waist_cm": "80"}, "either a size or measurements"),
    (None, None, "give a size or measurements"),
])
def test_check_line_refusals_name_field_value_and_range(suit, size, values, message):
    _product, sku = suit
    given = {k: Decimal(v) for k, v in values.items()} if values else None
    with pytest.raises(ValueError, match=re.escape(message)):
        products.check_line(sku, size, given)


def test_measurements_refused_when_not_made_to_measure(create_product, create_sku, maker):
    product = create_product("SHIRT")
    sku = create_sku("SHIRT-M", product=product)
    products.set_up_product(product, actor=None, made_to_order=True, maker_id=maker.id,
                            production_days=10, sizes="S M L", made_to_measure=False)
    with pytest.raises(ValueError, match='"SHIRT" is not made to measure: choose one of its '
                                         r"sizes \(S, M, L\)"):
        products.check_line(sku, None, {"chest_cm": Decimal("96")})


def test_other_products_are_not_checked(create_sku):
    products.check_line(create_sku("PLAIN"), None, None)


def test_screens_list_export_and_set_up(app, client, login_as, suit, maker, create_product):
    db.session.commit()
    login_as("purchasing")
    page = client.get("/production/products?q=suit")
    assert page.status_code == 200
    assert b"SUIT" in page.data
    assert b"TAILOR" in page.data
    export = client.get("/production/products/export.xlsx?q=suit")
    assert export.status_code == 200
    assert export.data[:2] == b"PK"
    shirt = create_product("SHIRT")
    db.session.commit()
    assert client.get("/production/products/setup?code=shirt").headers["Location"].endswith(
        f"/production/products/{shirt.id}")
    form = client.get(f"/production/products/{shirt.id}")
    assert form.status_code == 200
    refused = client.post(f"/production/products/{shirt.id}", data={
        "made_to_order": "y", "maker_id": maker.id, "production_days": 10, "sizes": "",
        "made_to_measure": "y", "fields": "chest_cm | Chest | 胸围 | cm | 70 | 40 | yes"})
    assert refused.status_code == 422
    assert "the minimum 70.00 is above the maximum 40.00" in refused.get_data(as_text=True)
    saved = client.post(f"/production/products/{shirt.id}", data={
        "made_to_order": "y", "maker_id": maker.id, "production_days": 10, "sizes": "S M",
        "made_to_measure": "y", "fields": "chest_cm | Chest | 胸围 | cm | 70 | 140 | yes"})
    assert saved.status_code == 302
    db.session.expire_all()
    assert db.session.get(MtoProduct, shirt.id).sizes == "S M"


def test_read_only_roles_cannot_change(client, login_as, suit):
    product, _sku = suit
    db.session.commit()
    login_as("warehouse")
    assert client.get("/production/products").status_code == 200
    assert client.get(f"/production/products/{product.id}").status_code == 403
