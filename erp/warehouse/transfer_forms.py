"""Forms of the transfers between warehouses. Shape only; the transfer service decides."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from erp.core.i18n import _l

_SCAN = {"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}
_CARTONS = NumberRange(min=1, max=999, message=_l("Enter a whole number from 1 to 999."))


class NewTransferForm(FlaskForm):
    """Draft a transfer: the two warehouses, the lines as text, and how it travels."""

    from_warehouse_id = SelectField(_l("From warehouse"), validators=[DataRequired()])
    to_warehouse_id = SelectField(_l("To warehouse"), validators=[DataRequired()])
    lines = TextAreaField(
        _l("Lines"), validators=[DataRequired(_l("Type one line per SKU.")),
                                 Length(max=50_000)],
        render_kw={**_SCAN, "rows": 8, "placeholder": "KB-BAG-NAV-8L 12\nTS-RED-M 6 A-01-02-03"})
    carrier = StringField(_l("Carrier"), validators=[Optional(), Length(max=80)])
    reference = StringField(_l("Reference"), validators=[Optional(), Length(max=80)])
    cartons = IntegerField(_l("Cartons"), validators=[Optional(), _CARTONS],
                           render_kw={"inputmode": "numeric", "autocomplete": "off"})
    note = StringField(_l("Note"), validators=[Optional(), Length(max=500)])


class ShipTransferForm(FlaskForm):
    """Ship a picked transfer: the cartons (required), and the carrier and its reference."""

    cartons = IntegerField(_l("Cartons"), validators=[DataRequired(_l("Enter the number of "
                                                                      "cartons.")), _CARTONS],
                           render_kw={"inputmode": "numeric", "autocomplete": "off"})
    carrier = StringField(_l("Carrier"), validators=[Optional(), Length(max=80)])
    reference = StringField(_l("Reference"), validators=[Optional(), Length(max=80)])


class CancelTransferForm(FlaskForm):
    """Cancel a draft transfer, with an optional reason."""

    reason = StringField(_l("Reason"), validators=[Optional(), Length(max=500)])


class ReceiveScanForm(FlaskForm):
    """One scan of the receiving screen (GET: it writes nothing, the tally travels along)."""

    class Meta:
        """A scan only counts; the receipt is posted by the receive form."""

        csrf = False

    scan = StringField(_l("SKU or barcode"), validators=[Optional(), Length(max=64)],
                       render_kw={**_SCAN, "required": True})
    qty = IntegerField(_l("Quantity (empty = 1)"),
                       validators=[Optional(), NumberRange(min=1, max=100_000)],
                       render_kw={"inputmode": "numeric", "autocomplete": "off"})
