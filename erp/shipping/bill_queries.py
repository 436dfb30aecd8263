"""Carrier bills, read side: the bill list, a bill's disputes and their totals, the exports.

A bill's disputes, each with erp's figure and the carrier's side by side and the difference:

- ``overweight``: a freight line whose billed weight is above the parcel's chargeable weight
  at labelling (its weight when labelled before quotes were kept) by more than both tolerances
  (``bill_weight_tolerance_g`` and ``bill_weight_tolerance_pct``);
- ``overcharged``: a freight line whose amount is above the parcel's quote at labelling by more
  than both tolerances (``bill_amount_tolerance``, ``bill_amount_tolerance_pct``); compared
  when the quote is in the bill's currency (surcharge lines are not compared: the rate table
  quotes the carriage);
- ``duplicate``: a freight line of a tracking number billed before (in this bill or an earlier
  one of the carrier), with where it was billed first; its whole amount is in dispute;
- ``unknown``: a line whose tracking number is no parcel of the carrier;
- ``not_billed``: a parcel of the carrier dispatched in the bill's period that no bill of the
  carrier charges freight for (yet), with its quote.

The tolerances are read when the list is shown, so changing them re-judges every bill.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    Select,
    String,
    and_,
    cast,
    exists,
    func,
    literal,
    null,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.orm import aliased

from erp.core import exports, settings
from erp.core.excel import Column, Spec, export_workbook
from erp.core.i18n import _, _l
from erp.core.models import User
from erp.core.types import Money
from erp.extensions import db
from erp.shipping.models import (
    Carrier,
    CarrierBill,
    CarrierBillLine,
    Parcel,
    ParcelState,
    ShippingService,
)


class DisputeKind(StrEnum):
    """What is wrong with a line of a bill (or a parcel it lacks)."""

    overweight = "overweight"
    overcharged = "overcharged"
    duplicate = "duplicate"
    unknown = "unknown"
    not_billed = "not_billed"


DISPUTE_LABELS = {
    DisputeKind.overweight: _l("Billed weight above erp's"),
    DisputeKind.overcharged: _l("Billed amount above the quote"),
    DisputeKind.duplicate: _l("Billed twice"),
    DisputeKind.unknown: _l("Tracking number unknown to erp"),
    DisputeKind.not_billed: _l("Dispatched, not billed"),
}


@dataclass(frozen=True)
class Tolerances:
    """The dispute tolerances (settings)."""

    weight_g: int
    weight_pct: Decimal
    amount: Decimal
    amount_pct: Decimal

    @classmethod
    def current(cls) -> Tolerances:
        """Return the tolerances as the settings hold them now."""
        return cls(settings.get("bill_weight_tolerance_g"),
                   settings.get("bill_weight_tolerance_pct"),
                   settings.get("bill_amount_tolerance"),
                   settings.get("bill_amount_tolerance_pct"))


L, P = CarrierBillLine, Parcel
#: a dispute row's columns, the same for every kind (None where a kind has no such figure)
_COLUMNS = ("row", "tracking_number", "parcel_id", "parcel_number", "expected_g", "billed_g",
            "diff_g", "expected_amount", "billed_amount", "diff_amount", "currency",
            "first_reference", "first_row", "dispatched_at")


def _raw(column) -> Any:
    """The stored integer of a Money column (compared with scaled integers, never floats)."""
    return type_coerce(column, BigInteger)


def _scaled(amount: Decimal) -> int:
    return int(Money().process_bind_param(amount, None))


def _pct(value: Decimal) -> int:
    """A percentage as hundredths of a percent (``diff * 10000 > base * pct``)."""
    return int(Decimal(value) * 100)


def _nothing(kind) -> Any:
    """A NULL of the column's type (PostgreSQL sums a bare NULL column as text)."""
    return cast(null(), kind)


_NO_GRAMS, _NO_AMOUNT, _NO_TEXT = (lambda: _nothing(Integer()), lambda: _nothing(Money()),
                                   lambda: _nothing(String()))


def _line_select(bill: CarrierBill, **columns: Any) -> Select:
    values = {"row": L.row, "tracking_number": L.tracking_number, "parcel_id": L.parcel_id,
              "parcel_number": P.number, "expected_g": _NO_GRAMS(),
              "billed_g": L.billed_weight_g, "diff_g": _NO_GRAMS(),
              "expected_amount": _NO_AMOUNT(), "billed_amount": L.amount,
              "diff_amount": _NO_AMOUNT(), "currency": literal(bill.currency),
              "first_reference": _NO_TEXT(), "first_row": _NO_GRAMS(),
              "dispatched_at": P.dispatched_at}
    values.update(columns)
    return (select(*(values[name].label(name) for name in _COLUMNS))
            .select_from(L).outerjoin(P, P.id == L.parcel_id)
            .where(L.bill_id == bill.id).order_by(L.row, L.id))


