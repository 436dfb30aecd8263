"""The data subject: the records held about one e-mail, loaded, counted and checked."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import Text, and_, cast, func, inspect, or_, select

from erp.aftersales.models import (
    CASE_STATES,
    AfterSalesCase,
    CaseAttachment,
    CaseLine,
    CaseNote,
    Refund,
    RefundState,
    ReturnItem,
)
from erp.core.errors import DomainError, ValidationError
from erp.core.i18n import _, _l, ngettext
from erp.core.models import AuditEvent
from erp.extensions import db
from erp.orders.models import ORDER_STATES, CustomerOrder, CustomerOrderLine, OrderState
from erp.shipping.models import Parcel, ParcelLine

ANONYMISED_NAME = "Anonymised customer"
REDACTED = "[anonymised]"
NOTE_PLACEHOLDER = "[message removed: personal data anonymised]"
MAX_REASON_CHARS = 500

#: order states after which the address is no longer needed to deliver anything
FINISHED_ORDER_STATES = frozenset({OrderState.shipped, OrderState.delivered,
                                   OrderState.cancelled})

#: audit ``changes`` keys whose values are personal data on the subject's own records
PERSONAL_KEYS = frozenset({
    "customer_name", "email", "phone", "ship_name", "name", "address1", "address2", "city",
    "region", "postal_code", "buyer_tax_id", "notes", "contact_name", "contact_email",
    "contact_phone", "filename", "body"})

#: the kinds of record exported, in the order of the JSON keys and the workbook's sheets
KINDS: dict[str, Any] = {
    "orders": _l("Orders"),
    "order_lines": _l("Order lines"),
    "parcels": _l("Parcels"),
    "parcel_lines": _l("Parcel customs lines"),
    "cases": _l("After-sales cases"),
    "case_lines": _l("Case lines"),
    "case_notes": _l("Case notes"),
    "case_attachments": _l("Case attachments"),
    "return_items": _l("Returned items"),
    "refunds": _l("Refunds"),
    "audit_events": _l("Audit events"),
}

_MODELS = {"orders": CustomerOrder, "order_lines": CustomerOrderLine, "parcels": Parcel,
           "parcel_lines": ParcelLine, "cases": AfterSalesCase, "case_lines": CaseLine,
           "case_notes": CaseNote, "case_attachments": CaseAttachment,
           "return_items": ReturnItem, "refunds": Refund, "audit_events": AuditEvent}
_EXCLUDED = {"case_attachments": {"data"}}  # the file itself stays out of exports
#: readable references exported after a kind's own columns
EXTRA_FIELDS = {"order_lines": ("order_number", "sku_code"), "parcels": ("order_number",),
                "parcel_lines": ("parcel_number", "sku_code"), "cases": ("order_number",),
                "refunds": ("case_number",), "audit_events": ("actor",)}


class PrivacyError(DomainError):
    """The personal data cannot be anonymised yet (an order or case still needs it)."""


def _fields(kind: str) -> tuple[str, ...]:
    keys = [attr.key for attr in inspect(_MODELS[kind]).column_attrs
            if attr.key not in _EXCLUDED.get(kind, ())]
    return (*keys, *EXTRA_FIELDS.get(kind, ()))


#: the field names of each kind, as exported (columns, then a few readable references)
FIELDS: dict[str, tuple[str, ...]] = {kind: _fields(kind) for kind in KINDS}


@dataclass
class DataSubject:
    """The audit entity of privacy events: a salted hash stands for the person."""

    __tablename__ = "data_subject"
    id: str


def normalise_email(email: str | None) -> str:
    """Return ``email`` trimmed and lower-cased.

    :raises ValidationError: if it is empty or not an e-mail address.
    """
    text = (email or "").strip().lower()
    if not text:
        raise ValidationError(_("To look up personal data, you must give an e-mail address."),
                              field="email")
    if "@" not in text or len(text) > 254 or any(c.isspace() for c in text):
        raise ValidationError(_('To look up personal data, you must give an e-mail address, '
                                'not "%(value)s".', value=email.strip()), field="email")
    return text


def subject_hash(email: str) -> str:
    """Return the salted hash (HMAC-SHA256, hex) under which an e-mail is audited.

    The salt derives from the application's secret key, so the hash cannot be reversed with a
    list of known e-mails by someone who only reads the database, yet the same e-mail always
    gives the same hash (a later search can tell that it was anonymised).
    """
    key = ("erp.privacy:" + str(current_app.config["SECRET_KEY"])).encode("utf-8")
    return hmac.new(key, normalise_email(email).encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass
class HeldRecords:
    """The records held about one e-mail, loaded."""

    email: str
    orders: list[CustomerOrder]
    cases: list[AfterSalesCase]
    parcels: list[Parcel]
    events: list[AuditEvent]

    @property
    def refunds(self) -> list[Refund]:
        """Return the refunds of the cases."""
        return [refund for case in self.cases for refund in case.refunds]


def email_needles(email: str) -> list[str]:
    """Return the e-mail as it reads in JSON text: as is, and escaped if it is not ASCII."""
    # audit changes are stored as JSON text, where non-ASCII characters are \u-escaped
    escaped = json.dumps(email)[1:-1]
    return [email] if escaped == email else [email, escaped.lower()]


def _events_query(email: str, orders, cases, parcels) -> Any:
    refunds = [refund for case in cases for refund in case.refunds]
    owned = [(name, [str(obj.id) for obj in objs]) for name, objs in (
        (CustomerOrder.__tablename__, orders), (AfterSalesCase.__tablename__, cases),
        (Refund.__tablename__, refunds), (Parcel.__tablename__, parcels)) if objs]
    text = func.lower(cast(AuditEvent.changes, Text))
    conditions = [and_(AuditEvent.entity_type == name, AuditEvent.entity_id.in_(ids))
                  for name, ids in owned]
    conditions += [text.contains(needle, autoescape=True) for needle in email_needles(email)]
    return select(AuditEvent).where(or_(*conditions)).order_by(AuditEvent.at, AuditEvent.id)


def load_subject(email: str, *, lock: bool = False) -> HeldRecords:
    """Load the orders, cases, parcels and audit events of a normalised e-mail.

    :param lock: lock the orders and cases (``SELECT ... FOR UPDATE``) against concurrent edits.
    """
    orders_stmt = (select(CustomerOrder)
                   .where(func.lower(func.trim(CustomerOrder.email)) == email)
                   .order_by(CustomerOrder.placed_at, CustomerOrder.id))
    if lock:  # nobody edits an address or opens a case while it is anonymised
        orders_stmt = orders_stmt.with_for_update()
    orders = list(db.session.scalars(orders_stmt))
    order_ids = [order.id for order in orders]
    matches = func.lower(func.trim(AfterSalesCase.contact_email)) == email
    cases_stmt = (select(AfterSalesCase)
                  .where(or_(matches, AfterSalesCase.order_id.in_(order_ids)) if order_ids
                         else matches)
                  .order_by(AfterSalesCase.opened_at, AfterSalesCase.id))
    if lock:
        cases_stmt = cases_stmt.with_for_update()
    cases = list(db.session.scalars(cases_stmt))
    parcels = list(db.session.scalars(
        select(Parcel).where(Parcel.order_id.in_(order_ids)).order_by(Parcel.id))
    ) if order_ids else []
    events = list(db.session.scalars(_events_query(email, orders, cases, parcels)))
    return HeldRecords(email=email, orders=orders, cases=cases, parcels=parcels, events=events)


def count_records(subject: HeldRecords) -> dict[str, int]:
    """Return the number of records of each kind (:data:`KINDS`)."""
    return {
        "orders": len(subject.orders),
        "order_lines": sum(len(order.lines) for order in subject.orders),
        "parcels": len(subject.parcels),
        "parcel_lines": sum(len(parcel.lines) for parcel in subject.parcels),
        "cases": len(subject.cases),
        "case_lines": sum(len(case.lines) for case in subject.cases),
        "case_notes": sum(len(case.notes) for case in subject.cases),
        "case_attachments": sum(len(case.attachments) for case in subject.cases),
        "return_items": sum(len(case.items) for case in subject.cases),
        "refunds": len(subject.refunds),
        "audit_events": len(subject.events),
    }


def pending_work(subject: HeldRecords) -> list[str]:
    """Return what still needs the personal data: open orders, active cases, unpaid refunds."""
    out = [_("order %(number)s (%(state)s)", number=order.number,
             state=ORDER_STATES.label(order.state))
           for order in subject.orders if order.state not in FINISHED_ORDER_STATES]
    out += [_("case %(number)s (%(state)s)", number=case.number,
              state=CASE_STATES.label(case.state))
            for case in subject.cases if case.state in CASE_STATES.groups["active"]]
    for case in subject.cases:
        for refund in case.refunds:
            amount = f"{refund.amount} {refund.currency}"
            if refund.state == RefundState.pending:
                out.append(_("refund of %(case)s (%(amount)s, awaiting approval)",
                             case=case.number, amount=amount))
            elif refund.state == RefundState.approved and refund.exported_at is None:
                # finance pays from the export, which names the customer
                out.append(_("refund of %(case)s (%(amount)s, approved but not yet exported "
                             "for finance)", case=case.number, amount=amount))
    return out


@dataclass
class SubjectSummary:
    """What is held about one e-mail: counts per kind, order and case numbers, blockers."""

    email: str
    counts: dict[str, int]
    order_numbers: list[str]
    case_numbers: list[str]
    blockers: list[str] = field(default_factory=list)
    anonymised_at: list[datetime] = field(default_factory=list)

    @property
    def found(self) -> bool:
        """Return whether anything at all is held about the e-mail."""
        return any(self.counts.values())

    @property
    def can_anonymise(self) -> bool:
        """Return whether there is data and nothing still needs it."""
        return self.found and not self.blockers

    @property
    def message(self) -> str:
        """Return a one-line summary for the screen and the CLI."""
        if not self.found:
            return _('Nothing is held about "%(email)s".', email=self.email)
        return _('Held about "%(email)s": %(orders)s, %(parcels)s, %(cases)s, %(refunds)s, '
                 "%(events)s.", email=self.email,
                 orders=ngettext("%(num)d order", "%(num)d orders", len(self.order_numbers)),
                 parcels=ngettext("%(num)d parcel", "%(num)d parcels", self.counts["parcels"]),
                 cases=ngettext("%(num)d case", "%(num)d cases", len(self.case_numbers)),
                 refunds=ngettext("%(num)d refund", "%(num)d refunds", self.counts["refunds"]),
                 events=ngettext("%(num)d audit event", "%(num)d audit events",
                                 self.counts["audit_events"]))


def _previous_anonymisations(email: str) -> list[datetime]:
    return list(db.session.scalars(
        select(AuditEvent.at).where(AuditEvent.action == "privacy.anonymised",
                                    AuditEvent.entity_type == DataSubject.__tablename__,
                                    AuditEvent.entity_id == subject_hash(email))
        .order_by(AuditEvent.at)))


def find_subject(email: str) -> SubjectSummary:
    """Return what is held about ``email`` (trimmed, case-insensitive).

    :raises ValidationError: if ``email`` is empty or not an e-mail address.
    """
    email = normalise_email(email)
    subject = load_subject(email)
    return SubjectSummary(
        email=email, counts=count_records(subject),
        order_numbers=[order.number for order in subject.orders],
        case_numbers=[case.number for case in subject.cases],
        blockers=pending_work(subject), anonymised_at=_previous_anonymisations(email))
