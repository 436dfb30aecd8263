"""Catalog forms. They check shape only; the services decide and re-validate everything."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from erp.catalog.models import SkuStatus

STATUS_CHOICES = [(s.value, s.value.capitalize()) for s in SkuStatus]


class CategoryForm(FlaskForm):
    """Create or edit a category."""

    code = StringField("Code", validators=[DataRequired(), Length(max=40)])
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    parent_id = SelectField("Parent", coerce=str, validators=[Optional()])
    hs_code = StringField("Default HS code", validators=[Optional(), Length(max=16)])
    customs_description = StringField("Default customs description (English)",
                                      validators=[Optional(), Length(max=200)])
    origin_country = StringField("Default country of origin",
                                 validators=[Optional(), Length(max=60)])


class MoveCategoryForm(FlaskForm):
    """Move a category (and its subtree) under another parent."""

    parent_id = SelectField("New parent", coerce=str, validators=[Optional()])


class ProductForm(FlaskForm):
    """Create or edit a product (style)."""

    code = StringField("Style code", validators=[DataRequired(), Length(max=40)])
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    brand_id = SelectField("Brand", coerce=str, validators=[DataRequired()])
    category_id = SelectField("Category", coerce=str, validators=[DataRequired()])
    spec_version_id = SelectField("Specification version", coerce=str, validators=[Optional()])
    description = TextAreaField("Description", validators=[Optional(), Length(max=5000)])


class SkuForm(FlaskForm):
    """Create or edit a SKU; numbers are parsed by the service so messages stay in one place."""

    code = StringField("SKU code", validators=[DataRequired(), Length(max=40)])
    barcode = StringField("Barcode (EAN-13, UPC-A or internal)",
                          validators=[Optional(), Length(max=32)])
    colour = StringField("Colour", validators=[Optional(), Length(max=60)])
    size = StringField("Size", validators=[Optional(), Length(max=30)])
    weight_g = StringField("Weight (g)", validators=[Optional(), Length(max=12)])
    length_mm = StringField("Length (mm)", validators=[Optional(), Length(max=12)])
    width_mm = StringField("Width (mm)", validators=[Optional(), Length(max=12)])
    height_mm = StringField("Height (mm)", validators=[Optional(), Length(max=12)])
    hs_code = StringField("HS code", validators=[Optional(), Length(max=16)])
    customs_description = StringField("Customs description (English)",
                                      validators=[Optional(), Length(max=200)])
    origin_country = StringField("Country of origin", validators=[Optional(), Length(max=60)])
    declared_value = StringField("Declared value", validators=[Optional(), Length(max=20)])
    declared_currency = StringField("Declared currency", validators=[Optional(), Length(max=3)])
    list_price = StringField("List price", validators=[Optional(), Length(max=20)])
    list_currency = StringField("List price currency", validators=[Optional(), Length(max=3)])
    reorder_point = StringField("Reorder point", validators=[Optional(), Length(max=12)])
    reorder_qty = StringField("Reorder quantity", validators=[Optional(), Length(max=12)])
    status = SelectField("Status", choices=STATUS_CHOICES, default="active")

    def sku_values(self) -> dict:
        """Return the SKU fields (everything but the code) for the service."""
        return {name: field.data for name, field in self._fields.items()
                if name not in ("code", "csrf_token")}


class BulkStatusForm(FlaskForm):
    """Change the status of the SKUs ticked in the list."""

    sku_ids = SelectMultipleField("SKUs", coerce=int, validate_choice=False,
                                  validators=[DataRequired(message="Tick at least one SKU.")])
    status = SelectField("New status", choices=STATUS_CHOICES)
