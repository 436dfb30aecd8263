"""Cases: opening (quantities, shipped only, return window), due dates, lifecycle, notes, files."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from erp.aftersales import queries
from erp.aftersales.errors import AfterSalesError
from erp.aftersales.models import CaseState, CaseType, NoteVisibility
from erp.aftersales.services import cases
from erp.core import services as core_services
from erp.core.errors import PermissionDenied, ValidationError
from erp.core.models import AuditEvent, utcnow
from erp.core.states import InvalidTransition
from erp.extensions import db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
PDF = b"%PDF-1.4\n" + b"x" * 100


@pytest.fixture
def agent(create_user):
    return create_user("agent", roles=("customer_service",))


@pytest.fixture
def manager(create_user):
    return create_user("boss", roles=("manager",))


@pytest.fixture
def shipped(ship_order, customs_stock, reasons):
    """Return an order that shipped 3 TEE-1 and 1 CAP-1."""
    tee, cap = customs_stock("TEE-1"), customs_stock("CAP-1")
    return ship_order([(tee, 3, "15.00"), (cap, 1, "9.00")], customer_name="Erika Muster",
                      email="erika@example.com", phone="+49 30 1234")


def _open(order, reasons, actor, qty=1, line=0, **values):
    values.setdefault("case_type", CaseType.return_refund)
    values.setdefault("reason", reasons["WRONG_SIZE"])
    return cases.open_case(order, lines={order.lines[line].id: qty}, actor=actor, **values)


def test_open_case_defaults(shipped, reasons, agent):
    case = _open(shipped, reasons, agent, qty=2, note="Customer called")
    assert case.number.startswith("RMA-")
    assert case.state == CaseState.open
    assert case.contact_name == "Erika Muster"
    assert case.contact_email == "erika@example.com"
    assert case.contact_phone == "+49 30 1234"
    assert [(line.sku.code, line.quantity) for line in case.lines] == [("TEE-1", 2)]
    assert case.notes[0].body == "Customer called"
    assert case.notes[0].visibility == NoteVisibility.internal
    assert case.opened_by_id == agent.id
    assert db.session.scalar(select(AuditEvent.action).where(
        AuditEvent.entity_type == "aftersales_case",
        AuditEvent.entity_id == str(case.id))) == "aftersales_case.created"


def test_due_date_from_setting(shipped, reasons, agent):
    core_services.update_settings({"case_due_days": "5"}, actor=None)
    before = utcnow()
    case = _open(shipped, reasons, agent)
    assert before + timedelta(days=5) <= case.due_at <= utcnow() + timedelta(days=5)
    assert not cases.is_overdue(case)


def test_overdue_only_while_active(shipped, reasons, agent):
    case = _open(shipped, reasons, agent, case_type=CaseType.refund_only)
    case.due_at = utcnow() - timedelta(hours=1)
    db.session.flush()
    assert cases.is_overdue(case)
    assert cases.overdue_count() == 1
    rows = db.session.execute(queries.case_list_query(queries.CaseFilters(overdue=True))).all()
    assert [r.number for r in rows] == [case.number]
    assert rows[0].overdue
    cases.mark_resolved(case, resolution="Refunded", actor=agent)
    assert not cases.is_overdue(case)
    assert cases.overdue_count() == 0


def test_unshipped_order_refused(create_order, customs_stock, reasons, agent):
    tee = customs_stock("TEE-1")
    order = create_order([(tee, 1)])
    with pytest.raises(AfterSalesError, match="has not shipped yet: change or cancel"):
        _open(order, reasons, agent)


def test_quantity_above_shipped_refused(shipped, reasons, agent):
    with pytest.raises(AfterSalesError, match=r"TEE-1: 4 is more .*3 shipped"):
        _open(shipped, reasons, agent, qty=4)


def test_quantity_above_what_earlier_cases_left(shipped, reasons, agent):
    _open(shipped, reasons, agent, qty=2)
    assert cases.remaining_quantities(shipped)[shipped.lines[0].id] == 1
    with pytest.raises(AfterSalesError, match="3 shipped, 2 already in earlier cases"):
        _open(shipped, reasons, agent, qty=2)
    assert _open(shipped, reasons, agent, qty=1).lines[0].quantity == 1


def test_rejected_case_gives_its_quantity_back(shipped, reasons, agent):
    case = _open(shipped, reasons, agent, qty=3)
    cases.reject_case(case, reason="Worn", actor=agent)
    assert cases.remaining_quantities(shipped)[shipped.lines[0].id] == 3


def test_no_lines_refused(shipped, reasons, agent):
    with pytest.raises(ValidationError, match="at least one line"):
        cases.open_case(shipped, case_type="return_refund", reason=reasons["DEFECTIVE"],
                        lines={shipped.lines[0].id: 0}, actor=agent)
    with pytest.raises(ValidationError):
        cases.open_case(shipped, case_type="return_refund", reason=reasons["DEFECTIVE"],
                        lines={}, actor=agent)


def test_line_of_another_order_refused(shipped, reasons, agent, ship_order, customs_stock):
    other = ship_order([(customs_stock("SOCK-1"), 1)])
    with pytest.raises(ValidationError, match="not a line of order"):
        cases.open_case(shipped, case_type="return_refund", reason=reasons["DEFECTIVE"],
                        lines={other.lines[0].id: 1}, actor=agent)


def test_inactive_reason_refused(shipped, reasons, agent):
    reasons["LATE"].active = False
    with pytest.raises(ValidationError, match="no longer in use"):
        _open(shipped, reasons, agent, reason=reasons["LATE"])


def test_lost_parcel_uses_the_only_parcel(shipped, reasons, agent):
    case = _open(shipped, reasons, agent, case_type=CaseType.lost_parcel,
                 reason=reasons["LOST"])
    assert case.parcel_id == shipped.parcel.id


def test_parcel_of_another_order_refused(shipped, reasons, agent, ship_order, customs_stock):
    other = ship_order([(customs_stock("SOCK-1"), 1)])
    with pytest.raises(AfterSalesError, match="does not belong to order"):
        _open(shipped, reasons, agent, case_type=CaseType.damaged, parcel=other.parcel)


def _age(order, days):
    order.parcel.dispatched_at = utcnow() - timedelta(days=days)
    db.session.flush()


def test_outside_window_needs_override(shipped, reasons, agent, manager):
    _age(shipped, 31)
    with pytest.raises(AfterSalesError, match="30-day return window closed"):
        _open(shipped, reasons, agent)
    with pytest.raises(AfterSalesError, match="manager must override"):
        _open(shipped, reasons, manager)
    with pytest.raises(PermissionDenied, match="only a manager"):
        _open(shipped, reasons, agent, window_override_note="Loyal customer")
    case = _open(shipped, reasons, manager, window_override_note="Loyal customer")
    assert case.window_override_by_id == manager.id
    assert case.window_override_note == "Loyal customer"


def test_inside_window_ignores_override_note(shipped, reasons, agent):
    _age(shipped, 29)
    case = _open(shipped, reasons, agent, window_override_note="not needed")
    assert case.window_override_note is None
    assert case.window_override_by_id is None


def test_window_from_setting(shipped, reasons, agent):
    core_services.update_settings({"return_window_days": "60"}, actor=None)
    _age(shipped, 45)
    assert _open(shipped, reasons, agent).state == CaseState.open


def test_contact_given_and_bad_email(shipped, reasons, agent):
    case = _open(shipped, reasons, agent, contact_name="Max", contact_email="max@example.org")
    assert (case.contact_name, case.contact_email) == ("Max", "max@example.org")
    with pytest.raises(ValidationError, match="not an e-mail"):
        cases.update_contact(case, name="Max", email="nonsense", phone=None, actor=agent)
    cases.update_contact(case, name="Max M", email=None, phone="123", actor=agent)
    assert case.contact_email == "erika@example.com"
    assert case.contact_phone == "123"


def test_authorise_return(shipped, reasons, agent):
    case = _open(shipped, reasons, agent)
    cases.authorise_return(case, actor=agent, return_tracking=" rr 123 ")
    assert case.state == CaseState.awaiting_return
    assert case.return_tracking == "RR123"
    with pytest.raises(InvalidTransition):
        cases.authorise_return(case, actor=agent)


def test_authorise_non_return_type_refused(shipped, reasons, agent):
    case = _open(shipped, reasons, agent, case_type=CaseType.refund_only)
    with pytest.raises(AfterSalesError, match="no goods come back"):
        cases.authorise_return(case, actor=agent)
    assert case.state == CaseState.open


def test_reject_and_close(shipped, reasons, agent):
    case = _open(shipped, reasons, agent)
    with pytest.raises(InvalidTransition):
        cases.close_case(case, actor=agent)
    with pytest.raises(ValidationError, match="Say why"):
        cases.reject_case(case, reason=" ", actor=agent)
    cases.authorise_return(case, actor=agent)
    cases.reject_case(case, reason="Outside policy", actor=agent)
    assert case.state == CaseState.rejected
    assert case.rejection_reason == "Outside policy"
    cases.close_case(case, actor=agent)
    assert case.state == CaseState.closed
    assert case.closed_at is not None
    with pytest.raises(InvalidTransition):
        cases.reject_case(case, reason="again", actor=agent)


def test_resolve_and_close(shipped, reasons, agent):
    case = _open(shipped, reasons, agent, case_type=CaseType.refund_only)
    with pytest.raises(ValidationError):
        cases.mark_resolved(case, resolution="", actor=agent)
    cases.mark_resolved(case, resolution="Refunded 15.00", actor=agent)
    assert case.state == CaseState.resolved
    assert case.resolved_at is not None
    with pytest.raises(InvalidTransition):
        cases.reject_case(case, reason="late", actor=agent)
    cases.close_case(case, actor=agent)
    assert case.state == CaseState.closed


def test_awaiting_return_cannot_resolve(shipped, reasons, agent):
    case = _open(shipped, reasons, agent)
    cases.authorise_return(case, actor=agent)
    with pytest.raises(InvalidTransition):
        cases.mark_resolved(case, resolution="x", actor=agent)


def test_assign(shipped, reasons, agent, create_user):
    case = _open(shipped, reasons, agent)
    cases.assign_case(case, agent, actor=agent)
    assert case.assigned_to_id == agent.id
    picker = create_user("picker", roles=("warehouse",))
    with pytest.raises(AfterSalesError, match="cannot work after-sales"):
        cases.assign_case(case, picker, actor=agent)
    cases.assign_case(case, None, actor=agent)
    assert case.assigned_to_id is None


def test_notes(shipped, reasons, agent):
    case = _open(shipped, reasons, agent)
    note = cases.add_note(case, "We sent the label", visibility="customer", actor=agent)
    assert note.visibility == NoteVisibility.customer
    assert note.author_id == agent.id
    with pytest.raises(ValidationError, match="Write the note"):
        cases.add_note(case, "  ", visibility="internal", actor=agent)
    with pytest.raises(ValidationError, match="internal or for the customer"):
        cases.add_note(case, "x", visibility="public", actor=agent)
    with pytest.raises(ValidationError, match="at most"):
        cases.add_note(case, "x" * 5001, visibility="internal", actor=agent)


def test_attachments(shipped, reasons, agent):
    case = _open(shipped, reasons, agent)
    photo = cases.add_attachment(case, "C:\\photos\\damage.png", "image/png", PNG, actor=agent)
    assert (photo.filename, photo.mime, photo.size) == ("damage.png", "image/png", len(PNG))
    assert cases.add_attachment(case, "receipt.pdf", "application/pdf", PDF,
                                actor=agent).mime == "application/pdf"
    with pytest.raises(ValidationError, match="only photos"):
        cases.add_attachment(case, "run.exe", "application/x-msdownload", b"MZ" * 10,
                             actor=agent)
    with pytest.raises(ValidationError, match="not really"):
        cases.add_attachment(case, "fake.png", "image/png", b"<html>", actor=agent)
    with pytest.raises(ValidationError, match="empty"):
        cases.add_attachment(case, "empty.png", "image/png", b"", actor=agent)
    big = b"%PDF-" + b"0" * (5 * 1024 * 1024)
    with pytest.raises(ValidationError, match="at most 5 MB"):
        cases.add_attachment(case, "big.pdf", "application/pdf", big, actor=agent)
    assert len(case.attachments) == 2


def test_find_cases(shipped, reasons, agent, ship_order, customs_stock):
    case = _open(shipped, reasons, agent)
    other_order = ship_order([(customs_stock("SOCK-1"), 1)], email="other@example.com")
    other = _open(other_order, reasons, agent)
    db.session.flush()
    assert cases.find_cases(case.number.lower()) == [case]
    assert cases.find_cases(shipped.number) == [case]
    assert cases.find_cases(shipped.parcel.tracking_number) == [case]
    assert cases.find_cases("OTHER@example.com") == [other]
    assert cases.find_cases("nothing") == []
    assert cases.find_cases("") == []
