"""Forms of the personal-data screen: search, export, anonymise (shape only; services decide)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from erp.core.i18n import _l


class SearchForm(FlaskForm):
    """Look up a consumer by e-mail."""

    email = StringField(_l("Customer e-mail"), validators=[DataRequired(), Length(max=254)])


class ExportForm(FlaskForm):
    """Download everything held about the e-mail (JSON or Excel)."""

    email = HiddenField(validators=[DataRequired(), Length(max=254)])
    format = SelectField(_l("Format"), choices=[("xlsx", "Excel"), ("json", "JSON")],
                         validators=[DataRequired()])


class AnonymiseForm(FlaskForm):
    """Confirm the anonymisation: the e-mail typed again, and the reason."""

    email = HiddenField(validators=[DataRequired(), Length(max=254)])
    confirm_email = StringField(_l("Type the customer's e-mail again"),
                                validators=[DataRequired(), Length(max=254)])
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(max=500)])
