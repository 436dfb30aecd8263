"""Rate limits: the storefront API per token (else per address), and POST /login per address."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import func, select

from erp import create_app
from erp.config import ConfigError
from erp.core.models import LoginAttempt
from erp.extensions import db, limiter
from erp.orders import services
from tests.conftest import BASE_CONFIG

LIMITS = {"ERP_API_RATE_LIMIT": "3 per minute", "ERP_LOGIN_RATE_LIMIT": "2 per minute"}


@pytest.fixture
def app_config() -> dict:
    """Small limits, so a test reaches them in a few requests."""
    return dict(LIMITS)


def new_token(admin, name: str) -> str:
    _, plaintext = services.create_api_token(name, actor=admin)
    db.session.commit()
    return plaintext


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_api_limit_hits_at_n_plus_one_with_429_json_and_retry_after(client, dummy_admin):
    token = new_token(dummy_admin, "Web store")
    for _ in range(3):
        assert client.get("/api/v1/stock", headers=auth(token)).status_code == 200

    response = client.get("/api/v1/stock", headers=auth(token))

    assert response.status_code == 429
    assert response.is_json
    message = response.get_json()["error"]
    match = re.fullmatch(r"Too many requests: at most 3 per minute for this token; "
                         r"retry after (\d+) seconds\.", message)
    assert match, message
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    assert int(match.group(1)) == retry_after


def test_api_limit_is_shared_by_every_endpoint_of_a_token(client, dummy_admin):
    token = new_token(dummy_admin, "Web store")
    assert client.get("/api/v1/stock", headers=auth(token)).status_code == 200
    assert client.get("/api/v1/orders/NOPE-1", headers=auth(token)).status_code == 404
    assert client.post("/api/v1/orders", json={}, headers=auth(token)).status_code == 422

    assert client.get("/api/v1/orders/NOPE-1", headers=auth(token)).status_code == 429
    assert client.post("/api/v1/orders", json={}, headers=auth(token)).status_code == 429


def test_api_limit_is_per_token(client, dummy_admin):
    first = new_token(dummy_admin, "Web store")
    second = new_token(dummy_admin, "Marketplace")
    for _ in range(3):
        client.get("/api/v1/stock", headers=auth(first))
    assert client.get("/api/v1/stock", headers=auth(first)).status_code == 429

    # same address, another token: counted on its own
    for _ in range(3):
        assert client.get("/api/v1/stock", headers=auth(second)).status_code == 200
    assert client.get("/api/v1/stock", headers=auth(second)).status_code == 429


def test_api_without_valid_token_is_limited_by_address(client, dummy_admin):
    token = new_token(dummy_admin, "Web store")
    for _ in range(3):
        assert client.get("/api/v1/stock", headers=auth("guessed")).status_code == 401
    response = client.get("/api/v1/stock", headers=auth("another-guess"))
    assert response.status_code == 429
    assert "for this address" in response.get_json()["error"]
    assert "Retry-After" in response.headers
    # a real token from the same address still has its own allowance
    assert client.get("/api/v1/stock", headers=auth(token)).status_code == 200
    # ... and another address is not affected
    other = client.get("/api/v1/stock", headers=auth("guessed"),
                       environ_base={"REMOTE_ADDR": "203.0.113.77"})
    assert other.status_code == 401


def test_openapi_document_is_limited_by_address(client, dummy_admin):
    token = new_token(dummy_admin, "Web store")
    for _ in range(3):
        assert client.get("/api/v1/openapi.json", headers=auth(token)).status_code == 200
    response = client.get("/api/v1/openapi.json", headers=auth(token))
    assert response.status_code == 429
    assert "for this address" in response.get_json()["error"]
    assert client.get("/api/v1/openapi.json",
                      environ_base={"REMOTE_ADDR": "203.0.113.78"}).status_code == 200


def test_ui_pages_are_not_limited(client, login_as):
    login_as("manager")
    for _ in range(10):
        assert client.get("/").status_code == 200
    for _ in range(10):
        assert client.get("/health").status_code == 200


def test_counts_are_kept_per_app_instance(client, app, dummy_admin):
    token = new_token(dummy_admin, "Web store")
    for _ in range(4):
        client.get("/api/v1/stock", headers=auth(token))
    assert client.get("/api/v1/stock", headers=auth(token)).status_code == 429

    # another app (e.g. the benchmarks', with limiting off) neither resets nor disables this one
    other = create_app({**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI": app.config[
        "SQLALCHEMY_DATABASE_URI"], "RATELIMIT_ENABLED": False})
    with other.app_context():
        assert limiter.enabled is False
    assert limiter.enabled is True
    assert client.get("/api/v1/stock", headers=auth(token)).status_code == 429
    with other.test_client() as other_client:
        for _ in range(5):
            assert other_client.get("/api/v1/stock", headers=auth(token)).status_code == 200
    # a fresh app starts with fresh counters
    fresh = create_app({**BASE_CONFIG, **LIMITS,
                        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"]})
    assert fresh.test_client().get("/api/v1/stock", headers=auth(token)).status_code == 200
    assert client.get("/api/v1/stock", headers=auth(token)).status_code == 429
    for extra in (other, fresh):  # close their connections (PostgreSQL would warn on GC)
        with extra.app_context():
            db.session.remove()
            db.engine.dispose()


def attempts() -> int:
    return db.session.scalar(select(func.count()).select_from(LoginAttempt))


def test_login_posts_limited_per_address_before_the_database_throttle(client, create_user):
    create_user("alice", roles=("warehouse",))
    for _ in range(2):
        response = client.post("/login", data={"username": "alice", "password": "wrong-one!"})
        assert response.status_code == 200

    response = client.post("/login", data={"username": "alice", "password": "wrong-one!"})

    assert response.status_code == 429
    assert response.mimetype == "text/html"
    page = html.unescape(response.get_data(as_text=True))
    assert "Too many requests" in page
    assert re.search(r"Too many requests from your address\. Wait \d+ seconds", page)
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert attempts() == 2  # refused before the password check: nothing recorded
    # the sign-in page itself still opens, and another address may still post
    assert client.get("/login").status_code == 200
    other = client.post("/login", data={"username": "alice", "password": "wrong-one!"},
                        environ_base={"REMOTE_ADDR": "203.0.113.79"})
    assert other.status_code == 200


@pytest.mark.parametrize(("setting", "value"), [
    ("ERP_API_RATE_LIMIT", "lots"), ("ERP_API_RATE_LIMIT", "0 per minute"),
    ("ERP_LOGIN_RATE_LIMIT", "10 a minute"), ("ERP_API_RATE_LIMIT", ""),
])
def test_bad_rate_limit_setting_refused_at_start(tmp_path, monkeypatch, setting, value):
    monkeypatch.setenv(setting, value)
    config = {**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.sqlite3"}
    if value == "":  # empty means "use the default": set the Flask key directly instead
        monkeypatch.delenv(setting)
        config[setting] = value
    with pytest.raises(ConfigError, match=setting):
        create_app(config)


def test_bad_rate_limit_storage_refused_at_start(tmp_path, monkeypatch):
    monkeypatch.setenv("ERP_RATELIMIT_STORAGE_URL", "ftp://example.com")
    with pytest.raises(ConfigError, match="ERP_RATELIMIT_STORAGE_URL"):
        create_app({**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.sqlite3"})


def test_rate_limit_settings_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("ERP_API_RATE_LIMIT", "100/second")
    monkeypatch.delenv("ERP_RATELIMIT_STORAGE_URL", raising=False)
    monkeypatch.setenv("ERP_REDIS_URL", "redis://127.0.0.1:6399/0")
    from erp.config import Config
    flask_config = Config.from_env().as_flask()
    assert flask_config["ERP_API_RATE_LIMIT"] == "100/second"
    assert flask_config["ERP_LOGIN_RATE_LIMIT"] == "30 per minute"
    assert flask_config["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:6399/0"
    monkeypatch.delenv("ERP_REDIS_URL")
    assert Config.from_env().as_flask()["RATELIMIT_STORAGE_URI"] == "memory://"
    monkeypatch.delenv("ERP_API_RATE_LIMIT")
    assert Config.from_env().as_flask()["ERP_API_RATE_LIMIT"] == "600 per minute"


def test_a_carrier_pushing_tracking_too_often_gets_429_with_retry_after(client):
    """Counted per carrier in the address: another carrier still gets through."""
    for _ in range(3):  # unknown carriers are refused, but the calls still count
        assert client.post("/api/v1/carriers/FAST/tracking", json=[]).status_code == 401

    response = client.post("/api/v1/carriers/FAST/tracking", json=[])

    assert response.status_code == 429
    assert response.is_json
    assert "retry after" in response.get_json()["error"]
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert client.post("/api/v1/carriers/OTHER/tracking", json=[]).status_code == 401
