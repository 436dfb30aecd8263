"""Security hardening: response headers, cookie flags, HSTS, the upload size limit, templates.

Session expiry after inactivity is tested in ``test_auth.py``
(``test_session_idle_longer_than_lifetime_redirects_to_login``); sign-in throttling there too;
the rate limits in ``tests/orders/test_api_ratelimit.py``.
"""

from __future__ import annotations

import html
import io
import re
from pathlib import Path

import pytest

from erp import create_app
from erp.config import Config
from tests.conftest import BASE_CONFIG
from tests.fixtures.core import PASSWORD

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
SECURE = {"SESSION_COOKIE_SECURE": True, "REMEMBER_COOKIE_SECURE": True}


def directives(response) -> dict[str, str]:
    policy = response.headers["Content-Security-Policy"]
    return {part.split()[0]: part.strip() for part in policy.split(";") if part.strip()}


def session_cookie(response) -> str:
    cookies = [value for value in response.headers.getlist("Set-Cookie")
               if value.startswith("session=")]
    assert cookies, response.headers
    return cookies[-1]


# --------------------------------------------------------------------------- headers


@pytest.mark.parametrize("url", ["/login", "/health", "/no-such-page", "/api/v1/openapi.json",
                                 "/api/v1/stock"])
def test_security_headers_on_every_kind_of_response(client, url):
    response = client.get(url)

    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cache-Control"] == "no-store"
    csp = directives(response)
    assert csp["script-src"] == "script-src 'self'"
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    assert "unsafe-eval" not in response.headers["Content-Security-Policy"]
    assert csp["default-src"] == "default-src 'self'"
    assert csp["object-src"] == "object-src 'none'"
    assert csp["frame-ancestors"] == "frame-ancestors 'none'"
    assert csp["base-uri"] == "base-uri 'self'"
    assert csp["form-action"] == "form-action 'self'"
    assert "Strict-Transport-Security" not in response.headers  # plain HTTP by default


def test_static_files_may_be_cached_but_keep_nosniff(client):
    response = client.get("/static/css/app.css")
    response.close()
    assert response.status_code == 200
    assert "no-store" not in response.headers.get("Cache-Control", "")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" in response.headers


@pytest.mark.parametrize("app_config", [SECURE], ids=["secure-cookies"])
def test_hsts_when_cookies_are_secure(client):
    response = client.get("/login")
    hsts = response.headers["Strict-Transport-Security"]
    assert re.fullmatch(r"max-age=(\d+); includeSubDomains", hsts)
    assert int(re.search(r"\d+", hsts).group()) >= 180 * 24 * 3600


# --------------------------------------------------------------------------- cookies


