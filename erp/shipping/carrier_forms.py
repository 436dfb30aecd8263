"""Carrier, service, rate, range and box forms.

They check shape only; the carrier, tracking and box services decide and re-validate
everything, so numbers are text fields and a bad value gets the service's message.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional

from erp.core.i18n import _l
from erp.shipping.models import (
    CARRIER_ADAPTER_LABELS,
    CARRIER_KIND_LABELS,
    CUSTOMS_DOCS_LABELS,
    GOODS_ATTRIBUTE_LABELS,
    TRACKING_KIND_LABELS,
    CarrierAdapterKind,
    CarrierKind,
    CustomsDocs,
    GoodsAttribute,
    TrackingKind,
)


def _values(form: FlaskForm) -> dict:
    return {name: field.data for name, field in form._fields.items() if name != "csrf_token"}


class CarrierForm(FlaskForm):
    """Create or edit a carrier."""

    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=20)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    kind = SelectField(_l("Kind"), choices=[(k.value, CARRIER_KIND_LABELS[k]) for k in CarrierKind])
    account_number = StringField(_l("Account number"), validators=[Optional(), Length(max=40)])
    tracking_secret = PasswordField(_l("Tracking webhook secret"),
                                    validators=[Optional(), Length(max=128)])
    active = BooleanField(_l("Active"), default=True)
    adapter = SelectField(_l("Labels and tracking numbers"), default="postal",
                          validate_choice=False, choices=[
                              (a.value, CARRIER_ADAPTER_LABELS[a]) for a in CarrierAdapterKind])
    api_endpoint = StringField(_l("API endpoint"), validators=[Optional(), Length(max=200)])
    # never shown back: an empty field keeps the token saved
    api_token = PasswordField(_l("API token"), validators=[Optional(), Length(max=200)])
    # text, checked by the service (its message names the range); a form filled from the
    # carrier without this field posted holds the carrier's number: read as text too
    api_timeout_s = StringField(_l("API time-out (s)"), default="10",
                                filters=[lambda v: "" if v is None else str(v)],
                                validators=[Length(max=4)])

    def values(self) -> dict:
        """Return the carrier fields by name, as the services take them.

        An empty API token field keeps the token the carrier has (it is never shown back).
        """
        values = _values(self)
        values["adapter"] = values.get("adapter") or "postal"  # the service checks the choice
        for key in ("api_token", "api_timeout_s"):  # empty: keep (or the default)
            if not str(values.get(key) or "").strip():
                values.pop(key, None)
        return values


class ServiceForm(FlaskForm):
    """Create or edit a shipping service and its limits."""

    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=40)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    tracking_kind = SelectField(_l("Tracking numbers"), choices=[
        (k.value, TRACKING_KIND_LABELS[k]) for k in (TrackingKind.s10, TrackingKind.free)])
    customs_docs = SelectField(_l("Customs documents"), choices=[
        (d.value, CUSTOMS_DOCS_LABELS[d])
        for d in (CustomsDocs.cn22_cn23, CustomsDocs.cn23, CustomsDocs.commercial_invoice)])
    max_weight_g = StringField(_l("Max weight (g)"), default="0", validators=[Length(max=12)])
    max_longest_mm = StringField(_l("Max longest side (mm)"), default="0",
                                 validators=[Length(max=12)])
    max_sum_mm = StringField(_l("Max sum of sides (mm)"), default="0",
                             validators=[Length(max=12)])
    volumetric_divisor = StringField(_l("Volumetric divisor"), default="0",
                                     validators=[Length(max=12)])
    cutoff = StringField(_l("Cut-off (HH:MM)"), default="15:00", validators=[Length(max=5)])
    requires_phone = BooleanField(_l("Needs the addressee's phone"))
    lost_after_days = StringField(_l("Lost after (days without an event)"),
                                  validators=[Optional(), Length(max=4)])
    active = BooleanField(_l("Active"), default=True)
    carrier_service_code = StringField(_l("Carrier's service code (API)"),
                                       validators=[Optional(), Length(max=40)])

    def values(self) -> dict:
        """Return the service fields by name, as the services take them."""
        return _values(self)


class ZonesForm(FlaskForm):
    """The countries a service serves, one ``country zone`` per line."""

    zones = TextAreaField(_l("Countries and zones"), validators=[Length(max=20000)])


class RateForm(FlaskForm):
    """Add or change one rate band."""

    zone = StringField(_l("Zone"), validators=[DataRequired(), Length(max=20)])
    max_weight_g = StringField(_l("Up to (g)"), validators=[DataRequired(), Length(max=12)])
    price = StringField(_l("Price"), validators=[DataRequired(), Length(max=20)])
    currency = StringField(_l("Currency"), validators=[DataRequired(), Length(max=3)])


class RangeForm(FlaskForm):
    """Load a tracking-number range from the carrier."""

    prefix = StringField(_l("Prefix"), validators=[Optional(), Length(max=20)])
    first_serial = StringField(_l("First serial"), validators=[DataRequired(), Length(max=12)])
    last_serial = StringField(_l("Last serial"), validators=[DataRequired(), Length(max=12)])
    suffix = StringField(_l("Suffix"), validators=[Optional(), Length(max=20)])
    width = StringField(_l("Serial digits (courier)"), validators=[Optional(), Length(max=2)])
    warn_below = StringField(_l("Warn below"), default="500",
                             validators=[DataRequired(), Length(max=12)])


class BoxForm(FlaskForm):
    """Create or edit a box size."""

    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=20)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=80)])
    length_mm = StringField(_l("Length (mm)"), validators=[DataRequired(), Length(max=6)])
    width_mm = StringField(_l("Width (mm)"), validators=[DataRequired(), Length(max=6)])
    height_mm = StringField(_l("Height (mm)"), validators=[DataRequired(), Length(max=6)])
    tare_g = StringField(_l("Tare (g)"), default="0", validators=[DataRequired(), Length(max=6)])
    active = BooleanField(_l("Active"), default=True)

    def values(self) -> dict:
        """Return the box fields by name, as the services take them."""
        return _values(self)


class ServiceGoodsForm(FlaskForm):
    """The warehouses a service ships from and the goods attributes it accepts.

    One limit field per goods attribute (``limit_<attribute>``): empty refuses the attribute,
    0 accepts it without a limit, a number is the most per parcel (lithium cells for
    batteries, units otherwise).
    """

    warehouses = SelectMultipleField(_l("Ships from"), coerce=int, choices=[],
                                     validate_choice=False)

    def limits(self) -> dict[str, str | None]:
        """Return ``{attribute: limit text, or None when refused}``."""
        return {a.value: (getattr(self, f"limit_{a.value}").data or "").strip() or None
                for a in GoodsAttribute}


for _attribute in GoodsAttribute:
    setattr(ServiceGoodsForm, f"limit_{_attribute.value}",
            StringField(GOODS_ATTRIBUTE_LABELS[_attribute], validators=[Length(max=9)]))
