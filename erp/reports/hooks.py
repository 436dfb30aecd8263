"""What reports adds to the screens of lower packages, through their hooks.

The supplier page (procurement) shows the supplier scorecard: its figures reach into
inspections, shipments and customer returns, which only reports reads together.
"""

from __future__ import annotations

from datetime import date

from flask import render_template
from flask_login import current_user
from markupsafe import Markup

from erp.core.permissions import has_permission
from erp.procurement import hooks as procurement_hooks
from erp.reports.scorecard import ScoreRow, supplier_scorecard


def scorecard_panel(supplier, date_from: date, date_to: date) -> Markup:
    """Return the supplier page's scorecard section for the period of its date picker."""
    card = supplier_scorecard(date_from, date_to, supplier_id=supplier.id)
    total = card.suppliers[0] if card.suppliers else ScoreRow(supplier.id, supplier.code,
                                                              supplier.name)
    return Markup(render_template(
        "reports/_supplier_scorecard.html", supplier=supplier, total=total,
        versions=card.versions, date_from=date_from, date_to=date_to,
        can_report=has_permission(current_user, "reports.view")))


procurement_hooks.supplier_panels.append(scorecard_panel)
