"""The Excel reports screen: a card per report with its period; running one starts a job."""

from __future__ import annotations

from datetime import timedelta

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from erp.core import jobs
from erp.core.permissions import permission_required
from erp.reports import registry
from erp.reports.views import bp


@bp.get("/excel")
@permission_required("reports.view")
def report_list():
    """Show every Excel report with a form for its period."""
    today = registry.today()
    return render_template("reports/reports.html", reports=registry.REPORTS.values(),
                           today=today, month_ago=today - timedelta(days=29))


@bp.post("/excel/<name>")
@permission_required("reports.view")
def run_report(name: str):
    """Start report ``name`` for the posted period as a background job; go to the job page."""
    if name not in registry.REPORTS:
        abort(404)
    try:
        report, start, end = registry.resolve(name, request.form.get("date_from"),
                                              request.form.get("date_to"))
    except registry.ReportError as err:
        flash(str(err), "error")
        return redirect(url_for(".report_list"))
    job = jobs.submit("report", user=current_user, name=report.name, date_from=start,
                      date_to=end)
    return redirect(url_for(".job_detail", job_id=job.id))
