"""Purchase order and receiving forms. They check shape only; the services decide everything."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateField, DecimalField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from erp.core.i18n import _l

_SCAN = {"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}
_QUANTITY = NumberRange(min=1, max=1_000_000_000,
                        message=_l("Enter a whole number from 1 to 1,000,000,000."))
_PRICE = NumberRange(min=0, max=9_999_999_999, message=_l("Enter a price of zero or more."))


class PurchaseOrderForm(FlaskForm):
    """Start a draft purchase order: the supplier, and optionally when it is expected."""

    supplier_id = SelectField(_l("Supplier"), coerce=str,
                              validators=[DataRequired(_l("Choose a supplier."))])
    expected_date = DateField(_l("Expected date"), validators=[Optional()])
    notes = TextAreaField(_l("Notes"), validators=[Optional(), Length(max=2000)])


class PurchaseOrderEditForm(FlaskForm):
    """Change an open order's expected date and notes (recorded in its history)."""

    expected_date = DateField(_l("Expected date"), validators=[Optional()])
    notes = TextAreaField(_l("Notes"), validators=[Optional(), Length(max=2000)])


class LineForm(FlaskForm):
    """Add a line: a SKU by code or barcode, a quantity, and a price if not the supplier's."""

    sku = StringField(_l("SKU (code or barcode)"),
                      validators=[DataRequired(_l("Scan or type a SKU.")), Length(max=64)],
                      render_kw=_SCAN)
    quantity = IntegerField(_l("Quantity"), validators=[InputRequired(_l("Enter the quantity.")),
                                                    _QUANTITY],
                            render_kw={"inputmode": "numeric", "autocomplete": "off"})
    unit_price = DecimalField(_l("Unit price (empty = supplier's price)"), places=4,
                              validators=[Optional(), _PRICE])
    expected_date = DateField(_l("Expected date"), validators=[Optional()])


class LineEditForm(FlaskForm):
    """Change a draft line's quantity, price and expected date."""

    quantity = IntegerField(_l("Quantity"), validators=[InputRequired(_l("Enter the quantity.")),
                                                    _QUANTITY],
                            render_kw={"inputmode": "numeric", "autocomplete": "off"})
    unit_price = DecimalField(_l("Unit price (empty = supplier's price)"), places=4,
                              validators=[Optional(), _PRICE])
    expected_date = DateField(_l("Expected date"), validators=[Optional()])


class ExpectedDateForm(FlaskForm):
    """Change one line's expected date after the order is placed."""

    expected_date = DateField(_l("Expected date"), validators=[Optional()])


class ReasonForm(FlaskForm):
    """A decision that needs a reason (send back, cancel, close short, reverse)."""

    reason = StringField(_l("Reason"), validators=[Optional(), Length(max=500)])


class OrderForm(FlaskForm):
    """Mark an approved order as sent to the supplier."""

    ordered_on = DateField(_l("Ordered on"), validators=[Optional()])


class ConfirmForm(FlaskForm):
    """An empty form that only carries the CSRF token (submit, approve, remove)."""


class ReceivingLookupForm(FlaskForm):
    """Scan or type a purchase order number (a GET search: no CSRF token)."""

    class Meta:
        """A read-only lookup."""

        csrf = False

    number = StringField(_l("Purchase order number"), validators=[Optional(), Length(max=40)],
                         render_kw=_SCAN)


class ReceiveForm(FlaskForm):
    """A delivery: the scan box, the bin and a note; quantities are ``qty-<line id>`` fields."""

    scan = StringField(_l("Scan a SKU (adds 1)"), validators=[Optional(), Length(max=64)],
                       render_kw=_SCAN)
    bin = StringField(_l("Into bin"), validators=[Optional(), Length(max=64)], render_kw=_SCAN)
    note = StringField(_l("Note (delivery note, carrier...)"), validators=[Optional(),
                                                                       Length(max=500)])

