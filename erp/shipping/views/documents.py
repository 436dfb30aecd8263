"""Shipping screens: PDF downloads of labels, customs papers and packing slips.

Per parcel, and in one PDF for a whole pick wave or dispatch batch. A parcel without a tracking
number cannot print a label: the documents raise a ShippingError, shown as a 409 page.
"""

from __future__ import annotations

from erp.core.i18n import _
from erp.core.permissions import permission_required
from erp.core.viewhelpers import get_or_404, pdf_response
from erp.shipping.documents.customs import cn23_pdf, commercial_invoice_pdf, customs_pdf
from erp.shipping.documents.labels import batch_parcels, label_pdf, load_parcels, wave_parcels
from erp.shipping.documents.slips import packing_slip_pdf
from erp.shipping.errors import ShippingError
from erp.shipping.models import DispatchBatch, Parcel, PickWave
from erp.shipping.views import bp


def _parcel(parcel_id: int) -> Parcel:
    get_or_404(Parcel, parcel_id)
    return load_parcels([parcel_id])[0]


@bp.get("/parcels/<int:parcel_id>/label.pdf")
@permission_required("shipping.view")
def parcel_label_pdf(parcel_id: int):
    """Print a parcel's 100 x 150 mm label (with its CN22 when it has one)."""
    parcel = _parcel(parcel_id)
    return pdf_response(label_pdf([parcel]), f"label-{parcel.tracking_number or parcel.number}")


@bp.get("/parcels/<int:parcel_id>/cn23.pdf")
@permission_required("shipping.view")
def parcel_cn23_pdf(parcel_id: int):
    """Print a parcel's CN23 customs declaration (A4)."""
    parcel = _parcel(parcel_id)
    return pdf_response(cn23_pdf([parcel]), f"cn23-{parcel.number}")


@bp.get("/parcels/<int:parcel_id>/invoice.pdf")
@permission_required("shipping.view")
def parcel_invoice_pdf(parcel_id: int):
    """Print a parcel's commercial invoice (A4)."""
    parcel = _parcel(parcel_id)
    return pdf_response(commercial_invoice_pdf([parcel]), f"invoice-{parcel.number}")


@bp.get("/parcels/<int:parcel_id>/packing-slip.pdf", endpoint="packing_slip_pdf")
@permission_required("shipping.view")
def packing_slip_pdf_view(parcel_id: int):
    """Print a parcel's packing slip (A4, no prices)."""
    parcel = _parcel(parcel_id)
    return pdf_response(packing_slip_pdf([parcel]), f"packing-slip-{parcel.number}")


@bp.get("/waves/<int:wave_id>/labels.pdf")
@permission_required("shipping.view")
def wave_labels_pdf(wave_id: int):
    """Print the labels of a wave's labelled parcels in one PDF (by tote slot)."""
    wave = get_or_404(PickWave, wave_id)
    parcels = wave_parcels(wave.id)
    if not parcels:
        raise ShippingError(_("Wave %(wave)s has no labelled parcels yet: pack and label its "
                              "orders first.", wave=wave.number))
    return pdf_response(label_pdf(parcels), f"labels-{wave.number}")


def _batch_pdf(batch_id: int, draw, name: str):
    """Return ``draw(parcels)`` of a dispatch batch's parcels as ``name-<batch number>.pdf``."""
    batch = get_or_404(DispatchBatch, batch_id)
    parcels = batch_parcels(batch.id)
    if not parcels:
        raise ShippingError(_("Dispatch batch %(batch)s has no parcels yet: scan parcels into "
                              "it first.", batch=batch.number))
    return pdf_response(draw(parcels), f"{name}-{batch.number}")


@bp.get("/batches/<int:batch_id>/labels.pdf")
@permission_required("shipping.view")
def batch_labels_pdf(batch_id: int):
    """Print the labels of a dispatch batch's parcels in one PDF."""
    return _batch_pdf(batch_id, label_pdf, "labels")


@bp.get("/batches/<int:batch_id>/customs.pdf")
@permission_required("shipping.view")
def batch_customs_pdf(batch_id: int):
    """Print the CN23s and commercial invoices of a dispatch batch's parcels in one PDF."""
    return _batch_pdf(batch_id, customs_pdf, "customs")
