"""Brand forms: brands, trademarks, logos, specification content and attachments."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import DateField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from erp.brands.models import (
    BRAND_KIND_LABELS,
    CHECK_KIND_LABELS,
    DEFECT_CLASS_LABELS,
    BrandKind,
    DefectClass,
    SpecificationVersion,
)
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


def _aql_choices():
    from erp.brands.plans import AQLS

    return [("", "—")] + [(str(aql), str(aql)) for aql in AQLS]


class PlanForm(FlaskForm):
    """A draft version's inspection plan: the ISO 2859-1 level and each class's AQL."""

    sampling_level = SelectField(_l("Inspection level (ISO 2859-1)"), validators=[Optional()])
    aql_critical = SelectField(_l("AQL critical"), validators=[Optional()],
                               description=_l("Empty: “0”, no critical defect accepted."))
    aql_major = SelectField(_l("AQL major"), validators=[Optional()])
    aql_minor = SelectField(_l("AQL minor"), validators=[Optional()])

    def __init__(self, *args, **kwargs):
        """Offer the levels and AQLs of the tables (empty level: no inspection)."""
        from erp.brands.plans import LEVELS

        super().__init__(*args, **kwargs)
        self.sampling_level.choices = [("", _l("none: no inspection at receiving"))] + [
            (level, level) for level in LEVELS]
        for name in ("aql_critical", "aql_major", "aql_minor"):
            self[name].choices = _aql_choices()

    def values(self) -> dict[str, str | None]:
        """Return the plan's fields by name, as the services take them."""
        return {name: self[name].data or None
                for name in ("sampling_level", "aql_critical", "aql_major", "aql_minor")}


class CheckForm(FlaskForm):
    """One check of a draft version's inspection plan."""

    description = StringField(_l("Check"), validators=[DataRequired(), Length(max=300)])
    kind = SelectField(_l("Kind"), choices=[(k.value, label)
                                            for k, label in CHECK_KIND_LABELS.items()])
    defect_class = SelectField(_l("Defect class"), default=DefectClass.major.value,
                               choices=[(c.value, label)
                                        for c, label in DEFECT_CLASS_LABELS.items()])
    method = StringField(_l("Method"), validators=[Optional(), Length(max=300)])
    nominal = StringField(_l("Nominal"), validators=[Optional(), Length(max=20)])
    tolerance_minus = StringField(_l("Tolerance −"), validators=[Optional(), Length(max=20)])
    tolerance_plus = StringField(_l("Tolerance +"), validators=[Optional(), Length(max=20)])
    unit = StringField(_l("Unit"), validators=[Optional(), Length(max=16)])
    sequence = StringField(_l("Order"), validators=[Optional(), Length(max=6)])

    def values(self) -> dict[str, str | None]:
        """Return the check's fields by name, as the services take them."""
        return {name: self[name].data for name in (
            "description", "kind", "defect_class", "method", "nominal", "tolerance_minus",
            "tolerance_plus", "unit", "sequence")}
