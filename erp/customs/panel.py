"""The 9610 section of a dispatch batch's page (registered in ``batch_hooks.batch_panels``).

An open batch with 9610 parcels lists what the export still lacks (the close will be refused
until it is complete); a closed batch shows its declarations and the download links.
"""

from __future__ import annotations

from flask import render_template
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import func, select

from erp.core.permissions import has_permission
from erp.customs.collect import collect, nine_six_ten_parcel_ids
from erp.customs.models import CustomsDeclaration, CustomsDeclarationLine
from erp.extensions import db
from erp.shipping import batch_hooks
from erp.shipping.models import BatchState, Parcel

MAX_SHOWN = 50


def batch_panel(batch) -> Markup | None:
    """Return the batch page's 9610 section, or None for a batch without 9610 parcels."""
    if batch.state == BatchState.open:
        parcel_ids = list(db.session.scalars(select(Parcel.id).where(Parcel.batch_id == batch.id)))
        if not nine_six_ten_parcel_ids(parcel_ids):
            return None
        problems = collect(batch, parcel_ids).problems
        return Markup(render_template("customs/batch_panel.html", batch=batch, open=True,
                                      problems=problems[:MAX_SHOWN], count=len(problems)))
    declarations, lines = db.session.execute(
        select(func.count(func.distinct(CustomsDeclaration.id)),
               func.count(CustomsDeclarationLine.id))
        .select_from(CustomsDeclaration)
        .outerjoin(CustomsDeclarationLine,
                   CustomsDeclarationLine.declaration_id == CustomsDeclaration.id)
        .where(CustomsDeclaration.batch_id == batch.id)).one()
    if not declarations:
        return None
    return Markup(render_template(
        "customs/batch_panel.html", batch=batch, open=False, declarations=declarations,
        lines=lines, can_download=has_permission(current_user, "customs.view")))


if batch_panel not in batch_hooks.batch_panels:
    batch_hooks.batch_panels.append(batch_panel)
