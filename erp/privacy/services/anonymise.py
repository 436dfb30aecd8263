"""Anonymisation: neutral values in place of the personal data, in one transaction."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Text, cast, func, or_, select

from erp.aftersales.models import AfterSalesCase, Refund
from erp.core import audit, auditchain, events
from erp.core.errors import ValidationError
from erp.core.events import OutboxEvent
from erp.core.i18n import _, ngettext
from erp.core.models import User
from erp.extensions import db
from erp.orders.models import CustomerOrder
from erp.privacy.services.subject import (
    ANONYMISED_NAME,
    MAX_REASON_CHARS,
    NOTE_PLACEHOLDER,
    PERSONAL_KEYS,
    REDACTED,
    DataSubject,
    PrivacyError,
    count_records,
    email_needles,
    load_subject,
    normalise_email,
    pending_work,
    subject_hash,
)
from erp.shipping.models import Parcel


def _scrubber(values: Iterable[str | None]) -> Callable[[str], str]:
    """Return a function replacing each of ``values`` (case-insensitive) in a text."""
    needles = sorted({v.strip() for v in values if v and len(v.strip()) >= 3},
                     key=len, reverse=True)
    if not needles:
        return lambda text: text
    pattern = re.compile("|".join(re.escape(n) for n in needles), re.IGNORECASE)
    return lambda text: pattern.sub(REDACTED, text)


def _redact(value: Any) -> Any:
    if value is None or value == "":
        return value
    if isinstance(value, list):
        return [_redact(v) for v in value]
    if isinstance(value, dict):
        return {k: v if k == "country" else _redact(v) for k, v in value.items()}
    return REDACTED


def _scrub_json(value: Any, scrub: Callable[[str], str], *, by_key: bool) -> Any:
    if isinstance(value, dict):
        return {k: _redact(v) if by_key and k in PERSONAL_KEYS
                else _scrub_json(v, scrub, by_key=by_key) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub_json(v, scrub, by_key=by_key) for v in value]
    if isinstance(value, str):
        return scrub(value)
    return value


def _scrub_text(value: str | None, scrub: Callable[[str], str]) -> str | None:
    return scrub(value) if value else value


@dataclass
class AnonymiseResult:
    """What :func:`anonymise_subject` changed (counts per kind) and the subject's hash."""

    email: str
    subject_hash: str
    counts: dict[str, int]
    order_numbers: list[str]
    case_numbers: list[str]

    @property
    def found(self) -> bool:
        """Return whether anything was held (and so anonymised)."""
        return bool(self.order_numbers or self.case_numbers or self.counts.get("audit_events"))

    @property
    def message(self) -> str:
        """Return a one-line outcome; it does not repeat the e-mail once anonymised."""
        if not self.found:
            return _('Nothing is held about "%(email)s"; nothing was changed.', email=self.email)
        c = self.counts
        return _("Personal data anonymised: %(orders)s, %(cases)s, %(notes)s, %(attachments)s "
                 "deleted, %(refunds)s, %(events)s scrubbed.",
                 orders=ngettext("%(num)d order", "%(num)d orders", c["orders"]),
                 cases=ngettext("%(num)d case", "%(num)d cases", c["cases"]),
                 notes=ngettext("%(num)d note", "%(num)d notes", c["case_notes"]),
                 attachments=ngettext("%(num)d attachment", "%(num)d attachments",
                                      c["case_attachments"]),
                 refunds=ngettext("%(num)d refund", "%(num)d refunds", c["refunds"]),
                 events=ngettext("%(num)d audit event", "%(num)d audit events",
                                 c["audit_events"]))


