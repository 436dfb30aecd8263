"""Forms of the made-to-order set-up and of receiving a production order (shape only)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from erp.core.i18n import _, _l
from erp.extensions import db
from erp.procurement.models import Supplier
from erp.production.services.products import MAX_DAYS, MIN_DAYS


class MtoProductForm(FlaskForm):
    """A product's made-to-order set-up: maker, production time, sizes, template."""

    made_to_order = BooleanField(_l("Made to order"))
    maker_id = SelectField(_l("Maker"), coerce=int, validators=[DataRequired()])
    production_days = IntegerField(_l("Production time (business days)"),
                                   validators=[DataRequired(),
                                               NumberRange(min=MIN_DAYS, max=MAX_DAYS)])
    sizes = StringField(_l("Standard sizes"), validators=[Optional(), Length(max=300)])
    made_to_measure = BooleanField(_l("Made to measure"))
    fields = TextAreaField(_l("Measurement template"),
                           validators=[Optional(), Length(max=8000)],
                           render_kw={"rows": 8, "class": "mono"})

    def __init__(self, *args, current_maker_id: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        makers = db.session.execute(
            select(Supplier.id, Supplier.code, Supplier.name)
            .where((Supplier.active.is_(True)) | (Supplier.id == (current_maker_id or 0)))
            .order_by(Supplier.code)).all()
        self.maker_id.choices = [(0, _("— choose —"))] + [
            (row.id, f"{row.code} · {row.name}") for row in makers]


class ReceiveForm(FlaskForm):
    """Receive a production order: the bin its goods go to (scanned)."""

    location = StringField(_l("Bin"), validators=[DataRequired(), Length(max=60)])
    note = StringField(_l("Note"), validators=[Optional(), Length(max=500)])
