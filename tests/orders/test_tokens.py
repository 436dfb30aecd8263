"""API token services and admin screens: created hashed and shown once, revoked, audited."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from erp.core.errors import ValidationError
from erp.core.models import AuditEvent
from erp.extensions import db
from erp.orders import services
from erp.orders.models import ApiToken


def test_token_is_stored_as_its_sha256(app, dummy_admin):
    token, plaintext = services.create_api_token("Web store", actor=dummy_admin)
    db.session.commit()
    assert token.token_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert plaintext not in {token.token_hash, token.name}
    assert plaintext.startswith(token.prefix)
    assert services.find_api_token(plaintext).id == token.id
    assert services.find_api_token(plaintext + "x") is None
    assert services.find_api_token("") is None


def test_mark_used_records_the_time_and_refuses_a_revoked_token(app, dummy_admin):
    token, _ = services.create_api_token("Web store", actor=dummy_admin)
    assert token.last_used_at is None
    services.mark_api_token_used(token)
    db.session.commit()
    db.session.expire_all()
    first = token.last_used_at
    assert first is not None
    later = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert services.mark_api_token_used(token, at=later).last_used_at == later
    db.session.commit()
    db.session.expire_all()
    assert token.last_used_at == later
    services.revoke_api_token(token, actor=dummy_admin)
    with pytest.raises(ValidationError, match="revoked"):
        services.mark_api_token_used(token)
    assert token.last_used_at == later


def test_revoke(app, dummy_admin):
    token, plaintext = services.create_api_token("Web store", actor=dummy_admin)
    services.revoke_api_token(token, actor=dummy_admin)
    db.session.commit()
    assert not token.active
    assert services.find_api_token(plaintext) is None
    with pytest.raises(ValidationError):
        services.revoke_api_token(token, actor=dummy_admin)
    actions = db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.entity_type == "api_token").order_by(AuditEvent.id)).all()
    assert actions == ["api_token.created", "api_token.revoked"]


@pytest.mark.parametrize("name", ["", "   ", "x" * 121])
def test_a_token_needs_a_short_name(app, name):
    with pytest.raises(ValidationError):
        services.create_api_token(name, actor=None)


def test_admin_screens_create_show_once_and_revoke(client, login_as):
    login_as("admin")
    response = client.get("/orders/api-tokens")
    assert response.status_code == 200
    assert b"No API token yet" in response.data
    response = client.post("/orders/api-tokens", data={"name": "Web store"})
    assert response.status_code == 200
    plaintext = re.search(r'<code class="token">([^<]+)</code>', response.get_data(as_text=True))[1]
    assert services.find_api_token(plaintext) is not None
    listing = client.get("/orders/api-tokens").get_data(as_text=True)
    assert "Web store" in listing
    assert plaintext not in listing
    assert client.get("/api/v1/stock",
                      headers={"Authorization": f"Bearer {plaintext}"}).status_code == 200
    token = db.session.scalar(select(ApiToken))
    response = client.post(f"/orders/api-tokens/{token.id}/revoke")
    assert response.status_code == 302
    assert client.get("/api/v1/stock",
                      headers={"Authorization": f"Bearer {plaintext}"}).status_code == 401
    assert client.post("/orders/api-tokens", data={"name": ""}).status_code == 422


@pytest.mark.parametrize("role", ["manager", "customer_service", "warehouse", "purchasing"])
def test_only_admins_manage_tokens(client, login_as, role):
    login_as(role)
    assert client.get("/orders/api-tokens").status_code == 403
    assert client.post("/orders/api-tokens", data={"name": "x"}).status_code == 403
