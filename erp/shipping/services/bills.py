"""Carrier bills: a carrier's spreadsheet of charges, imported once and matched to parcels.

A bill (carrier, reference, billing period) is a sheet of charge lines, one a row:

- ``Tracking number`` (required): matched to the parcel of the bill's carrier with that number;
- ``Billed weight (kg)``: the weight the carrier charged for, in kilograms with up to three
  decimals (as carriers print it), stored in grams; required on freight lines;
- ``Amount`` and ``Currency`` (required): one currency for the whole bill;
- ``Charge`` (optional): empty (or ``freight``) for the carriage of the parcel; any other text
  (``fuel``, ``remote area``...) is a surcharge of the parcel, added to its cost;
- ``Date`` and ``Reference`` (optional): the carrier's shipping date and line reference.

The import is all or nothing, with a dry run, on the core Excel framework (.xlsx or .csv;
errors name the row, the column and the reason). The same bill (same carrier and reference) or
the same file is refused a second time. Matching happens in the import:

- a freight line of a tracking number billed before (earlier in the file or in an earlier bill
  of the carrier) is a *duplicate*: kept, disputed, and not added to the parcel's cost;
- a tracking number of no parcel of the carrier is kept *unknown* (no parcel);
- every other line of a parcel adds to the parcel's ``billed_cost`` (freight plus
  surcharges); its freight line sets ``billed_weight_g``; ``billed_currency`` and
  ``billed_at`` when. A parcel billed before in another currency keeps that cost (the
  bill's lines for it are stored and matched, not added: costs are never summed across
  currencies).

Imports of one carrier queue on the carrier's row (locked first), so two imports never both
miss each other's lines when they look for duplicates. One audit event records the bill (its
lines are the record of what was billed for each parcel).
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    String,
    any_,
    bindparam,
    case,
    exists,
    func,
    insert,
    select,
    type_coerce,
    update,
)
from sqlalchemy.orm import aliased
from sqlalchemy.types import BigInteger

from erp.core import audit, excel
from erp.core.errors import FieldErrors
from erp.core.i18n import _, _l, format_number, ngettext
from erp.core.locking import lock
from erp.core.models import utcnow
from erp.core.money import validate_currency
from erp.core.types import Money
from erp.extensions import db
from erp.shipping import s10
from erp.shipping.models import Carrier, CarrierBill, CarrierBillLine, Parcel, ShippingService

MAX_REFERENCE = 60
MAX_CHARGE = 40
MAX_TRACKING = 40
#: what the Charge column may say for the carriage itself (any case); empty is freight too
FREIGHT_WORDS = frozenset({"freight", "运费"})
MAX_AMOUNT = Decimal("1000000")
MAX_WEIGHT_KG = Decimal("1000")


# --------------------------------------------------------------------------- the sheet


def _tracking(value: Any) -> str:
    number = value.upper() if isinstance(value, str) and value.isalnum() else s10.normalise(value)
    if not number:
        raise ValueError(_("is required"))
    if len(number) > MAX_TRACKING:
        raise ValueError(_("is longer than %(most)s characters", most=MAX_TRACKING))
    return number


def _weight_kg(value: Decimal) -> int:
    if value < 0 or value > MAX_WEIGHT_KG:
        raise ValueError(_("must be between 0 and %(most)s kg", most=format_number(MAX_WEIGHT_KG)))
    grams = value * 1000
    if grams != grams.to_integral_value():
        raise ValueError(_("may have at most 3 decimals (whole grams)"))
    return int(grams)


def _amount(value: Decimal) -> Decimal:
    if abs(value) >= MAX_AMOUNT:
        raise ValueError(_("must be less than %(most)s", most=format_number(MAX_AMOUNT)))
    if value != value.quantize(Decimal("0.0001")):
        raise ValueError(_("may have at most 4 decimals"))
    return value


@functools.lru_cache(maxsize=64)
def _bill_currency(value: str) -> str:
    """The ISO 4217 check, once per code a bill uses (a ValueError is not cached)."""
    return validate_currency(value)


def _limited(most: int):
    def check(value: str) -> str:
        if len(value) > most:
            raise ValueError(_("is longer than %(most)s characters", most=most))
        return value
    return check


def _charge(value: str) -> str | None:
    text = _limited(MAX_CHARGE)(value.strip())
    return None if text.casefold() in FREIGHT_WORDS else text


BILL_SPEC = excel.Spec(
    name="carrier-bill",
    title=_l("Carrier bill"),
    columns=(
        excel.Column("tracking_number", _l("Tracking number"), required=True, width=20,
                     validator=_tracking,
                     help=_l("The parcel's tracking number as the carrier prints it (spaces "
                             "and dashes are ignored).")),
        excel.Column("weight_kg", _l("Billed weight (kg)"), type="decimal", decimals=3,
                     width=12, validator=_weight_kg,
                     help=_l("The weight the carrier charged for, in kilograms (up to 3 "
                             "decimals). Required on freight lines.")),
        excel.Column("amount", _l("Amount"), type="decimal", required=True, width=12,
                     validator=_amount, help=_l("What the carrier charges for this line.")),
        excel.Column("currency", _l("Currency"), required=True, width=8,
                     validator=_bill_currency,
                     help=_l("ISO 4217 code; every line of a bill in the same currency.")),
        excel.Column("charge", _l("Charge"), width=14, validator=_charge,
                     help=_l("Empty or \"freight\" for the carriage; any other text (fuel, "
                             "remote area...) is a surcharge of the parcel.")),
        excel.Column("shipped_on", _l("Date"), type="date", width=12,
                     help=_l("The carrier's shipping date (optional).")),
        excel.Column("line_reference", _l("Reference"), width=16,
                     validator=_limited(MAX_REFERENCE),
                     help=_l("The carrier's reference of the line (optional).")),
    ),
)


# --------------------------------------------------------------------------- the header


@dataclass(frozen=True)
class BillHeader:
    """What the import form says of the bill besides its file."""

    carrier: Carrier
    reference: str
    period_start: date
    period_end: date


def check_header(carrier: Carrier | None, reference: str | None, period_start: date | None,
                 period_end: date | None) -> BillHeader:
    """Return the bill's header, checked.

    :raises FieldErrors: naming each field that is missing or wrong.
    """
    errors = {}
    reference = (reference or "").strip()
    if carrier is None:
        errors["carrier_id"] = _("Choose the carrier whose bill this is.")
    if not reference:
        errors["reference"] = _("Enter the bill's reference (its number on the carrier's "
                                "bill).")
    elif len(reference) > MAX_REFERENCE:
        errors["reference"] = _("The reference may have at most %(most)s characters.",
                                most=MAX_REFERENCE)
    if period_start is None:
        errors["period_start"] = _("Enter the first day of the billing period.")
    if period_end is None:
        errors["period_end"] = _("Enter the last day of the billing period.")
    elif period_start is not None and period_end < period_start:
        errors["period_end"] = _("The period ends before it starts.")
    if errors:
        raise FieldErrors(" ".join(errors.values()), errors)
    return BillHeader(carrier, reference, period_start, period_end)


def _already_imported(carrier: Carrier, reference: str, digest: str) -> str | None:
    """Return why this bill may not be imported again, or None."""
    found = db.session.execute(
        select(CarrierBill.reference, CarrierBill.imported_at).where(
            CarrierBill.carrier_id == carrier.id,
            (func.upper(CarrierBill.reference) == reference.upper())
            | (CarrierBill.file_sha256 == digest))
        .order_by(CarrierBill.id).limit(1)).first()
    if found is None:
        return None
    if found.reference.upper() == reference.upper():
        return _("Bill %(reference)s of %(carrier)s was imported already (on %(day)s); a bill "
                 "is imported once.", reference=found.reference, carrier=carrier.name,
                 day=found.imported_at.date().isoformat())
    return _("This file was imported already as bill %(reference)s of %(carrier)s (on "
             "%(day)s); a bill is imported once.", reference=found.reference,
             carrier=carrier.name, day=found.imported_at.date().isoformat())


# --------------------------------------------------------------------------- checks


def _check_row(row: dict[str, Any]) -> list[excel.CellError]:
    if row["charge"] is None and row["weight_kg"] is None:
        return [excel.CellError(row["_row"], str(BILL_SPEC.column("weight_kg").header),
                                _("is required on a freight line (the Charge column is empty "
                                  "or \"freight\")"))]
    return []


def _check_rows(rows: list[dict[str, Any]]) -> list[excel.CellError]:
    """One currency per bill: every row in the first row's currency."""
    if not rows:
        return [excel.CellError(0, "", _("The bill has no lines."))]
    currency = rows[0]["currency"]
    header = str(BILL_SPEC.column("currency").header)
    return [excel.CellError(row["_row"], header, _(
        "is %(currency)s, but the bill is in %(bill)s (row %(first)s): a bill has one "
        "currency", currency=row["currency"], bill=currency, first=rows[0]["_row"]))
        for row in rows if row["currency"] != currency]


