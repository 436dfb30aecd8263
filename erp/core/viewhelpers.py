"""Small helpers every domain's views use: load-or-404, paging, downloads, form errors."""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from flask import abort, flash, request, send_file, url_for
from flask_sqlalchemy.pagination import SelectPagination

from erp.core.errors import DomainError
from erp.extensions import db

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def get_or_404(model, ident):
    """Return the row of ``model`` with primary key ``ident`` or abort with 404."""
    obj = db.session.get(model, ident)
    if obj is None:
        abort(404)
    return obj


def page_arg() -> int:
    """Return the ``page`` query argument as a positive int."""
    return max(1, request.args.get("page", 1, type=int) or 1)


#: stands for the id in the URL :func:`id_url` builds once (no row has an id this large)
_ID_MARK = 987654321987


def id_url(endpoint: str, arg: str, **values) -> Callable[[int], str]:
    """Return ``make(ident)``, which gives ``url_for(endpoint, **{arg: ident}, **values)``.

    For the links of a list's rows, to an ``<int:...>`` route: the URL is built once with a
    mark where the id goes, and each row's is the mark replaced by its id, written as the
    ``int`` converter writes it, so a page of rows costs one ``url_for``, not one per row.
    """
    mark = str(_ID_MARK)
    url = url_for(endpoint, **{arg: _ID_MARK}, **values)
    if url.count(mark) != 1:  # the mark is not the id alone: build each one
        return lambda ident: url_for(endpoint, **{arg: ident}, **values)
    head, _mark, tail = url.partition(mark)
    return lambda ident: f"{head}{int(ident)}{tail}"


class RowPagination(SelectPagination):
    """A page of a select of several columns: ``items`` are its rows.

    ``db.paginate`` returns ``scalars()``, i.e. only the first column of each row, which suits
    a select of one entity but not a list query joining columns from several tables.
    """

    def _query_items(self) -> list:
        stmt = self._query_args["select"].limit(self.per_page).offset(self._query_offset)
        return list(self._query_args["session"].execute(stmt).all())

    def _query_count(self) -> int:
        count = self._query_args.get("count_select")
        if count is None:
            return super()._query_count()
        return self._query_args["session"].execute(count).scalar() or 0


def paginate_rows(stmt, *, per_page: int, count=None) -> RowPagination:
    """Return the page of ``stmt``'s rows that the ``page`` query argument asks for.

    :param count: a select of the total (e.g. one without the joins that only add columns);
        by default the rows of ``stmt`` are counted.
    """
    return RowPagination(select=stmt, count_select=count, session=db.session(), page=page_arg(),
                         per_page=per_page, max_per_page=None, error_out=False)


def xlsx_response(data: bytes, name: str):
    """Send workbook bytes as a download named ``name-YYYYMMDD.xlsx``."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    return send_file(io.BytesIO(data), as_attachment=True, download_name=f"{name}-{stamp}.xlsx",
                     mimetype=XLSX_MIME)


def form_errors(form, err: DomainError) -> None:
    """Attach a service error to the form field it names, or flash it.

    An error carrying ``errors`` (a ``{field: message}`` mapping, e.g.
    :class:`~erp.core.errors.FieldErrors`) puts each message next to its own field; messages
    for fields the form lacks are flashed.
    """
    by_field = getattr(err, "errors", None)
    if not isinstance(by_field, Mapping):
        by_field = {err.field: str(err)} if err.field else {}
    if not by_field:
        flash(str(err), "error")
    for name, message in by_field.items():
        field = form._fields.get(name) if name else None
        if field is not None:
            field.errors = [*field.errors, message] if isinstance(field.errors, list) \
                else [message]
        else:
            flash(message, "error")


def pdf_response(data: bytes, name: str, *, inline: bool = True):
    """Send PDF bytes, shown in the browser by default."""
    return send_file(io.BytesIO(data), as_attachment=not inline, download_name=f"{name}.pdf",
                     mimetype="application/pdf")


def save_form(form, obj, *, create, update, saved, next_url: str, template: str,
              **context):
    """Run the create-or-edit cycle of a simple record form and return the response.

    On a valid POST, ``create(**values)`` (when ``obj`` is None; an ``active`` value is
    dropped, since a new record is active) or ``update(obj, **values)`` runs with the form's
    ``values()``; the result is committed, ``saved`` flashed and the user sent to ``next_url``.
    ``saved`` is a function of the saved object returning the message (``lambda obj: _("Brand
    %(code)s saved.", code=obj.code)``), or a text formatted with ``obj=``. A service refusal is
    rolled back and shown on the form.
    """
    from flask import redirect, render_template

    if form.validate_on_submit():
        values = form.values()
        try:
            if obj is None:
                values.pop("active", None)
                obj = create(**values)
            else:
                update(obj, **values)
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(saved(obj) if callable(saved) else saved.format(obj=obj), "success")
            return redirect(next_url)
    return render_template(template, form=form, **context)


def commit_or_refuse(action, next_url: str, *, refused="{err}"):
    """Run ``action()`` (one service call returning the success message) and redirect.

    The message is committed and flashed; a :class:`DomainError` is rolled back and flashed as
    ``refused``: a function of the error returning the message, or a text formatted with
    ``err=``. Compute ``next_url`` before calling: after a rollback the session's objects are
    expired.
    """
    from flask import redirect

    try:
        message = action()
    except DomainError as err:
        db.session.rollback()
        flash(refused(err) if callable(refused) else refused.format(err=err), "error")
    else:
        db.session.commit()
        if message:
            flash(message, "success")
    return redirect(next_url)
