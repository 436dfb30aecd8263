"""The supplier scorecard: delivery, inspection and customer-return figures over a period.

Per supplier, and per supplier and specification version, over ``date_from`` to ``date_to``
(UTC days, both included). Each figure comes from the domain that owns it:

- **on-time delivery** and **fill rate**: procurement's supplier performance
  (:mod:`erp.procurement.supplier_queries`): of the posted receipts dated in the period that
  deliver lines with a promised date (the line's expected date, else its order's), the share
  arriving on or before it (a receipt is late when any line in it is); and over the orders
  completed in the period (received, or closed short), units received (capped at the quantity
  ordered per line) / units ordered, cancelled quantities counted as not delivered.
- **lot rejection rate** and **defects per million**: quality's inspections
  (:func:`erp.quality.queries.lot_statistics`): lots decided in the period; a lot released as a
  concession counts as rejected; DPM = defects found / units inspected x 1,000,000.
- **manufacturing return rate**: after-sales (:mod:`erp.aftersales.manufacturing`): units of the
  supplier's SKUs returned for manufacturing-defect reasons (cases opened in the period) /
  units of them shipped (parcels dispatched in the period). A SKU is the supplier's whose
  latest posted receipt came from it, else its preferred supplier item's
  (:func:`erp.procurement.supplier_queries.sku_suppliers`); its specification version is its
  product's.

Every rate is a fraction (``Decimal("0.0500")`` is 5 %) or None when nothing was measured.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select

from erp.aftersales.manufacturing import returned_by_sku, shipped_by_sku
from erp.brands.models import Specification, SpecificationVersion
from erp.catalog.models import Product, Sku
from erp.extensions import db
from erp.procurement import supplier_queries
from erp.procurement.models import Supplier
from erp.quality.queries import lot_statistics
from erp.reports.excel.common import period_bounds

_RATE = Decimal("0.0001")


def _ratio(part: int, whole: int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(_RATE, rounding=ROUND_HALF_UP)


@dataclass
class ScoreRow:
    """One supplier's (or supplier and specification version's) figures, with their counts."""

    supplier_id: int
    supplier_code: str = ""
    supplier_name: str = ""
    spec_version_id: int | None = None
    spec_label: str = ""
    timed_receipts: int = 0
    on_time_receipts: int = 0
    completed_orders: int = 0
    ordered_qty: int = 0
    received_qty: int = 0
    lots: int = 0
    lots_rejected: int = 0
    units_inspected: int = 0
    defects: int = 0
    units_shipped: int = 0
    units_returned: int = 0
    reasons: dict[str, int] = field(default_factory=dict)  # manufacturing reason -> units

    @property
    def on_time_rate(self) -> Decimal | None:
        """Receipts on time / receipts with a promised date."""
        return _ratio(self.on_time_receipts, self.timed_receipts)

    @property
    def fill_rate(self) -> Decimal | None:
        """Units received (capped per line) / units ordered on the completed orders."""
        return _ratio(self.received_qty, self.ordered_qty)

    @property
    def lot_rejection_rate(self) -> Decimal | None:
        """Lots rejected (concessions included) / lots decided."""
        return _ratio(self.lots_rejected, self.lots)

    @property
    def dpm(self) -> Decimal | None:
        """Defects per million units inspected, whole."""
        if not self.units_inspected:
            return None
        return (Decimal(self.defects) * 1_000_000 / Decimal(self.units_inspected)).quantize(
            Decimal(1), rounding=ROUND_HALF_UP)

    @property
    def return_rate(self) -> Decimal | None:
        """Units returned for manufacturing reasons / units shipped."""
        return _ratio(self.units_returned, self.units_shipped)

    @property
    def reasons_text(self) -> str:
        """Return e.g. ``DEFECTIVE 4, STITCHING 1`` (most units first)."""
        return ", ".join(f"{code} {units}" for code, units in
                         sorted(self.reasons.items(), key=lambda r: (-r[1], r[0])))

    @property
    def has_figures(self) -> bool:
        """Return whether anything was measured."""
        return bool(self.timed_receipts or self.ordered_qty or self.lots or self.units_shipped
                    or self.units_returned)


@dataclass
class Scorecard:
    """The scorecard of a period: a row per supplier, and per supplier and version."""

    date_from: date
    date_to: date
    suppliers: list[ScoreRow]
    versions: list[ScoreRow]


def supplier_scorecard(date_from: date, date_to: date, *,
                       supplier_id: int | None = None) -> Scorecard:
    """Return the scorecard of every supplier with figures in the period (one with ``supplier_id``).

    Rows are ordered by supplier code, then specification label (no specification last).
    """
    suppliers: dict[int, ScoreRow] = {}
    versions: dict[tuple[int, int | None], ScoreRow] = {}

    def row(ident: int, spec_id: int | None = None, *, split: bool = False) -> ScoreRow:
        rows = versions if split else suppliers
        key = (ident, spec_id) if split else ident
        if key not in rows:
            rows[key] = ScoreRow(ident, spec_version_id=spec_id)
        return rows[key]

    for split in (False, True):
        for p in supplier_queries.supplier_performance(date_from, date_to,
                                                       supplier_id=supplier_id, by_spec=split):
            r = row(p.supplier_id, p.spec_version_id, split=split)
            r.timed_receipts, r.on_time_receipts = p.timed_receipts, p.on_time_receipts
            r.completed_orders, r.ordered_qty, r.received_qty = \
                p.completed_orders, p.ordered_qty, p.received_qty

    stats = lot_statistics(start=date_from, end=date_to,
                           supplier_ids=[supplier_id] if supplier_id is not None else None)
    for (ident, spec_id), s in stats.items():
        if ident is None:
            continue
        for r in (row(ident), row(ident, spec_id, split=True)):
            r.lots += s.lots
            r.lots_rejected += s.lots_rejected
            r.units_inspected += s.units_inspected
            r.defects += s.defects

    start, end = period_bounds(date_from, date_to)
    # one supplier's page: only the SKUs it may own (received from it or on its price list)
    candidates = None if supplier_id is None else supplier_queries.supplier_sku_ids(supplier_id)
    shipped = shipped_by_sku(start, end, candidates) if candidates != set() else {}
    returned = returned_by_sku(start, end, candidates) if candidates != set() else {}
    skus = set(shipped) | set(returned)
    owner = supplier_queries.sku_suppliers(skus)
    spec_of = dict(db.session.execute(
        select(Sku.id, Product.spec_version_id).join(Product, Product.id == Sku.product_id)
        .where(Sku.id.in_(sorted(skus)))).all()) if skus else {}
    for sku_id in skus:
        ident = owner.get(sku_id)
        if ident is None or (supplier_id is not None and ident != supplier_id):
            continue
        units = shipped.get(sku_id, 0)
        reasons = returned.get(sku_id, {})
        for r in (row(ident), row(ident, spec_of.get(sku_id), split=True)):
            r.units_shipped += units
            for code, (_name, qty) in reasons.items():
                r.units_returned += qty
                r.reasons[code] = r.reasons.get(code, 0) + qty

    _name_rows(list(suppliers.values()) + list(versions.values()))
    return Scorecard(
        date_from, date_to,
        sorted((r for r in suppliers.values() if r.has_figures), key=lambda r: r.supplier_code),
        sorted((r for r in versions.values() if r.has_figures),
               key=lambda r: (r.supplier_code, r.spec_version_id is None, r.spec_label)))


def _name_rows(rows: list[ScoreRow]) -> None:
    """Fill in the suppliers' codes and names and the versions' labels."""
    ids = {r.supplier_id for r in rows}
    names = {i: (c, n) for i, c, n in db.session.execute(
        select(Supplier.id, Supplier.code, Supplier.name).where(Supplier.id.in_(ids)))} \
        if ids else {}
    spec_ids = {r.spec_version_id for r in rows if r.spec_version_id is not None}
    labels = {i: f"{number} v{version}" for i, number, version in db.session.execute(
        select(SpecificationVersion.id, Specification.number, SpecificationVersion.version)
        .join(Specification, Specification.id == SpecificationVersion.specification_id)
        .where(SpecificationVersion.id.in_(spec_ids)))} if spec_ids else {}
    for r in rows:
        r.supplier_code, r.supplier_name = names.get(r.supplier_id, ("", ""))
        if r.spec_version_id is not None:
            r.spec_label = labels.get(r.spec_version_id, "")


