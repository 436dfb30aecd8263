"""Warehouse forms. They check shape only; the services decide and re-validate everything."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from erp.warehouse.models import VIRTUAL_KINDS, AdjustmentReason, LocationKind, MoveKind

#: the kinds a bin in a warehouse may have (virtual locations exist once, outside warehouses)
BIN_KIND_CHOICES = [(k.value, k.value.capitalize()) for k in LocationKind
                    if k not in VIRTUAL_KINDS]
REASON_CHOICES = [(r.value, r.value.replace("_", " ").capitalize()) for r in AdjustmentReason]
MOVE_KIND_CHOICES = [("", "Any kind")] + [(k.value, k.value.replace("_", " "))
                                          for k in MoveKind]
_SCAN = {"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}
#: quantities and sequences are 32-bit integer columns; a typo of many digits stops here
_LIMIT = 1_000_000_000
_WITHIN = NumberRange(min=-_LIMIT, max=_LIMIT, message="Enter a number between -1,000,000,000 "
                                                       "and 1,000,000,000.")


class WarehouseForm(FlaskForm):
    """Create or edit a warehouse (the code only on create)."""

    code = StringField("Code", validators=[DataRequired(), Length(max=20)])
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    address = TextAreaField("Address", validators=[Optional(), Length(max=1000)])
    country = StringField("Country", validators=[DataRequired(), Length(max=60)])
    active = BooleanField("Active", default=True)


class BinForm(FlaskForm):
    """Create or edit a bin (the code only on create)."""

    code = StringField("Bin code", validators=[DataRequired(), Length(max=40)],
                       render_kw=_SCAN)
    kind = SelectField("Kind", choices=BIN_KIND_CHOICES, default=LocationKind.storage.value)
    pick_sequence = IntegerField("Pick sequence", default=0,
                                 validators=[InputRequired("Enter a whole number, 0 or more."),
                                             _WITHIN])
    active = BooleanField("Active", default=True)


class TransferForm(FlaskForm):
    """Move stock between two bins, field by field as a scanner reads them."""

    from_bin = StringField("From bin", validators=[DataRequired("Scan the bin to take from."),
                                                   Length(max=64)], render_kw=_SCAN)
    sku = StringField("SKU (code or barcode)",
                      validators=[DataRequired("Scan the SKU."), Length(max=64)], render_kw=_SCAN)
    quantity = IntegerField("Quantity", validators=[InputRequired("Enter the quantity."), _WITHIN],
                            render_kw={"inputmode": "numeric", "autocomplete": "off"})
    to_bin = StringField("To bin", validators=[DataRequired("Scan the bin to put into."),
                                               Length(max=64)], render_kw=_SCAN)
    note = StringField("Note", validators=[Optional(), Length(max=500)])


class AdjustmentForm(FlaskForm):
    """Request an adjustment of a bin's stock with a reason code."""

    bin = StringField("Bin", validators=[DataRequired("Scan or type the bin."), Length(max=64)],
                      render_kw=_SCAN)
    sku = StringField("SKU (code or barcode)",
                      validators=[DataRequired("Scan the SKU."), Length(max=64)], render_kw=_SCAN)
    quantity = IntegerField("Quantity (+ found, - missing)",
                            validators=[InputRequired("Enter the quantity, e.g. -2 or 3."),
                                        _WITHIN],
                            render_kw={"autocomplete": "off"})
    reason = SelectField("Reason", choices=REASON_CHOICES)
    note = StringField("Note", validators=[Optional(), Length(max=500)])


class DecisionForm(FlaskForm):
    """Approve or reject an adjustment; a note explains a rejection."""

    note = StringField("Note", validators=[Optional(), Length(max=500)])


class MoveFilterForm(FlaskForm):
    """The move history's filters (GET, no CSRF)."""

    class Meta:
        """Filters are read-only GET parameters."""

        csrf = False

    sku = StringField("SKU", validators=[Optional(), Length(max=64)])
    bin = StringField("Bin", validators=[Optional(), Length(max=64)])
    kind = SelectField("Kind", choices=MOVE_KIND_CHOICES, validators=[Optional()])
    ref_type = StringField("Reference type", validators=[Optional(), Length(max=40)])
    ref_id = IntegerField("Reference id", validators=[Optional(), NumberRange(min=0, max=_LIMIT)])
    date_from = DateField("From", validators=[Optional()])
    date_to = DateField("To", validators=[Optional()])


class PutawayForm(FlaskForm):
    """One put-away scan: the task (or SKU), a smaller quantity if not all, then the bin.

    The bin is not required here: a task scanned alone is shown with its suggestion and the
    bin asked next (the ``required`` flag only tells the scanner script to move on to it).
    """

    scan = StringField("Task or SKU", validators=[Optional(), Length(max=64)],
                       render_kw={**_SCAN, "required": True})
    quantity = IntegerField("Quantity (empty = all left)",
                            validators=[Optional(), NumberRange(min=1, max=_LIMIT)],
                            render_kw={"inputmode": "numeric", "autocomplete": "off"})
    bin = StringField("Bin", validators=[Optional(), Length(max=64)],
                      render_kw={**_SCAN, "required": True})
