"""List exports by name: small ones download at once, large ones run as a background job.

A list page's export link calls :func:`respond` with the list's filters. An export of at most
``export_job_rows`` rows (a setting, 10,000 by default) is written in the request and downloaded
at once, as it always was. A larger one starts a background job of kind ``"export"``
(:mod:`erp.core.jobs`) and the browser goes to the job's page, which shows the rows written so
far and then offers the file. Both ways run the same builder, so the two files are the same.

A domain registers each of its list exports once, at import::

    exports.register(exports.ListExport(
        "orders", _l("Orders"), "orders.view", OrderFilters,
        count=lambda f: db.session.scalar(order_count_query(f)),
        build=lambda f, *, user, progress: export_orders(f, progress=progress),
        filename="orders"))

The job rebuilds the filters from its parameters (the filters are a dataclass of plain values),
checks the user may still read the list, runs in the user's language (the job framework's
``force_locale``), and writes through the shared Excel writer (formula neutralising included).
Only the person who started it (and admins) can open the job's page or download its file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from flask import redirect, url_for
from flask_login import current_user

from erp.core import jobs
from erp.core.i18n import _, _l, format_number, ngettext
from erp.core.models import User
from erp.core.permissions import has_permission
from erp.core.settings import SettingDef, _positive_int, declare
from erp.core.settings import get as setting
from erp.extensions import db

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: rows written between two progress reports of an export job
PROGRESS_EVERY = 2_000
#: the setting: exports of more rows than this run as a background job
JOB_ROWS_SETTING = "export_job_rows"

declare(SettingDef(
    JOB_ROWS_SETTING, _l("Background export above (rows)"), _positive_int, 10_000,
    _l("A list export (orders, parcels, stock) of more rows than this is prepared in the "
       "background: its page shows the progress and then offers the file. Smaller exports "
       "download at once.")))

T = TypeVar("T")


@dataclass(frozen=True)
class ListExport:
    """One list's Excel export.

    :param name: the registry key, stored in the job's parameters (``"orders"``).
    :param title: what the job page calls it (a lazy string: "Orders").
    :param permission: what the user must still hold when the job runs.
    :param filters: the dataclass of the list's filters (rebuilt from the job's parameters).
    :param count: ``count(filters) -> int``: how many rows the export will have.
    :param build: ``build(filters, *, user, progress) -> bytes``: the workbook;
        ``progress(rows written)`` is ``None`` in a request.
    :param filename: the download's name before its time stamp (``orders-20261207-0930.xlsx``).
    """

    name: str
    title: Any
    permission: str
    filters: type
    count: Callable[[Any], int]
    build: Callable[..., bytes]
    filename: str


#: name -> the list export (:func:`register`)
EXPORTS: dict[str, ListExport] = {}


def register(export: ListExport) -> ListExport:
    """Register a list export under its name; return it."""
    EXPORTS[export.name] = export
    return export


def counted(rows: Iterable[T], progress: Callable[[int], None] | None,
            every: int | None = None) -> Iterator[T]:
    """Yield ``rows``, calling ``progress(rows so far)`` every ``every`` rows (if given).

    ``every`` defaults to :data:`PROGRESS_EVERY`.
    """
    if progress is None:
        yield from rows
        return
    every = every or PROGRESS_EVERY
    done = 0
    for row in rows:
        yield row
        done += 1
        if done % every == 0:
            progress(done)


def filename(export: ListExport) -> str:
    """Return the download name of ``export`` made now: ``orders-20261207-0930.xlsx``."""
    return f"{export.filename}-{datetime.now(UTC).strftime('%Y%m%d-%H%M')}.xlsx"


def job_threshold() -> int:
    """Return the number of rows above which an export runs as a background job."""
    return setting(JOB_ROWS_SETTING)


def respond(name: str, filters):
    """Answer a list's export link: the file at once, or a job and its page when it is large.

    :raises KeyError: for an export nobody registered.
    """
    from erp.core.viewhelpers import xlsx_response

    export = EXPORTS[name]
    total = export.count(filters)
    if total <= job_threshold():
        return xlsx_response(export.build(filters, user=current_user, progress=None),
                             export.filename)
    db.session.rollback()  # end the reads: the job's row is written in a transaction of its own
    job = jobs.submit("export", user=current_user, name=name,
                      filters=dataclasses.asdict(filters), total=total)
    return redirect(url_for("reports.job_detail", job_id=job.id))


def _title(params: dict) -> str:
    export = EXPORTS.get(params.get("name") or "")
    if export is None:
        return _("Excel export")
    return _("Export of %(list)s", list=str(export.title).lower())


def _details(params: dict) -> list[tuple[Any, Any]]:
    rows: list[tuple[Any, Any]] = []
    export = EXPORTS.get(params.get("name") or "")
    if export is not None:
        rows.append((_("List"), export.title))
    if params.get("total") is not None:
        rows.append((_("Rows"), format_number(params["total"])))
    return rows


@jobs.register("export", page=jobs.KindPage(label=_l("Excel export"), title=_title,
                                            details=_details))
def run_export_job(job: jobs.JobContext, *, name: str, filters: dict,
                   total: int | None = None) -> jobs.JobResult:
    """Write a registered list export as a background job (kind ``"export"``)."""
    export = EXPORTS.get(name)
    if export is None:
        raise jobs.JobError(_("There is no export called %(name)s.", name=name))
    user = db.session.get(User, job.user_id) if job.user_id else None
    if user is None or not user.active or not has_permission(user, export.permission):
        raise jobs.JobError(_("You may no longer read this list, so it was not exported."))
    chosen = export.filters(**filters)
    total = export.count(chosen)  # as the list is now
    job.progress(0, ngettext("Writing %(count)s row…", "Writing %(count)s rows…", total,
                             count=format_number(total)))

    def progress(done: int) -> None:
        job.progress(min(99, done * 100 // max(total, 1)),
                     ngettext("%(done)s of %(count)s row written",
                              "%(done)s of %(count)s rows written", total, done=format_number(done),
                              count=format_number(total)))

    data = export.build(chosen, user=user, progress=progress)
    return jobs.JobResult(data, filename(export), XLSX_MIME)