# --------------------------------------------------------------------------- import


_LINE_COLUMNS = ("bill_id", "row", "tracking_number", "charge", "billed_weight_g", "amount",
                 "shipped_on", "line_reference", "duplicate", "parcel_id")


def _insert_lines(values: list[tuple]) -> None:
    """Insert the bill's lines, values as the columns store them, the cheapest way.

    PostgreSQL takes them with COPY, SQLite with the driver's executemany (as
    :mod:`erp.core.audit` writes many events): SQLAlchemy's per-value handling would cost
    seconds on a 100,000-line bill.
    """
    names = ", ".join(_LINE_COLUMNS)
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        raw = connection.connection.driver_connection
        with raw.cursor() as cursor, cursor.copy(
                f"COPY carrier_bill_line ({names}) FROM STDIN") as copy:
            for row in values:
                copy.write_row(row)
    elif connection.dialect.name == "sqlite":
        connection.exec_driver_sql(
            f"INSERT INTO carrier_bill_line ({names}) VALUES "
            f"({', '.join('?' for _ in _LINE_COLUMNS)})",
            [(*row[:6], row[6].isoformat() if row[6] else None, *row[7:]) for row in values])
    else:
        db.session.execute(insert(CarrierBillLine.__table__), [
            dict(zip(_LINE_COLUMNS, row, strict=True)) for row in values])


