"""Supplier return, claim and payment forms. They check shape only; the services decide."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateField, DecimalField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from erp.core.i18n import _l

_SCAN = {"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}
_QUANTITY = NumberRange(min=1, max=1_000_000_000,
                        message=_l("Enter a whole number from 1 to 1,000,000,000."))
_PRICE = NumberRange(min=0, max=9_999_999_999, message=_l("Enter a price of zero or more."))
_AMOUNT = NumberRange(min=0, max=999_999_999_999, message=_l("Enter an amount of zero or more."))


class SupplierReturnForm(FlaskForm):
    """Start a draft return: the supplier and a note."""

    supplier_id = SelectField(_l("Supplier"), coerce=str,
                              validators=[DataRequired(_l("Choose a supplier."))])
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=2000)])


class ReturnLineForm(FlaskForm):
    """Add a line: a SKU and the bin it leaves from, scanned or typed; quantity; price."""

    sku = StringField(_l("SKU (code or barcode)"),
                      validators=[DataRequired(_l("Scan or type a SKU.")), Length(max=64)],
                      render_kw=_SCAN)
    bin = StringField(_l("From bin"), validators=[DataRequired(_l("Scan or type the bin.")),
                                                  Length(max=64)], render_kw=_SCAN)
    quantity = IntegerField(_l("Quantity"),
                            validators=[InputRequired(_l("Enter the quantity.")),
                                        _QUANTITY],
                            render_kw={"inputmode": "numeric", "autocomplete": "off"})
    unit_price = DecimalField(_l("Unit claim price (empty = last price paid)"), places=4,
                              validators=[Optional(), _PRICE])
    reason = StringField(_l("Reason"), validators=[Optional(), Length(max=200)])


class ReasonForm(FlaskForm):
    """A decision that needs a reason (cancel)."""

    reason = StringField(_l("Reason"), validators=[Optional(), Length(max=500)])


class ChooseSupplierForm(FlaskForm):
    """Send a customer-return item to a supplier: which supplier, and a note."""

    supplier_id = SelectField(_l("Supplier"), coerce=str,
                              validators=[DataRequired(_l("Choose a supplier."))])
    unit_price = DecimalField(_l("Unit claim price (empty = last price paid)"), places=4,
                              validators=[Optional(), _PRICE])


class PaymentForm(FlaskForm):
    """A payment to a supplier; the claims to deduct are ``claim`` checkboxes."""

    paid_on = DateField(_l("Paid on"), validators=[InputRequired(_l("Enter the date."))])
    amount = DecimalField(_l("Amount paid"), places=2,
                          validators=[InputRequired(_l("Enter the amount paid.")),
                                      _AMOUNT])
    reference = StringField(_l("Reference"), validators=[Optional(), Length(max=60)])
    note = StringField(_l("Note"), validators=[Optional(), Length(max=500)])


class QuarantineReturnForm(FlaskForm):
    """A return from quarantine: quantities are ``qty-<sku id>-<bin id>`` fields."""

    note = StringField(_l("Note"), validators=[Optional(), Length(max=500)])
    reason = StringField(_l("Reason"), validators=[Optional(), Length(max=200)])


__all__ = ["ChooseSupplierForm", "PaymentForm", "QuarantineReturnForm",
           "ReasonForm", "ReturnLineForm", "SupplierReturnForm"]
