"""Forms of the customer-service order screens: shape only; the allocation services decide."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length, Optional

from erp.core.i18n import _l


class ConfirmForm(FlaskForm):
    """An empty form that only carries the CSRF token (allocate, release)."""


class ReasonForm(FlaskForm):
    """A decision that needs a reason (hold, cancel)."""

    reason = StringField(_l("Reason"), validators=[DataRequired(), Length(max=200)])


class ShippingAddressForm(FlaskForm):
    """The shipping address of an order; the service validates country and postal code."""

    ship_name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    address1 = StringField(_l("Address line 1"), validators=[DataRequired(), Length(max=200)])
    address2 = StringField(_l("Address line 2"), validators=[Optional(), Length(max=200)])
    city = StringField(_l("City"), validators=[DataRequired(), Length(max=100)])
    region = StringField(_l("State or province"), validators=[Optional(), Length(max=100)])
    postal_code = StringField(_l("Postal code"), validators=[Optional(), Length(max=20)])
    country = StringField(_l("Country (ISO code)"),
                          validators=[DataRequired(), Length(min=2, max=2)])
    phone = StringField(_l("Phone"), validators=[Optional(), Length(max=40)])

    FIELDS = ("ship_name", "address1", "address2", "city", "region", "postal_code", "country",
              "phone")

    def values(self) -> dict[str, str | None]:
        """Return the entered address as ``{field: value}`` (blank optional fields as None)."""
        return {name: (getattr(self, name).data or "").strip() or None for name in self.FIELDS}