def _looked_up(carrier: Carrier, numbers: list[str]) -> tuple[dict[str, int], set[str]] | None:
    """On PostgreSQL, return the carrier's parcels by these numbers and those billed before.

    Two queries, each with the numbers as one array (``= ANY``), so the lines are written
    matched (updating 100,000 fresh rows costs seconds there). None on SQLite, where the
    lines are matched after they are written (:func:`_match`, cheap there).
    """
    if db.session.get_bind().dialect.name != "postgresql":
        return None
    from sqlalchemy.dialects.postgresql import ARRAY

    wanted = any_(bindparam("numbers", numbers, type_=ARRAY(String)))
    parcels = dict(db.session.execute(
        select(Parcel.tracking_number, Parcel.id)
        .join(ShippingService, ShippingService.id == Parcel.service_id)
        .where(ShippingService.carrier_id == carrier.id, Parcel.tracking_number == wanted)).all())
    before = set(db.session.scalars(
        select(CarrierBillLine.tracking_number).distinct()
        .join(CarrierBill, CarrierBill.id == CarrierBillLine.bill_id)
        .where(CarrierBill.carrier_id == carrier.id, CarrierBillLine.charge.is_(None),
               CarrierBillLine.tracking_number == wanted)))
    return parcels, before


def _match(bill: CarrierBill, carrier: Carrier) -> None:
    """Match the bill's lines to the carrier's parcels, and mark earlier bills' duplicates.

    Two set-based UPDATEs over the unique tracking-number index of parcels and the
    tracking-number index of bill lines (no look-up per line). Duplicates within the bill
    were marked as the lines were written.
    """
    line = CarrierBillLine.__table__
    parcel_of = (select(Parcel.id).join(ShippingService, ShippingService.id == Parcel.service_id)
                 .where(Parcel.tracking_number == line.c.tracking_number,
                        ShippingService.carrier_id == carrier.id)
                 .limit(1).scalar_subquery())
    db.session.execute(update(line).where(line.c.bill_id == bill.id)
                       .values(parcel_id=parcel_of)
                       .execution_options(synchronize_session=False))
    earlier, bills = aliased(CarrierBillLine), aliased(CarrierBill)
    billed_before = exists(
        select(earlier.id).join(bills, bills.id == earlier.bill_id)
        .where(earlier.tracking_number == line.c.tracking_number, earlier.charge.is_(None),
               earlier.bill_id != bill.id, bills.carrier_id == carrier.id))
    db.session.execute(update(line).where(line.c.bill_id == bill.id, line.c.charge.is_(None),
                                          line.c.duplicate.is_(False), billed_before)
                       .values(duplicate=True)
                       .execution_options(synchronize_session=False))


