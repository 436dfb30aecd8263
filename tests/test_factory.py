"""The application factory: defaults, overrides and refusal of bad settings."""

import pytest

from erp import create_app
from erp.config import ConfigError


def test_create_app_without_overrides_uses_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ERP_DATABASE_URL", f"sqlite:///{tmp_path}/x.sqlite3")
    monkeypatch.setenv("ERP_SECRET_KEY", "from-the-environment-123")
    monkeypatch.setenv("ERP_MAX_UPLOAD_MB", "3")
    app = create_app()
    assert not app.testing
    assert app.config["SQLALCHEMY_DATABASE_URI"].endswith("x.sqlite3")
    assert app.config["SECRET_KEY"] == "from-the-environment-123"
    assert app.config["MAX_CONTENT_LENGTH"] == 3 * 1024 * 1024


def test_create_app_with_overrides(monkeypatch, tmp_path):
    monkeypatch.setenv("ERP_DATABASE_URL", f"sqlite:///{tmp_path}/env.sqlite3")
    app = create_app({"TESTING": True, "SECRET_KEY": "override-secret",
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/o.sqlite3"})
    assert app.testing
    assert app.config["SQLALCHEMY_DATABASE_URI"].endswith("o.sqlite3")


def test_default_database_is_sqlite_in_instance_folder(monkeypatch):
    monkeypatch.delenv("ERP_DATABASE_URL", raising=False)
    app = create_app({"SECRET_KEY": "x" * 32})
    assert app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///")
    assert app.config["SQLALCHEMY_DATABASE_URI"].endswith("instance/erp.sqlite3")


@pytest.mark.parametrize(("env", "value", "message"), [
    ("ERP_BASE_CURRENCY", "XYZ", "ERP_BASE_CURRENCY must be an ISO 4217 code"),
    ("ERP_DATABASE_URL", "mysql://root@localhost/erp", "ERP_DATABASE_URL must be"),
    ("ERP_MAX_UPLOAD_MB", "0", "ERP_MAX_UPLOAD_MB must be a positive"),
    ("ERP_MAX_UPLOAD_MB", "lots", "ERP_MAX_UPLOAD_MB must be a whole number"),
    ("ERP_SESSION_MINUTES", "-5", "ERP_SESSION_MINUTES must be a positive"),
])
def test_bad_setting_is_refused_with_clear_message(monkeypatch, tmp_path, env, value, message):
    monkeypatch.setenv("ERP_DATABASE_URL", f"sqlite:///{tmp_path}/x.sqlite3")
    monkeypatch.setenv("ERP_SECRET_KEY", "s" * 32)
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError, match=message):
        create_app()


def test_short_secret_refused_for_production_database(monkeypatch):
    monkeypatch.setenv("ERP_DATABASE_URL", "postgresql+psycopg://u@localhost/erp")
    monkeypatch.setenv("ERP_SECRET_KEY", "short")
    with pytest.raises(ConfigError, match="too short"):
        create_app()