def test_session_cookie_is_httponly_samesite_and_not_secure_on_plain_http(client, create_user):
    create_user("alice", roles=("warehouse",))
    response = client.post("/login", data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    cookie = session_cookie(response)
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie


@pytest.mark.parametrize("app_config", [SECURE], ids=["secure-cookies"])
def test_session_cookie_secure_when_set(client, create_user):
    create_user("alice", roles=("warehouse",))
    response = client.post("/login", data={"username": "alice", "password": PASSWORD},
                           base_url="https://localhost")
    cookie = session_cookie(response)
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_secure_cookies_setting_reaches_flask(monkeypatch, tmp_path):
    monkeypatch.setenv("ERP_SECURE_COOKIES", "yes")
    flask_config = Config.from_env().as_flask()
    assert flask_config["SESSION_COOKIE_SECURE"] is True
    assert flask_config["REMEMBER_COOKIE_SECURE"] is True
    app = create_app({**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI":
                      f"sqlite:///{tmp_path}/x.sqlite3"})
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["REMEMBER_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert app.config["SESSION_COOKIE_SECURE"] is True
    monkeypatch.setenv("ERP_SECURE_COOKIES", "0")
    assert Config.from_env().as_flask()["SESSION_COOKIE_SECURE"] is False


def test_session_lifetime_follows_setting(monkeypatch):
    monkeypatch.setenv("ERP_SESSION_MINUTES", "30")
    assert Config.from_env().as_flask()["PERMANENT_SESSION_LIFETIME"] == 1800


def test_signed_in_session_is_permanent_with_the_lifetime(app, client, create_user):
    create_user("alice", roles=("warehouse",))
    client.post("/login", data={"username": "alice", "password": PASSWORD})
    response = client.get("/")
    assert response.status_code == 200
    cookie = session_cookie(response)
    assert "Expires=" in cookie  # permanent: it ends PERMANENT_SESSION_LIFETIME after last use


# --------------------------------------------------------------------------- upload size


@pytest.mark.parametrize("app_config", [{"MAX_CONTENT_LENGTH": 1024 * 1024}], ids=["1mb"])
def test_upload_over_the_limit_is_413_page(client, login_as):
    login_as("admin")
    # the multipart body is built here: the test client would spool it to an unclosed file
    boundary = "erp-boundary"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="brands.xlsx"\r\nContent-Type: application/octet-stream\r\n\r\n'
            ).encode() + b"x" * (1024 * 1024 + 10) + f"\r\n--{boundary}--\r\n".encode()

    response = client.post("/brands/import", data=body,
                           content_type=f"multipart/form-data; boundary={boundary}")

    assert response.status_code == 413
    page = html.unescape(response.get_data(as_text=True))
    assert "File too large" in page
    assert "Uploads are limited to 1 MB. Split the file and try again." in page
    assert response.mimetype == "text/html"


@pytest.mark.parametrize("app_config", [{"MAX_CONTENT_LENGTH": 1024 * 1024}], ids=["1mb"])
def test_api_body_over_the_limit_is_413_json(client):
    response = client.post("/api/v1/orders", data=b"{" + b" " * (1024 * 1024 + 10) + b"}",
                           content_type="application/json",
                           headers={"Authorization": "Bearer whatever"})
    assert response.status_code in (401, 413)  # the token is checked before the body is read
    assert response.is_json


def test_upload_under_the_limit_is_processed(client, login_as):
    login_as("admin")
    response = client.post("/brands/import", data={"file": (io.BytesIO(b"not a workbook"),
                                                            "brands.xlsx"), "action": "check"},
                           content_type="multipart/form-data")
    assert response.status_code == 200
    assert "File too large" not in response.get_data(as_text=True)


# --------------------------------------------------------------------------- templates


def _templates() -> list[Path]:
    return sorted(TEMPLATES.rglob("*.html"))


def test_templates_have_no_inline_scripts_or_event_handlers():
    """The CSP (script-src 'self') would block them: scripts live in static/js."""
    offenders = []
    for path in _templates():
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"<script\b([^>]*)>", text, flags=re.IGNORECASE):
            attrs = match.group(1)
            if "src=" not in attrs and 'type="application/json"' not in attrs:
                offenders.append(f"{path.name}: inline <script>")
        if re.search(r"<[a-z][^>]*\son[a-z]+\s*=", text, flags=re.IGNORECASE):
            offenders.append(f"{path.name}: on*= handler")
        if re.search(r"href\s*=\s*[\"']\s*javascript:", text, flags=re.IGNORECASE):
            offenders.append(f"{path.name}: javascript: URL")
        if re.search(r"\sstyle\s*=|<style\b", text, flags=re.IGNORECASE):
            offenders.append(f"{path.name}: inline style (style-src 'self')")
    assert _templates()
    assert offenders == []


def test_templates_never_mark_data_safe():
    offenders = [path.name for path in _templates()
                 if re.search(r"\|\s*safe\b|autoescape\s+false", path.read_text("utf-8"))]
    assert offenders == []


def test_json_data_block_is_escaped(client, login_as):
    """The dashboard's data block goes through |tojson, which escapes </script>."""
    login_as("manager")
    response = client.get("/reports/dashboard")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    block = re.search(r'<script type="application/json" id="dashboard-data">(.*?)</script>',
                      body, flags=re.DOTALL)
    assert block is not None
    assert "<" not in block.group(1)
