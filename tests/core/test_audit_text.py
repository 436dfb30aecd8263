"""Audit events read as sentences, in English and Chinese, never as dictionaries or refs."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from erp.core import audit
from erp.core.i18n import _l
from erp.core.models import AuditEvent
from erp.extensions import db


def event(action: str, changes: dict | None = None, *, entity_type: str | None = None,
          ref: str | None = "REF-1", entity_id: str = "1") -> AuditEvent:
    """Return an unsaved audit event (sentences need nothing stored for these)."""
    return AuditEvent(action=action, entity_type=entity_type or action.split(".")[0],
                      entity_id=entity_id, entity_ref=ref, changes=changes,
                      at=datetime(2026, 12, 7, tzinfo=UTC))


def say(e: AuditEvent, lang: str = "en") -> str:
    with force_locale(lang):
        return audit.describe(e)


@pytest.mark.parametrize(("e", "english", "chinese"), [
    (event("purchase_order.approved", {"state": ["awaiting_approval", "approved"]},
           ref="PO-2026-000012"),
     "Purchase order PO-2026-000012 approved.", "采购单 PO-2026-000012 已批准。"),
    (event("purchase_order.cancelled", {"state": ["approved", "cancelled"],
                                        "note": "Supplier closed"}, ref="PO-2026-000007"),
     "Purchase order PO-2026-000007 cancelled. Note: Supplier closed",
     "采购单 PO-2026-000007 已取消。备注：Supplier closed"),
    (event("customer_order.on_hold", {"state": ["new", "on_hold"], "released": 1,
                                      "note": "Address check"}, ref="NP-100008"),
     "Order NP-100008 put on hold; 1 reserved unit released. Note: Address check",
     "订单 NP-100008 已暂扣；已释放 1 件预留。备注：Address check"),
    (event("customer_order.allocated", {"state": ["new", "allocated"],
                                        "reserved": {"1": 3, "2": 1}}, ref="NP-100001"),
     "Order NP-100001 allocated: 4 units reserved.", "订单 NP-100001 已分配：预留 4 件。"),
    (event("parcel.labelled", {"state": ["packed", "labelled"],
                               "tracking_number": "RR100000003CN"}, ref="PCL-2026-000001"),
     "Parcel PCL-2026-000001 labelled: tracking number RR100000003CN.",
     "包裹 PCL-2026-000001 已打印面单：运单号 RR100000003CN。"),
    (event("receipt.posted", {"order": "PO-2026-000004", "bin": "SZ1/RCV-01", "currency": "USD",
                              "lines": [{"line": 17, "sku": "NP-DAY-BLA-22L", "quantity": 50,
                                         "unit_cost_base": "18.6300"}]},
           ref="RCV-2026-000001"),
     "Receipt RCV-2026-000001 posted for purchase order PO-2026-000004: 50 × NP-DAY-BLA-22L "
     "received into SZ1/RCV-01.",
     "采购单 PO-2026-000004 的收货单 RCV-2026-000001 已过账：50 × NP-DAY-BLA-22L 收入 "
     "SZ1/RCV-01。"),
    (event("user.created", {"username": [None, "wes"], "roles": [None, ["warehouse"]]},
           ref="wes"),
     "User wes created with the roles Warehouse.", "已创建用户 wes，角色：仓库。"),
    (event("sku.updated", {"weight_g": [355, 360], "colour": ["Coral", None]},
           ref="KB-BAG-COR-8L"),
     "SKU KB-BAG-COR-8L updated: weight (g) changed from 355 to 360; colour cleared "
     "(was Coral).",
     "SKU KB-BAG-COR-8L 已更新：重量（g） 由 355 改为 360；颜色 已清空（原为 Coral）。"),
    (event("cycle_count.review", {"state": ["open", "review"], "lines": 4,
                                  "lines_with_variance": 1}, ref="CC-2026-000001"),
     "Cycle count CC-2026-000001 submitted for review: 1 line with a variance.",
     "循环盘点 CC-2026-000001 已提交复核：1 行有差异。"),
])
def test_sentences_in_english_and_chinese(app, e, english, chinese):
    with app.test_request_context():
        assert say(e) == english
        assert say(e, "zh_Hans_CN") == chinese


def test_an_unregistered_action_reads_as_a_sentence_from_its_changes(app):
    e = event("widget.approved", {"state": ["draft", "approved"], "limit": ["1.50", "2"],
                                  "since": ["2026-01-31", None], "tags": {"a": 1}},
              ref="W-7")
    with app.test_request_context():
        text = say(e)
        assert text == ("Widget W-7: status changed from draft to approved; limit changed "
                        "from 1.50 to 2; since cleared (was 2026-01-31).")
        assert "{" not in say(e, "zh_Hans_CN")


def test_a_registered_template_missing_a_key_falls_back_to_the_generic_sentence(app):
    audit.register("widget.shipped", _l("Widget %(ref)s shipped with %(batch)s."))
    with app.test_request_context():
        assert say(event("widget.shipped", {"state": ["open", "shipped"]}, ref="W-1")) == \
            "Widget W-1: status changed from open to shipped."
        assert say(event("widget.shipped", {"batch": "B-1"}, ref="W-1")) == \
            "Widget W-1 shipped with B-1."


def test_a_stored_reference_reads_as_the_record_number(app):
    """``"gizmo_line:16"`` in changes reads as what its resolver says, never as the ref."""
    audit.reference("gizmo_line", lambda ident: f"GZ-{ident:04d}")
    e = event("reservation.created", {"sku": "TS-RED-M", "bin": "WH1/A-01", "quantity": 2,
                                      "ref": "gizmo_line:16"}, ref=None)
    with app.test_request_context():
        assert say(e) == "Reserved 2 × TS-RED-M in WH1/A-01 for GZ-0016."
        assert say(e, "zh_Hans_CN") == "已在 WH1/A-01 为 GZ-0016 预留 2 × TS-RED-M。"
        assert ("for", "GZ-0016") in audit.details(e)


def _audit_table(page: str) -> str:
    body = page.split('<table class="list history">', 1)[1].split("</table>", 1)[0]
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_the_audit_log_of_the_demo_reads_as_sentences(app, runner, create_user, login, client,
                                                     lang):
    """Every event of the demo data is a sentence, in either language.

    No braces, no ``entity:id`` references, and every action the demo records has a sentence
    of its own (not the generic one).
    """
    assert runner.invoke(args=["demo"]).exit_code == 0
    actions = set(db.session.scalars(select(AuditEvent.action).distinct()))
    unregistered = sorted(a for a in actions if a not in audit._SENTENCES)
    assert not unregistered, unregistered
    create_user("auditor", roles=("admin",))
    login("auditor")
    app.config["ERP_PAGE_SIZE"] = 100_000
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = lang

    page = client.get("/audit").get_data(as_text=True)

    table = _audit_table(page)
    assert "{" not in table
    assert "}" not in table
    refs = re.findall(r"\b[a-z][a-z_]+:\d+\b", table)
    assert not refs, refs[:10]
    if lang == "en":
        # the demo's goods have inspection plans: they arrive in the QC hold bin
        assert re.search(r"Received (\d+ × [A-Z0-9-]+(, )?)+ into SZ1/QC-HOLD on "
                         r"RCV-2026-\d{6}\.", table)
        assert "Purchase order PO-2026-000002 submitted and approved at once" in table
    else:
        assert re.search(r"收货单 RCV-2026-\d{6}：(\d+ × [A-Z0-9-]+(, )?)+ 收入 SZ1/QC-HOLD。",
                         table)
        assert "采购单 PO-2026-000002 已提交并直接批准" in table
        assert "Order NP-" not in table
