"""Every submission acts once: one-time form keys (erp.core.submissions)."""

from __future__ import annotations

import glob
import os
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from erp.aftersales.models import CaseType, Refund
from erp.aftersales.services import cases
from erp.core import submissions
from erp.core.models import AuditEvent, FormSubmission, utcnow
from erp.extensions import db
from tests.fixtures.core import PASSWORD
from tests.test_routes_roles import _sample_url

KEY = "k" * 24


def _flashes(client) -> list[str]:
    with client.session_transaction() as sess:
        return [message for _, message in sess.get("_flashes", [])]


def _post_twice(client, url, data):
    first = client.post(url, data={**data, "_submission": KEY})
    _flashes(client)  # shown on the next page; cleared here like a browser would
    with client.session_transaction() as sess:
        sess.pop("_flashes", None)
    second = client.post(url, data={**data, "_submission": KEY})
    return first, second


@pytest.fixture
def refund_case(ship_order, customs_stock, reasons, returns_bins, create_user):
    coat = customs_stock("COAT-1")
    order = ship_order([(coat, 1, "150.00")])
    agent = create_user("agent0", roles=("customer_service",))
    case = cases.open_case(order, case_type=CaseType.refund_only, reason=reasons["DEFECTIVE"],
                           lines={order.lines[0].id: 1}, actor=agent)
    db.session.commit()
    return case


def test_a_double_clicked_refund_acts_once_and_repeats_the_first_outcome(client, login_as,
                                                                       refund_case):
    user = login_as("customer_service")
    url = f"/aftersales/cases/{refund_case.id}/refunds/new"
    first, second = _post_twice(client, url, {"kind": "refund", "amount": "100.00"})
    assert first.status_code == 302
    assert second.status_code == 302
    assert second.headers["Location"] == first.headers["Location"]
    assert db.session.scalar(select(func.count()).select_from(Refund)) == 1
    [message] = _flashes(client)
    assert message.startswith("Already done at ")
    assert f"by {user.full_name}; nothing was done again." in message
    assert "The first submission said: " in message  # the refund's own success message
    row = db.session.scalar(select(FormSubmission))
    assert (row.key, row.user_id, row.endpoint) == (KEY, user.id, "aftersales.refund_new")


def test_a_refused_submission_keeps_no_key_so_the_corrected_form_goes_through(
        client, login_as, refund_case):
    login_as("customer_service")
    url = f"/aftersales/cases/{refund_case.id}/refunds/new"
    refused = client.post(url, data={"kind": "refund", "amount": "999.00", "_submission": KEY})
    assert refused.status_code == 422
    assert db.session.scalar(select(func.count()).select_from(FormSubmission)) == 0
    accepted = client.post(url, data={"kind": "refund", "amount": "50.00", "_submission": KEY})
    assert accepted.status_code == 302
    assert db.session.scalar(select(Refund.amount)) == Decimal("50.00")


def test_another_users_key_is_not_theirs(app, client, login_as, refund_case, create_user):
    login_as("customer_service")
    url = f"/aftersales/cases/{refund_case.id}/refunds/new"
    client.post(url, data={"kind": "refund", "amount": "10.00", "_submission": KEY})
    other = app.test_client()
    create_user("agent2", roles=("customer_service",))
    assert other.post("/login", data={"username": "agent2",
                                      "password": PASSWORD}).status_code == 302
    other.post(url, data={"kind": "refund", "amount": "10.00", "_submission": KEY})
    # the other agent's post ran (and was refused on its merits: the case is resolved by now)
    messages = _flashes(other)
    assert messages
    assert not any(m.startswith("Already done") for m in messages)


def test_malformed_keys_are_ignored_and_posts_without_a_key_act(client, login_as, refund_case):
    login_as("customer_service")
    url = f"/aftersales/cases/{refund_case.id}/refunds/new"
    for key in ("short", "<script>" * 4, None):
        data = {"kind": "refund", "amount": "1.00"}
        if key:
            data["_submission"] = key
        assert client.post(url, data=data).status_code == 302
    assert db.session.scalar(select(func.count()).select_from(Refund)) == 3
    assert db.session.scalar(select(func.count()).select_from(FormSubmission)) == 0


def test_every_post_route_answers_a_repeated_key_without_acting(app, client, login_as):
    """A stored key stops every form's view: the repeat is answered, nothing is written."""
    admin = login_as("admin")
    exempt = {"core.login", "core.logout"}  # before sign-in / ends the session: no user's key
    posts = [rule for rule in app.url_map.iter_rules()
             if "POST" in rule.methods and rule.endpoint not in exempt
             and not getattr(app.view_functions[rule.endpoint], "api", False)]
    assert len(posts) > 100
    for n, rule in enumerate(posts):
        key = f"repeat-key-{n:06d}-xxxxxxxx"
        db.session.add(FormSubmission(key=key, user_id=admin.id, endpoint=rule.endpoint,
                                      created_at=utcnow(), outcome="Saved.",
                                      location="/first-outcome"))
    db.session.commit()
    audit_before = db.session.scalar(select(func.count()).select_from(AuditEvent))
    for n, rule in enumerate(posts):
        key = f"repeat-key-{n:06d}-xxxxxxxx"
        response = client.post(_sample_url(rule), data={"_submission": key})
        assert response.status_code == 302, rule.endpoint
        assert response.headers["Location"] == "/first-outcome", rule.endpoint
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == audit_before


def _form_blocks(source: str):
    return re.findall(r"<form\b[^>]*>.*?</form>", source, flags=re.S | re.I)


def test_every_post_form_in_the_templates_carries_a_one_time_key(app):
    root = os.path.join(app.root_path, "..", "templates")
    macros = {}  # macro name -> whether its body renders a key
    sources = {}
    for path in glob.glob(os.path.join(root, "**", "*.html"), recursive=True):
        with open(path, encoding="utf-8") as fh:
            sources[path] = fh.read()
        for name, body in re.findall(r"{%-?\s*macro\s+(\w+)\(.*?%}(.*?){%-?\s*endmacro",
                                     sources[path], flags=re.S):
            macros[name] = macros.get(name, False) or "submission_field()" in body
    keyed_macros = [name for name, keyed in macros.items() if keyed]
    missing = []
    for path, source in sources.items():
        for block in _form_blocks(source):
            if not re.search(r'method="post"', block, flags=re.I):
                continue
            if "submission_field()" in block or any(
                    re.search(rf"\b{name}\(", block) for name in keyed_macros):
                continue
            missing.append(f"{os.path.relpath(path, root)}: {block[:80]!r}")
    assert missing == []


def test_rendered_forms_carry_a_fresh_key_each_time(client, login_as):
    login_as("admin")
    keys = []
    for _ in range(2):
        page = client.get("/settings").get_data(as_text=True)
        keys += re.findall(r'name="_submission" value="([^"]+)"', page)
    assert len(keys) >= 2
    assert len(set(keys)) == len(keys)


def test_purge_keeps_keys_for_the_setting(app, runner, login_as):
    user = login_as("warehouse")
    old = FormSubmission(key="o" * 20, user_id=user.id, endpoint="x",
                         created_at=utcnow() - timedelta(hours=25))
    new = FormSubmission(key="n" * 20, user_id=user.id, endpoint="x",
                         created_at=utcnow() - timedelta(hours=23))
    db.session.add_all([old, new])
    db.session.commit()
    result = runner.invoke(args=["purge-keys"])
    assert result.exit_code == 0, result.output
    assert "Purged 1 form submission key(s)" in result.output
    assert db.session.scalars(select(FormSubmission.key)).all() == ["n" * 20]
    assert submissions.purge(24) == 0
