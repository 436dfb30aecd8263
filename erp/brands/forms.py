"""Brand forms: brands, trademarks, logos, specification content and attachments."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import DateField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from erp.brands.models import BrandKind, SpecificationVersion

KIND_CHOICES = [(BrandKind.private.value, "Private brand"),
                (BrandKind.third_party.value, "Third-party brand")]


class BrandForm(FlaskForm):
    """Create or edit a brand."""

    code = StringField("Code", validators=[DataRequired(), Length(min=2, max=20)])
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    kind = SelectField("Kind", choices=KIND_CHOICES, default=BrandKind.private.value)
    owner_company = StringField("Owner company", validators=[Optional(), Length(max=200)])


class TrademarkForm(FlaskForm):
    """Add a trademark registration to a brand."""

    country = StringField("Country", validators=[DataRequired(), Length(max=60)])
    number = StringField("Registration number", validators=[DataRequired(), Length(max=40)])
    registered_on = DateField("Registered on", validators=[Optional()])
    classes = StringField("Nice classes", validators=[Optional(), Length(max=80)])


class LogoForm(FlaskForm):
    """Upload a brand logo."""

    logo = FileField("Logo (PNG or JPEG, at most 1 MB)",
                     validators=[FileRequired("Choose an image file.")])


class SpecificationForm(FlaskForm):
    """The content of a specification version (creating one, or editing a draft)."""

    title = StringField("Title", validators=[DataRequired(), Length(max=200)])
    product_type = StringField("Product type", validators=[Optional(), Length(max=120)])
    material = TextAreaField("Material", validators=[Optional()])
    composition = TextAreaField("Composition", validators=[Optional()])
    dimensions = TextAreaField("Dimensions", validators=[Optional()])
    tolerances = TextAreaField("Tolerances", validators=[Optional()])
    packaging = TextAreaField("Packaging", validators=[Optional()])
    labelling = TextAreaField("Labelling", validators=[Optional()])
    care_label = TextAreaField("Care label", validators=[Optional()])
    quality_standard = StringField("Quality standard", validators=[Optional(), Length(max=200)])
    inspection_level = StringField("Inspection level", validators=[Optional(), Length(max=80)])
    notes = TextAreaField("Notes", validators=[Optional()])

    def content(self) -> dict[str, str | None]:
        """Return the content fields by name, as the services take them."""
        return {name: self[name].data for name in SpecificationVersion.CONTENT_FIELDS}


class AttachmentForm(FlaskForm):
    """Attach a file to a draft specification version."""

    file = FileField("File (at most 10 MB)", validators=[FileRequired("Choose a file.")])