def _freight_matched():
    return and_(L.charge.is_(None), L.duplicate.is_(False), L.parcel_id.is_not(None))


def dispute_query(bill: CarrierBill, kind: DisputeKind, tol: Tolerances) -> Select:
    """Return the disputes of one kind of ``bill``, in sheet order (columns: ``_COLUMNS``)."""
    if kind == DisputeKind.overweight:
        expected = func.coalesce(P.chargeable_g, P.weight_g)
        diff = L.billed_weight_g - expected
        return _line_select(bill, expected_g=expected, diff_g=diff).where(
            _freight_matched(), diff > tol.weight_g,
            diff * 10000 > expected * _pct(tol.weight_pct))
    if kind == DisputeKind.overcharged:
        diff = _raw(L.amount) - _raw(P.quoted_cost)
        return _line_select(bill, expected_g=P.chargeable_g,
                            expected_amount=P.quoted_cost,
                            diff_amount=type_coerce(diff, Money())).where(
            _freight_matched(), P.quoted_currency == bill.currency,
            diff > _scaled(tol.amount), diff * 10000 > _raw(P.quoted_cost) * _pct(tol.amount_pct))
    if kind == DisputeKind.duplicate:
        first, bills = aliased(CarrierBillLine), aliased(CarrierBill)
        firsts = (select(first.id).join(bills, bills.id == first.bill_id)
                  .where(first.tracking_number == L.tracking_number,
                         bills.carrier_id == bill.carrier_id, first.charge.is_(None),
                         first.duplicate.is_(False))
                  .order_by(first.id).limit(1).scalar_subquery())
        ref = (select(bills.reference).join(first, first.bill_id == bills.id)
               .where(first.id == firsts).scalar_subquery())
        row = select(first.row).where(first.id == firsts).scalar_subquery()
        return _line_select(bill, diff_amount=L.amount, first_reference=ref,
                            first_row=row).where(L.duplicate.is_(True))
    if kind == DisputeKind.unknown:
        return _line_select(bill, diff_amount=L.amount).where(L.parcel_id.is_(None))
    if kind == DisputeKind.not_billed:
        return _not_billed(bill)
    raise ValueError(kind)


def _not_billed(bill: CarrierBill) -> Select:
    start = datetime.combine(bill.period_start, time.min, UTC)
    end = datetime.combine(bill.period_end + timedelta(days=1), time.min, UTC)
    any_bill = aliased(CarrierBill)
    billed = exists(select(L.id).join(any_bill, any_bill.id == L.bill_id).where(
        L.parcel_id == P.id, L.charge.is_(None), any_bill.carrier_id == bill.carrier_id))
    values = {"row": _NO_GRAMS(), "tracking_number": P.tracking_number, "parcel_id": P.id,
              "parcel_number": P.number, "expected_g": P.chargeable_g,
              "billed_g": _NO_GRAMS(), "diff_g": _NO_GRAMS(), "expected_amount": P.quoted_cost,
              "billed_amount": _NO_AMOUNT(), "diff_amount": _NO_AMOUNT(),
              "currency": P.quoted_currency, "first_reference": _NO_TEXT(),
              "first_row": _NO_GRAMS(), "dispatched_at": P.dispatched_at}
    return (select(*(values[name].label(name) for name in _COLUMNS))
            .select_from(P).join(ShippingService, ShippingService.id == P.service_id)
            .where(ShippingService.carrier_id == bill.carrier_id,
                   P.state == ParcelState.dispatched, P.dispatched_at >= start,
                   P.dispatched_at < end, ~billed)
            .order_by(P.dispatched_at, P.id))


@dataclass
class DisputeTotal:
    """One kind's count and the sums of its figures."""

    kind: DisputeKind
    label: str
    count: int
    diff_g: int
    expected_amount: Decimal
    billed_amount: Decimal
    diff_amount: Decimal


def dispute_totals(bill: CarrierBill, tol: Tolerances | None = None) -> list[DisputeTotal]:
    """Return every kind's count and sums (weight difference, quote, billed, difference)."""
    tol = tol or Tolerances.current()
    totals = []
    for kind in DisputeKind:
        sub = dispute_query(bill, kind, tol).order_by(None).subquery()
        row = db.session.execute(select(
            func.count(), func.coalesce(func.sum(sub.c.diff_g), 0),
            func.sum(_raw(sub.c.expected_amount)), func.sum(_raw(sub.c.billed_amount)),
            func.sum(_raw(sub.c.diff_amount)))).one()
        totals.append(DisputeTotal(kind, str(DISPUTE_LABELS[kind]), row[0], int(row[1] or 0),
                                   *(_unscale(value) for value in row[2:])))
    return totals


def _unscale(value) -> Decimal:
    return Money().process_result_value(value or 0, None)


# --------------------------------------------------------------------------- the bill list


@dataclass
class BillFilters:
    """The bill list's search: a reference (or part of one), a carrier."""

    q: str | None = None
    carrier_id: int | None = None


