"""Cycle count forms. They check shape only; the count services decide everything."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional


class OpenCountForm(FlaskForm):
    """Open a count over bins (codes, ranges, prefixes) and/or SKUs of one warehouse."""

    warehouse_id = SelectField("Warehouse", coerce=str, validators=[DataRequired()])
    bins = TextAreaField("Bins", validators=[Optional(), Length(max=20_000)])
    skus = TextAreaField("SKUs", validators=[Optional(), Length(max=20_000)])
    note = StringField("Note", validators=[Optional(), Length(max=500)])


class ScanForm(FlaskForm):
    """One scan: the bin, then the SKU (code or barcode), and a quantity if not 1."""

    bin_code = StringField("Bin", validators=[Optional(), Length(max=60)])
    sku_code = StringField("SKU or barcode", validators=[Optional(), Length(max=60)])
    qty = IntegerField("Quantity (empty = 1)", validators=[Optional(), NumberRange(min=0)])


class AddLineForm(FlaskForm):
    """A SKU found in a bin that the count does not list."""

    bin_code = StringField("Bin", validators=[DataRequired(), Length(max=60)])
    sku_code = StringField("SKU or barcode", validators=[DataRequired(), Length(max=60)])
    counted = IntegerField("Counted", validators=[Optional(), NumberRange(min=0)])


class NoteForm(FlaskForm):
    """A decision with an optional note (cancel, recount); also carries the CSRF token."""

    note = StringField("Note", validators=[Optional(), Length(max=500)])
