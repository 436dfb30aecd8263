"""Tracking screens: the exception queue (customer service) and the carriers' file import."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import current_app, render_template, request

from erp.core import exports, importing
from erp.core.i18n import _l
from erp.core.permissions import permission_required
from erp.core.viewhelpers import paginate_rows
from erp.shipping import tracking_excel
from erp.shipping.services import tracking_queries as queries
from erp.shipping.views import bp

TRACKING_IMPORT = importing.Importer(
    name="tracking-events", title=_l("Import tracking events"),
    spec=tracking_excel.TRACKING_SPEC, run=tracking_excel.import_tracking,
    template_endpoint="shipping.tracking_template",
    report_endpoint="shipping.tracking_import_errors", back_endpoint="shipping.exception_queue",
    intro=_l("A carrier's tracking file: one row per event with the tracking number, when it "
             "happened, the status, the carrier's event code, a description and the place. "
             "Events already stored are skipped; tracking numbers of no dispatched parcel are "
             "counted, not refused. The whole file is applied, or nothing if any row has an "
             "error."))
importing.add_import_routes(bp, TRACKING_IMPORT, rule="/tracking/import",
                            permission="shipping.work", view_name="import_tracking",
                            doc="carrier tracking file")


def exception_filters() -> queries.ExceptionFilters:
    """Read the exception queue's search and filters from the query string."""
    try:
        min_days = int(request.args.get("min_days") or 0) or None
    except ValueError:
        min_days = None
    return queries.ExceptionFilters(
        q=(request.args.get("q") or "").strip()[:60] or None,
        carrier=(request.args.get("carrier") or "").strip()[:20] or None,
        min_days=min_days if min_days and 0 < min_days < 1000 else None)


@bp.get("/exceptions")
@permission_required("shipping.exceptions")
def exception_queue():
    """List the parcels in exception, the longest waiting first: search, carrier, days."""
    filters = exception_filters()
    page = paginate_rows(queries.exception_queue_query(filters),
                         count=queries.exception_count_query(filters),
                         per_page=current_app.config["ERP_PAGE_SIZE"])
    return render_template("shipping/tracking/exception_queue.html", page=page,
                           filters=filters, carriers=queries.carrier_options(),
                           now=datetime.now(UTC), days_since=queries.days_since)


@bp.get("/exceptions/export.xlsx")
@permission_required("shipping.exceptions")
def exception_export():
    """Download the exception queue (same search and filters) as an Excel workbook."""
    return exports.respond("tracking_exceptions", exception_filters())
