"""Excel import of a draft landed cost's charges: one row per charge, all or nothing.

The file replaces the draft's charges (the receipts, split method and note stay). Every row is
checked first, as the form would check it; a dry run only reports. Errors name the sheet row,
the column and the reason.
"""

from __future__ import annotations

from erp.core.excel import CellError, Column, ImportResult, Spec, run_import
from erp.core.i18n import _, _l
from erp.core.money import validate_currency
from erp.extensions import db
from erp.procurement.models import ChargeKind, LandedCost
from erp.procurement.services import landed_costs as services


def _currency(value) -> str:
    return validate_currency(str(value))


def _vendor(value) -> str:
    text = str(value).strip()
    if len(text) > 120:
        raise ValueError(_("must be at most 120 characters"))
    return text


CHARGE_SPEC = Spec("landed-cost-charges", _l("Charges"), (
    Column("kind", _l("Kind"), required=True, width=12,
           choices=tuple(k.value for k in ChargeKind),
           help=_l("freight, duty, insurance or other")),
    Column("amount", _l("Amount"), type="decimal", required=True, width=14,
           help=_l("Above zero, at most 2 decimals, in the currency of the row")),
    Column("currency", _l("Currency"), required=True, width=10, validator=_currency,
           help=_l("ISO 4217 code, e.g. CNY, USD, EUR")),
    Column("vendor", _l("Forwarder or vendor"), width=30, validator=_vendor),
), max_rows=services.MAX_CHARGES)


def _check_row(row: dict) -> list[CellError]:
    amount = row["amount"]
    if amount is None or amount <= 0 or amount >= services.MAX_AMOUNT \
            or amount != amount.quantize(services.CENT):
        return [CellError(row["_row"], str(CHARGE_SPEC.column("amount").header),
                          _("must be above zero with at most 2 decimals; got %(value)s",
                            value=amount))]
    return []


def import_charges(lc: LandedCost, data: bytes, *, filename: str, dry_run: bool,
                   actor) -> ImportResult:
    """Replace a draft's charges with the rows of an uploaded workbook (or CSV).

    All or nothing, in a savepoint: a refused row (or a landed cost no longer a draft) leaves
    the charges as they were.
    """
    def apply(rows):
        services.update_landed_cost(
            lc, receipts=lc.receipts, method=lc.method.value, note=lc.note, actor=actor,
            charges=[services.ChargeSpec(r["kind"], r["amount"], r["currency"], r["vendor"])
                     for r in rows])
        return {"updated": len(rows)}

    def no_rows(rows):
        if not rows:
            return [CellError(0, "", _("The file has no charge rows."))]
        return []

    return run_import(data, CHARGE_SPEC, filename=filename, apply=apply, dry_run=dry_run,
                      validate_row=_check_row, validate_rows=no_rows,
                      transaction=db.session.begin_nested,
                      error_types=(ValueError, services.DomainError))
