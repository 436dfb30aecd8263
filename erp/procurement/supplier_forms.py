"""Supplier forms. They check shape only; the supplier services decide and re-validate everything.

Numbers are text fields parsed by the services, so a bad value gets the service's message.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from erp.core.i18n import _l


class SupplierForm(FlaskForm):
    """Create or edit a supplier."""

    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=20)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    contact_name = StringField(_l("Contact"), validators=[Optional(), Length(max=120)])
    email = StringField(_l("Email"), validators=[Optional(), Length(max=254)])
    phone = StringField(_l("Phone"), validators=[Optional(), Length(max=40)])
    address = TextAreaField(_l("Address"), validators=[Optional(), Length(max=1000)])
    country = StringField(_l("Country"), validators=[DataRequired(), Length(max=60)])
    currency = StringField(_l("Currency"), validators=[DataRequired(), Length(max=3)])
    payment_terms = StringField(_l("Payment terms"), validators=[Optional(), Length(max=120)])
    lead_time_days = StringField(_l("Lead time (days)"), default="14",
                                 validators=[DataRequired(), Length(max=6)])
    language = SelectField(_l("Language of purchase orders"), default="", choices=[
        ("", _l("By country: Chinese and English for China, else English")),
        ("en", _l("English")), ("zh_Hans_CN", _l("Chinese and English"))])

    def supplier_values(self) -> dict:
        """Return the supplier fields by name, as the services take them."""
        return {name: field.data for name, field in self._fields.items()
                if name != "csrf_token"}


class SupplierItemForm(FlaskForm):
    """Add a SKU to a supplier's price list, or change its item."""

    sku = StringField(_l("SKU"), validators=[DataRequired(), Length(max=64)])
    supplier_code = StringField(_l("Supplier's item code"), validators=[Optional(), Length(max=60)])
    unit_price = StringField(_l("Unit price"), validators=[DataRequired(), Length(max=20)])
    currency = StringField(_l("Currency"), validators=[Optional(), Length(max=3)])
    moq = StringField(_l("MOQ"), default="1", validators=[DataRequired(), Length(max=12)])
    pack_multiple = StringField(_l("Pack multiple"), default="1",
                                validators=[DataRequired(), Length(max=12)])
    lead_time_days = StringField(_l("Lead time (days)"), validators=[Optional(), Length(max=6)])
    preferred = BooleanField(_l("Preferred supplier of this SKU"))

    def item_values(self) -> dict:
        """Return the item's values (all but the SKU) as ``set_supplier_item`` takes them."""
        return {"unit_price": self.unit_price.data, "currency": self.currency.data or None,
                "supplier_code": self.supplier_code.data, "moq": self.moq.data,
                "pack_multiple": self.pack_multiple.data,
                "lead_time_days": self.lead_time_days.data or None,
                "preferred": self.preferred.data}


class DateRangeForm(FlaskForm):
    """A date range for supplier performance (GET, no CSRF)."""

    class Meta:
        """Filters are read-only GET parameters."""

        csrf = False

    date_from = DateField(_l("From"), validators=[Optional()])
    date_to = DateField(_l("To"), validators=[Optional()])
