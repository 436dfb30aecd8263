"""The carriers' tracking files on the core import framework (the upload screen, xlsx or CSV).

One row per event: ``tracking_number``, ``occurred_at`` (ISO 8601, UTC when it has no offset,
or a date-time cell), ``status`` (in_transit, out_for_delivery, delivered, exception,
returning, returned), ``code`` (the carrier's event code), ``description``, ``location``. All
or nothing with a dry run; errors name the row, the column and the reason. The checked events go
through :func:`erp.shipping.services.tracking_events.ingest` (``source="import"``): events stored
already are skipped, tracking numbers erp does not know are counted and listed, not refused (a
carrier's file holds other shippers' parcels too).

The command line (``erp import tracking FILE``) takes a CSV file of any size through the bulk
path :func:`erp.shipping.services.tracking_events.import_csv` instead (streamed, same checks).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from erp.core import excel
from erp.core.i18n import _, _l, ngettext
from erp.shipping.carriers.base import TrackingEvent, TrackingStatus
from erp.shipping.services.tracking_events import ingest, parse_time


def _when(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=UTC)
    return parse_time(str(value))


def _code(value: str) -> str:
    if len(value) > 40:
        raise ValueError(_("is longer than 40 characters"))
    return value


TRACKING_SPEC = excel.Spec(
    name="tracking-events",
    title=_l("Tracking events"),
    columns=(
        excel.Column("tracking_number", _l("Tracking number"), required=True, width=20,
                     help=_l("The parcel's tracking number as the carrier prints it.")),
        excel.Column("occurred_at", _l("Occurred at"), type="auto", required=True, width=22,
                     validator=_when,
                     help=_l("When it happened, ISO 8601 (2026-12-01T14:30:00Z); a time "
                             "without an offset is UTC.")),
        excel.Column("status", _l("Status"), required=True, width=16,
                     choices=tuple(s.value for s in TrackingStatus),
                     help=_l("in_transit, out_for_delivery, delivered, exception, returning "
                             "or returned.")),
        excel.Column("code", _l("Event code"), required=True, width=12, validator=_code,
                     help=_l("The carrier's own event code.")),
        excel.Column("description", _l("Description"), width=30,
                     help=_l("The carrier's description of the event.")),
        excel.Column("location", _l("Location"), width=18,
                     help=_l("Where it happened.")),
    ),
)


def import_tracking(data: bytes, *, filename: str = "tracking.csv", dry_run: bool, actor,
                    savepoint: bool = True) -> excel.ImportResult:
    """Check a tracking file and, unless ``dry_run``, ingest its events; never commits."""
    from erp.extensions import db

    def apply(rows: list[dict[str, Any]]) -> dict[str, Any]:
        summary = ingest((TrackingEvent(str(row["tracking_number"]).strip(), row["occurred_at"],
                                        TrackingStatus(row["status"]), row["code"],
                                        row.get("description") or "",
                                        row.get("location") or None) for row in rows),
                         source="import", actor=actor)
        messages = [ngettext("%(num)d parcel changed tracking status.",
                             "%(num)d parcels changed tracking status.",
                             summary.parcels_changed)]
        if summary.unknown:
            messages.append(ngettext(
                "%(num)d event names a tracking number of no dispatched parcel: %(numbers)s.",
                "%(num)d events name tracking numbers of no dispatched parcel: %(numbers)s.",
                summary.unknown, numbers=", ".join(summary.unknown_numbers[:20])))
        return {"created": summary.stored, "updated": 0,
                "skipped": summary.duplicates + summary.unknown, "messages": messages}

    return excel.run_import(data, TRACKING_SPEC, filename=filename, dry_run=dry_run,
                            apply=apply,
                            transaction=db.session.begin_nested if savepoint else None)
