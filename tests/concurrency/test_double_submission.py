"""One rendered form sent twice at once (a double click on a slow line) acts once.

Both posts carry the same one-time key (:mod:`erp.core.submissions`); they reach a real server
together, and the second is answered with the first outcome.
"""

from __future__ import annotations

import re
from decimal import Decimal

import requests
from sqlalchemy import func, select

from erp.aftersales.models import CaseType, Refund
from erp.aftersales.services import cases
from erp.extensions import db
from erp.procurement.models import Receipt
from tests.concurrency.harness import Staff, fire_together
from tests.concurrency.scenarios.shipping import lane_packed_each_once, lane_wave

_KEY = re.compile(r'name="_submission" value="([^"]+)"')


def _twin(person: Staff) -> Staff:
    """Return a second connection of the same signed-in browser (same cookies)."""
    twin = Staff(person.server, person.username, requests.Session(), person.csrf)
    twin.session.cookies.update(person.session.cookies)
    return twin


def _double_click(person: Staff, page_path: str, post_path: str, data: dict) -> list[str]:
    """Render the form once, post it twice at once; return the pages each post led to."""
    page = person.session.get(f"{person.server.url}{page_path}", timeout=30).text
    key = _KEY.search(page).group(1)
    browsers = [person, _twin(person)]
    answers = fire_together(browsers, post_path, {**data, "_submission": key})
    assert [a.status for a in answers] == [302, 302], [a.body[:300] for a in answers]
    assert answers[0].location == answers[1].location
    return [b.session.get(a.location if a.location.startswith("http")
                          else f"{person.server.url}{a.location}", timeout=30).text
            for a, b in zip(answers, browsers, strict=True)]


def test_a_receipt_double_clicked_posts_once(live, staff, purchase_order_in, receiving_bin):
    po = purchase_order_in("partially_received")  # 4 of 10 received
    line = po.lines[0]
    [clerk] = staff("warehouse", 1)
    path = f"/procurement/receiving/{po.id}"
    pages = _double_click(clerk, path, path, {"action": "receive", "bin": receiving_bin.label,
                                              f"qty-{line.id}": "3"})
    db.session.expire_all()
    assert line.received_qty == 7
    assert db.session.scalar(select(func.count()).select_from(Receipt)) == 2
    assert sum("Already done at" in page for page in pages) == 1


def test_a_refund_double_clicked_is_made_once_and_shows_no_error(
        live, staff, ship_order, customs_stock, reasons, returns_bins, create_user):
    coat = customs_stock("COAT-1")
    order = ship_order([(coat, 1, "150.00")])
    case = cases.open_case(order, case_type=CaseType.refund_only, reason=reasons["DEFECTIVE"],
                           lines={order.lines[0].id: 1},
                           actor=create_user("agent-0", roles=("customer_service",)))
    db.session.commit()
    [agent] = staff("customer_service", 1)
    path = f"/aftersales/cases/{case.id}/refunds/new"
    pages = _double_click(agent, path, path, {"kind": "refund", "amount": "150.00"})
    db.session.expire_all()
    assert db.session.scalars(select(Refund.amount)).all() == [Decimal("150.00")]
    assert sum("Already done at" in page for page in pages) == 1
    for page in pages:  # neither click shows the refusal a second refund would meet
        assert "above what may still be refunded" not in page


def test_a_lane_scan_sent_eight_times_at_once_packs_one_order(request, live, staff):
    """A scanner repeating one scan (one rendered form, 8 times at once) packs one order.

    One parcel with one label and one mailer; the second order still waits.
    """
    ln = lane_wave(request.getfixturevalue)
    [packer] = staff("warehouse", 1)
    path = f"/shipping/waves/{ln.wave.id}/lane"
    page = packer.session.get(f"{packer.server.url}{path}", timeout=30).text
    key = _KEY.search(page).group(1)
    browsers = [packer] + [_twin(packer) for _ in range(7)]

    answers = fire_together(browsers, path, {"code": ln.sku.code, "_submission": key})

    assert [a.status for a in answers] == [302] * 8, [a.body[:300] for a in answers]
    lane_packed_each_once(ln, 1)
    db.session.expire_all()
    assert sum(o.state.value == "picking" for o in ln.orders) == 1
