"""Exports of everything held about one e-mail: JSON and Excel, and their audit."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

import xlsxwriter
from sqlalchemy import select

from erp.core import audit
from erp.core.audit import jsonable
from erp.core.excel import neutralise
from erp.core.i18n import force_locale
from erp.core.models import AuditEvent, User
from erp.extensions import db
from erp.privacy.services.subject import (
    EXTRA_FIELDS,
    FIELDS,
    KINDS,
    DataSubject,
    HeldRecords,
    count_records,
    load_subject,
    normalise_email,
    subject_hash,
)


def _record(kind: str, obj: Any, **extra: Any) -> dict[str, Any]:
    columns = FIELDS[kind][:len(FIELDS[kind]) - len(EXTRA_FIELDS.get(kind, ()))]
    out = {key: jsonable(getattr(obj, key)) for key in columns}
    out.update({key: jsonable(value) for key, value in extra.items()})
    return out


def _records(subject: HeldRecords) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
    for order in subject.orders:
        out["orders"].append(_record("orders", order))
        out["order_lines"] += [_record("order_lines", line, order_number=order.number,
                                       sku_code=line.sku.code) for line in order.lines]
    for parcel in subject.parcels:
        out["parcels"].append(_record("parcels", parcel, order_number=parcel.order.number))
        out["parcel_lines"] += [_record("parcel_lines", line, parcel_number=parcel.number,
                                        sku_code=line.sku.code) for line in parcel.lines]
    for case in subject.cases:
        out["cases"].append(_record("cases", case, order_number=case.order.number))
        out["case_lines"] += [_record("case_lines", line) for line in case.lines]
        out["case_notes"] += [_record("case_notes", note) for note in case.notes]
        out["case_attachments"] += [_record("case_attachments", a) for a in case.attachments]
        out["return_items"] += [_record("return_items", item) for item in case.items]
        out["refunds"] += [_record("refunds", refund, case_number=case.number)
                           for refund in case.refunds]
    actor_ids = {e.actor_id for e in subject.events if e.actor_id}
    users = dict(db.session.execute(select(User.id, User.username).where(
        User.id.in_(actor_ids))).all()) if actor_ids else {}
    out["audit_events"] = [_record("audit_events", event, actor=users.get(event.actor_id))
                           for event in subject.events]
    return out


def export_subject(email: str) -> dict[str, Any]:
    """Return every record held about ``email``, per kind, as JSON-serialisable dicts.

    ``{"email", "generated_at", "counts": {kind: n}, "fields": {kind: [names]},
    "records": {kind: [{field: value}]}}``; Decimals are strings, datetimes ISO 8601.

    :raises ValidationError: if ``email`` is empty or not an e-mail address.
    """
    email = normalise_email(email)
    subject = load_subject(email)
    return {"email": email, "generated_at": datetime.now(UTC).isoformat(),
            "counts": count_records(subject), "fields": {k: list(v) for k, v in FIELDS.items()},
            "records": _records(subject)}


def export_subject_json(email: str) -> bytes:
    """Return :func:`export_subject` as indented UTF-8 JSON."""
    return json.dumps(export_subject(email), indent=2, ensure_ascii=False).encode("utf-8")


def _cell(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return value


def export_subject_xlsx(email: str) -> bytes:
    """Return every record held about ``email`` as .xlsx: a summary sheet, one sheet per kind.

    Every text cell is written as text and neutralised (:func:`erp.core.excel.neutralise`), so
    a name such as ``=HYPERLINK(...)`` never runs as a formula. The workbook is for the
    consumer who asked for their data: it stays in English, whoever on the staff makes it.

    :raises ValidationError: if ``email`` is empty or not an e-mail address.
    """
    with force_locale("en"):
        kinds = {kind: str(title) for kind, title in KINDS.items()}
    data = export_subject(email)
    output = io.BytesIO()
    book = xlsxwriter.Workbook(output, {"strings_to_formulas": False, "strings_to_urls": False,
                                        "strings_to_numbers": False})
    header = book.add_format({"bold": True, "bottom": 1, "bg_color": "#EEEEEE"})
    summary = book.add_worksheet("Summary")
    summary.set_column(0, 0, 26)
    summary.set_column(1, 1, 50)
    rows = [("E-mail", data["email"]), ("Generated (UTC)", data["generated_at"])]
    rows += [(kinds[kind], n) for kind, n in data["counts"].items()]
    summary.write_string(0, 0, "Item", header)
    summary.write_string(0, 1, "Value", header)
    for i, (name, value) in enumerate(rows, start=1):
        summary.write_string(i, 0, name)
        _write(summary, i, 1, value)
    for kind, title in kinds.items():
        sheet = book.add_worksheet(title)
        names = data["fields"][kind]
        for col, name in enumerate(names):
            sheet.set_column(col, col, max(12, min(len(name) + 2, 40)))
            sheet.write_string(0, col, name, header)
        for i, record in enumerate(data["records"][kind], start=1):
            for col, name in enumerate(names):
                _write(sheet, i, col, _cell(record.get(name)))
        sheet.freeze_panes(1, 0)
        sheet.autofilter(0, 0, len(data["records"][kind]), len(names) - 1)
    book.close()
    return output.getvalue()


def _write(sheet: Any, row: int, col: int, value: Any) -> None:
    """Write one value: text only ever through ``write_string``, neutralised."""
    if value is None:
        return
    if isinstance(value, bool):
        sheet.write_boolean(row, col, value)
    elif isinstance(value, int) and abs(value) < 10**15:
        sheet.write_number(row, col, value)
    else:
        sheet.write_string(row, col, neutralise(str(value))[:32_767])


def log_export(email: str, *, actor: User | None, fmt: str,
               counts: dict[str, int] | None = None) -> AuditEvent:
    """Audit that the personal data of ``email`` was exported (under its hash, not the e-mail).

    :param counts: the export's counts per kind, when the caller has them (else looked up).
    :raises ValidationError: if ``email`` is empty or not an e-mail address.
    """
    email = normalise_email(email)
    if counts is None:
        counts = count_records(load_subject(email))
    digest = subject_hash(email)
    return audit.record(DataSubject(digest), "privacy.exported", actor=actor,
                        changes={"subject_hash": digest, "format": fmt, "counts": counts})
