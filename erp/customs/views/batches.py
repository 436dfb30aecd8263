"""A dispatch batch's 9610 export for the declarant (workbook and XML), and the ledger."""

from __future__ import annotations

import io

from flask import abort, send_file
from sqlalchemy import select

from erp.core.permissions import permission_required
from erp.core.viewhelpers import get_or_404, xlsx_response
from erp.customs.models import CustomsDeclaration
from erp.customs.views import bp
from erp.customs.workbook import batch_workbook as build_workbook
from erp.customs.xml import batch_zip
from erp.extensions import db
from erp.shipping.models import DispatchBatch


def _declared_batch(batch_id: int) -> DispatchBatch:
    batch = get_or_404(DispatchBatch, batch_id)
    if db.session.scalar(select(CustomsDeclaration.id)
                         .where(CustomsDeclaration.batch_id == batch.id).limit(1)) is None:
        abort(404)
    return batch


@bp.get("/batches/<int:batch_id>/export.xlsx")
@permission_required("customs.view")
def batch_workbook(batch_id: int):
    """Download the batch's 9610 export as an Excel workbook (one sheet per message)."""
    batch = _declared_batch(batch_id)
    return xlsx_response(build_workbook(batch), f"customs-9610-{batch.number}")


@bp.get("/batches/<int:batch_id>/messages.zip")
@permission_required("customs.view")
def batch_messages(batch_id: int):
    """Download the batch's CEB303/403/505/603 XML messages as a ZIP."""
    batch = _declared_batch(batch_id)
    return send_file(io.BytesIO(batch_zip(batch)), as_attachment=True,
                     download_name=f"customs-9610-{batch.number}.zip",
                     mimetype="application/zip")
