"""Request ids and the structured per-request log line (logger ``erp.request``)."""

from __future__ import annotations

import json
import logging
import os
import re

import pytest

from erp import create_app
from erp.config import ConfigError
from erp.core.permissions import public
from erp.core.requestlog import FIELDS, JsonFormatter, RequestIdFilter, TextFormatter
from erp.extensions import db
from tests.conftest import BASE_CONFIG

HEX32 = re.compile(r"[0-9a-f]{32}")


def request_records(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "erp.request"]


def test_incoming_request_id_is_kept_and_returned(client):
    response = client.get("/login", headers={"X-Request-ID": "lb-1234.abc_DEF"})
    assert response.headers["X-Request-ID"] == "lb-1234.abc_DEF"


@pytest.mark.parametrize("header", [None, "", "x" * 65, "has space", "semi;colon", "ünï"])
def test_missing_or_unsafe_request_id_is_replaced(client, header):
    headers = {"X-Request-ID": header} if header is not None else {}
    response = client.get("/login", headers=headers)
    assert HEX32.fullmatch(response.headers["X-Request-ID"])


def test_each_request_gets_its_own_id(client):
    ids = {client.get("/health").headers["X-Request-ID"] for _ in range(3)}
    assert len(ids) == 3


def test_one_line_per_request_without_the_query_string(client, caplog):
    caplog.set_level(logging.INFO, logger="erp.request")
    response = client.get("/login?email=anna%40example.de&next=/orders",
                          headers={"X-Request-ID": "req-1"},
                          environ_base={"REMOTE_ADDR": "203.0.113.7"})
    assert response.status_code == 200
    [record] = request_records(caplog)
    fields = record.request_fields
    assert list(fields) == list(FIELDS)
    assert fields["request_id"] == "req-1"
    assert record.request_id == "req-1"
    assert fields["method"] == "GET"
    assert fields["path"] == "/login"
    assert fields["endpoint"] == "core.login"
    assert fields["status"] == 200
    assert fields["user_id"] is None
    assert fields["remote_addr"] == "203.0.113.7"
    assert isinstance(fields["duration_ms"], float)
    assert fields["duration_ms"] >= 0
    assert fields["ts"].endswith("+00:00")
    line = JsonFormatter().format(record)
    assert json.loads(line) == fields
    assert "anna" not in line
    assert "email" not in line


def test_signed_in_user_and_refused_requests_are_logged(client, login_as, caplog):
    caplog.set_level(logging.INFO, logger="erp.request")
    user = login_as("warehouse")
    [sign_in] = request_records(caplog)
    assert (sign_in.request_fields["method"], sign_in.request_fields["status"]) == ("POST", 302)
    assert sign_in.request_fields["user_id"] == user.id
    caplog.clear()
    client.get("/")
    client.get("/admin/users")  # not allowed for the warehouse role
    client.get("/no/such/page")
    records = request_records(caplog)
    assert [r.request_fields["status"] for r in records] == [200, 403, 404]
    assert {r.request_fields["user_id"] for r in records} == {user.id}
    assert records[2].request_fields["endpoint"] is None
    assert len({r.request_fields["request_id"] for r in records}) == 3


def test_anonymous_redirect_to_login_is_logged_with_its_id(client, caplog):
    caplog.set_level(logging.INFO, logger="erp.request")
    response = client.get("/warehouse/stock", headers={"X-Request-ID": "anon-1"})
    assert response.status_code == 302
    assert response.headers["X-Request-ID"] == "anon-1"
    [record] = request_records(caplog)
    assert record.request_fields["status"] == 302
    assert record.request_fields["request_id"] == "anon-1"


def test_static_files_get_an_id_but_no_line(client, caplog):
    caplog.set_level(logging.INFO, logger="erp.request")
    name = sorted(os.listdir(os.path.join(client.application.static_folder, "css")))[0]
    response = client.get(f"/static/css/{name}")
    response.close()
    assert response.status_code == 200
    assert HEX32.fullmatch(response.headers["X-Request-ID"])
    assert request_records(caplog) == []


def test_an_exception_logged_by_flask_carries_the_request_id(app, client, caplog):
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @public
    def boom():
        raise RuntimeError("kaboom")

    app.add_url_rule("/boom", "boom", boom)
    caplog.set_level(logging.INFO)
    response = client.get("/boom", headers={"X-Request-ID": "err-42"})
    assert response.status_code == 500
    assert response.headers["X-Request-ID"] == "err-42"
    [error] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert error.name == "erp"
    assert error.request_id == "err-42"
    assert "kaboom" in JsonFormatter().format(error)
    assert json.loads(JsonFormatter().format(error))["request_id"] == "err-42"
    [line] = request_records(caplog)
    assert line.request_fields["status"] == 500


def test_filter_outside_a_request_sets_none():
    record = logging.LogRecord("erp.x", logging.INFO, __file__, 1, "hello", None, None)
    assert RequestIdFilter().filter(record) is True
    assert record.request_id is None
    assert TextFormatter().format(record).endswith("INFO erp.x [None] hello")
    assert json.loads(JsonFormatter().format(record))["message"] == "hello"


def test_proxy_hops_trust_forwarded_headers_only_when_set(app, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="erp.request")
    headers = {"X-Forwarded-For": "198.51.100.9", "X-Forwarded-Proto": "https"}
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    for hops, expected in ((0, "127.0.0.1"), (1, "198.51.100.9")):
        other = create_app({**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI": url,
                            "ERP_PROXY_HOPS": hops})
        other.test_client().get("/login", headers=headers)
        with other.app_context():  # the page read the company's language: close that pool
            db.engine.dispose()
        assert request_records(caplog)[-1].request_fields["remote_addr"] == expected


@pytest.mark.parametrize(("key", "value"), [("ERP_LOG_FORMAT", "xml"), ("ERP_PROXY_HOPS", -1)])
def test_bad_log_format_or_proxy_hops_is_refused(key, value):
    with pytest.raises(ConfigError, match=key):
        create_app({**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI": "sqlite://", key: value})
