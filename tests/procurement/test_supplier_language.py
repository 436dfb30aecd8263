"""A supplier's language: the language its purchase orders print in."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from erp.core.errors import ValidationError
from erp.extensions import db
from erp.procurement import services
from erp.procurement.models import Supplier


def _create(code: str, country: str, **values) -> Supplier:
    return services.create_supplier(code=code, name=f"Supplier {code}", country=country,
                                    currency="USD", actor=None, **values)


def test_default_language_is_chinese_in_china_else_english(app):
    assert _create("CN-1", "CN").language == "zh_Hans_CN"
    assert _create("DE-1", "DE").language == "en"
    assert _create("CN-2", "China", language="en").language == "en"
    assert _create("VN-1", "VN", language="zh-CN").language == "zh_Hans_CN"


def test_update_language_and_back_to_automatic(app):
    supplier = _create("CN-3", "CN")
    services.update_supplier(supplier, language="en", actor=None)
    assert supplier.language == "en"
    services.update_supplier(supplier, language="", actor=None)  # by country again
    assert supplier.language == "zh_Hans_CN"
    services.update_supplier(supplier, country="DE", language="", actor=None)
    assert supplier.language == "en"


def test_unknown_language_is_refused(app):
    with pytest.raises(ValidationError, match="not a language orders can be printed in"):
        _create("FR-1", "FR", language="fr")


def test_supplier_form_sets_the_language(client, login_as):
    login_as("purchasing")
    response = client.post("/procurement/suppliers/new", data={
        "code": "SZ-NEW", "name": "Shenzhen New", "country": "CN", "currency": "CNY",
        "lead_time_days": "10", "language": "en"})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    supplier = db.session.scalar(select(Supplier).where(Supplier.code == "SZ-NEW"))
    assert supplier.language == "en"
    form = client.get(f"/procurement/suppliers/{supplier.id}/edit").get_data(as_text=True)
    assert 'name="language"' in form
    response = client.post(f"/procurement/suppliers/{supplier.id}/edit", data={
        "code": "SZ-NEW", "name": "Shenzhen New", "country": "CN", "currency": "CNY",
        "lead_time_days": "10", "language": ""})
    assert response.status_code == 302
    db.session.refresh(supplier)
    assert supplier.language == "zh_Hans_CN"
