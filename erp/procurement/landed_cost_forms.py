"""Landed cost forms: receipts, split method, charges. Shape only; the services decide."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    DecimalField,
    FieldList,
    Form,
    FormField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from erp.core.i18n import _l
from erp.procurement.models import CHARGE_KIND_LABELS, SPLIT_METHOD_LABELS

#: empty charge rows the form offers
CHARGE_ROWS = 5


class ChargeForm(Form):
    """One charge row; a row without an amount is ignored."""

    # an empty row posts no kind; the service checks the kind of the rows it takes
    kind = SelectField(_l("Kind"), choices=[(k.value, v) for k, v in CHARGE_KIND_LABELS.items()],
                       default="freight", validate_choice=False)
    amount = DecimalField(_l("Amount"), places=2, validators=[
        Optional(), NumberRange(min=0, max=99_999_999_999,
                                message=_l("Enter an amount above zero."))],
        render_kw={"inputmode": "decimal", "autocomplete": "off"})
    currency = StringField(_l("Currency"), validators=[Optional(), Length(max=3)],
                           render_kw={"autocapitalize": "characters", "size": 4})
    vendor = StringField(_l("Forwarder or vendor"), validators=[Optional(), Length(max=120)])


class LandedCostForm(FlaskForm):
    """A draft landed cost: receipts (or PO numbers), the split method, charges and a note."""

    receipts = TextAreaField(
        _l("Receipts or purchase orders"),
        validators=[DataRequired(_l("Scan or type at least one receipt or purchase order "
                                    "number.")), Length(max=5000)],
        render_kw={"rows": 3, "autocapitalize": "characters", "spellcheck": "false",
                   "placeholder": "RCV-2026-000001\nPO-2026-000002"})
    method = SelectField(_l("Split by"), choices=[(k.value, v)
                                               for k, v in SPLIT_METHOD_LABELS.items()])
    charges = FieldList(FormField(ChargeForm), min_entries=CHARGE_ROWS, max_entries=50)
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=2000)],
                         render_kw={"rows": 2})
