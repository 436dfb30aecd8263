"""The Excel upload screens every import shares: upload, dry run, result page, error report.

A domain declares an :class:`Importer` (its :class:`~erp.core.excel.Spec`, the function that
runs the import, labels and endpoints) and registers its three views (upload, template, error
report) under one permission with :func:`add_import_routes`::

    importing.add_import_routes(bp, BRAND_IMPORT, rule="/import", permission="brands.edit",
                                view_name="import_brands", doc="brands workbook")

The upload page (``core/import.html``) offers "Check only" (a dry run: nothing is written) and
"Import" (all or nothing). When the file has errors the page lists them by row and column and
links to an error report: the uploaded sheet with the bad cells in red. The upload is kept for
that download in the instance folder for :data:`REPORT_TTL`, readable only by its uploader.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired

from erp.core import excel
from erp.core.i18n import _, _l
from erp.core.permissions import permission_required
from erp.core.viewhelpers import xlsx_response
from erp.extensions import db

#: how long an upload is kept for its error report, in seconds
REPORT_TTL = 3600
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{20,64}$")


class ImportForm(FlaskForm):
    """The upload of one spreadsheet; the pressed button says dry run or import."""

    file = FileField(_l("Spreadsheet (.xlsx or .csv)"),
                     validators=[FileRequired(_l("Choose a file to import."))])


@dataclass(frozen=True)
class Importer:
    """What one import screen needs to know about its domain.

    :param name: a short slug (``"brands"``), used in download names and to keep reports apart.
    :param title: the page title, e.g. ``_l("Import brands")`` (a lazy string).
    :param spec: the sheet's columns (the template and the error report use them too).
    :param run: ``run(data, *, filename, dry_run, actor) -> ImportResult``; it calls
        :func:`erp.core.excel.run_import` and never commits.
    :param template_endpoint: the view calling :func:`template_download` (``"blueprint.view"``).
    :param report_endpoint: the view calling :func:`error_report_download` (takes ``token``).
    :param back_endpoint: the list to return to after a successful import.
    :param intro: one or two sentences shown above the upload form (a lazy string).
    """

    name: str
    title: Any
    spec: excel.Spec
    run: Callable[..., excel.ImportResult]
    template_endpoint: str
    report_endpoint: str
    back_endpoint: str
    intro: Any = ""


def import_view(importer: Importer):
    """Show the upload form (GET), or check or import the uploaded file (POST).

    An import without errors is committed and the user is sent back to the list; a dry run,
    or a file with errors, shows the result page with every error and nothing written.
    """
    form = ImportForm()
    if request.method == "GET":
        return render_template("core/import.html", importer=importer, form=form)
    if not form.validate_on_submit():
        return render_template("core/import.html", importer=importer, form=form), 422
    upload = form.file.data
    filename = os.path.basename(upload.filename or "upload.xlsx")
    data = upload.read()
    dry_run = request.form.get("action") != "import"
    result = importer.run(data, filename=filename, dry_run=dry_run, actor=current_user)
    if result.ok and not dry_run:
        db.session.commit()
        flash(_("%(title)s: %(summary)s", title=importer.title, summary=summary(result)),
              "success")
        return redirect(url_for(importer.back_endpoint))
    db.session.rollback()  # a dry run or a refused file leaves the database as it was
    token = _keep_upload(importer, data, filename, result.errors) if result.errors else None
    return render_template("core/import.html", importer=importer, form=ImportForm(formdata=None),
                           result=result, filename=filename, report_token=token,
                           shown_errors=result.errors[:500])


def summary(result: excel.ImportResult) -> str:
    """Return the counts of an import as a sentence: "3 created, 2 updated, 1 unchanged."."""
    parts = [_("%(num)s created", num=result.created), _("%(num)s updated", num=result.updated)]
    if result.skipped:
        parts.append(_("%(num)s unchanged", num=result.skipped))
    return _("%(counts)s.", counts=", ".join(parts))


def template_download(importer: Importer):
    """Send the empty workbook to fill in, with its Help sheet."""
    return xlsx_response(excel.template_workbook(importer.spec), f"{importer.name}-template")


def error_report_download(importer: Importer, token: str):
    """Send the uploaded sheet with its bad cells marked; 404 once expired or for another user."""
    kept = _load_upload(importer, token)
    if kept is None:
        abort(404)
    data, meta = kept
    errors = [excel.CellError(row, column, message) for row, column, message in meta["errors"]]
    report = excel.error_report_workbook(data, importer.spec, errors, filename=meta["filename"])
    return xlsx_response(report, f"{importer.name}-errors")


def add_import_routes(bp: Blueprint, importer: Importer, *, rule: str, permission: str,
                      view_name: str, doc: str) -> None:
    """Register the three views of ``importer`` on ``bp``, each under ``permission``.

    - ``view_name`` at ``rule`` (GET, POST): the upload page (:func:`import_view`);
    - ``importer.template_endpoint`` at ``rule + "/template.xlsx"``: :func:`template_download`;
    - ``importer.report_endpoint`` at ``rule + "/errors/<token>.xlsx"``:
      :func:`error_report_download`.

    :param doc: what is uploaded, e.g. ``"brands workbook"``; it makes the views' docstrings.
    """
    template_name = _own_endpoint(bp, importer.template_endpoint)
    report_name = _own_endpoint(bp, importer.report_endpoint)

    def upload():
        return import_view(importer)

    def template():
        return template_download(importer)

    def report(token: str):
        return error_report_download(importer, token)

    views = (
        (rule, view_name, upload, ["GET", "POST"],
         f"Upload a {doc}: check it (dry run) or import it, all or nothing."),
        (f"{rule}/template.xlsx", template_name, template, ["GET"],
         f"Download the empty {doc} to fill in."),
        (f"{rule}/errors/<token>.xlsx", report_name, report, ["GET"],
         f"Download the last {doc} upload with its bad cells marked."),
    )
    for url_rule, endpoint, view, methods, docstring in views:
        view.__name__ = view.__qualname__ = endpoint
        view.__doc__ = docstring
        bp.add_url_rule(url_rule, endpoint, permission_required(permission)(view),
                        methods=methods)


def _own_endpoint(bp: Blueprint, endpoint: str) -> str:
    """Return the view name of ``endpoint`` (``"brands.x"`` -> ``"x"``), which must be on ``bp``."""
    prefix, _, name = endpoint.rpartition(".")
    if prefix != bp.name:
        raise ValueError(f"Endpoint {endpoint!r} is not on blueprint {bp.name!r}")
    return name


# --------------------------------------------------------------------------- kept uploads


def _folder() -> str:
    path = os.path.join(current_app.instance_path, "import-reports")
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def _purge_expired(folder: str) -> None:
    limit = time.time() - REPORT_TTL
    for name in os.listdir(folder):
        path = os.path.join(folder, name)
        try:
            if os.path.getmtime(path) < limit:
                os.remove(path)
        except OSError:
            pass  # another worker removed it first


def _keep_upload(importer: Importer, data: bytes, filename: str,
                 errors: list[excel.CellError]) -> str:
    """Store an upload and its errors for the error report; return the token naming them."""
    folder = _folder()
    _purge_expired(folder)
    token = secrets.token_urlsafe(24)
    meta = {"user_id": current_user.id, "importer": importer.name, "filename": filename,
            "errors": [[e.row, e.column, e.message] for e in errors]}
    with open(os.path.join(folder, f"{token}.upload"), "wb") as fh:
        fh.write(data)
    with open(os.path.join(folder, f"{token}.json"), "w", encoding="utf-8") as fh:
        json.dump(meta, fh, ensure_ascii=False)
    return token


def _load_upload(importer: Importer, token: str) -> tuple[bytes, dict] | None:
    if not _TOKEN_RE.match(token or ""):
        return None
    folder = _folder()
    meta_path = os.path.join(folder, f"{token}.json")
    try:
        if os.path.getmtime(meta_path) < time.time() - REPORT_TTL:
            return None
        with open(meta_path, encoding="utf-8") as fh:
            meta = json.load(fh)
        with open(os.path.join(folder, f"{token}.upload"), "rb") as fh:
            data = fh.read()
    except (OSError, ValueError):
        return None
    if meta.get("user_id") != current_user.id or meta.get("importer") != importer.name:
        return None
    return data, meta
