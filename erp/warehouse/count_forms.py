"""Cycle count forms. They check shape only; the count services decide everything."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from erp.core.i18n import _l


class OpenCountForm(FlaskForm):
    """Open a count over bins (codes, ranges, prefixes) and/or SKUs of one warehouse."""

    warehouse_id = SelectField(_l("Warehouse"), coerce=str, validators=[DataRequired()])
    bins = TextAreaField(_l("Bins"), validators=[Optional(), Length(max=20_000)])
    skus = TextAreaField(_l("SKUs"), validators=[Optional(), Length(max=20_000)])
    note = StringField(_l("Note"), validators=[Optional(), Length(max=500)])


class ScanForm(FlaskForm):
    """One scan: the bin, then the SKU (code or barcode), and a quantity if not 1."""

    bin_code = StringField(_l("Bin"), validators=[Optional(), Length(max=60)])
    sku_code = StringField(_l("SKU or barcode"), validators=[Optional(), Length(max=60)])
    qty = IntegerField(_l("Quantity (empty = 1)"), validators=[Optional(), NumberRange(min=0)])


class AddLineForm(FlaskForm):
    """A SKU found in a bin that the count does not list."""

    bin_code = StringField(_l("Bin"), validators=[DataRequired(), Length(max=60)])
    sku_code = StringField(_l("SKU or barcode"), validators=[DataRequired(), Length(max=60)])
    counted = IntegerField(_l("Counted"), validators=[Optional(), NumberRange(min=0)])


class NoteForm(FlaskForm):
    """A decision with an optional note (cancel, recount); also carries the CSRF token."""

    note = StringField(_l("Note"), validators=[Optional(), Length(max=500)])
