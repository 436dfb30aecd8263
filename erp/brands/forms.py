"""Brand forms: brands, trademarks, logos, specification content and attachments."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import DateField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from erp.brands.models import BRAND_KIND_LABELS, BrandKind, SpecificationVersion
from erp.core.i18n import _l

KIND_CHOICES = [(kind.value, label) for kind, label in BRAND_KIND_LABELS.items()]


class BrandForm(FlaskForm):
    """Create or edit a brand."""

    code = StringField(_l("Code"), validators=[DataRequired(), Length(min=2, max=20)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    kind = SelectField(_l("Kind"), choices=KIND_CHOICES, default=BrandKind.private.value)
    owner_company = StringField(_l("Owner company"), validators=[Optional(), Length(max=200)])


class TrademarkForm(FlaskForm):
    """Add a trademark registration to a brand."""

    country = StringField(_l("Country"), validators=[DataRequired(), Length(max=60)])
    number = StringField(_l("Registration number"), validators=[DataRequired(), Length(max=40)])
    registered_on = DateField(_l("Registered on"), validators=[Optional()])
    classes = StringField(_l("Nice classes"), validators=[Optional(), Length(max=80)])


class LogoForm(FlaskForm):
    """Upload a brand logo."""

    logo = FileField(_l("Logo (PNG or JPEG, at most 1 MB)"),
                     validators=[FileRequired(_l("Choose an image file."))])


class SpecificationForm(FlaskForm):
    """The content of a specification version (creating one, or editing a draft)."""

    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=200)])
    product_type = StringField(_l("Product type"), validators=[Optional(), Length(max=120)])
    material = TextAreaField(_l("Material"), validators=[Optional()])
    composition = TextAreaField(_l("Composition"), validators=[Optional()])
    dimensions = TextAreaField(_l("Dimensions"), validators=[Optional()])
    tolerances = TextAreaField(_l("Tolerances"), validators=[Optional()])
    packaging = TextAreaField(_l("Packaging"), validators=[Optional()])
    labelling = TextAreaField(_l("Labelling"), validators=[Optional()])
    care_label = TextAreaField(_l("Care label"), validators=[Optional()])
    quality_standard = StringField(_l("Quality standard"), validators=[Optional(), Length(max=200)])
    inspection_level = StringField(_l("Inspection level"), validators=[Optional(), Length(max=80)])
    notes = TextAreaField(_l("Notes"), validators=[Optional()])

    def content(self) -> dict[str, str | None]:
        """Return the content fields by name, as the services take them."""
        return {name: self[name].data for name in SpecificationVersion.CONTENT_FIELDS}


class AttachmentForm(FlaskForm):
    """Attach a file to a draft specification version."""

    file = FileField(_l("File (at most 10 MB)"), validators=[FileRequired(_l("Choose a file."))])


class ClearRevisionFlagForm(FlaskForm):
    """Clear a specification version's revision flag: the manager says why."""

    reason = StringField(_l("Reason"), validators=[DataRequired(), Length(max=300)])
