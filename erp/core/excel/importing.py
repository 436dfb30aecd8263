"""Running an import: read, validate every row, then dry run or apply it all or nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from erp.core.excel import guards
from erp.core.excel.columns import CellError, ImportResult, ParseResult, Spec
from erp.core.excel.reading import read_workbook
from erp.core.excel.values import _show
from erp.core.i18n import _, ngettext


def find_duplicates(rows: Iterable[Mapping[str, Any]], spec: Spec) -> list[CellError]:
    """Return an error for every row repeating a value of a ``unique`` column within the file.

    Text is compared case-insensitively and ignoring surrounding spaces; empty values never
    count as duplicates.
    """
    errors = []
    unique_columns = [column for column in spec.columns if column.unique]
    for column in unique_columns:
        first_row: dict[Any, int] = {}
        for row in rows:
            value = row.get(column.key)
            if value is None:
                continue
            marker = value.strip().casefold() if isinstance(value, str) else value
            if marker in first_row:
                errors.append(CellError(row["_row"], column.header, _(
                    "%(value)s is also in row %(row)s", value=_show(value),
                    row=first_row[marker])))
            else:
                first_row[marker] = row["_row"]
    return errors


def run_import(
    data: bytes,
    spec: Spec,
    *,
    filename: str = "upload.xlsx",
    apply: Callable[[list[dict[str, Any]]], Mapping[str, Any] | Any],
    dry_run: bool,
    on_read: Callable[[ParseResult], None] | None = None,
    validate_row: Callable[[dict[str, Any]], list[CellError] | None] | None = None,
    validate_rows: Callable[[list[dict[str, Any]]], list[CellError] | None] | None = None,
    transaction: Callable[[], AbstractContextManager[Any]] | None = None,
    error_types: tuple[type[Exception], ...] = (ValueError,),
    max_bytes: int = guards.MAX_UPLOAD_BYTES,
    max_uncompressed_bytes: int = guards.MAX_UNCOMPRESSED_BYTES,
) -> ImportResult:
    """Check an uploaded file completely, then (unless a dry run) apply it all or nothing.

    1. :func:`read_workbook` (a file refused by :func:`check_upload`, e.g. over ``max_bytes``,
    is one file-level error, so ``apply`` is never called), then ``on_read(parsed)`` once (e.g.
    to note which columns the file has, ``parsed.present``); 2. ``validate_row(row)`` for every
    valid row (the domain's lookups and duplicate checks; it may store what it looked up in the
    row for ``apply``), then ``validate_rows(rows)`` once with them all (checks that need
    every row, e.g. an order's weight over its line rows), plus :func:`find_duplicates`; 3.
    with any error, or on a dry run, return without calling ``apply``; 4. otherwise call
    ``apply(rows)`` inside ``transaction()`` (e.g. a savepoint), so a failure leaves the
    database as it was.

    ``apply`` returns ``{"created": n, "updated": n, "skipped": n, "messages": [...]}`` (or an
    object with those attributes). An exception raised by a callback that has a ``row``
    attribute (see :class:`RowError`), or is one of ``error_types``, becomes an error in the
    result after the transaction has seen it; anything else propagates.
    """
    parsed = read_workbook(data, spec, filename=filename, max_bytes=max_bytes,
                           max_uncompressed_bytes=max_uncompressed_bytes)
    if on_read is not None:
        on_read(parsed)
    result = ImportResult(dry_run=dry_run, errors=list(parsed.errors),
                          row_count=len(parsed.rows))
    if validate_row is not None:
        for row in parsed.rows:
            try:
                row_errors = validate_row(row)
            except Exception as exc:  # user errors are kept, others re-raised
                row_errors = [_error_from_exception(exc, error_types, default_row=row["_row"])]
            result.errors.extend(row_errors or ())
    if validate_rows is not None:
        try:
            result.errors.extend(validate_rows(parsed.rows) or ())
        except Exception as exc:  # user errors are kept, others re-raised
            result.errors.append(_error_from_exception(exc, error_types, default_row=0))
    result.errors.extend(find_duplicates(parsed.rows, spec))
    result.errors.sort(key=lambda error: error.row)
    if result.errors:
        return result
    if dry_run:
        result.messages.append(ngettext("%(num)d row checked, no errors found.",
                                        "%(num)d rows checked, no errors found.",
                                        len(parsed.rows)))
        return result

    try:
        with transaction() if transaction is not None else nullcontext():
            outcome = apply(parsed.rows)
    except Exception as exc:  # user errors are kept, others re-raised
        result.errors.append(_error_from_exception(exc, error_types, default_row=0))
        return result
    _take_counts(result, outcome)
    return result


def _error_from_exception(exc: Exception, error_types: tuple[type[Exception], ...], *,
                          default_row: int) -> CellError:
    """Turn a user error raised by a callback into a CellError; re-raise anything else."""
    if not hasattr(exc, "row") and not isinstance(exc, error_types):
        raise exc
    row = getattr(exc, "row", None)
    column = getattr(exc, "column", "") or ""
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return CellError(row if isinstance(row, int) else default_row, str(column), str(message))


def _take_counts(result: ImportResult, outcome: Any) -> None:
    if outcome is None:
        return
    get = outcome.get if isinstance(outcome, Mapping) else (
        lambda name, default: getattr(outcome, name, default))
    result.created = int(get("created", 0) or 0)
    result.updated = int(get("updated", 0) or 0)
    result.skipped = int(get("skipped", 0) or 0)
    result.messages.extend(get("messages", None) or ())
