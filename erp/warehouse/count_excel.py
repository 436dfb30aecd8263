"""Count sheets in Excel: export a count's lines, import the counted quantities.

One sheet (:data:`COUNT_SPEC`) serves both ways: the export is the sheet to fill in, and the
import reads the columns count number, bin, SKU and counted (the other exported columns are
there to help the counter and are ignored). The import is all or nothing through the count
services: a counted cell replaces the line's counted quantity, an empty one leaves the line as
it is, and a SKU the count does not list in that bin is added as an unexpected find.

While a count is open its export is *blind*: the expected quantities appear only once it has
been submitted for review.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from erp.core import excel
from erp.core.errors import DomainError, ValidationError
from erp.core.i18n import _, _l, format_number
from erp.extensions import db
from erp.warehouse import queries, services
from erp.warehouse.excel import in_language
from erp.warehouse.labels import count_state_label
from erp.warehouse.models import CycleCount, CycleCountState
from erp.warehouse.services.counts import MAX_COUNTED


def _count_number(value: Any) -> str:
    return str(value).strip().upper()


def _counted(value: int) -> int:
    if not 0 <= value <= MAX_COUNTED:
        raise ValueError(_("must be from 0 to %(most)s, got %(value)s",
                           most=format_number(MAX_COUNTED), value=value))
    return value


_IMPORT_COLUMNS = (
    excel.Column("count_number", _l("Count number"), required=True, validator=_count_number,
                 help=_l("The cycle count, e.g. CC-2026-000001; it must be open.")),
    excel.Column("bin", _l("Bin"), required=True, width=16,
                 help=_l("The bin code, e.g. A-01-02-03, in the count's warehouse.")),
    excel.Column("sku", _l("SKU"), required=True, width=18,
                 help=_l("The SKU code or its barcode. A SKU the count does not list in this "
                         "bin is added to the count as an unexpected find.")),
    excel.Column("counted", _l("Counted"), type="int", validator=_counted, width=10,
                 help=_l("The quantity found in the bin. Empty: not counted yet (left as it "
                         "is).")),
)
#: the columns an import reads
COUNT_SPEC = excel.Spec(name="count_lines", title="Count lines", columns=_IMPORT_COLUMNS,
                        max_rows=50_000)
_HEADERS = {column.key: column.header for column in COUNT_SPEC.columns}


def _header(key: str) -> str:
    """Return an import column's header in the reader's language (errors name it)."""
    return str(_HEADERS[key])


_INFO = (
    excel.Column("barcode", _l("Barcode"), width=16,
                 help=_l("For reference; ignored on import.")),
    excel.Column("product_name", _l("Product"), width=30,
                 help=_l("For reference; ignored on import.")),
    excel.Column("variant", _l("Variant"), width=14,
                 help=_l("For reference; ignored on import.")),
)
_REVIEW = (
    excel.Column("expected_qty", _l("Expected"), type="int", width=10,
                 help=_l("On hand when the count opened (shown after submitting for review).")),
    excel.Column("variance", _l("Variance"), type="int", width=10,
                 help=_l("Counted minus expected; ignored on import.")),
)


def export_count_lines(count: CycleCount) -> bytes:
    """Return the count's lines as a workbook in bin walking order (blind while open)."""
    blind = count.state == CycleCountState.open
    counted = _IMPORT_COLUMNS[3]
    columns = (*_IMPORT_COLUMNS[:3], *_INFO, *(() if blind else _REVIEW), counted)
    spec = excel.Spec(name="count_lines", title=COUNT_SPEC.title, columns=in_language(columns))
    rows = ({"count_number": count.number, "bin": r.bin_code, "sku": r.sku_code,
             "barcode": r.barcode, "product_name": r.product_name,
             "variant": " / ".join(p for p in (r.colour, r.size) if p) or None,
             "expected_qty": r.expected_qty, "variance": r.variance, "counted": r.counted_qty}
            for r in db.session.execute(queries.cycle_count_lines_query(count.id)))
    return excel.export_workbook(spec, rows)


