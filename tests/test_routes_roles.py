"""Every URL rule of the app, for anonymous users and every role, against declared permissions.

A view must declare ``@permission_required(...)``, ``@public`` or ``api`` (a bearer-token API
view, :func:`erp.orders.api.api_token_required`); the walk fails on one that declares none.
Denied roles must get 403, anonymous users a redirect to the login page, and allowed roles
anything but a refusal (200 for argument-free pages). API views answer 401 to anonymous users
and to every signed-in role alike: a session never opens them, only a token.
"""

from __future__ import annotations

import re

import pytest
from flask import Flask

from erp.core.models import Role
from erp.core.permissions import ROLE_PERMISSIONS, permission_required, public
from erp.orders.api import api_token_required
from tests.fixtures.core import ROLES

EXEMPT_ENDPOINTS = {"static"}  # served files: CSS/JS needed by the login page itself


def undeclared_views(app: Flask) -> list[str]:
    """Return the endpoints whose view declares no permission, no ``@public`` and no ``api``."""
    return sorted(
        endpoint for endpoint, view in app.view_functions.items()
        if endpoint not in EXEMPT_ENDPOINTS
        and not getattr(view, "permission", None) and not getattr(view, "public", False)
        and not getattr(view, "api", False))


def _sample_url(rule) -> str:
    """Build a URL for ``rule`` with placeholder arguments (ids that may not exist)."""
    values = {}
    for arg in rule.arguments:
        converter = rule._converters[arg].__class__.__name__
        values[arg] = 1 if converter in {"IntegerConverter"} else "sample"
    path = rule.rule
    for arg, value in values.items():
        path = re.sub(rf"<(?:[^:<>]+:)?{arg}>", str(value), path)
    return path


def _walk(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint in EXEMPT_ENDPOINTS:
            continue
        view = app.view_functions[rule.endpoint]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method, view


def test_every_view_declares_a_permission(app):
    assert undeclared_views(app) == []


def test_a_view_without_permission_is_detected(app):
    probe = Flask("probe")
    probe.add_url_rule("/declared", "declared", permission_required("core.dashboard")(lambda: ""))
    probe.add_url_rule("/open", "open", public(lambda: ""))
    probe.add_url_rule("/api", "api", api_token_required(lambda: ""))
    probe.add_url_rule("/forgotten", "forgotten", lambda: "")
    assert undeclared_views(probe) == ["forgotten"]


def test_anonymous_is_sent_to_login_except_public_views(client, app):
    for rule, method, view in _walk(app):
        response = client.open(_sample_url(rule), method=method)
        where = f"{method} {rule.rule}"
        if getattr(view, "public", False):
            # /ready answers 503 here by design: the test database (create_all) has no migrations
            assert response.status_code < 500 or rule.endpoint == "core.ready", where
            # (the sign-in code step without a password first sends back to the password)
            assert "/login" not in response.headers.get("Location", "") \
                or rule.endpoint == "core.login_code", where
        elif getattr(view, "api", False):
            assert response.status_code == 401, where
            assert response.is_json, where
        else:
            assert response.status_code in (302, 401), where
            assert "/login" in response.headers.get("Location", ""), where


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_exactly_its_permissions(client, app, login_as, role):
    login_as(role)
    granted = ROLE_PERMISSIONS[Role(role)]
    for rule, method, view in _walk(app):
        # signing out, or ending one's own session (id 1 is the walker's own on SQLite), would
        # sign the walker out of every route after it
        if getattr(view, "public", False) or rule.endpoint in ("core.logout", "core.end_session"):
            continue
        response = client.open(_sample_url(rule), method=method)
        if getattr(view, "api", False):  # a session is no token
            assert response.status_code == 401, f"{role}: {method} {rule.rule}"
            continue
        where = f"{role}: {method} {rule.rule} ({view.permission})"
        if view.permission in granted:
            assert response.status_code not in (401, 403), where
            assert "/login" not in response.headers.get("Location", ""), where
            assert response.status_code < 500, where
            if method == "GET" and not rule.arguments:
                assert response.status_code == 200, where
        else:
            assert response.status_code == 403, where


def test_health_is_public_and_reports_database(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}
