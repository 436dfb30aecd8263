"""Inspection forms: decision note, concession, scrap, photo, switching toggles.

The defect counts per check are read from the posted fields ``count-<check id>``,
``note-<check id>`` and ``measurements-<check id>`` (the checklist differs per lot); their form
only carries the CSRF token.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, HiddenField, IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from erp.core.i18n import _l


class DefectsForm(FlaskForm):
    """Record the defects of a lot's checks (fields per check are read by the view)."""


class DecideForm(FlaskForm):
    """Decide a lot by its plan."""

    note = StringField(_l("Note"), validators=[Optional(), Length(max=500)])


class ReleaseForm(FlaskForm):
    """Release a rejected lot as a concession."""

    reason = TextAreaField(_l("Reason for the concession"),
                           validators=[DataRequired(), Length(max=1000)])


class ScrapForm(FlaskForm):
    """Scrap units of a rejected lot."""

    quantity = IntegerField(_l("Units to scrap"), validators=[DataRequired(), NumberRange(min=1)])
    reason = StringField(_l("Reason"), validators=[DataRequired(), Length(max=1000)])


class PhotoForm(FlaskForm):
    """Add a photo to a lot."""

    photo = FileField(_l("Photo (PNG, JPEG or GIF, at most 5 MB)"),
                      validators=[FileRequired(_l("Choose a file."))])
    defect_id = HiddenField()


class ReducedForm(FlaskForm):
    """Allow or stop reduced inspection for a supplier and specification."""

    supplier_id = HiddenField(validators=[DataRequired()])
    specification_id = HiddenField(validators=[DataRequired()])
    allowed = BooleanField(_l("Reduced inspection allowed"))


class ResumeForm(FlaskForm):
    """Resume a discontinued inspection at tightened."""

    supplier_id = HiddenField(validators=[DataRequired()])
    specification_id = HiddenField(validators=[DataRequired()])
    note = StringField(_l("What the supplier did"), validators=[Optional(), Length(max=500)])
