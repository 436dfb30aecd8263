"""Core forms: sign-in, passwords, users, settings, exchange rates, audit filters."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DecimalField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Email, InputRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from erp.core.i18n import _, _l
from erp.core.models import ROLE_LABELS, Role


class LoginForm(FlaskForm):
    """Sign-in form."""

    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=256)])


class CodeForm(FlaskForm):
    """A code from the authenticator app (or, at sign-in, a recovery code)."""

    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=32)])


class ChangePasswordForm(FlaskForm):
    """Change one's own password."""

    current_password = PasswordField(_l("Current password"), validators=[DataRequired()])
    new_password = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=256)])
    confirm = PasswordField(_l("Repeat new password"), validators=[DataRequired()])

    def validate_confirm(self, field):
        """Check that the two new passwords match."""
        if field.data != self.new_password.data:
            from wtforms.validators import ValidationError
            raise ValidationError(_("The two new passwords differ."))


class MultiCheckboxField(SelectMultipleField):
    """A multiple choice rendered as checkboxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


ROLE_CHOICES = [(r.value, ROLE_LABELS[r]) for r in Role]


class UserForm(FlaskForm):
    """Create or edit a user (the password only on create)."""

    username = StringField(_l("Username"), validators=[DataRequired(), Length(min=2, max=64)])
    full_name = StringField(_l("Full name"), validators=[DataRequired(), Length(max=120)])
    email = StringField(_l("Email"), validators=[Optional(), Email(), Length(max=254)])
    roles = MultiCheckboxField(_l("Roles"), choices=ROLE_CHOICES,
                               validators=[DataRequired(message=_l("Choose at least one role."))])
    active = BooleanField(_l("Active"), default=True)
    password = PasswordField(_l("Initial password"), validators=[Optional(), Length(max=256)])


class ResetPasswordForm(FlaskForm):
    """An admin sets a temporary password."""

    new_password = PasswordField(_l("New temporary password"),
                                 validators=[DataRequired(), Length(max=256)])


class ConfirmForm(FlaskForm):
    """An empty form that only carries the CSRF token (for POST buttons)."""


def settings_form(definitions, **kwargs) -> FlaskForm:
    """Return a form with one field per declared setting (domains declare their own).

    The fields only check presence and length; each setting's parser, run by the service,
    decides whether a value is acceptable.
    """

    class SettingsForm(FlaskForm):
        """Company and domain settings."""

    for key, definition in definitions.items():
        field_cls = TextAreaField if definition.multiline else StringField
        validators = [Length(max=1000)] if definition.optional else [InputRequired(),
                                                                      Length(max=1000)]
        setattr(SettingsForm, key, field_cls(definition.label, description=definition.help,
                                             validators=validators))
    return SettingsForm(**kwargs)


class ExchangeRateForm(FlaskForm):
    """One dated exchange rate."""

    currency = StringField(_l("Currency"), validators=[DataRequired(), Length(min=3, max=3)])
    valid_from = DateField(_l("Valid from"), validators=[DataRequired()])
    rate = DecimalField(_l("Rate (base units per 1 unit)"), places=8,
                        validators=[InputRequired(), NumberRange(min=0)])


class AuditFilterForm(FlaskForm):
    """Audit log filters (GET, no CSRF)."""

    class Meta:
        """Filters are read-only GET parameters."""

        csrf = False

    user_id = SelectField(_l("User"), coerce=str, validators=[Optional()])
    entity_type = SelectField(_l("Entity"), coerce=str, validators=[Optional()])
    entity_id = StringField(_l("Record id or ref"), validators=[Optional(), Length(max=64)])
    action = StringField(_l("Action"), validators=[Optional(), Length(max=96)])
    date_from = DateField(_l("From"), validators=[Optional()])
    date_to = DateField(_l("To"), validators=[Optional()])
