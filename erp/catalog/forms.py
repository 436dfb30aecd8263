"""Catalog forms. They check shape only; the services decide and re-validate everything."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from erp.catalog.models import (
    BATTERY_KIND_LABELS,
    TRANSPORT_FIELDS,
    BatteryKind,
    SkuStatus,
)
from erp.core.i18n import _, _l

STATUS_CHOICES = [(SkuStatus.active.value, _l("Active")),
                  (SkuStatus.discontinued.value, _l("Discontinued"))]
#: the first choice of every transport select: no value of its own (replaced by the view with
#: what would be inherited, when it knows)
INHERIT = ("", _l("Inherit"))


def _battery_field() -> SelectField:
    return SelectField(_l("Battery"), coerce=str, validators=[Optional()], default="",
                       choices=[INHERIT, *((k.value, BATTERY_KIND_LABELS[k]) for k in BatteryKind)])


#: the flags' labels on a form
FLAG_FIELD_LABELS = {"liquid": _l("Liquid"), "powder": _l("Powder"), "magnet": _l("Magnet"),
                     "flammable": _l("Flammable (perfume)"), "sharp": _l("Sharp")}


def _flag_field(flag: str) -> SelectField:
    return SelectField(FLAG_FIELD_LABELS[flag], coerce=str, default="",
                       validators=[Optional()],
                       choices=[INHERIT, ("yes", _l("yes")), ("no", _l("no"))])


class TransportFields:
    """The transport attribute selects shared by the category and SKU forms.

    Each holds ``""`` (inherit), a battery kind, or ``"yes"``/``"no"``; the service parses them.
    """

    battery = _battery_field()
    liquid = _flag_field("liquid")
    powder = _flag_field("powder")
    magnet = _flag_field("magnet")
    flammable = _flag_field("flammable")
    sharp = _flag_field("sharp")

    def load_transport(self, obj) -> None:
        """Show ``obj``'s own transport values (None as inherit) in the selects."""
        for name in TRANSPORT_FIELDS:
            value = getattr(obj, name)
            getattr(self, name).data = ("" if value is None else value.value
                                        if isinstance(value, BatteryKind)
                                        else "yes" if value else "no")

    def set_inherited(self, inherited: dict) -> None:
        """Name, in each select's "inherit" choice, the value it would inherit and from where.

        :param inherited: ``{field: TransportValue}`` of the category above (absent: default).
        """
        from erp.catalog.transport import describe

        for name in TRANSPORT_FIELDS:
            field = getattr(self, name)
            value = inherited.get(name)
            shown = describe(name, value.value if value else None)
            source = value.source_label if value else _("Default")
            field.choices = [("", _("Inherit: %(value)s (%(source)s)", value=shown,
                                    source=source)), *field.choices[1:]]

    def transport_values(self) -> dict:
        """Return the transport selects' values for the service."""
        return {name: getattr(self, name).data for name in TRANSPORT_FIELDS}


class CnCustomsFields:
    """The Chinese export customs fields shared by the category and SKU forms (empty: inherit).

    Shape only: the service (:func:`erp.catalog.cn_customs.clean_cn_customs`) validates.
    """

    cn_hs_code = StringField(_l("Chinese HS code (10 digits)"),
                             validators=[Optional(), Length(max=16)])
    cn_name = StringField(_l("Chinese customs name (申报品名)"),
                          validators=[Optional(), Length(max=250)])
    cn_elements = StringField(_l("Declaration elements (申报要素), joined by |"),
                              validators=[Optional(), Length(max=250)])
    cn_sale_unit = StringField(_l("Sale unit (customs code)"),
                               validators=[Optional(), Length(max=3)])
    cn_unit1 = StringField(_l("First legal unit"), validators=[Optional(), Length(max=3)])
    cn_factor1 = StringField(_l("First unit factor"), validators=[Optional(), Length(max=20)])
    cn_unit2 = StringField(_l("Second legal unit"), validators=[Optional(), Length(max=3)])
    cn_factor2 = StringField(_l("Second unit factor"), validators=[Optional(), Length(max=20)])

    def cn_values(self) -> dict:
        """Return the Chinese customs fields' values for the service."""
        return {name: getattr(self, name).data for name in CN_FORM_FIELDS}


