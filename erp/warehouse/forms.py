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

from erp.core.i18n import _, _l
from erp.warehouse.labels import kind_label
from erp.warehouse.models import VIRTUAL_KINDS, AdjustmentReason, LocationKind, MoveKind


def bin_kind_choices() -> list[tuple[str, str]]:
    """Return the kinds a bin in a warehouse may have, named in the reader's language.

    Virtual locations exist once, outside warehouses.
    """
    return [(k.value, kind_label(k).capitalize()) for k in LocationKind
            if k not in VIRTUAL_KINDS and k != LocationKind.in_transit]


def reason_choices() -> list[tuple[str, str]]:
    """Return the adjustment reasons, named in the reader's language."""
    return [(r.value, kind_label(r).capitalize()) for r in AdjustmentReason]


def move_kind_choices() -> list[tuple[str, str]]:
    """Return the move kinds of the history filter, "any" first."""
    return [("", _("Any kind"))] + [(k.value, kind_label(k)) for k in MoveKind]


_SCAN = {"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}
#: quantities and sequences are 32-bit integer columns; a typo of many digits stops here
_LIMIT = 1_000_000_000
_WITHIN = NumberRange(min=-_LIMIT, max=_LIMIT, message=_l("Enter a number between "
                                                          "-1,000,000,000 and 1,000,000,000."))


class WarehouseForm(FlaskForm):
    """Create or edit a warehouse (the code only on create)."""

    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=20)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    address = TextAreaField(_l("Address"), validators=[Optional(), Length(max=1000)])
    country = StringField(_l("Country"), validators=[DataRequired(), Length(max=60)])
    active = BooleanField(_l("Active"), default=True)


class BinForm(FlaskForm):
    """Create or edit a bin (the code only on create)."""

    code = StringField(_l("Bin code"), validators=[DataRequired(), Length(max=40)],
                       render_kw=_SCAN)
    kind = SelectField(_l("Kind"), default=LocationKind.storage.value)
    pick_sequence = IntegerField(_l("Pick sequence"), default=0,
                                 validators=[InputRequired(_l("Enter a whole number, 0 or "
                                                              "more.")), _WITHIN])
    active = BooleanField(_l("Active"), default=True)

    def __init__(self, *args, **kwargs):
        """Name the kinds in the reader's language."""
        super().__init__(*args, **kwargs)
        self.kind.choices = bin_kind_choices()


class TransferForm(FlaskForm):
    """Move stock between two bins, field by field as a scanner reads them."""

    from_bin = StringField(_l("From bin"),
                           validators=[DataRequired(_l("Scan the bin to take from.")),
                                       Length(max=64)], render_kw=_SCAN)
    sku = StringField(_l("SKU (code or barcode)"),
                      validators=[DataRequired(_l("Scan the SKU.")), Length(max=64)],
                      render_kw=_SCAN)
    quantity = IntegerField(_l("Quantity"),
                            validators=[InputRequired(_l("Enter the quantity.")), _WITHIN],
                            render_kw={"inputmode": "numeric", "autocomplete": "off"})
    to_bin = StringField(_l("To bin"), validators=[DataRequired(_l("Scan the bin to put into.")),
                                                   Length(max=64)], render_kw=_SCAN)
    note = StringField(_l("Note"), validators=[Optional(), Length(max=500)])


class AdjustmentForm(FlaskForm):
    """Request an adjustment of a bin's stock with a reason code."""

    bin = StringField(_l("Bin"), validators=[DataRequired(_l("Scan or type the bin.")),
                                             Length(max=64)], render_kw=_SCAN)
    sku = StringField(_l("SKU (code or barcode)"),
                      validators=[DataRequired(_l("Scan the SKU.")), Length(max=64)],
                      render_kw=_SCAN)
    quantity = IntegerField(_l("Quantity (+ found, - missing)"),
                            validators=[InputRequired(_l("Enter the quantity, e.g. -2 or 3.")),
                                        _WITHIN],
                            render_kw={"autocomplete": "off"})
    reason = SelectField(_l("Reason"))
    note = StringField(_l("Note"), validators=[Optional(), Length(max=500)])

    def __init__(self, *args, **kwargs):
        """Name the reasons in the reader's language."""
        super().__init__(*args, **kwargs)
        self.reason.choices = reason_choices()


class DecisionForm(FlaskForm):
    """Approve or reject an adjustment; a note explains a rejection."""

    note = StringField(_l("Note"), validators=[Optional(), Length(max=500)])


class MoveFilterForm(FlaskForm):
    """The move history's filters (GET, no CSRF)."""

    class Meta:
        """Filters are read-only GET parameters."""

        csrf = False

    sku = StringField(_l("SKU"), validators=[Optional(), Length(max=64)])
    bin = StringField(_l("Bin"), validators=[Optional(), Length(max=64)])
    kind = SelectField(_l("Kind"), validators=[Optional()])
    ref_type = StringField(_l("Reference type"), validators=[Optional(), Length(max=40)])
    ref_id = IntegerField(_l("Reference id"),
                          validators=[Optional(), NumberRange(min=0, max=_LIMIT)])
    date_from = DateField(_l("From"), validators=[Optional()])
    date_to = DateField(_l("To"), validators=[Optional()])

    def __init__(self, *args, **kwargs):
        """Name the move kinds in the reader's language."""
        super().__init__(*args, **kwargs)
        self.kind.choices = move_kind_choices()


class PutawayForm(FlaskForm):
    """One put-away scan: the task (or SKU), a smaller quantity if not all, then the bin.

    The bin is not required here: a task scanned alone is shown with its suggestion and the
    bin asked next (the ``required`` flag only tells the scanner script to move on to it).
    """

    scan = StringField(_l("Task or SKU"), validators=[Optional(), Length(max=64)],
                       render_kw={**_SCAN, "required": True})
    quantity = IntegerField(_l("Quantity (empty = all left)"),
                            validators=[Optional(), NumberRange(min=1, max=_LIMIT)],
                            render_kw={"inputmode": "numeric", "autocomplete": "off"})
    bin = StringField(_l("Bin"), validators=[Optional(), Length(max=64)],
                      render_kw={**_SCAN, "required": True})


class RouteForm(FlaskForm):
    """Create or edit a warehouse route."""

    country = StringField(_l("Country"), validators=[DataRequired(), Length(max=60)])
    area = StringField(_l("Area"), validators=[Optional(), Length(max=20)])
    warehouses = StringField(_l("Warehouses"), validators=[DataRequired(), Length(max=400)])
    note = StringField(_l("Note"), validators=[Optional(), Length(max=200)])