def import_counts(data: bytes, *, filename: str = "counts.xlsx", dry_run: bool, actor,
                  savepoint: bool = True) -> excel.ImportResult:
    """Check a count sheet and, unless ``dry_run``, record its counted quantities.

    All or nothing; never commits. Every row is checked first (the count is open, the bin is in
    its warehouse, the SKU exists, no SKU-bin pair twice, an added pair is not counted by
    another open count), so a dry run reports every error and writes nothing.
    """
    plan = _CountPlan(actor)
    return excel.run_import(data, COUNT_SPEC, filename=filename, dry_run=dry_run,
                            validate_row=plan.validate_row, apply=plan.apply,
                            transaction=db.session.begin_nested if savepoint else None)


class _CountPlan:
    """Lookups shared by the rows of one upload, then the writes through the services."""

    def __init__(self, actor) -> None:
        self.actor = actor
        self.counts: dict[str, CycleCount | None] = {}
        self.seen: dict[tuple[int, int, int], int] = {}

    def _count(self, number: str) -> CycleCount | None:
        if number not in self.counts:
            self.counts[number] = db.session.scalar(
                select(CycleCount).where(CycleCount.number == number))
        return self.counts[number]

    def validate_row(self, row: dict[str, Any]) -> list[excel.CellError]:
        """Look up the row's count, bin and SKU; keep them in the row for :meth:`apply`."""
        at = row["_row"]
        count = self._count(row["count_number"])
        if count is None:
            return [excel.CellError(at, _header("count_number"),
                                    _('no cycle count has the number "%(number)s"',
                                      number=row["count_number"]))]
        if count.state != CycleCountState.open:
            return [excel.CellError(at, _header("count_number"),
                                    _("cycle count %(number)s is %(state)s; only an open count "
                                      "takes counted quantities", number=count.number,
                                      state=count_state_label(count.state)))]
        errors = []
        try:
            location = services.find_location(row["bin"], warehouse=count.warehouse)
        except ValidationError as err:
            location = None
            errors.append(excel.CellError(at, _header("bin"), str(err).rstrip(".。")))
        try:
            sku = services.find_sku(row["sku"])
        except ValidationError as err:
            sku = None
            errors.append(excel.CellError(at, _header("sku"), str(err).rstrip(".。")))
        if location is None or sku is None:
            return errors
        key = (count.id, sku.id, location.id)
        if key in self.seen:
            return [excel.CellError(at, _header("sku"),
                                    _("SKU %(sku)s in bin %(bin)s is also in row %(row)s",
                                      sku=sku.code, bin=location.code, row=self.seen[key]))]
        self.seen[key] = at
        line = next((ln for ln in count.lines
                     if ln.sku_id == sku.id and ln.location_id == location.id), None)
        if line is None and row["counted"] is not None:
            message = self._cannot_add(count, location, sku)
            if message:
                return [excel.CellError(at, _header("sku"), message)]
        row.update(_count=count, _location=location, _sku=sku, _line=line)
        return []

    @staticmethod
    def _cannot_add(count: CycleCount, location, sku) -> str | None:
        if location.warehouse_id != count.warehouse_id:
            return _("bin %(bin)s is not in warehouse %(warehouse)s", bin=location.label,
                     warehouse=count.warehouse.code)
        held = services.open_count_for(sku.id, location.id)
        if held is not None and held.id != count.id:
            return _("SKU %(sku)s in bin %(bin)s is being counted by cycle count %(number)s; "
                     "finish or cancel that count first", sku=sku.code, bin=location.code,
                     number=held.number)
        return None

    def apply(self, rows: list[dict[str, Any]]) -> dict[str, int]:
        """Record every counted quantity through the count services."""
        counts = {"created": 0, "updated": 0, "skipped": 0}
        for row in rows:
            try:
                counts[self._apply_row(row)] += 1
            except DomainError as err:
                raise excel.RowError(str(err), row=row["_row"]) from err
        return counts

    def _apply_row(self, row: dict[str, Any]) -> str:
        line, quantity = row["_line"], row["counted"]
        if quantity is None:
            return "skipped"
        if line is None:
            services.add_count_line(row["_count"], row["_location"], row["_sku"],
                                    counted_qty=quantity, actor=self.actor)
            return "created"
        if line.counted_qty == quantity:
            return "skipped"
        services.record_count(line, quantity, actor=self.actor)
        return "updated"
