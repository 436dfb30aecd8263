"""Classification review: products whose customs data is unconfirmed or changed.

The states, the review page, confirming (audited, once), its export and the demo.
"""

from __future__ import annotations

import io
import json
from decimal import Decimal

import openpyxl
import pytest
from sqlalchemy import func, select

from erp.catalog import cn_customs, services
from erp.catalog.models import ProductCustomsReview
from erp.core.models import AuditEvent
from erp.extensions import db
from tests.concurrency_helpers import CALLS, POOL_CONFIG, race


@pytest.fixture
def goods(create_category, create_product, create_sku):
    """A T-shirts category declaring "Cotton T-shirt" with a cotton tee and a merino tee."""
    apparel = create_category("APP", "Apparel", origin_country="CN")
    tees = create_category("APP-TEE", "T-shirts", parent=apparel, hs_code="61091000",
                           customs_description="Cotton T-shirt", cn_hs_code="6109100021",
                           cn_name="棉制针织T恤")
    cotton = create_product("COT-TEE", category=tees, name="Cotton tee")
    merino = create_product("MER-TEE", category=tees, name="Merino trail tee")
    create_sku("COT-TEE-M", product=cotton)
    create_sku("MER-TEE-M", product=merino)
    create_sku("MER-TEE-L", product=merino, customs_description="Wool T-shirt")
    db.session.commit()
    return {"tees": tees, "cotton": cotton, "merino": merino}


def _events(product=None) -> list[AuditEvent]:
    stmt = select(AuditEvent).where(AuditEvent.action == "product.customs_confirmed")
    if product is not None:
        stmt = stmt.where(AuditEvent.entity_id == str(product.id))
    return db.session.scalars(stmt.order_by(AuditEvent.id)).all()


def test_products_without_a_confirmation_are_unconfirmed(goods, create_product):
    create_product("NO-SKUS")  # nothing to confirm: not listed
    db.session.commit()
    assert cn_customs.unreviewed_products() == {goods["cotton"].id: "unconfirmed",
                                                goods["merino"].id: "unconfirmed"}
    assert cn_customs.unreviewed_products([goods["merino"].id]) == {
        goods["merino"].id: "unconfirmed"}


def test_confirming_snapshots_the_values_and_is_audited_once(goods, create_user):
    user = create_user("checker", roles=("purchasing",))
    assert cn_customs.confirm_products([goods["merino"]], actor=user) == 1
    db.session.commit()
    assert cn_customs.unreviewed_products() == {goods["cotton"].id: "unconfirmed"}
    review = db.session.get(ProductCustomsReview, goods["merino"].id)
    assert review.confirmed_by_id == user.id
    snapshot = json.loads(review.snapshot)
    assert snapshot["MER-TEE-M"] == {"cn_hs_code": "6109100021", "cn_name": "棉制针织T恤",
                                     "customs_description": "Cotton T-shirt",
                                     "hs_code": "61091000", "origin_country": "CN"}
    assert snapshot["MER-TEE-L"]["customs_description"] == "Wool T-shirt"
    [event] = _events(goods["merino"])
    assert event.actor_id == user.id
    assert event.changes["state"] == "unconfirmed"
    # a repeated confirmation of the same values acts once
    assert cn_customs.confirm_products([goods["merino"].id], actor=user) == 0
    db.session.commit()
    assert len(_events(goods["merino"])) == 1


def test_an_edit_of_the_category_puts_a_confirmed_product_back_as_changed(goods):
    cn_customs.confirm_products([goods["cotton"], goods["merino"]], actor=None)
    db.session.commit()
    assert cn_customs.unreviewed_products() == {}
    services.update_category(goods["tees"], name="T-shirts", actor=None,
                             cn_name="针织T恤", hs_code="6109.90")
    db.session.commit()
    assert cn_customs.unreviewed_products() == {goods["cotton"].id: "changed",
                                                goods["merino"].id: "changed"}
    states = cn_customs.review_states([goods["merino"].id])
    state, values, review = states[goods["merino"].id]
    changed = cn_customs.changed_fields(review.snapshot, values)
    assert changed["MER-TEE-M"] == {"hs_code": ["61091000", "610990"],
                                    "cn_name": ["棉制针织T恤", "针织T恤"]}
    # confirming again records what changed
    cn_customs.confirm_products([goods["merino"]], actor=None)
    db.session.commit()
    event = _events(goods["merino"])[-1]
    assert event.changes["state"] == "changed"
    assert event.changes["changed"]["MER-TEE-M"]["cn_name"] == ["棉制针织T恤", "针织T恤"]
    assert cn_customs.unreviewed_products() == {goods["cotton"].id: "changed"}


def test_a_new_sku_or_a_sku_override_changes_the_product(goods, create_sku):
    cn_customs.confirm_products([goods["merino"]], actor=None)
    db.session.commit()
    create_sku("MER-TEE-S", product=goods["merino"])
    db.session.commit()
    assert cn_customs.unreviewed_products([goods["merino"].id]) == {
        goods["merino"].id: "changed"}


def test_a_value_the_review_does_not_cover_changes_nothing(goods):
    cn_customs.confirm_products([goods["merino"]], actor=None)
    db.session.commit()
    services.update_category(goods["tees"], name="T-shirts", actor=None, cn_unit1="011")
    db.session.commit()
    assert cn_customs.unreviewed_products([goods["merino"].id]) == {}


# --------------------------------------------------------------------------- screens