@dataclass
class BillOutcome:
    """What an import wrote: the bill and its counts."""

    bill: CarrierBill
    lines: int
    matched: int
    duplicates: int
    unknown: int
    parcels: int


def write_bill(header: BillHeader, rows: list[dict[str, Any]], *, filename: str, digest: str,
               actor) -> BillOutcome:
    """Store the checked rows as a bill, match them, and set the parcels' billed cost.

    The caller has locked the carrier and checked the bill was not imported before.
    """
    carrier = header.carrier
    currency = rows[0]["currency"]
    now = utcnow()
    bill = CarrierBill(carrier_id=carrier.id, reference=header.reference,
                       period_start=header.period_start, period_end=header.period_end,
                       currency=currency, filename=filename[:200], file_sha256=digest,
                       imported_by_id=getattr(actor, "id", None), imported_at=now)
    db.session.add(bill)
    db.session.flush()
    money = Money()
    found = _looked_up(carrier, list({row["tracking_number"] for row in rows}))
    parcels, before = found if found is not None else ({}, set())
    seen: set[str] = set(before)
    values = []
    total = Decimal(0)
    for row in rows:
        number = row["tracking_number"]
        freight = row["charge"] is None
        duplicate = freight and number in seen
        if freight:
            seen.add(number)
        total += row["amount"]
        # in _LINE_COLUMNS' order, money in stored units
        values.append((bill.id, row["_row"], number, row["charge"], row["weight_kg"],
                       money.process_bind_param(row["amount"], None), row["shipped_on"],
                       row["line_reference"], duplicate, parcels.get(number)))
    _insert_lines(values)
    if found is None:
        _match(bill, carrier)
    updated = _set_billed(bill, now)
    line = CarrierBillLine.__table__
    counts = db.session.execute(
        select(func.count(), func.count(line.c.parcel_id),
               func.coalesce(func.sum(case((line.c.duplicate.is_(True), 1), else_=0)), 0))
        .where(line.c.bill_id == bill.id)).one()
    lines, matched, duplicates = (int(value) for value in counts)
    bill.line_count = lines
    bill.matched_count = matched
    bill.total_amount = total
    unknown = lines - matched
    audit.record(bill, "carrier_bill.imported", actor=actor, changes={
        "carrier": carrier.code, "reference": bill.reference,
        "period": [bill.period_start.isoformat(), bill.period_end.isoformat()],
        "lines": lines, "matched": matched, "duplicates": duplicates,
        "unknown": unknown, "parcels": updated, "total": str(total), "currency": currency,
        "filename": bill.filename})
    db.session.flush()
    return BillOutcome(bill, lines, matched, duplicates, unknown, updated)


