"""Excel exports of supplier returns, claims and a supplier's statement (formula-safe)."""

from __future__ import annotations

from collections.abc import Callable

from erp.core import exports
from erp.core.excel import Column, Spec, export_workbook
from erp.core.i18n import _, _l
from erp.extensions import db
from erp.procurement.models import PURCHASE_ORDER_STATES
from erp.procurement.return_models import SUPPLIER_CLAIM_STATES, SUPPLIER_RETURN_STATES
from erp.procurement.return_queries import (
    ClaimFilters,
    ReturnFilters,
    Statement,
    claim_count_query,
    claim_list_query,
    supplier_return_count_query,
    supplier_return_list_query,
)

RETURN_SPEC = Spec("supplier-returns", _l("Supplier returns"), (
    Column("number", _l("Number"), width=18),
    Column("state", _l("State"), width=12),
    Column("supplier_code", _l("Supplier"), width=12),
    Column("supplier_name", _l("Supplier name"), width=28),
    Column("created_at", _l("Created (UTC)"), type="auto", width=18),
    Column("shipped_at", _l("Shipped (UTC)"), type="auto", width=18),
    Column("units", _l("Units"), type="int", width=8),
    Column("currency", _l("Currency"), width=8),
    Column("claim_number", _l("Debit note"), width=18),
    Column("claim_amount", _l("Claim amount"), type="decimal", width=14),
    Column("claim_state", _l("Claim state"), width=12),
))


def export_supplier_returns(filters: ReturnFilters, *,
                            progress: Callable[[int], None] | None = None) -> bytes:
    """Return the supplier returns matching the list's filters as an .xlsx workbook."""
    rows = exports.counted(db.session.execute(supplier_return_list_query(filters)), progress)
    return export_workbook(RETURN_SPEC, ({
        "number": r.SupplierReturn.number,
        "state": SUPPLIER_RETURN_STATES.label(r.SupplierReturn.state),
        "supplier_code": r.supplier_code, "supplier_name": r.supplier_name,
        "created_at": r.SupplierReturn.created_at, "shipped_at": r.SupplierReturn.shipped_at,
        "units": r.units, "currency": r.SupplierReturn.currency,
        "claim_number": r.claim_number, "claim_amount": r.claim_amount,
        "claim_state": SUPPLIER_CLAIM_STATES.label(r.claim_state) if r.claim_state else None,
    } for r in rows))


RETURN_EXPORT = exports.register(exports.ListExport(
    "supplier-returns", _l("Supplier returns"), "procurement.view", ReturnFilters,
    count=lambda f: db.session.scalar(supplier_return_count_query(f)) or 0,
    build=lambda f, *, user, progress: export_supplier_returns(f, progress=progress),
    filename="supplier-returns"))

CLAIM_SPEC = Spec("supplier-claims", _l("Claims"), (
    Column("number", _l("Debit note"), width=18),
    Column("state", _l("State"), width=12),
    Column("supplier_code", _l("Supplier"), width=12),
    Column("supplier_name", _l("Supplier name"), width=28),
    Column("return_number", _l("Return"), width=18),
    Column("raised_on", _l("Raised on"), type="date", width=12),
    Column("currency", _l("Currency"), width=8),
    Column("amount", _l("Amount"), type="decimal", width=14),
    Column("paid_on", _l("Deducted from the payment of"), type="date", width=14),
    Column("note", _l("Note"), width=30),
))


def export_claims(filters: ClaimFilters, *,
                  progress: Callable[[int], None] | None = None) -> bytes:
    """Return the claims matching the list's filters as an .xlsx workbook."""
    rows = exports.counted(db.session.execute(claim_list_query(filters)), progress)
    return export_workbook(CLAIM_SPEC, ({
        "number": r.SupplierClaim.number,
        "state": SUPPLIER_CLAIM_STATES.label(r.SupplierClaim.state),
        "supplier_code": r.supplier_code, "supplier_name": r.supplier_name,
        "return_number": r.return_number, "raised_on": r.SupplierClaim.raised_on,
        "currency": r.SupplierClaim.currency, "amount": r.SupplierClaim.amount,
        "paid_on": r.paid_on, "note": r.SupplierClaim.note} for r in rows))


CLAIM_EXPORT = exports.register(exports.ListExport(
    "supplier-claims", _l("Claims"), "procurement.view", ClaimFilters,
    count=lambda f: db.session.scalar(claim_count_query(f)) or 0,
    build=lambda f, *, user, progress: export_claims(f, progress=progress),
    filename="supplier-claims"))

STATEMENT_SPEC = Spec("supplier-statement", _l("Statement"), (
    Column("on", _l("Date"), type="date", width=12),
    Column("kind", _l("Entry"), width=14),
    Column("reference", _l("Reference"), width=20),
    Column("description", _l("Details"), width=30),
    Column("state", _l("State"), width=14),
    Column("document_amount", _l("Document amount"), type="decimal", width=14),
    Column("amount", _l("Owed +/-"), type="decimal", width=14),
    Column("balance", _l("Owed"), type="decimal", width=14),
))

#: the statement's entry kinds, as a reader sees them
ENTRY_LABELS = {"order": _l("purchase order"), "receipt": _l("receipt"), "claim": _l("claim"),
                "payment": _l("payment")}


_STATE_MACHINES = {"order": PURCHASE_ORDER_STATES, "claim": SUPPLIER_CLAIM_STATES}


def statement_rows(statement: Statement) -> list[dict]:
    """Return the statement as rows: opening balance, entries with the running balance, owed."""
    balance = statement.opening
    blank = dict.fromkeys(("reference", "description", "state", "document_amount", "amount"))
    rows = [{**blank, "on": statement.start, "kind": _("opening balance"), "balance": balance}]
    for entry in statement.entries:
        balance += entry.amount
        rows.append({"on": entry.on, "kind": str(ENTRY_LABELS[entry.kind]),
                     "reference": entry.reference, "description": entry.description,
                     "state": _STATE_MACHINES[entry.kind].label(entry.state)
                     if entry.state else None, "document_amount": entry.document_amount,
                     "amount": entry.amount if entry.kind != "order" else None,
                     "balance": balance})
    rows.append({**blank, "on": statement.end, "kind": _("owed"),
                 "description": statement.currency, "balance": statement.owed})
    return rows


def export_statement(statement: Statement) -> bytes:
    """Return a supplier's statement as an .xlsx workbook (amounts in its currency)."""
    title = f"{statement.supplier.code} {statement.start.isoformat()}"
    return export_workbook(STATEMENT_SPEC, statement_rows(statement), title=title)