CN_FORM_FIELDS = ("cn_hs_code", "cn_name", "cn_elements", "cn_sale_unit", "cn_unit1",
                  "cn_factor1", "cn_unit2", "cn_factor2")


class CategoryForm(CnCustomsFields, TransportFields, FlaskForm):
    """Create or edit a category."""

    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=40)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    parent_id = SelectField(_l("Parent"), coerce=str, validators=[Optional()])
    hs_code = StringField(_l("Default HS code"), validators=[Optional(), Length(max=16)])
    customs_description = StringField(_l("Default customs description (English)"),
                                      validators=[Optional(), Length(max=200)])
    origin_country = StringField(_l("Default country of origin"),
                                 validators=[Optional(), Length(max=60)])


class MoveCategoryForm(FlaskForm):
    """Move a category (and its subtree) under another parent."""

    parent_id = SelectField(_l("New parent"), coerce=str, validators=[Optional()])


class ProductForm(FlaskForm):
    """Create or edit a product (style)."""

    code = StringField(_l("Style code"), validators=[DataRequired(), Length(max=40)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    brand_id = SelectField(_l("Brand"), coerce=str, validators=[DataRequired()])
    category_id = SelectField(_l("Category"), coerce=str, validators=[DataRequired()])
    spec_version_id = SelectField(_l("Specification version"), coerce=str, validators=[Optional()])
    description = TextAreaField(_l("Product description"),
                                validators=[Optional(), Length(max=5000)])


class SkuForm(CnCustomsFields, TransportFields, FlaskForm):
    """Create or edit a SKU; numbers are parsed by the service so messages stay in one place."""

    code = StringField(_l("SKU code"), validators=[DataRequired(), Length(max=40)])
    barcode = StringField(_l("Barcode (EAN-13, UPC-A or internal)"),
                          validators=[Optional(), Length(max=32)])
    colour = StringField(_l("Colour"), validators=[Optional(), Length(max=60)])
    size = StringField(_l("Size"), validators=[Optional(), Length(max=30)])
    weight_g = StringField(_l("Weight (g)"), validators=[Optional(), Length(max=12)])
    length_mm = StringField(_l("Length (mm)"), validators=[Optional(), Length(max=12)])
    width_mm = StringField(_l("Width (mm)"), validators=[Optional(), Length(max=12)])
    height_mm = StringField(_l("Height (mm)"), validators=[Optional(), Length(max=12)])
    hs_code = StringField(_l("HS code"), validators=[Optional(), Length(max=16)])
    customs_description = StringField(_l("Customs description (English)"),
                                      validators=[Optional(), Length(max=200)])
    origin_country = StringField(_l("Country of origin"), validators=[Optional(), Length(max=60)])
    declared_value = StringField(_l("Declared value"), validators=[Optional(), Length(max=20)])
    declared_currency = StringField(_l("Declared currency"), validators=[Optional(), Length(max=3)])
    list_price = StringField(_l("List price"), validators=[Optional(), Length(max=20)])
    list_currency = StringField(_l("List price currency"), validators=[Optional(), Length(max=3)])
    reorder_point = StringField(_l("Reorder point"), validators=[Optional(), Length(max=12)])
    reorder_qty = StringField(_l("Reorder quantity"), validators=[Optional(), Length(max=12)])
    status = SelectField(_l("Status"), choices=STATUS_CHOICES, default="active")
    battery_cells = StringField(_l("Battery cells per unit"),
                                validators=[Optional(), Length(max=6)])

    def sku_values(self) -> dict:
        """Return the SKU fields (everything but the code) for the service."""
        return {name: field.data for name, field in self._fields.items()
                if name not in ("code", "csrf_token")}


class ConfirmCustomsForm(FlaskForm):
    """Confirm the customs data of the products ticked in the review list."""

    product_ids = SelectMultipleField(_l("Products"), coerce=int, validate_choice=False,
                                      validators=[DataRequired(
                                          message=_l("Tick at least one product."))])


class BulkStatusForm(FlaskForm):
    """Change the status of the SKUs ticked in the list."""

    sku_ids = SelectMultipleField(_l("SKUs"), coerce=int, validate_choice=False,
                                  validators=[DataRequired(message=_l("Tick at least one SKU."))])
    status = SelectField(_l("New status"), choices=STATUS_CHOICES)
