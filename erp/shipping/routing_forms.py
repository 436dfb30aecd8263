"""Forms of the shipping rules: one rule's conditions and services (shape only).

The services (:func:`erp.shipping.services.routing_rules.clean_rule`) check every value; the
form only carries the text typed.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from erp.core.i18n import _l
from erp.orders.models import SERVICE_CLASS_LABELS
from erp.shipping.models import GOODS_ATTRIBUTE_LABELS


class RuleForm(FlaskForm):
    """One shipping rule: conditions left empty always hold."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    countries = StringField(_l("Countries"), validators=[Optional(), Length(max=2000)])
    regions = StringField(_l("Regions"), validators=[Optional(), Length(max=2000)])
    postcode_prefixes = StringField(_l("Postcode prefixes"),
                                    validators=[Optional(), Length(max=2000)])
    min_weight_g = StringField(_l("Minimum weight (g)"), validators=[Optional(), Length(max=10)])
    max_weight_g = StringField(_l("Maximum weight (g)"), validators=[Optional(), Length(max=10)])
    min_value = StringField(_l("Minimum value"), validators=[Optional(), Length(max=20)])
    max_value = StringField(_l("Maximum value"), validators=[Optional(), Length(max=20)])
    value_currency = StringField(_l("Value currency"), validators=[Optional(), Length(max=3)])
    goods_required = SelectMultipleField(_l("Goods with any of"), validators=[Optional()])
    goods_excluded = SelectMultipleField(_l("Goods with none of"), validators=[Optional()])
    service_class = SelectField(_l("Service class asked"), validators=[Optional()])
    sku_codes = TextAreaField(_l("SKU codes"), validators=[Optional(), Length(max=20000)])
    brand_codes = StringField(_l("Brand codes"), validators=[Optional(), Length(max=200)])
    services = StringField(_l("Services (codes, cheapest chosen)"),
                           validators=[DataRequired(), Length(max=400)])

    def __init__(self, *args, **kwargs):
        """Fill the choices of goods attributes and service classes."""
        super().__init__(*args, **kwargs)
        goods = [(a.value, str(label)) for a, label in GOODS_ATTRIBUTE_LABELS.items()]
        self.goods_required.choices = goods
        self.goods_excluded.choices = goods
        self.service_class.choices = [("", _l("any"))] + [
            (c.value, str(label)) for c, label in SERVICE_CLASS_LABELS.items()]

    def values(self) -> dict:
        """Return the typed values as the services take them."""
        out = {name: self[name].data for name in (
            "name", "countries", "regions", "postcode_prefixes", "min_weight_g", "max_weight_g",
            "min_value", "max_value", "value_currency", "service_class", "sku_codes",
            "brand_codes", "services")}
        out["goods_required"] = ",".join(self.goods_required.data or [])
        out["goods_excluded"] = ",".join(self.goods_excluded.data or [])
        return out

    def fill(self, rule) -> None:
        """Show an existing rule's values."""
        for name in ("name", "countries", "regions", "postcode_prefixes", "value_currency",
                     "sku_codes", "brand_codes"):
            self[name].data = getattr(rule, name) or ""
        for name in ("min_weight_g", "max_weight_g", "min_value", "max_value"):
            value = getattr(rule, name)
            self[name].data = "" if value is None else str(value)
        self.goods_required.data = [g for g in (rule.goods_required or "").split(",") if g]
        self.goods_excluded.data = [g for g in (rule.goods_excluded or "").split(",") if g]
        self.service_class.data = rule.service_class.value if rule.service_class else ""
        self.services.data = ", ".join(link.service.code for link in rule.services)
