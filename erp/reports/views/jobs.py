"""Background job screens: a job's page, its JSON status, the download, the user's jobs.

The job page shows a progress bar that ``static/js/jobs.js`` updates by polling the JSON status
every second, then the download link or the error.

A job is visible to its owner and to admins; anyone else gets 404 (not 403), so job ids do not
leak. Jobs are started by report pages (``erp.core.jobs.submit``), which need ``reports.view``.
"""

from __future__ import annotations

from flask import abort, current_app, jsonify, render_template, send_file, url_for
from flask_login import current_user

from erp.core import jobs
from erp.core.models import BackgroundJob, JobState
from erp.core.permissions import permission_required
from erp.core.viewhelpers import page_arg
from erp.extensions import db
from erp.reports.views import bp

STATE_LABELS = {JobState.queued: "Queued", JobState.running: "Running",
                JobState.finished: "Finished", JobState.failed: "Failed"}
STATE_COLOURS = {JobState.queued: "grey", JobState.running: "blue",
                 JobState.finished: "green", JobState.failed: "red"}
#: what a kind is called on the pages (others show the kind itself)
KIND_LABELS: dict[str, str] = {"report": "Excel report"}


def _job_or_404(job_id: str) -> BackgroundJob:
    job = jobs.get(job_id, current_user)
    if job is None:
        abort(404)
    return job


def job_status(job: BackgroundJob) -> dict:
    """Return what the job page shows of ``job`` (also its JSON endpoint's body)."""
    state = JobState(job.state)
    has_file = state == JobState.finished and jobs.result_file(job) is not None
    return {
        "id": job.id,
        "state": state.value,
        "state_label": STATE_LABELS[state],
        "progress": 100 if state == JobState.finished else int(job.progress or 0),
        "message": job.message or "",
        "error": job.error if state == JobState.failed else None,
        "done": state in (JobState.finished, JobState.failed),
        "download_url": url_for(".job_download", job_id=job.id) if has_file else None,
        "result_name": job.result_name if has_file else None,
        "expired": state == JobState.finished and bool(job.result_name) and not has_file,
        # as the page shows them (its ``dt`` filter), so polling fills in the times too
        "started_at": current_app.jinja_env.filters["dt"](job.started_at),
        "finished_at": current_app.jinja_env.filters["dt"](job.finished_at),
    }


@bp.app_template_global("job_kind_label")
def job_kind_label(kind: str) -> str:
    """Return the human name of a job kind."""
    return KIND_LABELS.get(kind, kind.replace("_", " ").capitalize())


@bp.get("/jobs")
@permission_required("reports.view")
def job_list():
    """List the user's background jobs, newest first."""
    page = db.paginate(jobs.user_jobs_query(current_user), page=page_arg(),
                       per_page=current_app.config["ERP_PAGE_SIZE"], error_out=False)
    report_list_url = (url_for(".report_list") if "reports.report_list" in
                       current_app.view_functions else None)
    return render_template("reports/jobs/list.html", page=page, labels=STATE_LABELS,
                           colours=STATE_COLOURS, states=JobState,
                           report_list_url=report_list_url)


@bp.get("/jobs/<job_id>")
@permission_required("reports.view")
def job_detail(job_id: str):
    """A job's page: its progress bar (polled), then the download link or the error."""
    job = _job_or_404(job_id)
    return render_template("reports/jobs/detail.html", job=job, status=job_status(job),
                           params=jobs.load_params(job.params), colours=STATE_COLOURS)


@bp.get("/jobs/<job_id>.json")
@permission_required("reports.view")
def job_status_json(job_id: str):
    """The job's state and progress as JSON (the job page polls it every second)."""
    response = jsonify(job_status(_job_or_404(job_id)))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/jobs/<job_id>/download")
@permission_required("reports.view")
def job_download(job_id: str):
    """Download a finished job's file, with its name and type."""
    job = _job_or_404(job_id)
    path = jobs.result_file(job)
    if path is None:
        abort(404)
    return send_file(path, as_attachment=True, download_name=job.result_name,
                     mimetype=job.result_mime or "application/octet-stream", max_age=0)
