"""An order's shipping service chosen by a package above (shipping's rules), in bulk.

Orders does not know how the service is chosen; shipping's routing calls this with the new
service codes. One UPDATE per service code and one audit insert for every order changed, so a
batch of 10,000 allocated orders costs a handful of statements.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import update
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from erp.core import audit
from erp.core.models import utcnow
from erp.extensions import db
from erp.orders.models import CustomerOrder

CHUNK = 900


def set_shipping_services(changes: Iterable[tuple[int, str, str | None, str]], *, actor,
                          reason: str, audited: bool = True) -> int:
    """Set the shipping service of many orders: ``(order id, number, old code, new code)``.

    Orders already loaded in the session show the new code at once. Each change is audited
    (``customer_order.service_routed``) with ``reason`` (e.g. the rule that chose), unless the
    caller keeps its own record of every change (``audited=False``: shipping's routing
    decisions, which hold the actor, the time, the old and the new service and why).

    :returns: how many orders changed.
    """
    rows = [row for row in changes if row[2] != row[3]]
    if not rows:
        return 0
    now = utcnow()
    by_code: dict[str, list[int]] = defaultdict(list)
    for order_id, _number, _old, new in rows:
        by_code[new].append(order_id)
    table = CustomerOrder.__table__
    for code, ids in by_code.items():
        for start in range(0, len(ids), CHUNK):
            db.session.execute(update(table).where(table.c.id.in_(ids[start:start + CHUNK]))
                               .values(shipping_service=code, updated_at=now))
    identity = db.session.identity_map
    for order_id, _number, _old, new in rows:
        order = identity.get(identity_key(CustomerOrder, order_id))
        if order is not None:
            set_committed_value(order, "shipping_service", new)
    if audited:
        audit.record_many(table.name, "customer_order.service_routed", [
            (order_id, number, {"shipping_service": [old, new], "reason": reason})
            for order_id, number, old, new in rows], actor=actor)
    return len(rows)