def _filtered(stmt: Select, f: BillFilters) -> Select:
    if f.q:
        text = f.q.strip().upper()
        stmt = stmt.where(or_(func.upper(CarrierBill.reference).contains(text, autoescape=True),
                              func.upper(CarrierBill.filename).contains(text, autoescape=True)))
    if f.carrier_id:
        stmt = stmt.where(CarrierBill.carrier_id == f.carrier_id)
    return stmt


def bill_list_query(f: BillFilters) -> Select:
    """Return the bills matching the filters, newest imported first.

    Columns: ``id, reference, carrier_code, carrier_name, period_start, period_end, currency,
    line_count, matched_count, total_amount, filename, imported_at, imported_by``.
    """
    stmt = (select(CarrierBill.id, CarrierBill.reference, Carrier.code.label("carrier_code"),
                   Carrier.name.label("carrier_name"), CarrierBill.period_start,
                   CarrierBill.period_end, CarrierBill.currency, CarrierBill.line_count,
                   CarrierBill.matched_count, CarrierBill.total_amount, CarrierBill.filename,
                   CarrierBill.imported_at, User.username.label("imported_by"))
            .join(Carrier, Carrier.id == CarrierBill.carrier_id)
            .outerjoin(User, User.id == CarrierBill.imported_by_id)
            .order_by(CarrierBill.imported_at.desc(), CarrierBill.id.desc()))
    return _filtered(stmt, f)


def bill_count_query(f: BillFilters) -> Select:
    """Return the number of bills matching the filters."""
    return _filtered(select(func.count()).select_from(CarrierBill), f)


def bill_spec() -> Spec:
    """Return the columns of the bill list export, headed in the reader's language."""
    return Spec("carrier-bills", _("Carrier bills"), (
        Column("reference", _("Reference"), width=18),
        Column("carrier_name", _("Carrier"), width=18),
        Column("period_start", _("Period from"), type="date", width=12),
        Column("period_end", _("Period to"), type="date", width=12),
        Column("line_count", _("Lines"), type="int", width=10),
        Column("matched_count", _("Matched"), type="int", width=10),
        Column("total_amount", _("Total"), type="decimal", width=14),
        Column("currency", _("Currency"), width=8),
        Column("filename", _("File"), width=24),
        Column("imported_at", _("Imported (UTC)"), type="auto", width=18),
        Column("imported_by", _("By"), width=14),
    ))


def export_bills(filters: BillFilters, *, progress: Callable[[int], None] | None = None) -> bytes:
    """Return the bills matching the list's filters as an .xlsx workbook."""
    rows = exports.counted(db.session.execute(bill_list_query(filters)), progress)
    return export_workbook(bill_spec(), (dict(r._mapping) for r in rows))


exports.register(exports.ListExport(
    "carrier_bills", _l("Carrier bills"), "shipping.bills", BillFilters,
    count=lambda f: db.session.scalar(bill_count_query(f)) or 0,
    build=lambda f, *, user, progress: export_bills(f, progress=progress),
    filename="carrier-bills"))


# --------------------------------------------------------------------------- the dispute export


def dispute_spec() -> Spec:
    """Return the columns of a bill's dispute export."""
    return Spec("carrier-bill-disputes", _("Disputes"), (
        Column("kind", _("Dispute"), width=26),
        Column("row", _("Row"), type="int", width=7),
        Column("tracking_number", _("Tracking number"), width=20),
        Column("parcel_number", _("Parcel"), width=18),
        Column("expected_g", _("erp weight (g)"), type="int", width=12),
        Column("billed_g", _("Billed weight (g)"), type="int", width=12),
        Column("diff_g", _("Difference (g)"), type="int", width=12),
        Column("expected_amount", _("Quote"), type="decimal", width=12),
        Column("billed_amount", _("Billed"), type="decimal", width=12),
        Column("diff_amount", _("Difference"), type="decimal", width=12),
        Column("currency", _("Currency"), width=8),
        Column("first_billed", _("Billed first"), width=22),
        Column("dispatched_at", _("Dispatched (UTC)"), type="auto", width=18),
    ))


def first_billed(row) -> str:
    """Return where a duplicate line's tracking number was billed first ("bill X, row n")."""
    if row.first_reference is None:
        return ""
    return _("bill %(reference)s, row %(row)s", reference=row.first_reference, row=row.first_row)


def export_disputes(bill: CarrierBill, tol: Tolerances | None = None) -> bytes:
    """Return every dispute of ``bill`` (all kinds, in sheet order per kind) as .xlsx."""
    tol = tol or Tolerances.current()

    def rows():
        for kind in DisputeKind:
            label = str(DISPUTE_LABELS[kind])
            for r in db.session.execute(dispute_query(bill, kind, tol)
                                        .execution_options(yield_per=2000)):
                yield {**r._mapping, "kind": label, "first_billed": first_billed(r)}

    return export_workbook(dispute_spec(), rows())
