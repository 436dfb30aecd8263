"""Carrier, service, rate, range and box forms.

They check shape only; the carrier, tracking and box services decide and re-validate
everything, so numbers are text fields and a bad value gets the service's message.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from erp.shipping.models import CarrierKind, CustomsDocs, TrackingKind


def _values(form: FlaskForm) -> dict:
    return {name: field.data for name, field in form._fields.items() if name != "csrf_token"}


class CarrierForm(FlaskForm):
    """Create or edit a carrier."""

    code = StringField("Code", validators=[DataRequired(), Length(max=20)])
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    kind = SelectField("Kind", choices=[(k.value, k.value) for k in CarrierKind])
    account_number = StringField("Account number", validators=[Optional(), Length(max=40)])
    active = BooleanField("Active", default=True)

    def values(self) -> dict:
        """Return the carrier fields by name, as the services take them."""
        return _values(self)


class ServiceForm(FlaskForm):
    """Create or edit a shipping service and its limits."""

    code = StringField("Code", validators=[DataRequired(), Length(max=40)])
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    tracking_kind = SelectField("Tracking numbers", choices=[
        (TrackingKind.s10.value, "S10 (UPU, with check digit)"),
        (TrackingKind.free.value, "Courier's own format")])
    customs_docs = SelectField("Customs documents", choices=[
        (CustomsDocs.cn22_cn23.value, "CN22, or CN23 above the limits"),
        (CustomsDocs.cn23.value, "Always CN23"),
        (CustomsDocs.commercial_invoice.value, "Commercial invoice")])
    max_weight_g = StringField("Max weight (g)", default="0", validators=[Length(max=12)])
    max_longest_mm = StringField("Max longest side (mm)", default="0",
                                 validators=[Length(max=12)])
    max_sum_mm = StringField("Max sum of sides (mm)", default="0", validators=[Length(max=12)])
    volumetric_divisor = StringField("Volumetric divisor", default="0",
                                     validators=[Length(max=12)])
    cutoff = StringField("Cut-off (HH:MM)", default="15:00", validators=[Length(max=5)])
    requires_phone = BooleanField("Needs the addressee's phone")
    active = BooleanField("Active", default=True)

    def values(self) -> dict:
        """Return the service fields by name, as the services take them."""
        return _values(self)


class ZonesForm(FlaskForm):
    """The countries a service serves, one ``country zone`` per line."""

    zones = TextAreaField("Countries and zones", validators=[Length(max=20000)])


class RateForm(FlaskForm):
    """Add or change one rate band."""

    zone = StringField("Zone", validators=[DataRequired(), Length(max=20)])
    max_weight_g = StringField("Up to (g)", validators=[DataRequired(), Length(max=12)])
    price = StringField("Price", validators=[DataRequired(), Length(max=20)])
    currency = StringField("Currency", validators=[DataRequired(), Length(max=3)])


class RangeForm(FlaskForm):
    """Load a tracking-number range from the carrier."""

    prefix = StringField("Prefix", validators=[Optional(), Length(max=20)])
    first_serial = StringField("First serial", validators=[DataRequired(), Length(max=12)])
    last_serial = StringField("Last serial", validators=[DataRequired(), Length(max=12)])
    suffix = StringField("Suffix", validators=[Optional(), Length(max=20)])
    width = StringField("Serial digits (courier)", validators=[Optional(), Length(max=2)])
    warn_below = StringField("Warn below", default="500",
                             validators=[DataRequired(), Length(max=12)])


class BoxForm(FlaskForm):
    """Create or edit a box size."""

    code = StringField("Code", validators=[DataRequired(), Length(max=20)])
    name = StringField("Name", validators=[DataRequired(), Length(max=80)])
    length_mm = StringField("Length (mm)", validators=[DataRequired(), Length(max=6)])
    width_mm = StringField("Width (mm)", validators=[DataRequired(), Length(max=6)])
    height_mm = StringField("Height (mm)", validators=[DataRequired(), Length(max=6)])
    tare_g = StringField("Tare (g)", default="0", validators=[DataRequired(), Length(max=6)])
    active = BooleanField("Active", default=True)

    def values(self) -> dict:
        """Return the box fields by name, as the services take them."""
        return _values(self)