def _set_billed(bill: CarrierBill, now) -> int:
    """Add the bill's counted lines to their parcels' billed cost, in one UPDATE ... FROM.

    Counted: matched and not a duplicate; the lines are summed per parcel first (amounts as
    stored integers), then joined to their parcels. A parcel billed before in another
    currency is left alone: costs are never summed across currencies.
    """
    line, parcel = CarrierBillLine.__table__, Parcel.__table__
    per_parcel = (
        select(line.c.parcel_id,
               func.sum(type_coerce(line.c.amount, BigInteger)).label("added"),
               func.max(case((line.c.charge.is_(None), line.c.billed_weight_g))).label("grams"))
        .where(line.c.bill_id == bill.id, line.c.parcel_id.is_not(None),
               line.c.duplicate.is_(False))
        .group_by(line.c.parcel_id).subquery("per_parcel"))
    raw_cost = type_coerce(parcel.c.billed_cost, BigInteger)
    result = db.session.execute(
        update(parcel)
        .where(parcel.c.id == per_parcel.c.parcel_id,
               (parcel.c.billed_currency.is_(None)) | (parcel.c.billed_currency == bill.currency))
        .values(billed_cost=type_coerce(func.coalesce(raw_cost, 0) + per_parcel.c.added,
                                        BigInteger),
                billed_weight_g=func.coalesce(per_parcel.c.grams, parcel.c.billed_weight_g),
                billed_currency=bill.currency, billed_at=now)
        .execution_options(synchronize_session=False))
    return result.rowcount or 0


def import_bill(data: bytes, *, filename: str, carrier: Carrier | None, reference: str | None,
                period_start: date | None, period_end: date | None, dry_run: bool, actor,
                savepoint: bool = True) -> excel.ImportResult:
    """Check a carrier's bill and, unless ``dry_run``, store and match it; never commits.

    :raises FieldErrors: when the form's carrier, reference or period is missing or wrong.
    :returns: the import's result; a bill imported before (same carrier and reference, or the
        same file) is refused with a file-level error, as is a file with bad rows.
    """
    header = check_header(carrier, reference, period_start, period_end)
    lock(header.carrier)  # imports of one carrier queue here: duplicates are seen, not raced
    digest = hashlib.sha256(data).hexdigest()
    refusal = _already_imported(header.carrier, header.reference, digest)
    if refusal:
        return excel.ImportResult(dry_run=dry_run, errors=[excel.CellError(0, "", refusal)])

    def apply(rows: list[dict[str, Any]]) -> dict[str, Any]:
        outcome = write_bill(header, rows, filename=filename, digest=digest, actor=actor)
        return {"created": outcome.lines, "updated": outcome.parcels, "skipped": 0,
                "messages": outcome_messages(outcome)}

    result = excel.run_import(data, BILL_SPEC, filename=filename, dry_run=dry_run, apply=apply,
                              validate_row=_check_row, validate_rows=_check_rows,
                              transaction=db.session.begin_nested if savepoint else None)
    return result


def outcome_messages(outcome: BillOutcome) -> list[str]:
    """Return the import's counts as sentences for the result page."""
    messages = [ngettext("%(num)d line matched to a parcel.", "%(num)d lines matched to parcels.",
                         outcome.matched)]
    if outcome.duplicates:
        messages.append(ngettext(
            "%(num)d freight line bills a tracking number billed before (disputed).",
            "%(num)d freight lines bill tracking numbers billed before (disputed).",
            outcome.duplicates))
    if outcome.unknown:
        messages.append(ngettext(
            "%(num)d line names a tracking number of no parcel of the carrier (disputed).",
            "%(num)d lines name tracking numbers of no parcel of the carrier (disputed).",
            outcome.unknown))
    return messages


def bill_by_reference(carrier: Carrier, reference: str) -> CarrierBill | None:
    """Return the carrier's bill with this reference (any case), or None."""
    return db.session.scalar(select(CarrierBill).where(
        CarrierBill.carrier_id == carrier.id,
        func.upper(CarrierBill.reference) == (reference or "").strip().upper()))