def test_review_page_lists_values_with_their_sources_and_confirms(client, login_as, goods):
    login_as("purchasing")
    page = client.get("/catalog/customs-review")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "MER-TEE" in text
    assert "COT-TEE" in text
    assert "Cotton T-shirt" in text
    assert "from Apparel / T-shirts" in text  # the inherited value's source
    assert "Wool T-shirt" in text
    found = client.get("/catalog/customs-review?q=merino").get_data(as_text=True)
    assert "MER-TEE" in found
    assert "COT-TEE" not in found
    response = client.post("/catalog/customs-review/confirm",
                           data={"product_ids": [goods["merino"].id]}, follow_redirects=True)
    assert "Customs data of 1 product confirmed." in response.get_data(as_text=True)
    assert cn_customs.unreviewed_products() == {goods["cotton"].id: "unconfirmed"}
    # nothing ticked: told so, nothing confirmed
    response = client.post("/catalog/customs-review/confirm", data={}, follow_redirects=True)
    assert "Tick at least one product" in response.get_data(as_text=True)


def test_changed_products_show_what_changed(client, login_as, goods):
    cn_customs.confirm_products([goods["merino"]], actor=None)
    services.update_category(goods["tees"], name="T-shirts", actor=None, cn_name="针织T恤")
    db.session.commit()
    login_as("purchasing")
    text = client.get("/catalog/customs-review?state=changed").get_data(as_text=True)
    assert "changed since confirmation" in text
    assert "棉制针织T恤 → 针织T恤" in text
    assert "COT-TEE" not in text


def test_staff_without_classify_may_read_but_not_confirm(client, login_as, goods):
    login_as("warehouse")
    text = client.get("/catalog/customs-review").get_data(as_text=True)
    assert "MER-TEE" in text
    assert 'name="product_ids"' not in text
    response = client.post("/catalog/customs-review/confirm",
                           data={"product_ids": [goods["merino"].id]})
    assert response.status_code == 403
    assert _events() == []


def test_review_export_has_one_row_per_sku_with_sources(client, login_as, goods):
    login_as("warehouse")
    response = client.get("/catalog/customs-review/export.xlsx?q=MER")
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    header = [c.value for c in sheet[1]]
    rows = [dict(zip(header, r, strict=True)) for r in sheet.iter_rows(min_row=2,
                                                                         values_only=True)]
    assert [r["SKU"] for r in rows] == ["MER-TEE-L", "MER-TEE-M"]
    assert rows[1]["Customs description"] == "Cotton T-shirt"
    assert rows[1]["Customs description: source"] == "Apparel / T-shirts"
    assert rows[0]["Customs description: source"] == "SKU"


def test_the_product_page_shows_the_review_state(client, login_as, goods):
    login_as("purchasing")
    merino = goods["merino"]
    text = client.get(f"/catalog/products/{merino.id}").get_data(as_text=True)
    assert "unconfirmed" in text
    assert "Review it" in text
    cn_customs.confirm_products([merino], actor=None)
    db.session.commit()
    text = client.get(f"/catalog/products/{merino.id}").get_data(as_text=True)
    assert "Confirmed " in text
    assert "Review it" not in text


def test_the_sku_page_says_the_product_is_not_confirmed(client, login_as, goods):
    login_as("purchasing")
    sku = goods["merino"].skus[0]
    text = client.get(f"/catalog/skus/{sku.id}").get_data(as_text=True)
    assert "not confirmed yet" in text
    assert "棉制针织T恤" in text


# --------------------------------------------------------------------------- concurrency


@pytest.mark.postgres
class TestConcurrentConfirmations:
    """8 people confirm the same product at once: one confirmation, one audit event."""

    @pytest.fixture
    def app_config(self):
        return POOL_CONFIG

    def test_eight_confirmations_at_once_confirm_once(self, app, goods):
        product_id = goods["merino"].id

        def prepare(n):
            return lambda: cn_customs.confirm_products([product_id], actor=None)

        outcomes = race(app, prepare)
        assert outcomes.wins == CALLS
        assert not outcomes.unexpected
        assert sorted(outcomes.results) == [0] * (CALLS - 1) + [1]
        db.session.expire_all()
        assert db.session.scalar(select(func.count()).select_from(ProductCustomsReview)) == 1
        assert len(_events()) == 1


# --------------------------------------------------------------------------- demo


def test_demo_merino_tees_wait_on_the_review_list_the_rest_is_confirmed(client, login_as, app):
    from erp.brands.demo import load_demo as load_brands
    from erp.catalog.demo import load_demo
    from erp.catalog.models import Product, Sku

    load_brands()
    load_demo()
    db.session.commit()
    load_demo()  # a second load changes nothing
    db.session.commit()
    codes = dict(db.session.execute(select(Product.id, Product.code)).all())
    assert sorted(codes[pid] for pid in cn_customs.unreviewed_products()) == [
        "NP-TEE", "NP-TEEW"]
    tee = db.session.scalar(select(Sku).where(Sku.code == "NP-TEE-BLA-M"))
    data = cn_customs.effective_cn_customs([tee.id])[tee.id]
    assert (data.hs_code, data.name, data.gmodel, data.sale_unit) == (
        "6109100021", "棉制针织T恤", "针织|棉|无品牌", "011")
    assert (data.unit1, data.factor1, data.unit2, data.factor2) == ("011", 1, "035", None)
    assert data.sources["hs_code"] == "Apparel / Tops / T-shirts"
    assert cn_customs.legal_quantity(data.unit2, data.factor2, data.sale_unit, Decimal(2),
                                     2 * tee.weight_g) == Decimal(2 * tee.weight_g) / 1000
    login_as("purchasing")
    text = client.get("/catalog/customs-review").get_data(as_text=True)
    assert "Merino trail tee" in text
    assert "Cotton T-shirt" in text
    assert "from Apparel / Tops / T-shirts" in text