def anonymise_subject(email: str, *, actor: User | None, reason: str) -> AnonymiseResult:
    """Replace the personal data held about ``email`` by neutral values, everywhere.

    Orders keep their lines, amounts, country and parcels (customs lines, tracking numbers);
    the stock ledger is not touched. Audit events are scrubbed of the personal values, and one
    ``privacy.anonymised`` event records the reason and counts under a salted hash of the
    e-mail. All or nothing: the caller commits once. An e-mail nothing is held about gives a
    result with ``found`` false, not an error.

    :raises ValidationError: if ``email`` is not an e-mail address or ``reason`` is empty.
    :raises PrivacyError: if an order is not finished, a case still active or a refund unpaid.
    """
    email = normalise_email(email)
    reason = " ".join((reason or "").split())
    if not reason:
        raise ValidationError(_("To anonymise personal data, you must give the reason (e.g. "
                                "the customer's erasure request and its date)."), field="reason")
    if len(reason) > MAX_REASON_CHARS:
        raise ValidationError(_("To anonymise personal data, you must keep the reason to "
                                "%(max)s characters.", max=MAX_REASON_CHARS), field="reason")
    digest = subject_hash(email)
    subject = load_subject(email, lock=True)
    blockers = pending_work(subject)
    if blockers:
        raise PrivacyError(_(
            'To anonymise the personal data of "%(email)s", you must first finish what still '
            "needs it: %(work)s.", email=email, work="; ".join(blockers)))
    counts = count_records(subject)
    result = AnonymiseResult(email=email, subject_hash=digest, counts=counts,
                             order_numbers=[o.number for o in subject.orders],
                             case_numbers=[c.number for c in subject.cases])
    if not result.found:
        return result

    values = {email}
    for order in subject.orders:
        values |= {order.customer_name, order.ship_name, order.email, order.phone,
                   order.address1, order.address2, order.city, order.region, order.postal_code,
                   order.buyer_tax_id}
    for case in subject.cases:
        values |= {case.contact_name, case.contact_email, case.contact_phone}
    values -= {ANONYMISED_NAME}
    scrub = _scrubber(values)

    for order in subject.orders:
        order.customer_name = order.ship_name = ANONYMISED_NAME
        order.email = order.phone = order.address2 = order.region = None
        order.postal_code = order.buyer_tax_id = order.notes = None
        order.address1 = order.city = ""  # NOT NULL columns; the country is kept
        order.hold_reason = _scrub_text(order.hold_reason, scrub)
        order.cancel_reason = _scrub_text(order.cancel_reason, scrub)
    for case in subject.cases:
        case.contact_name = ANONYMISED_NAME
        case.contact_email = case.contact_phone = None
        case.resolution = _scrub_text(case.resolution, scrub)
        case.rejection_reason = _scrub_text(case.rejection_reason, scrub)
        case.window_override_note = _scrub_text(case.window_override_note, scrub)
        for note in case.notes:
            note.body = NOTE_PLACEHOLDER
        for attachment in list(case.attachments):
            case.attachments.remove(attachment)  # delete-orphan: the row and the file go
        for item in case.items:
            item.description = _scrub_text(item.description, scrub)
            item.inspection_note = _scrub_text(item.inspection_note, scrub)
        for refund in case.refunds:
            refund.note = None

    owned = {(CustomerOrder.__tablename__, str(o.id)) for o in subject.orders}
    owned |= {(AfterSalesCase.__tablename__, str(c.id)) for c in subject.cases}
    owned |= {(Refund.__tablename__, str(r.id)) for r in subject.refunds}
    owned |= {(Parcel.__tablename__, str(p.id)) for p in subject.parcels}
    scrubbed = []
    for event in subject.events:
        if not event.changes:
            continue
        # the subject's own records: personal keys go whole; other events: the values only
        by_key = (event.entity_type, event.entity_id) in owned
        cleaned = _scrub_json(event.changes, scrub, by_key=by_key)
        if cleaned != event.changes:
            scrubbed.append((event, cleaned))
    # the one sanctioned change of sealed audit rows: the PostgreSQL guard lets this transaction
    # scrub changes, and the event below lists each row with the digest it was sealed with, so
    # `erp check-audit` still verifies them (and nothing else)
    excused = auditchain.excuse_list(event for event, _cleaned in scrubbed)
    if scrubbed:
        auditchain.allow_redaction()
    for event, cleaned in scrubbed:
        event.changes = cleaned
    counts["audit_events"] = len(scrubbed)
    # the storefront's events of those orders (a hold or cancel reason may quote the customer);
    # webhooks and the feed send what is stored, so nothing personal leaves after this
    # (another customer's events that name this e-mail: the values only, as for audit events)
    keys = {events.order_key(number) for number in result.order_numbers}
    text = func.lower(cast(OutboxEvent.payload, Text))
    found = select(OutboxEvent).where(or_(
        OutboxEvent.key.in_(sorted(keys)),
        *[text.contains(needle, autoescape=True) for needle in email_needles(email)]))
    outbox = 0
    for event in db.session.scalars(found.order_by(OutboxEvent.id)):
        cleaned = _scrub_json(event.payload, scrub, by_key=event.key in keys)
        if cleaned != event.payload:
            event.payload = cleaned
            outbox += 1
    counts["outbox_events"] = outbox
    audit.record(DataSubject(digest), "privacy.anonymised", actor=actor, changes={
        "subject_hash": digest, "reason": scrub(reason), "counts": counts,
        "orders": result.order_numbers, "cases": result.case_numbers,
        auditchain.EXCUSE_KEY: excused})
    db.session.flush()
    return result
